//! The subscription socket as a way around the HTTP edge, or into other users' events.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::task_as;
use crate::helpers::{PASSWORD, TestApp, spawn_app};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Close code for a message the socket does not serve.
const BAD_REQUEST: u16 = 4400;
/// Close code for a missing or invalid token.
const FORBIDDEN: u16 = 4403;

async fn open(app: &TestApp, protocol: &str, authorization: Option<&str>) -> Socket {
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    if let Some(authorization) = authorization {
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(authorization).unwrap(),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket")
        .0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next message that is not a keep-alive, or the close code once the server closes;
/// panics after 10 s.
async fn next(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message or a close within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if !matches!(value["type"].as_str(), Some("ping" | "pong" | "ka")) {
                    return Ok(value);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or(1005, |frame| u16::from(frame.code)));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(1006),
        }
    }
}

/// An initialised graphql-transport-ws socket for `token`.
async fn authenticated(app: &TestApp, token: &str) -> Socket {
    let mut socket = open(app, "graphql-transport-ws", None).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    socket
}

#[tokio::test]
async fn probe_queries_and_mutations_over_the_socket_run_nothing() {
    let app = spawn_app().await;
    let victim = app.user("victim").await;
    let attacker = app.user("mallory").await;
    let secret = app
        .create_task(&victim.token, json!({ "title": "secret" }))
        .await;
    let id = secret["id"].as_str().unwrap();
    // Over HTTP these would meet the edge's checks (client address for login throttling,
    // limits); the socket serves subscriptions only.
    let operations = [
        json!({ "query": "mutation { createTask(input: { title: \"via socket\" }) { id } }" }),
        json!({ "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                "variables": { "i": { "username": "victim", "password": "guess number one" } } }),
        json!({ "query": format!("mutation {{ deleteTask(id: \"{id}\") }}") }),
        json!({ "query": "{ me { id } }" }),
        json!({ "query": "subscription S { taskEvents { kind } } mutation M { logoutAll }",
                "operationName": "M" }),
        json!({ "query": "subscription S { taskEvents { kind } } mutation M { logoutAll }" }),
        json!({ "query": "", "extensions": { "persistedQuery": { "version": 1,
                "sha256Hash": "0000000000000000000000000000000000000000000000000000000000000000" } } }),
    ];
    for payload in operations {
        let mut socket = authenticated(&app, &attacker.token).await;
        send(
            &mut socket,
            json!({ "id": "1", "type": "subscribe", "payload": payload }),
        )
        .await;
        assert_eq!(next(&mut socket).await, Err(BAD_REQUEST), "{payload}");
    }
    // The legacy protocol is held to the same rule.
    let mut socket = open(&app, "graphql-ws", None).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", attacker.token) } }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "start", "payload": { "query": "mutation { logoutAll }" } }),
    )
    .await;
    assert_eq!(next(&mut socket).await, Err(BAD_REQUEST));

    assert_eq!(app.count("tasks").await, 1);
    assert_eq!(app.count("sessions").await, 2, "no login, no logout");
    assert_eq!(task_as(&app, &victim.token, id).await["title"], "secret");
    assert!(super::works(&app, &attacker.token).await);
}

#[tokio::test]
async fn probe_other_users_events_never_reach_a_subscriber() {
    let app = spawn_app().await;
    let victim = app.user("victim").await;
    let attacker = app.user("mallory").await;
    let mut socket = authenticated(&app, &attacker.token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription { taskEvents { kind taskId task { title owner { id email } } } }" } }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let task = app
        .create_task(&victim.token, json!({ "title": "victim's" }))
        .await;
    let id = task["id"].as_str().unwrap();
    app.gql(
        Some(&victim.token),
        "mutation($id: ID!) { updateTask(id: $id, input: { title: \"changed\" }) { id } }",
        json!({ "id": id }),
    )
    .await;
    app.gql(
        Some(&victim.token),
        "mutation($id: ID!) { deleteTask(id: $id) }",
        json!({ "id": id }),
    )
    .await;
    // The attacker's own change comes after the victim's three: it must be the first event.
    app.create_task(&attacker.token, json!({ "title": "mallory's" }))
        .await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "next", "{message}");
    let event = &message["payload"]["data"]["taskEvents"];
    assert_eq!(event["kind"], "CREATED", "{message}");
    assert_eq!(event["task"]["title"], "mallory's", "{message}");
    assert_eq!(event["task"]["owner"]["id"], attacker.id.as_str());
    assert!(!message.to_string().contains(&victim.id));
}

#[tokio::test]
async fn probe_a_token_outside_the_init_payload_is_no_credential() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let bearer = format!("Bearer {}", user.token);
    for payload in [
        json!({}),
        json!({ "headers": { "Authorization": bearer } }),
        json!({ "Authorization": user.token }),
        json!({ "Authorization": format!("Bearer {}", user.refresh) }),
        json!({ "Authorization": ["Bearer", user.token] }),
        json!({ "token": user.token, "accessToken": user.token }),
    ] {
        // The token in the upgrade request's own headers does not count either.
        let mut socket = open(&app, "graphql-transport-ws", Some(&bearer)).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(next(&mut socket).await, Err(FORBIDDEN), "{payload}");
    }
    // And nothing runs before a connection_init is accepted.
    let mut socket = open(&app, "graphql-transport-ws", Some(&bearer)).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "mutation { logoutAll }" } }),
    )
    .await;
    assert_eq!(next(&mut socket).await, Err(FORBIDDEN));
    assert!(super::works(&app, &user.token).await);
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
}
