//! Subprotocol negotiation on `/graphql/ws`: the socket speaks exactly the subprotocol its
//! handshake names, whatever order the client offers them in.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};

use crate::helpers::spawn_app;

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
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .unwrap();
        let ack = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("an answer within 10 s");
        let Some(Ok(Message::Text(ack))) = ack else {
            panic!("{offer}: {ack:?}");
        };
        let ack: Value = serde_json::from_str(&ack).unwrap();
        assert_eq!(ack["type"], "connection_ack", "{offer}");
        // Only graphql-transport-ws answers a ping with a pong.
        let ping = json!({ "type": "ping" });
        socket
            .send(Message::Text(ping.to_string().into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("an answer within 10 s");
        let Some(Ok(Message::Text(pong))) = pong else {
            panic!("{offer}: {pong:?}");
        };
        let pong: Value = serde_json::from_str(&pong).unwrap();
        assert_eq!(pong["type"], "pong", "{offer}");
    }
}
