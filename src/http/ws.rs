//! `/graphql/ws`: subscriptions over WebSocket, with the `graphql-transport-ws` protocol
//! (the `graphql-ws` library) and the legacy `subscriptions-transport-ws`.
//!
//! The access token arrives in the `connection_init` payload as
//! `{"Authorization": "Bearer …"}` and is checked with the same [`authenticate`] as HTTP
//! requests. Without a valid one the socket is closed with 4403 (Forbidden). Afterwards it
//! is checked again periodically, so an expired token, a revoked session or a deactivated
//! account closes the socket too.
//!
//! Every document sent over the socket is held to the same [limits](crate::graphql::limits)
//! as over HTTP. The request deadline bounds each query or mutation sent over the socket,
//! from its `subscribe` message to its result; a subscription has no deadline, since it
//! lives as long as the client wants its events (the token re-check ends it when the
//! token does).

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage,
};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Data, Executor, Request, Response as GraphQLResponse, ServerError};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream};
use futures_util::{SinkExt, StreamExt, future};
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use super::HttpState;
use crate::auth::{Authentication, authenticate};
use crate::error::deadline_exceeded;
use crate::graphql::limits::{check_document, check_source};
use crate::graphql::{TaskqlSchema, connection_data};

/// Close code for a missing, invalid or no longer valid token (graphql-transport-ws).
const FORBIDDEN: u16 = 4403;
/// Close code when no `connection_init` arrives in time (graphql-transport-ws).
const INIT_TIMEOUT: u16 = 4408;
/// How long a socket may stay open without an accepted `connection_init`.
const INIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// GET `/graphql/ws`: upgrades to a subscription socket.
pub async fn graphql_ws(State(state): State<HttpState>, upgrade: WebSocketUpgrade) -> Response {
    // Serve exactly the subprotocol the handshake answers with.
    let upgrade = upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|value| value.to_str().ok())
        .and_then(|name| WebSocketProtocols::from_str(name).ok());
    let Some(protocol) = protocol else {
        return (
            StatusCode::BAD_REQUEST,
            "Ask for the graphql-transport-ws subprotocol.",
        )
            .into_response();
    };
    // Nothing bigger than an HTTP request body may arrive before, or after, authentication.
    upgrade
        .max_message_size(state.max_body_bytes)
        .max_frame_size(state.max_body_bytes)
        .on_upgrade(move |socket| serve(socket, state, protocol))
}

/// The `Authorization` entry of a `connection_init` payload, in any letter case.
fn authorization(payload: &serde_json::Value) -> Option<String> {
    payload
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.as_str())
        .map(str::to_owned)
}

async fn serve(socket: WebSocket, state: HttpState, protocol: WebSocketProtocols) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        });

    // What connection_init decided: the header and viewer it accepted, or `None` when it
    // refused (the protocol layer then ends the connection). Unset until it has run.
    let decided: Arc<OnceLock<Option<(String, Uuid)>>> = Arc::default();
    let app = state.app.clone();
    let decision = Arc::clone(&decided);
    let mut protocol_stream = GraphQLWebSocket::new(
        Bounded {
            schema: state.schema.clone(),
            timeout: state.request_timeout,
        },
        input,
        protocol,
    )
    .on_connection_init(move |payload| async move {
        let header = authorization(&payload);
        let authentication = match &header {
            Some(header) => authenticate(&app, Some(header)).await,
            None => Authentication::Anonymous,
        };
        match (header, authentication) {
            (Some(header), Authentication::Viewer(viewer)) => {
                let _ = decision.set(Some((header, viewer.user_id())));
                Ok(connection_data(&app, Authentication::Viewer(viewer)))
            }
            _ => {
                let _ = decision.set(None);
                Err::<Data, _>(async_graphql::Error::new("Forbidden"))
            }
        }
    });

    let init_deadline = tokio::time::sleep(INIT_WAIT);
    tokio::pin!(init_deadline);
    let mut recheck = tokio::time::interval(state.ws_auth_recheck);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recheck.tick().await;
    let close = loop {
        tokio::select! {
            message = protocol_stream.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // Refused at connection_init (the legacy protocol has just said why), or
                // never accepted (a subscribe before connection_init).
                Some(WsMessage::Close(..)) | None if !matches!(decided.get(), Some(Some(_))) => {
                    break Some((FORBIDDEN, "Forbidden".to_owned()));
                }
                Some(WsMessage::Close(code, reason)) => break Some((code, reason)),
                None => break None,
            },
            _ = &mut init_deadline, if decided.get().is_none() => {
                break Some((INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            _ = recheck.tick() => match decided.get() {
                None | Some(None) => {}
                Some(Some((header, user_id))) => {
                    match authenticate(&state.app, Some(header)).await {
                        Authentication::Viewer(viewer) if viewer.user_id() == *user_id => {}
                        // The database is down: not the client's fault; check again later.
                        Authentication::Unavailable => {}
                        _ => break Some((FORBIDDEN, "Forbidden".to_owned())),
                    }
                }
            },
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

/// The schema as a socket runs it: documents within the limits, queries and mutations
/// within the deadline.
#[derive(Clone)]
struct Bounded {
    schema: TaskqlSchema,
    timeout: Duration,
}

impl Bounded {
    /// Checks the document before anything runs; whether it selects a subscription.
    fn check(request: &mut Request) -> Result<bool, ServerError> {
        if !request.query.trim().is_empty() {
            check_source(&request.query)?;
        }
        let name = request.operation_name.clone();
        // A document that does not parse is the schema's to report. A persisted-query hash
        // sent alone is resolved by the schema too, so it runs as a query would: with the
        // deadline (a subscription sent that way ends at it).
        let Ok(document) = request.parsed_query() else {
            return Ok(false);
        };
        check_document(document)?;
        let operation = match &document.operations {
            DocumentOperations::Single(operation) => Some(operation),
            DocumentOperations::Multiple(operations) => match name {
                Some(name) => operations.get(name.as_str()),
                None if operations.len() == 1 => operations.values().next(),
                None => None,
            },
        };
        Ok(operation.is_some_and(|operation| operation.node.ty == OperationType::Subscription))
    }
}

impl Executor for Bounded {
    async fn execute(&self, request: Request) -> GraphQLResponse {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, GraphQLResponse> {
        let subscription = match Self::check(&mut request) {
            Ok(subscription) => subscription,
            Err(error) => {
                return stream::once(future::ready(GraphQLResponse::from_errors(vec![error])))
                    .boxed();
            }
        };
        let mut responses = self
            .schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default());
        if subscription {
            return responses;
        }
        // A query or mutation answers once; dropping the stream at the deadline cancels it.
        let timeout = self.timeout;
        stream::once(async move {
            match tokio::time::timeout(timeout, responses.next()).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(
                        timeout_seconds = timeout.as_secs_f64(),
                        "an operation sent over a socket passed its deadline and was cancelled"
                    );
                    Some(GraphQLResponse::from_errors(vec![deadline_exceeded(
                        timeout,
                    )]))
                }
            }
        })
        .filter_map(future::ready)
        .boxed()
    }
}
