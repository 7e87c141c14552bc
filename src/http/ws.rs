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
//! Each socket serves at most `WS_MAX_SUBSCRIPTIONS_PER_SOCKET` subscriptions at once: one
//! more `subscribe` gets an `error` message (BAD_USER_INPUT) and the others carry on. Each
//! client network and each account holds at most so many live sockets on this replica
//! ([`LiveSockets`](super::LiveSockets)); one more is closed with 4429, its reason saying
//! which bound it hit.
//!
//! The socket serves subscriptions only: a query or mutation sent over it closes it with
//! 4400. They belong on HTTP, where the edge's checks (the client's address for login
//! throttling, the request limits, the deadline) apply. Subscription documents are held to
//! the same [limits](crate::graphql::limits) as over HTTP; a subscription has no deadline,
//! since it lives as long as the client wants its events (the token re-check ends it when
//! the token does).

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use super::HttpState;
use super::live::Lease;
use super::prepare::{Prepared, candidate_operations, prepare};
use crate::auth::Authentication;
use crate::client::{ClientMeta, client_network};
use crate::error::{AppError, to_wire};
use crate::graphql::limits::check_source;
use crate::graphql::{TaskqlSchema, connection_data};

/// Close code for a message the socket does not serve (graphql-transport-ws).
const BAD_REQUEST: u16 = 4400;
/// Close code for a missing, invalid or no longer valid token (graphql-transport-ws).
const FORBIDDEN: u16 = 4403;
/// Close code when no `connection_init` arrives in time (graphql-transport-ws).
const INIT_TIMEOUT: u16 = 4408;
/// Close code for a socket past a bound of live sockets (graphql-ws treats it as final).
const TOO_MANY: u16 = 4429;
/// Refusals of `subscribe` past the bound that may wait to be written; a client that keeps
/// sending more without reading them is closed with [`TOO_MANY`].
const REFUSALS_PENDING: usize = 16;
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
    let client = super::graphql::client_meta(&state, &headers, peer);
    let network = client_network(client.ip.as_deref().unwrap_or("unknown"));
    let lease = state.sockets.from_network(network);
    // Nothing bigger than an HTTP request body may arrive before, or after, authentication.
    upgrade
        .max_message_size(state.max_body_bytes)
        .max_frame_size(state.max_body_bytes)
        .on_upgrade(move |socket| async move {
            match lease {
                Some(lease) => serve(socket, state, protocol, client, lease).await,
                None => {
                    close(
                        socket,
                        TOO_MANY,
                        "Too many live sockets from this address: close one first.",
                    )
                    .await;
                }
            }
        })
}

/// Closes `socket` at once with `code` and `reason`.
async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// What the socket does with one message from the client.
#[derive(Debug, PartialEq, Eq)]
enum Incoming {
    /// Not an operation: the protocol layer answers it.
    Pass,
    /// An operation that runs only subscriptions (or fails to parse, which the engine
    /// reports), under the message's id.
    Subscription(String),
    /// An operation that could run anything but a subscription.
    Refuse,
}

