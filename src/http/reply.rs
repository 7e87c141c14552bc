//! The HTTP status of an executed GraphQL response, read from its typed errors: 429 with
//! `Retry-After` when throttling refused it whole, `WWW-Authenticate` for an invalid token,
//! and the deadline's 503.

use std::time::Duration;

use async_graphql::Response;
use axum::http::{HeaderValue, header};

use super::HttpResponse;
use crate::error::{ErrorCode, Fault, deadline_exceeded};

/// The answer for an operation cancelled at the request's deadline, or not started
/// because of it.
pub(super) fn past_deadline(timeout: Duration) -> Response {
    Response::from_errors(vec![deadline_exceeded(timeout)])
}

/// Records a request cancelled at its deadline.
pub(super) fn log_deadline(timeout: Duration) {
    tracing::warn!(
        timeout_seconds = timeout.as_secs_f64(),
        "a request passed its deadline and was cancelled"
    );
}

/// The seconds to wait when throttling refused the whole response: it has no data and
/// every error is RATE_LIMITED. A partial result is not a refusal.
pub(super) fn refused_for(response: &Response) -> Option<u64> {
    if response.data != async_graphql::Value::Null || response.errors.is_empty() {
        return None;
    }
    let waits = response
        .errors
        .iter()
        .map(|error| match error.source::<Fault>()? {
            Fault {
                code: ErrorCode::RateLimited,
                retry_after,
            } => *retry_after,
            _ => None,
        });
    waits.collect::<Option<Vec<u64>>>()?.into_iter().max()
}

/// 429 with `Retry-After` in whole seconds (RFC 9110), besides the GraphQL body.
pub(super) fn too_many_requests(mut http: HttpResponse, wait: u64) -> HttpResponse {
    http.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    http
}

/// Tells clients that presented an invalid token to refresh it (RFC 6750).
pub(super) fn with_token_hint(mut http: HttpResponse, invalid_token: bool) -> HttpResponse {
    if invalid_token {
        http.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    http
}
