//! Subprotocol negotiation on `/graphql/ws`: the socket speaks exactly the subprotocol its
//! handshake names, whatever order the client offers them in.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::spawn_app;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Sends `message` and returns the answer; panics after 10 s.
async fn exchange(socket: &mut Socket, message: Value) -> Value {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("an answer within 10 s");
    let Some(Ok(Message::Text(answer))) = answer else {
        panic!("{answer:?}");
    };
    serde_json::from_str(&answer).unwrap()
}

#[tokio::test]
async fn a_client_offering_both_subprotocols_is_served_the_one_the_handshake_names() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    for offer in [
        "graphql-ws, graphql-transport-ws",
        "graphql-transport-ws, graphql-ws",
    ] {
        let mut request = app.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(offer));
        let (mut socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws",
            "{offer}"
        );
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", user.token) } });
        assert_eq!(
            exchange(&mut socket, init).await["type"],
            "connection_ack",
            "{offer}"
        );
        // Only graphql-transport-ws answers a ping with a pong.
        let pong = exchange(&mut socket, json!({ "type": "ping" })).await;
        assert_eq!(pong["type"], "pong", "{offer}");
    }
}
