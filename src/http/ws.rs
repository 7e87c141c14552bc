//! `/graphql/ws`: subscriptions over WebSocket, with the `graphql-transport-ws` protocol
//! (the `graphql-ws` library) and the legacy `subscriptions-transport-ws`.
//!
//! The access token arrives in the `connection_init` payload as
//! `{"Authorization": "Bearer …"}` and is checked with the same [`authenticate`] as HTTP
//! requests. Without a valid one the socket is closed with 4403 (Forbidden). Afterwards it
//! is checked again periodically, so an expired token, a revoked session or a deactivated
//! account closes the socket too.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use async_graphql::Data;
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt, future};
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use super::HttpState;
use crate::auth::{Authentication, authenticate};
use crate::graphql::connection_data;
use crate::store::sessions::ClientMeta;

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
    let mut protocol_stream = GraphQLWebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(move |payload| async move {
            let header = authorization(&payload);
            let authentication = match &header {
                Some(header) => authenticate(&app, Some(header)).await,
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
