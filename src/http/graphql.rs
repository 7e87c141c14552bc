//! The `/graphql` endpoint. The bearer token becomes an [`Authentication`] here, once;
//! resolvers only read it from the request data.
//!
//! Deliberately stricter than a generic GraphQL handler: one operation per request, GET
//! for queries only, POST only with a JSON content type, bodies capped.

use std::net::SocketAddr;

use async_graphql::http::{GraphiQLSource, parse_query_string};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};

use super::HttpState;
use crate::auth::{Authentication, authenticate};
use crate::error::{ensure_codes, request_error};
use crate::graphql::prepare_request;
use crate::store::sessions::ClientMeta;

type HttpResponse = axum::response::Response;

/// POST `/graphql`: one operation as a JSON object.
pub async fn post_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResponse {
    if !is_json(&headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the request with Content-Type: application/json.",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The request body is larger than {} bytes.",
                    state.max_body_bytes
                ),
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            );
        }
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Batched requests are not supported: send one operation per request.",
        );
    }
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object with a `query` string and optional `variables` and `operationName`.",
        );
    };
    execute(&state, peer, &headers, request, false).await
}

/// GET `/graphql`: a query in the URL, or GraphiQL for a browser.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> HttpResponse {
    let query = query.unwrap_or_default();
    if query.is_empty() && state.graphiql {
        return Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response();
    }
    let Ok(request) = parse_query_string(&query) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Pass the operation as the `query` URL parameter, with optional `variables` (JSON) and `operationName`.",
        );
    };
    execute(&state, peer, &headers, request, true).await
}

async fn execute(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    mut request: Request,
    queries_only: bool,
) -> HttpResponse {
    if request.query.trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The request carries no GraphQL document: put one in `query`.",
        );
    }
    let name = request.operation_name.clone();
    let operation = match request.parsed_query() {
        Ok(document) => selected_operation(document, name.as_deref()),
        Err(err) => {
            // The parser's own message shows its internals; keep only where it failed.
            let mut error = request_error(
                "Syntax error: the document is not valid GraphQL.",
                "BAD_USER_INPUT",
            );
            error.locations = err.locations;
            return json(StatusCode::OK, &Response::from_errors(vec![error]));
        }
    };
    if queries_only && operation.is_some_and(|ty| ty != OperationType::Query) {
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only queries may be sent with GET; send mutations with POST.",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return response;
    }

    let authorization = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Vec<_>>();
    let authentication = match authorization.as_slice() {
        [] => Authentication::Anonymous,
        [Some(value)] => authenticate(&state.app, Some(value)).await,
        _ => Authentication::Invalid,
    };
    let invalid_token = authentication.is_invalid();

    let meta = ClientMeta {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| {
                agent
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(256)
                    .collect()
            }),
        ip: Some(peer.ip().to_string()),
    };
    let request = prepare_request(request, &state.app, authentication, meta);
    let response = ensure_codes(state.schema.execute(request).await);
    let mut http = json(StatusCode::OK, &response);
    if invalid_token {
        http.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    http
}

/// The type of the operation the request selects; `None` when the name matches none
/// (execution then reports it).
fn selected_operation(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => {
            // Ambiguous without a name; refuse by the strictest type present.
            ops.values()
                .map(|op| op.node.ty)
                .find(|ty| *ty != OperationType::Query)
                .or(Some(OperationType::Query))
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// A request refused before any operation ran: the client's to fix, so BAD_USER_INPUT.
fn refuse(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    json(
        status,
        &Response::from_errors(vec![request_error(message, "BAD_USER_INPUT")]),
    )
}

fn json(status: StatusCode, response: &Response) -> HttpResponse {
    match serde_json::to_vec(response) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot serialise a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
