//! The request deadline: an operation still running at `REQUEST_TIMEOUT_SECONDS` is
//! cancelled (its future dropped, so nothing after the slow step happens) and answered with
//! INTERNAL_SERVER_ERROR and status 503.
//!
//! The slow step is an honest one: password hashing with argon2 parameters that take far
//! longer (about a second) than the 0.1 s deadline these tests configure.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::documents::{REGISTER, TYPENAME};
use crate::helpers::{Socket, TestApp, code, message, register_input, spawn_app_with};

/// argon2 settings that make one hash take about a second.
const SLOW_HASHING: [(&str, &str); 2] =
    [("ARGON2_MEMORY_KIB", "65536"), ("ARGON2_ITERATIONS", "20")];
const DEADLINE_MESSAGE: &str = "The request did not complete within 0.1 seconds and was cancelled.";

async fn slow_app(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("REQUEST_TIMEOUT_SECONDS", "0.1")];
    vars.extend(SLOW_HASHING);
    vars.extend(extra);
    spawn_app_with(&vars).await
}

/// The request body of a registration of `username`.
fn register(username: &str) -> Value {
    json!({ "query": REGISTER, "variables": register_input(username) })
}

/// POSTs `body` accepting `accept`; the status and the JSON answer.
async fn post(app: &TestApp, body: &Value, accept: &str) -> (u16, Value) {
    let reply = app.request().accept(accept).json(body.clone()).send().await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn an_operation_past_the_deadline_is_cancelled_with_503() {
    let app = slow_app(&[]).await;
    for accept in ["application/json", "application/graphql-response+json"] {
        let (status, body) = post(&app, &register("late"), accept).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(code(&body), "INTERNAL_SERVER_ERROR");
        assert_eq!(message(&body), DEADLINE_MESSAGE);
        assert!(body["data"].is_null(), "{body}");
    }
    // Quick operations are unaffected.
    let body = app.gql(None, TYPENAME, json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");

    // The same registration with the default deadline succeeds, so the deadline, not the
    // request, failed it.
    let patient = app.replica(&SLOW_HASHING).await;
    let (status, body) = post(&patient, &register("patient"), "application/json").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["register"]["id"].is_string(), "{body}");
    // The cancelled registrations never reached the database, even once their hashes ended.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn a_batch_past_the_deadline_keeps_what_finished_and_cancels_the_rest() {
    let app = slow_app(&[("GRAPHQL_MAX_BATCH", "3")]).await;
    let quick = json!({ "query": TYPENAME });
    let batch = json!([quick, register("late"), quick]);
    let (status, body) = post(&app, &batch, "application/json").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body[0]["data"]["__typename"], "Query", "{body}");
    for cancelled in [&body[1], &body[2]] {
        assert_eq!(code(cancelled), "INTERNAL_SERVER_ERROR");
        assert_eq!(message(cancelled), DEADLINE_MESSAGE);
        assert!(cancelled["data"].is_null(), "{body}");
    }
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn a_subscription_has_no_deadline() {
    // A deadline short enough for the subscription to outlive it, long enough that the
    // mutation which makes the event finishes on a busy machine.
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECONDS", "0.5")]).await;
    // The account logs in on a replica with the default deadline, hashing and all.
    let patient = app.replica(&[]).await;
    let user = patient.user("socket").await;

    let mut socket = Socket::authenticated(&app, &user.token).await;

    // A subscription outlives the deadline: an event three deadlines later still arrives.
    let events = "subscription { taskEvents { kind task { title } } }";
    socket.subscribe("1", json!({ "query": events })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.create_task(&user.token, json!({ "title": "after the deadline" }))
        .await;
    let event = socket.receive().await;
    assert_eq!(event["id"], "1", "{event}");
    assert_eq!(
        event["payload"]["data"]["taskEvents"]["task"]["title"],
        "after the deadline"
    );
}
