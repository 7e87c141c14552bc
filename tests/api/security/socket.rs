//! The subscription socket as a way around the HTTP edge, or into other users' events.

use serde_json::json;

use crate::helpers::documents::{DELETE_TASK, LOGIN, LOGOUT_ALL, ME};
use crate::helpers::{
    BAD_REQUEST, FORBIDDEN, LEGACY_WS, PASSWORD, Socket, TRANSPORT_WS, TestApp, spawn_app, works,
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
