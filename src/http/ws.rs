//! Our own socket loop: async-graphql-axum's closes a refused `connection_init` with 1002, not 4403.
//!
//! `/graphql/ws`: subscriptions over WebSocket, with the `graphql-transport-ws` protocol
//! (the `graphql-ws` library) and the legacy `subscriptions-transport-ws`.
//!
//! The access token arrives in the `connection_init` payload as
//! `{"Authorization": "Bearer …"}` and is checked with the same [`authenticate`](crate::auth::Authenticator::authenticate) as HTTP
//! requests. Without a valid one the socket is closed with 4403 (Forbidden). Afterwards it
//! is checked again periodically, so an expired token, a revoked session or a deactivated
//! account closes the socket too.
//!
//! The socket serves subscriptions only: a query or mutation sent over it closes it with
//! 4400. They belong on HTTP, where the edge's checks (the client's address for login
//! throttling, the request limits, the deadline) apply. Subscription documents are held to
//! the same [limits](crate::graphql::limits) as over HTTP; a subscription has no deadline,
//! since it lives as long as the client wants its events (the token re-check ends it when
//! the token does).

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_graphql::extensions::apollo_persisted_queries::LruCacheStorage;
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage,
};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Request, Response as GraphQLResponse};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream};
use futures_util::{SinkExt, StreamExt, future};
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use super::HttpState;
use super::prepare::{Prepared, candidate_operations, prepare};
use crate::auth::Authentication;
use crate::client::ClientMeta;
use crate::error::to_wire;
use crate::graphql::limits::check_source;
use crate::graphql::{TaskqlSchema, connection_data};

/// Close code for a message the socket does not serve (graphql-transport-ws).
const BAD_REQUEST: u16 = 4400;
/// Close code for a missing, invalid or no longer valid token (graphql-transport-ws).
const FORBIDDEN: u16 = 4403;
/// Close code when no `connection_init` arrives in time (graphql-transport-ws).
const INIT_TIMEOUT: u16 = 4408;
/// How long a socket may stay open without an accepted `connection_init`.
const INIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// GET `/graphql/ws`: upgrades to a subscription socket.
pub async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
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
        .on_upgrade(move |socket| {
            let client = super::graphql::client_meta(&state, &headers, peer);
            serve(socket, state, protocol, client)
        })
}

/// False for an operation message (`subscribe`, or the legacy `start`) that could run
/// anything but a subscription, including a persisted-query hash without its document.
/// Other messages pass; the protocol layer answers malformed ones itself.
fn serves(message: &[u8]) -> bool {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(message) else {
        return true;
    };
    if !matches!(message["type"].as_str(), Some("subscribe" | "start")) {
        return true;
    }
    let payload = &message["payload"];
    let Some(query) = payload["query"]
        .as_str()
        .filter(|query| !query.trim().is_empty())
    else {
        return false;
    };
    if check_source(query).is_err() {
        // Over the limits: refused unparsed, with the limit's error, by `Bounded`.
        return true;
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        // A syntax error: the engine reports it, and nothing runs.
        return true;
    };
    candidate_operations(&document, payload["operationName"].as_str())
        .into_iter()
        .all(|ty| ty == OperationType::Subscription)
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

async fn serve(
    socket: WebSocket,
    state: HttpState,
    protocol: WebSocketProtocols,
    client: ClientMeta,
) {
    let (mut sink, stream) = socket.split();
    // Set when the client sent an operation the socket does not serve; its input ends there.
    let refused = Arc::new(AtomicBool::new(false));
    let refusal = Arc::clone(&refused);
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        })
        .take_while(move |message| {
            let served = serves(message);
            if !served {
                refusal.store(true, Ordering::Relaxed);
            }
            future::ready(served)
        });

    // What connection_init decided: the header and viewer it accepted, or `None` when it
    // refused (the protocol layer then ends the connection). Unset until it has run.
    let decided: Arc<OnceLock<Option<(String, Uuid)>>> = Arc::default();
    let app = state.app.clone();
    let decision = Arc::clone(&decided);
    let mut protocol_stream = GraphQLWebSocket::new(
        Bounded {
            schema: state.schema.clone(),
            persisted: state.persisted.clone(),
        },
        input,
        protocol,
    )
    .on_connection_init(move |payload| async move {
        let header = authorization(&payload);
        let authentication = match &header {
            Some(header) => app.authenticator().authenticate(Some(header)).await,
            None => Authentication::Anonymous,
        };
        match (header, authentication) {
            (Some(header), Authentication::Viewer(viewer)) => {
                let _ = decision.set(Some((header, viewer.user_id())));
                Ok(connection_data(
                    &app,
                    Authentication::Viewer(viewer),
                    client,
                ))
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
                None if refused.load(Ordering::Relaxed) => {
                    break Some((
                        BAD_REQUEST,
                        "Only subscriptions are served here; send queries and mutations over HTTP."
                            .to_owned(),
                    ));
                }
                None => break None,
            },
            _ = &mut init_deadline, if decided.get().is_none() => {
                break Some((INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            _ = recheck.tick() => match decided.get() {
                None | Some(None) => {}
                Some(Some((header, user_id))) => {
                    match state.app.authenticator().authenticate(Some(header)).await {
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

/// The schema as a socket runs it: each operation prepared as over HTTP (the same limits,
/// the same syntax errors, persisted documents no larger than HTTP lets into the shared
/// cache), and every response in its wire form.
#[derive(Clone)]
struct Bounded {
    schema: TaskqlSchema,
    persisted: LruCacheStorage,
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
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, GraphQLResponse> {
        let schema = self.schema.clone();
        let persisted = self.persisted.clone();
        let session_data = session_data.unwrap_or_default();
        stream::once(async move { prepare(&persisted, request, false).await })
            .flat_map(move |prepared| match prepared {
                Ok(Prepared::Run { request, .. }) => schema
                    .execute_stream_with_session_data(*request, Arc::clone(&session_data))
                    .boxed(),
                Ok(Prepared::Answer(response)) => stream::once(future::ready(*response)).boxed(),
                Err(refusal) => stream::once(future::ready(refusal.into_graphql())).boxed(),
            })
            .map(to_wire)
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::serves;

    fn message(kind: &str, payload: serde_json::Value) -> Vec<u8> {
        serde_json::json!({ "id": "1", "type": kind, "payload": payload })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn only_subscriptions_pass() {
        let events = "subscription { taskEvents { kind } }";
        let mixed = "subscription S { taskEvents { kind } } mutation M { logoutAll }";
        for kind in ["subscribe", "start"] {
            assert!(serves(&message(
                kind,
                serde_json::json!({ "query": events })
            )));
            assert!(serves(&message(
                kind,
                serde_json::json!({ "query": mixed, "operationName": "S" })
            )));
            for refused in [
                serde_json::json!({ "query": "{ me { id } }" }),
                serde_json::json!({ "query": "mutation { logoutAll }" }),
                serde_json::json!({ "query": mixed }),
                serde_json::json!({ "query": mixed, "operationName": "M" }),
                serde_json::json!({ "query": " ", "extensions": { "persistedQuery": {} } }),
                serde_json::json!({}),
            ] {
                assert!(!serves(&message(kind, refused.clone())), "{refused}");
            }
        }
        // Everything else is the protocol layer's to answer.
        assert!(serves(b"not json"));
        assert!(serves(&message("connection_init", serde_json::json!({}))));
        assert!(serves(&message(
            "subscribe",
            serde_json::json!({ "query": "subscription {" })
        )));
    }
}
