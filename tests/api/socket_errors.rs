//! Errors over `/graphql/ws` have the wire form HTTP gives them: a subscription whose
//! document does not parse or does not validate gets each error with
//! `extensions.code` BAD_USER_INPUT and the message HTTP answers, without the parser's text.

use serde_json::{Value, json};

use crate::helpers::{LEGACY_WS, Socket, TRANSPORT_WS, TestApp, bearer, spawn_app};

/// A document that does not parse, and one that parses but does not validate.
const BROKEN: [&str; 2] = [
    "subscription { taskEvents { kind ",
    "subscription { taskEvents { nonsense } }",
];

/// The errors HTTP answers for `query`.
async fn over_http(app: &TestApp, token: &str, query: &str) -> Value {
    let body = app.gql(Some(token), query, json!({})).await;
    assert!(body["data"].is_null(), "{body}");
    body["errors"].clone()
}

/// The errors a socket speaking `protocol` answers for `query`.
async fn over_socket(app: &TestApp, token: &str, protocol: &str, query: &str) -> Value {
    let (operation, answer) = match protocol {
        TRANSPORT_WS => ("subscribe", "next"),
        _ => ("start", "data"),
    };
    let mut socket = Socket::connect(app, protocol).await;
    // The operation waits in line until connection_init is accepted.
    socket.init(bearer(token)).await;
    socket
        .send(json!({ "id": "1", "type": operation, "payload": { "query": query } }))
        .await;
    assert_eq!(socket.receive().await["type"], "connection_ack");
    let message = socket.receive().await;
    assert_eq!(message["type"], answer, "{message}");
    assert_eq!(message["id"], "1");
    assert!(message["payload"]["data"].is_null(), "{message}");
    message["payload"]["errors"].clone()
}

#[tokio::test]
async fn a_subscription_that_does_not_parse_or_validate_gets_the_errors_http_gives() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    for query in BROKEN {
        let http = over_http(&app, &user.token, query).await;
        let errors = http.as_array().expect("errors");
        assert!(!errors.is_empty(), "{query}");
        for error in errors {
            assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        }
        for protocol in [TRANSPORT_WS, LEGACY_WS] {
            let socket = over_socket(&app, &user.token, protocol, query).await;
            assert_eq!(socket, http, "{protocol}: {query}");
        }
    }
    let syntax = over_http(&app, &user.token, BROKEN[0]).await;
    assert_eq!(
        syntax[0]["message"],
        "Syntax error: the document is not valid GraphQL."
    );
}
