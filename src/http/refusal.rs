//! Requests refused before any operation runs: the status they get over HTTP and the
//! GraphQL error they carry over either transport.

use async_graphql::Response;
use axum::http::{HeaderValue, StatusCode, header};

use super::HttpResponse;
use super::media::{MediaType, json};
use crate::error::{ErrorCode, request_error};

/// A request refused before any operation ran.
pub(super) struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The GraphQL answer: the client's to fix, so BAD_USER_INPUT.
    pub(super) fn into_graphql(self) -> Response {
        Response::from_errors(vec![request_error(self.message, ErrorCode::BadUserInput)])
    }
}

/// The HTTP answer to a refused request.
pub(super) fn refuse(media: MediaType, refusal: Refusal) -> HttpResponse {
    let status = refusal.status;
    let mut http = json(media, status, &refusal.into_graphql());
    if status == StatusCode::METHOD_NOT_ALLOWED {
        http.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    }
    http
}