/// Sorts one client message.
fn classify(message: &[u8]) -> Incoming {
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(message) else {
        return Incoming::Pass;
    };
    if !matches!(parsed["type"].as_str(), Some("subscribe" | "start")) {
        return Incoming::Pass;
    }
    if !serves(&parsed["payload"]) {
        return Incoming::Refuse;
    }
    let id = match &parsed["id"] {
        serde_json::Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    Incoming::Subscription(id)
}

/// False for the payload of an operation message (`subscribe`, or the legacy `start`)
/// that could run anything but a subscription, including a persisted-query hash without
/// its document.
fn serves(payload: &serde_json::Value) -> bool {
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

/// What `connection_init` decided.
enum Decision {
    /// The header and viewer it accepted, holding the account's place among its sockets.
    Accepted {
        header: String,
        user_id: Uuid,
        _lease: Lease,
    },
    /// Refused, with the close code and reason (the protocol layer ends the connection).
    Refused(u16, &'static str),
}

async fn serve(
    socket: WebSocket,
    state: HttpState,
    protocol: WebSocketProtocols,
    client: ClientMeta,
    _network_lease: Lease,
) {
    let (mut sink, stream) = socket.split();
    let most = state.sockets.bounds().subscriptions_per_socket;
    // Set when the client sent an operation the socket does not serve; its input ends there.
    let refused = Arc::new(AtomicBool::new(false));
    let refusal = Arc::clone(&refused);
    // The subscriptions running: counted here as they are let through, and given back
    // when the protocol layer drops their stream (completed, stopped or closed).
    let running = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&running);
    // Ids of subscriptions past the bound, to be answered with an `error` message.
    let (over_bound, mut refusals) = mpsc::channel::<String>(REFUSALS_PENDING);
    let flooded = Arc::new(AtomicBool::new(false));
    let flooding = Arc::clone(&flooded);
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        })
        .map(|message| {
            let incoming = classify(&message);
            (message, incoming)
        })
        .take_while(move |(_, incoming)| {
            let served = *incoming != Incoming::Refuse;
            if !served {
                refusal.store(true, Ordering::Relaxed);
            }
            future::ready(served)
        })
        .filter_map(move |(message, incoming)| {
            let Incoming::Subscription(id) = incoming else {
                return future::ready(Some(message));
            };
            if counted.fetch_add(1, Ordering::Relaxed) < most {
                return future::ready(Some(message));
            }
            counted.fetch_sub(1, Ordering::Relaxed);
            if over_bound.try_send(id).is_err() {
                flooding.store(true, Ordering::Relaxed);
            }
            future::ready(None)
        });

    // What connection_init decided; unset until it has run.
    let decided: Arc<OnceLock<Decision>> = Arc::default();
    let app = state.app.clone();
    let sockets = state.sockets.clone();
    let decision = Arc::clone(&decided);
    let mut protocol_stream = GraphQLWebSocket::new(
        Bounded {
            schema: state.schema.clone(),
            persisted: state.persisted.clone(),
            running: Arc::clone(&running),
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
        let (Some(header), Authentication::Viewer(viewer)) = (header, authentication) else {
            let _ = decision.set(Decision::Refused(FORBIDDEN, "Forbidden"));
            return Err::<Data, _>(async_graphql::Error::new("Forbidden"));
        };
        let Some(lease) = sockets.of_account(viewer.user_id()) else {
            let reason = "Too many live sockets for this account: close one first.";
            let _ = decision.set(Decision::Refused(TOO_MANY, reason));
            return Err(async_graphql::Error::new(reason));
        };
        let _ = decision.set(Decision::Accepted {
            header,
            user_id: viewer.user_id(),
            _lease: lease,
        });
        Ok(connection_data(
            &app,
            Authentication::Viewer(viewer),
            client,
        ))
    });
    let legacy = protocol == WebSocketProtocols::SubscriptionsTransportWS;

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
                Some(WsMessage::Close(..)) | None
                    if !matches!(decided.get(), Some(Decision::Accepted { .. })) =>
                {
                    let (code, reason) = match decided.get() {
                        Some(Decision::Refused(code, reason)) => (*code, *reason),
                        _ => (FORBIDDEN, "Forbidden"),
                    };
                    break Some((code, reason.to_owned()));
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
            Some(id) = refusals.recv() => {
                if flooded.load(Ordering::Relaxed) {
                    break Some((
                        TOO_MANY,
                        "Too many subscriptions past the bound of this socket.".to_owned(),
                    ));
                }
                let text = over_bound_error(&id, most, legacy);
                if sink.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            _ = &mut init_deadline, if decided.get().is_none() => {
                break Some((INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            _ = recheck.tick() => match decided.get() {
                None | Some(Decision::Refused(..)) => {}
                Some(Decision::Accepted { header, user_id, .. }) => {
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

/// The `error` message that answers a `subscribe` past the socket's bound: the protocol's
/// list of GraphQL errors, or the legacy protocol's single error.
fn over_bound_error(id: &str, most: usize, legacy: bool) -> String {
    let error = AppError::bad_input(format!(
        "This socket already serves {most} subscriptions: complete one before starting another."
    ));
    let error = to_wire(GraphQLResponse::from_errors(vec![
        async_graphql::Error::from(error).into_server_error(Default::default()),
    ]));
    let error = serde_json::to_value(&error.errors[0]).unwrap_or_default();
    let payload = if legacy {
        error
    } else {
        serde_json::Value::Array(vec![error])
    };
    serde_json::json!({ "id": id, "type": "error", "payload": payload }).to_string()
}

/// The schema as a socket runs it: each operation prepared as over HTTP (the same limits,
/// the same syntax errors, persisted documents no larger than HTTP lets into the shared
/// cache), and every response in its wire form.
#[derive(Clone)]
struct Bounded {
    schema: TaskqlSchema,
    persisted: LruCacheStorage,
    /// The socket's running subscriptions; each stream gives its place back when dropped.
    running: Arc<AtomicUsize>,
}

/// One running subscription's place in its socket's count.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Executor for Bounded {
    async fn execute(&self, request: Request) -> GraphQLResponse {
        self.run(request, None, None)
            .next()
            .await
            .unwrap_or_default()
    }

    /// A subscription the socket's input let through, holding the place it counted.
    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, GraphQLResponse> {
        let place = Running(Arc::clone(&self.running));
        self.run(request, session_data, Some(place))
    }
}

impl Bounded {
    /// Runs `request`; `place`, if any, is given back when the stream is dropped.
    fn run(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
        place: Option<Running>,
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
            .map(move |response| {
                let _held = &place;
                to_wire(response)
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::{Incoming, classify};

    fn message(kind: &str, payload: serde_json::Value) -> Vec<u8> {
        serde_json::json!({ "id": "1", "type": kind, "payload": payload })
            .to_string()
            .into_bytes()
    }

    fn subscription() -> Incoming {
        Incoming::Subscription("1".into())
    }

    #[test]
    fn only_subscriptions_pass() {
        let events = "subscription { taskEvents { kind } }";
        let mixed = "subscription S { taskEvents { kind } } mutation M { logoutAll }";
        for kind in ["subscribe", "start"] {
            assert_eq!(
                classify(&message(kind, serde_json::json!({ "query": events }))),
                subscription()
            );
            assert_eq!(
                classify(&message(
                    kind,
                    serde_json::json!({ "query": mixed, "operationName": "S" })
                )),
                subscription()
            );
            for refused in [
                serde_json::json!({ "query": "{ me { id } }" }),
                serde_json::json!({ "query": "mutation { logoutAll }" }),
                serde_json::json!({ "query": mixed }),
                serde_json::json!({ "query": mixed, "operationName": "M" }),
                serde_json::json!({ "query": " ", "extensions": { "persistedQuery": {} } }),
                serde_json::json!({}),
            ] {
                assert_eq!(
                    classify(&message(kind, refused.clone())),
                    Incoming::Refuse,
                    "{refused}"
                );
            }
        }
        // Everything else is the protocol layer's to answer; a syntax error is the engine's.
        assert_eq!(classify(b"not json"), Incoming::Pass);
        assert_eq!(
            classify(&message("connection_init", serde_json::json!({}))),
            Incoming::Pass
        );
        assert_eq!(
            classify(&message(
                "subscribe",
                serde_json::json!({ "query": "subscription {" })
            )),
            subscription()
        );
    }
}
