//! The media types of `/graphql` answers (GraphQL over HTTP) and the one function that
//! writes a body in the negotiated one.

use async_graphql::Response;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;

use super::HttpResponse;

/// The response format, from the request's `Accept` (GraphQL over HTTP): the spec's
/// `application/graphql-response+json` when the client accepts it, else `application/json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaType {
    /// `application/graphql-response+json`.
    GraphQLResponse,
    /// `application/json`.
    Json,
}

impl MediaType {
    const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    pub(super) fn negotiate(headers: &HeaderMap) -> Self {
        let accepts = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let accepted = parts
                    .next()
                    .is_some_and(|mime| mime.eq_ignore_ascii_case(Self::GRAPHQL_RESPONSE));
                let refused = parts.any(|param| {
                    param
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                accepted && !refused
            });
        if accepts {
            Self::GraphQLResponse
        } else {
            Self::Json
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::GraphQLResponse => Self::GRAPHQL_RESPONSE,
            Self::Json => "application/json",
        }
    }

    /// With `application/graphql-response+json`, a request error (the document did not
    /// parse or validate, so nothing ran and no error has a path) is a 400; a field error is
    /// a 200 like any executed operation. With `application/json` everything is a 200.
    pub(super) fn status(self, response: &Response) -> StatusCode {
        if self == Self::GraphQLResponse
            && response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|error| error.path.is_empty())
        {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        }
    }
}

/// Whether the request declares a JSON body.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// `body` as JSON with `status`, labelled with the negotiated media type.
pub(super) fn json(
    media: MediaType,
    status: StatusCode,
    body: &impl serde::Serialize,
) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.as_str())], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot serialise a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
