//! `taskEvents` over WebSocket at `/graphql/ws`: the token in `connection_init`, 4403 without
//! a valid one, the viewer's own events only, closing when the token stops being valid, and
//! replicas sharing events through PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::documents::{DELETE_TASK, LOGOUT_ALL, TASK_EVENTS};
use crate::helpers::{
    FORBIDDEN, INIT_TIMEOUT, LEGACY_WS, Socket, TRANSPORT_WS, TestApp, at_jwt_header, forge, sign,
    spawn_app, spawn_app_with, valid_claims,
};

/// A socket of `token`'s viewer listening to `taskEvents`.
async fn subscribe(app: &TestApp, token: &str) -> Socket {
    let mut socket = Socket::authenticated(app, token).await;
    socket.listen(TASK_EVENTS).await;
    socket
}

/// The next task event on subscription "1".
async fn next_event(socket: &mut Socket) -> Value {
    socket.next_data().await["taskEvents"].clone()
}

#[tokio::test]
async fn subscribers_receive_the_events_of_their_own_tasks_only() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut alices = subscribe(&app, &alice.token).await;
    let mut bobs = subscribe(&app, &bob.token).await;

    let task = app
        .create_task(&alice.token, json!({ "title": "alice's" }))
        .await;
    let body = app
        .gql(
            Some(&alice.token),
            "mutation($id: ID!) { updateTask(id: $id, input: { status: DONE }) { id } }",
            json!({ "id": task["id"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql(Some(&alice.token), DELETE_TASK, json!({ "id": task["id"] }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let bobs_task = app
        .create_task(&bob.token, json!({ "title": "bob's" }))
        .await;
    // Bob failing to touch Alice's task publishes nothing.
    let body = app
        .gql(Some(&bob.token), DELETE_TASK, json!({ "id": task["id"] }))
        .await;
    assert!(!body["errors"].is_null());

    let created = next_event(&mut alices).await;
    assert_eq!(created["kind"], "CREATED");
    assert_eq!(created["taskId"], task["id"]);
    assert_eq!(created["task"]["title"], "alice's");
    assert_eq!(created["task"]["owner"]["username"], "alice");
    let updated = next_event(&mut alices).await;
    assert_eq!(updated["kind"], "UPDATED");
    assert_eq!(updated["task"]["status"], "DONE");
    let deleted = next_event(&mut alices).await;
    assert_eq!(deleted["kind"], "DELETED");
    assert_eq!(deleted["taskId"], task["id"]);
    assert!(deleted["task"].is_null());
    alices.silent().await;

    let event = next_event(&mut bobs).await;
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(event["taskId"], bobs_task["id"]);
    bobs.silent().await;
}

#[tokio::test]
async fn a_connection_without_a_valid_token_is_closed_with_4403() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let forged = sign(
        &at_jwt_header(&user),
        &valid_claims(&user),
        "another-secret-0123456789abcdef",
    );
    let payloads = [
        json!(null),
        json!({}),
        json!({ "Authorization": "" }),
        json!({ "Authorization": "Bearer" }),
        json!({ "Authorization": "Bearer not-a-jwt" }),
        json!({ "Authorization": format!("Basic {}", user.token) }),
        json!({ "Authorization": format!("Bearer {forged}") }),
        json!({ "Authorization": 42 }),
        json!({ "token": user.token }),
        json!("Bearer 🦀"),
    ];
    for payload in payloads {
        let mut socket = Socket::connect(&app, TRANSPORT_WS).await;
        socket.init(payload.clone()).await;
        assert_eq!(
            socket.closed(Duration::from_secs(5)).await,
            FORBIDDEN,
            "{payload}"
        );
    }
    // The legacy protocol is refused the same way.
    let mut socket = Socket::connect(&app, LEGACY_WS).await;
    socket.init(json!({})).await;
    let refusal = socket.receive().await;
    assert_eq!(refusal["type"], "connection_error", "{refusal}");
    assert_eq!(socket.closed(Duration::from_secs(5)).await, FORBIDDEN);
    // Without the subprotocol there is no upgrade.
    let reply = app
        .request()
        .method(reqwest::Method::GET)
        .path("/graphql/ws")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn the_socket_closes_when_the_token_expires_the_session_ends_or_the_account_is_deactivated() {
    let app = spawn_app_with(&[("WS_AUTH_RECHECK_SECONDS", "1")]).await;
    let user = app.user("dave").await;
    // Within the 30 s leeway now, past it in three seconds.
    let now = chrono::Utc::now().timestamp();
    let mut claims = valid_claims(&user);
    claims["iat"] = json!(now - 600);
    claims["nbf"] = json!(now - 600);
    claims["exp"] = json!(now - 27);
    let expiring = forge(&user, &claims);
    let mut socket = subscribe(&app, &expiring).await;
    assert_eq!(socket.closed(Duration::from_secs(10)).await, FORBIDDEN);

    // Revoking the session (logoutAll) closes a socket opened with its token.
    let mut socket = subscribe(&app, &user.token).await;
    let body = app.gql(Some(&user.token), LOGOUT_ALL, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(socket.closed(Duration::from_secs(5)).await, FORBIDDEN);

    let user = app.user("dave2").await;
    let mut socket = subscribe(&app, &user.token).await;
    app.create_task(&user.token, json!({ "title": "still here" }))
        .await;
    assert_eq!(next_event(&mut socket).await["kind"], "CREATED");
    app.execute("UPDATE users SET is_active = false").await;
    assert_eq!(socket.closed(Duration::from_secs(5)).await, FORBIDDEN);
}

#[tokio::test]
async fn a_socket_that_never_initialises_is_closed() {
    let app = spawn_app().await;
    let mut socket = Socket::connect(&app, TRANSPORT_WS).await;
    assert_eq!(socket.closed(Duration::from_secs(15)).await, INIT_TIMEOUT);
}

#[tokio::test]
async fn subscribing_before_initialising_or_with_an_oversized_message_closes_the_socket() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "4096")]).await;
    let mut socket = Socket::connect(&app, TRANSPORT_WS).await;
    socket.subscribe("1", json!({ "query": TASK_EVENTS })).await;
    assert_eq!(socket.closed(Duration::from_secs(5)).await, FORBIDDEN);

    let mut socket = Socket::connect(&app, TRANSPORT_WS).await;
    let padding = "x".repeat(8192);
    socket
        .init(json!({ "Authorization": "Bearer x", "pad": padding }))
        .await;
    socket.dropped_without_answer(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_persisted_subscription_larger_than_http_allows_is_refused_and_not_kept() {
    use sha2::Digest;
    let app = spawn_app().await;
    let user = app.user("apq").await;
    let query = format!("# {}\n{TASK_EVENTS}", "x".repeat(9 * 1024));
    let hash = format!("{:x}", sha2::Sha256::digest(query.as_bytes()));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let mut socket = Socket::authenticated(&app, &user.token).await;
    socket
        .subscribe("1", json!({ "query": query, "extensions": extensions }))
        .await;
    let answer = socket.receive().await;
    assert_eq!(answer["type"], "next", "{answer}");
    let error = &answer["payload"]["errors"][0];
    assert_eq!(
        error["message"],
        "Persisted documents are limited to 8192 bytes; send larger ones without `persistedQuery`.",
        "{answer}"
    );
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    assert_eq!(socket.receive().await["type"], "complete");
    // The shared cache did not keep it: its hash alone is unknown over HTTP.
    let body = app
        .request()
        .token(&user.token)
        .json(json!({ "extensions": extensions }))
        .send()
        .await
        .body;
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{body}"
    );
}

#[tokio::test]
async fn the_legacy_subscriptions_transport_ws_protocol_is_served() {
    let app = spawn_app().await;
    let user = app.user("erin").await;
    let mut socket = Socket::authenticated_on(&app, LEGACY_WS, &user.token).await;
    socket
        .send(json!({ "id": "7", "type": "start", "payload": { "query": TASK_EVENTS } }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let task = app
        .create_task(&user.token, json!({ "title": "legacy" }))
        .await;
    let message = socket.receive().await;
    assert_eq!(message["type"], "data", "{message}");
    assert_eq!(
        message["payload"]["data"]["taskEvents"]["taskId"],
        task["id"]
    );
}

#[tokio::test]
async fn replicas_on_one_postgresql_database_share_events() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        // On SQLite events travel within one process; replicas need PostgreSQL.
        eprintln!("replicas_on_one_postgresql_database_share_events: runs on PostgreSQL only");
        return;
    }
    let replica = app.replica(&[]).await;
    let user = app.user("frank").await;
    let other = app.user("grace").await;
    let mut on_replica = subscribe(&replica, &user.token).await;
    let mut on_primary = subscribe(&app, &user.token).await;
    let task = app
        .create_task(&user.token, json!({ "title": "via the first" }))
        .await;
    app.create_task(&other.token, json!({ "title": "not frank's" }))
        .await;
    let second = replica
        .create_task(&user.token, json!({ "title": "via the replica" }))
        .await;
    for socket in [&mut on_replica, &mut on_primary] {
        let first = next_event(socket).await;
        assert_eq!(first["taskId"], task["id"]);
        assert_eq!(first["task"]["title"], "via the first");
        assert_eq!(next_event(socket).await["taskId"], second["id"]);
        socket.silent().await;
    }
}

#[tokio::test]
async fn every_state_arrives_even_when_changes_follow_at_once_and_tasks_are_large() {
    let app = spawn_app().await;
    let user = app.user("heidi").await;
    let mut socket = subscribe(&app, &user.token).await;
    let long = "ü".repeat(10_000);
    let big = app
        .create_task(&user.token, json!({ "title": "big", "description": long }))
        .await;
    let quick = app
        .create_task(&user.token, json!({ "title": "quick" }))
        .await;
    for status in ["IN_PROGRESS", "DONE"] {
        let body = app
            .gql(
                Some(&user.token),
                "mutation($id: ID!, $status: TaskStatus!) { updateTask(id: $id, input: { status: $status }) { id } }",
                json!({ "id": quick["id"], "status": status }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let body = app
        .gql(Some(&user.token), DELETE_TASK, json!({ "id": quick["id"] }))
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let first = next_event(&mut socket).await;
    assert_eq!(first["taskId"], big["id"]);
    assert_eq!(first["task"]["title"], "big");
    let mut events = Vec::new();
    for _ in 0..4 {
        let event = next_event(&mut socket).await;
        events.push((
            event["kind"].as_str().unwrap().to_owned(),
            event["task"]["status"].clone(),
        ));
    }
    assert_eq!(
        events,
        [
            ("CREATED".to_owned(), json!("TODO")),
            ("UPDATED".to_owned(), json!("IN_PROGRESS")),
            ("UPDATED".to_owned(), json!("DONE")),
            ("DELETED".to_owned(), Value::Null),
        ]
    );
}
