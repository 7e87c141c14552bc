//! The one WebSocket client: graphql-transport-ws (or the legacy graphql-ws) over
//! tokio-tungstenite, with timeouts so a silent server fails the test instead of hanging it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestApp;

/// The current subscription protocol.
pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy subscriptions-transport-ws protocol.
pub const LEGACY_WS: &str = "graphql-ws";
/// Close code for a message the socket does not serve.
pub const BAD_REQUEST: u16 = 4400;
/// Close code for a missing or invalid token.
pub const FORBIDDEN: u16 = 4403;
/// Close code for a socket that never sent `connection_init`.
pub const INIT_TIMEOUT: u16 = 4408;
/// Close code for a socket past a bound of live sockets.
pub const TOO_MANY: u16 = 4429;
/// What a close frame without a code reads as.
const NO_STATUS: u16 = 1005;
/// What a connection that ends without a close frame reads as.
const ABNORMAL: u16 = 1006;

/// How long a test waits for a message before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// An open subscription socket.
pub struct Socket(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Socket {
    /// Connects asking for `protocol` and asserts the server chose it.
    pub async fn connect(app: &TestApp, protocol: &str) -> Socket {
        Self::connect_with(app, protocol, &[]).await
    }

    /// Connects with extra upgrade-request `headers`; asserts the server chose `protocol`.
    pub async fn connect_with(app: &TestApp, protocol: &str, headers: &[(&str, &str)]) -> Socket {
        let mut request = app.ws_url().into_client_request().expect("a ws URL");
        let wanted = [("Sec-WebSocket-Protocol", protocol)];
        for (name, value) in wanted.iter().chain(headers) {
            request.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        Socket(socket)
    }

    /// A graphql-transport-ws socket initialised with `token`, acknowledged.
    pub async fn authenticated(app: &TestApp, token: &str) -> Socket {
        Self::authenticated_on(app, TRANSPORT_WS, token).await
    }

    /// A socket on `protocol` initialised with `token`, acknowledged.
    pub async fn authenticated_on(app: &TestApp, protocol: &str, token: &str) -> Socket {
        let mut socket = Self::connect(app, protocol).await;
        socket.init(bearer(token)).await;
        assert_eq!(socket.receive().await["type"], "connection_ack");
        socket
    }

    /// Sends one JSON message.
    pub async fn send(&mut self, message: Value) {
        self.0
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends `connection_init` with `payload`.
    pub async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    /// Sends a graphql-transport-ws `subscribe` of `payload` (query, variables, extensions).
    pub async fn subscribe(&mut self, id: &str, payload: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": payload }))
            .await;
    }

    /// Subscribes to `query` as id "1" and gives the server a moment to start listening
    /// before the test changes anything.
    pub async fn listen(&mut self, query: &str) {
        self.subscribe("1", json!({ "query": query })).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// The next message that is not a keep-alive, or the close code once the server closes
    /// (1005 for a close without a code, 1006 for a connection dropped without one);
    /// panics after 10 s.
    pub async fn next(&mut self) -> Result<Value, u16> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.0.next())
                .await
                .expect("a message or a close within 10 s");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("a JSON message");
                    if !matches!(value["type"].as_str(), Some("ping" | "pong" | "ka")) {
                        return Ok(value);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(NO_STATUS, |frame| u16::from(frame.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(ABNORMAL),
            }
        }
    }

    /// The next message, which must come before any close.
    pub async fn receive(&mut self) -> Value {
        self.next()
            .await
            .unwrap_or_else(|code| panic!("closed with {code}"))
    }

    /// The payload's data of the next `next` message for subscription "1", asserting it
    /// carries no errors.
    pub async fn next_data(&mut self) -> Value {
        let message = self.receive().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], "1", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"]["data"].clone()
    }

    /// Waits up to `within` for the server to close the socket, passing over any messages,
    /// and returns the close code.
    pub async fn closed(&mut self, within: Duration) -> u16 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .expect("the server closes the socket in time");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) | None => return NO_STATUS,
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("socket error: {err}"),
            }
        }
    }

    /// Waits for the server's close frame, passing over any messages; its code and reason.
    pub async fn close_frame(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.0.next())
                .await
                .expect("the server closes the socket within 10 s");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return (NO_STATUS, String::new()),
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("socket error: {err}"),
            }
        }
    }

    /// Waits up to `within` for the server to drop the connection, asserting that it
    /// answers no text meanwhile.
    pub async fn dropped_without_answer(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.0.next())
                .await
                .expect("the server drops the connection in time")
            {
                Some(Ok(Message::Text(text))) => panic!("answered: {text}"),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Asserts that nothing arrives for a while.
    pub async fn silent(&mut self) {
        let result = tokio::time::timeout(Duration::from_millis(700), self.0.next()).await;
        assert!(result.is_err(), "unexpected message: {result:?}");
    }
}

/// A `connection_init` payload carrying `token` the way clients send it.
pub fn bearer(token: &str) -> Value {
    json!({ "Authorization": format!("Bearer {token}") })
}
