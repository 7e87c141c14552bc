//! The subscription socket as a way around the HTTP edge, or into other users' events.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::helpers::documents::{DELETE_TASK, LOGIN, LOGOUT_ALL, ME};
use crate::helpers::{
    BAD_REQUEST, FORBIDDEN, LEGACY_WS, PASSWORD, Socket, TOO_MANY, TRANSPORT_WS, TestApp, bearer,
    spawn_app, spawn_app_with, works,
};

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
        json!({ "query": LOGIN,
                "variables": { "input": { "username": "victim", "password": "guess number one" } } }),
        json!({ "query": format!("mutation {{ deleteTask(id: \"{id}\") }}") }),
        json!({ "query": ME }),
        json!({ "query": "subscription S { taskEvents { kind } } mutation M { logoutAll }",
                "operationName": "M" }),
        json!({ "query": "subscription S { taskEvents { kind } } mutation M { logoutAll }" }),
        json!({ "query": "", "extensions": { "persistedQuery": { "version": 1,
                "sha256Hash": "0000000000000000000000000000000000000000000000000000000000000000" } } }),
    ];
    for payload in operations {
        let mut socket = Socket::authenticated(&app, &attacker.token).await;
        socket.subscribe("1", payload.clone()).await;
        assert_eq!(socket.next().await, Err(BAD_REQUEST), "{payload}");
    }
    // The legacy protocol is held to the same rule.
    let mut socket = Socket::authenticated_on(&app, LEGACY_WS, &attacker.token).await;
    socket
        .send(json!({ "id": "1", "type": "start", "payload": { "query": LOGOUT_ALL } }))
        .await;
    assert_eq!(socket.next().await, Err(BAD_REQUEST));

    assert_eq!(app.count("tasks").await, 1);
    assert_eq!(app.count("sessions").await, 2, "no login, no logout");
    assert_eq!(app.task_as(&victim.token, id).await["title"], "secret");
    assert!(works(&app, &attacker.token).await);
}

#[tokio::test]
async fn probe_other_users_events_never_reach_a_subscriber() {
    let app = spawn_app().await;
    let victim = app.user("victim").await;
    let attacker = app.user("mallory").await;
    let mut socket = Socket::authenticated(&app, &attacker.token).await;
    socket
        .listen("subscription { taskEvents { kind taskId task { title owner { id email } } } }")
        .await;
    let id = &app.task_titled(&victim.token, "victim's").await;
    app.gql(
        Some(&victim.token),
        "mutation($id: ID!) { updateTask(id: $id, input: { title: \"changed\" }) { id } }",
        json!({ "id": id }),
    )
    .await;
    app.gql(Some(&victim.token), DELETE_TASK, json!({ "id": id }))
        .await;
    // The attacker's own change comes after the victim's three: it must be the first event.
    app.create_task(&attacker.token, json!({ "title": "mallory's" }))
        .await;
    let message = socket.receive().await;
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
    let authorization = format!("Bearer {}", user.token);
    for payload in [
        json!({}),
        json!({ "headers": { "Authorization": authorization } }),
        json!({ "Authorization": user.token }),
        json!({ "Authorization": format!("Bearer {}", user.refresh) }),
        json!({ "Authorization": ["Bearer", user.token] }),
        json!({ "token": user.token, "accessToken": user.token }),
    ] {
        // The token in the upgrade request's own headers does not count either.
        let mut socket = upgrade_with_token(&app, &authorization).await;
        socket.init(payload.clone()).await;
        assert_eq!(socket.next().await, Err(FORBIDDEN), "{payload}");
    }
    // And nothing runs before a connection_init is accepted.
    let mut socket = upgrade_with_token(&app, &authorization).await;
    socket.subscribe("1", json!({ "query": LOGOUT_ALL })).await;
    assert_eq!(socket.next().await, Err(FORBIDDEN));
    assert!(works(&app, &user.token).await);
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
}

/// A graphql-transport-ws socket whose upgrade request carries `authorization`.
async fn upgrade_with_token(app: &TestApp, authorization: &str) -> Socket {
    Socket::connect_with(app, TRANSPORT_WS, &[("Authorization", authorization)]).await
}

/// A document that lists the title of every task event.
const EVENTS: &str = "subscription { taskEvents { kind task { title } } }";

