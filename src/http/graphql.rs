//! Our own handler: async-graphql-axum's `GraphQLRequest` is looser than the rules below.
//!
//! The `/graphql` endpoint. The bearer token becomes an [`Authentication`] here, once;
//! resolvers only read it from the request data.
//!
//! Deliberately stricter than a generic GraphQL handler: one operation per request unless
//! bounded batching is enabled, GET for queries only, POST only with a JSON content type
//! (so a browser cannot send one without a CORS preflight), bodies capped. Answers
//! `application/graphql-response+json` to clients that accept it (GraphQL over HTTP) and
//! `application/json` to the others; serves Apollo's automatic persisted queries.

use std::net::SocketAddr;

use async_graphql::http::parse_query_string;
use async_graphql::{Request, Response};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::LengthLimitError;

use super::batch::execute_batch;
use super::graphiql;
use super::media::{MediaType, is_json, json};
use super::prepare::{Prepared, prepare};
use super::refusal::{Refusal, refuse};
use super::reply::{log_deadline, past_deadline, refused_for, too_many_requests, with_token_hint};
use super::{HttpResponse, HttpState};
use crate::auth::Authentication;
use crate::client::ClientMeta;
use crate::error::to_wire;
use crate::graphql::prepare_request;

/// POST `/graphql`: one operation as a JSON object, or a bounded batch as a JSON array
/// when batching is enabled.
pub async fn post_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    if !is_json(&headers) {
        return refuse(
            media,
            Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the request with Content-Type: application/json.",
            ),
        );
    }
    let body = match read_body(&state, body).await {
        Ok(body) => body,
        Err(refusal) => return refuse(media, refusal),
    };
    const SHAPE: &str = "The request body must be a JSON object with a `query` string and optional `variables`, `operationName` and `extensions`.";
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        if state.max_batch == 0 {
            return refuse(
                media,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "Batched requests are not enabled: send one operation per request.",
                ),
            );
        }
        let Ok(requests) = serde_json::from_slice::<Vec<Request>>(&body) else {
            return refuse(
                media,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("A batch is a JSON array of operations. {SHAPE}"),
                ),
            );
        };
        if requests.is_empty() || requests.len() > state.max_batch {
            let message = format!("A batch holds 1 to {} operations.", state.max_batch);
            return refuse(media, Refusal::new(StatusCode::BAD_REQUEST, message));
        }
        return execute_batch(&state, peer, &headers, media, requests).await;
    }
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return refuse(media, Refusal::new(StatusCode::BAD_REQUEST, SHAPE));
    };
    execute(&state, peer, &headers, media, request, false).await
}

/// The whole body, read within the request deadline and the size cap, so a client that
/// sends slowly or too much holds nothing for long.
async fn read_body(state: &HttpState, body: Body) -> Result<Bytes, Refusal> {
    let read = axum::body::to_bytes(body, state.max_body_bytes);
    match tokio::time::timeout(state.request_timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(if error.into_inner().is::<LengthLimitError>() {
            let message = format!(
                "The request body is larger than {} bytes.",
                state.max_body_bytes
            );
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, message)
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            )
        }),
        Err(_) => {
            let message = format!(
                "The request body did not arrive within {} seconds.",
                state.request_timeout.as_secs_f64()
            );
            Err(Refusal::new(StatusCode::REQUEST_TIMEOUT, message))
        }
    }
}

/// GET `/graphql`: a query in the URL, or GraphiQL for a browser.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    let query = query.unwrap_or_default();
    if query.is_empty() && state.graphiql {
        return graphiql::page();
    }
    let Ok(request) = parse_query_string(&query) else {
        return refuse(
            media,
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "Pass the operation as the `query` URL parameter, with optional `variables` (JSON) and `operationName`.",
            ),
        );
    };
    execute(&state, peer, &headers, media, request, true).await
}

/// Reads the `Authorization` header once per HTTP request.
pub(super) async fn authentication(state: &HttpState, headers: &HeaderMap) -> Authentication {
    let authorization = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Vec<_>>();
    match authorization.as_slice() {
        [] => Authentication::Anonymous,
        [Some(value)] => state.app.authenticator().authenticate(Some(value)).await,
        _ => Authentication::Invalid,
    }
}

/// Where the request comes from, as sessions record it and throttles count it.
pub(super) fn client_meta(state: &HttpState, headers: &HeaderMap, peer: SocketAddr) -> ClientMeta {
    ClientMeta {
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
        ip: Some(
            state
                .trusted_proxies
                .client_ip(peer.ip(), headers)
                .to_string(),
        ),
    }
}

/// Runs one prepared operation for `authentication`, in its wire form.
pub(super) async fn run(
    state: &HttpState,
    prepared: Prepared,
    authentication: Authentication,
    client: ClientMeta,
) -> Response {
    match prepared {
        Prepared::Answer(response) => *response,
        Prepared::Run { request, .. } => {
            let request = prepare_request(*request, &state.app, authentication, client);
            to_wire(state.schema.execute(request).await)
        }
    }
}

async fn execute(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    media: MediaType,
    request: Request,
    queries_only: bool,
) -> HttpResponse {
    let prepared = match prepare(&state.persisted, request, queries_only).await {
        Ok(prepared) => prepared,
        Err(refusal) => return refuse(media, refusal),
    };
    let work = async {
        let authentication = authentication(state, headers).await;
        let invalid_token = authentication.is_invalid();
        let client = client_meta(state, headers, peer);
        let response = run(state, prepared, authentication, client).await;
        (response, invalid_token)
    };
    match tokio::time::timeout(state.request_timeout, work).await {
        Ok((response, invalid_token)) => {
            let http = match refused_for(&response) {
                Some(wait) => {
                    too_many_requests(json(media, StatusCode::TOO_MANY_REQUESTS, &response), wait)
                }
                None => json(media, media.status(&response), &response),
            };
            with_token_hint(http, invalid_token)
        }
        Err(_) => {
            log_deadline(state.request_timeout);
            let response = past_deadline(state.request_timeout);
            json(media, StatusCode::SERVICE_UNAVAILABLE, &response)
        }
    }
}
