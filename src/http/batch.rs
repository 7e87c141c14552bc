//! Batched requests over HTTP: checked whole before any operation runs, authenticated
//! once, run in order within one deadline.

use std::net::SocketAddr;

use async_graphql::Request;
use axum::http::{HeaderMap, StatusCode};

use super::graphql::{authentication, client_meta, run};
use super::media::{MediaType, json};
use super::prepare::{Prepared, prepare};
use super::refusal::{Refusal, refuse};
use super::reply::{log_deadline, past_deadline, refused_for, too_many_requests, with_token_hint};
use super::{HttpResponse, HttpState};
use crate::graphql::limits::auth_message;

/// Runs a batch in order, authenticated once. Every operation is checked before any runs,
/// and the batch as a whole holds at most one authentication mutation. At the deadline the
/// running operation is cancelled and those after it are not started; the answer is a 503
/// holding the finished operations' responses and a deadline error for each of the others.
pub(super) async fn execute_batch(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    media: MediaType,
    requests: Vec<Request>,
) -> HttpResponse {
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let mut prepared = Vec::with_capacity(requests.len());
    for request in requests {
        match prepare(&state.persisted, request, false).await {
            Ok(item) => prepared.push(item),
            Err(refusal) => return refuse(media, refusal),
        }
    }
    let auth_mutations: usize = prepared
        .iter()
        .map(|item| match item {
            Prepared::Run { auth_mutations, .. } => *auth_mutations,
            Prepared::Answer(_) => 0,
        })
        .sum();
    if auth_mutations > 1 {
        let message = auth_message("batched request");
        return refuse(media, Refusal::new(StatusCode::BAD_REQUEST, message));
    }
    let Ok(authentication) =
        tokio::time::timeout_at(deadline, authentication(state, headers)).await
    else {
        log_deadline(state.request_timeout);
        let responses: Vec<_> = prepared
            .iter()
            .map(|_| past_deadline(state.request_timeout))
            .collect();
        return json(media, StatusCode::SERVICE_UNAVAILABLE, &responses);
    };
    let invalid_token = authentication.is_invalid();
    let mut responses = Vec::with_capacity(prepared.len());
    let mut late = false;
    for item in prepared {
        if !late {
            let client = client_meta(state, headers, peer);
            let operation = run(state, item, authentication.clone(), client);
            match tokio::time::timeout_at(deadline, operation).await {
                Ok(response) => {
                    responses.push(response);
                    continue;
                }
                Err(_) => {
                    log_deadline(state.request_timeout);
                    late = true;
                }
            }
        }
        responses.push(past_deadline(state.request_timeout));
    }
    let refused: Option<Vec<u64>> = responses.iter().map(refused_for).collect();
    let http = if late {
        json(media, StatusCode::SERVICE_UNAVAILABLE, &responses)
    } else if let Some(wait) = refused.and_then(|waits| waits.into_iter().max()) {
        too_many_requests(json(media, StatusCode::TOO_MANY_REQUESTS, &responses), wait)
    } else {
        json(media, StatusCode::OK, &responses)
    };
    with_token_hint(http, invalid_token)
}