/// The subscription ids of the next `count` messages, each a `next`.
async fn next_ids(socket: &mut Socket, count: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for _ in 0..count {
        let event = socket.receive().await;
        assert_eq!(event["type"], "next", "{event}");
        ids.insert(event["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn probe_subscriptions_past_the_socket_bound_are_refused_and_the_rest_keep_serving() {
    let app = spawn_app_with(&[("WS_MAX_SUBSCRIPTIONS_PER_SOCKET", "3")]).await;
    let user = app.user("hoarder").await;
    let mut socket = Socket::authenticated(&app, &user.token).await;
    for id in ["1", "2", "3", "4"] {
        socket.subscribe(id, json!({ "query": EVENTS })).await;
    }
    let refusal = socket.receive().await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["id"], "4");
    assert_eq!(
        refusal["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert!(
        refusal["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already serves 3 subscriptions"),
        "{refusal}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.task_titled(&user.token, "first").await;
    assert_eq!(
        next_ids(&mut socket, 3).await,
        BTreeSet::from(["1", "2", "3"].map(String::from))
    );
    // Completing one frees its place.
    socket.send(json!({ "id": "2", "type": "complete" })).await;
    assert_eq!(
        socket.receive().await,
        json!({ "id": "2", "type": "complete" })
    );
    socket.subscribe("5", json!({ "query": EVENTS })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.task_titled(&user.token, "second").await;
    assert_eq!(
        next_ids(&mut socket, 3).await,
        BTreeSet::from(["1", "3", "5"].map(String::from))
    );

    // The legacy protocol's error carries one error object.
    let mut legacy = Socket::authenticated_on(&app, LEGACY_WS, &user.token).await;
    for id in ["1", "2", "3", "4"] {
        legacy
            .send(json!({ "id": id, "type": "start", "payload": { "query": EVENTS } }))
            .await;
    }
    let refusal = legacy.receive().await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["id"], "4");
    assert_eq!(refusal["payload"]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn probe_sockets_past_the_account_bound_are_closed_saying_why() {
    let app = spawn_app_with(&[("WS_MAX_SOCKETS_PER_ACCOUNT", "2")]).await;
    let user = app.user("tabs").await;
    let other = app.user("neighbour").await;
    let first = Socket::authenticated(&app, &user.token).await;
    let _second = Socket::authenticated(&app, &user.token).await;
    let mut third = Socket::connect(&app, TRANSPORT_WS).await;
    third.init(bearer(&user.token)).await;
    let (code, reason) = third.close_frame().await;
    assert_eq!(code, TOO_MANY);
    assert!(reason.contains("for this account"), "{reason}");
    // Another account is not held by this one's sockets, and a closed socket frees a place.
    Socket::authenticated(&app, &other.token).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Socket::authenticated(&app, &user.token).await;
}

#[tokio::test]
async fn probe_sockets_past_the_address_bound_are_closed_before_they_authenticate() {
    let app = spawn_app_with(&[
        ("WS_MAX_SOCKETS_PER_ADDRESS", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let user = app.user("crowd").await;
    let from = |address: &'static str| [("X-Forwarded-For", address)];
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(Socket::connect_with(&app, TRANSPORT_WS, &from("203.0.113.5")).await);
    }
    let mut refused = Socket::connect_with(&app, TRANSPORT_WS, &from("203.0.113.5")).await;
    let (code, reason) = refused.close_frame().await;
    assert_eq!(code, TOO_MANY);
    assert!(reason.contains("from this address"), "{reason}");
    // Another address still gets in, and authenticates as usual.
    let mut elsewhere = Socket::connect_with(&app, TRANSPORT_WS, &from("198.51.100.7")).await;
    elsewhere.init(bearer(&user.token)).await;
    assert_eq!(elsewhere.receive().await["type"], "connection_ack");
    held.pop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = Socket::connect_with(&app, TRANSPORT_WS, &from("203.0.113.5")).await;
    again.init(bearer(&user.token)).await;
    assert_eq!(again.receive().await["type"], "connection_ack");
}

#[tokio::test]
async fn probe_a_large_task_change_costs_one_read_however_many_subscribe() {
    let app = spawn_app().await;
    let user = app.user("fanout").await;
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let mut socket = Socket::authenticated(&app, &user.token).await;
        for id in 0..10 {
            socket
                .subscribe(&id.to_string(), json!({ "query": EVENTS }))
                .await;
        }
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = app.task_titled(&user.token, "big").await;
    for socket in &mut sockets {
        for _ in 0..10 {
            assert_eq!(socket.receive().await["type"], "next");
        }
    }
    let small = update_cost(&app, &user.token, &id, &mut sockets, "short").await;
    // Too large for a PostgreSQL notification: the task travels without it.
    let large = update_cost(&app, &user.token, &id, &mut sockets, &"x".repeat(9_000)).await;
    assert!(
        large <= small + 1,
        "a small change ran {small} statements, a large one {large}"
    );
}

/// Statements run by one change of task `id`'s description until each of the ten
/// subscriptions of every socket has it.
async fn update_cost(
    app: &TestApp,
    token: &str,
    id: &str,
    sockets: &mut [Socket],
    description: &str,
) -> u64 {
    let before = app.statements.get();
    let body = app
        .gql(
            Some(token),
            "mutation($id: ID!, $d: String) { updateTask(id: $id, input: { description: $d }) { id } }",
            json!({ "id": id, "d": description }),
        )
        .await;
    assert!(body["data"]["updateTask"].is_object(), "{body}");
    for socket in sockets.iter_mut() {
        for _ in 0..10 {
            let event = socket.receive().await;
            assert_eq!(
                event["payload"]["data"]["taskEvents"]["kind"], "UPDATED",
                "{event}"
            );
        }
    }
    app.statements.get() - before
}
