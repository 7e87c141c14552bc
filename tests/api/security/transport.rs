//! The HTTP edge: oversized bodies and headers, cross-site requests, methods.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::documents::{CREATE_TASK, TYPENAME};
use crate::helpers::{JSON, TestApp, spawn_app, spawn_app_with, works};

/// A createTask request body padded to about `bytes` bytes.
fn padded_mutation(bytes: usize) -> String {
    json!({
        "query": CREATE_TASK,
        "variables": { "input": { "title": "smuggled" }, "pad": "x".repeat(bytes) },
    })
    .to_string()
}

/// A raw TCP connection to `app`, and the address it goes to (for `Host`).
async fn raw_connection(app: &TestApp) -> (tokio::net::TcpStream, String) {
    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    (stream, address)
}

/// The answer to an unfinished request on `stream`, which must come within `within` and
/// be `status` with BAD_USER_INPUT.
async fn refusal(stream: &mut tokio::net::TcpStream, within: Duration, status: u16) -> String {
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(within, stream.read(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("a {status} within {within:?}, without the rest of the body"))
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status}")),
        "{answer}"
    );
    assert!(answer.contains("BAD_USER_INPUT"), "{answer}");
    answer
}

#[tokio::test]
async fn probe_an_oversized_mutation_by_content_length_runs_nothing() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "4096")]).await;
    let user = app.user("alice").await;
    let reply = app
        .request()
        .token(&user.token)
        .raw(JSON, padded_mutation(8192))
        .send()
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    assert_eq!(app.count("tasks").await, 0);
}

#[tokio::test]
async fn probe_an_oversized_chunked_mutation_runs_nothing() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "4096")]).await;
    let user = app.user("bob").await;
    // Valid JSON whose first chunks fit the cap; only the whole body is too large.
    let reply = app
        .request()
        .token(&user.token)
        .chunked(JSON, padded_mutation(64 * 1024), 1000)
        .send()
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(app.count("tasks").await, 0);
    assert!(works(&app, &user.token).await);
}

#[tokio::test]
async fn probe_a_declared_huge_content_length_is_cut_off_at_the_cap() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "4096")]).await;
    let (mut stream, address) = raw_connection(&app).await;
    // Claims a terabyte, sends a little over the cap, and never finishes.
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b' '; 8192]).await.unwrap();
    refusal(&mut stream, Duration::from_secs(5), 413).await;
}

#[tokio::test]
async fn probe_a_body_that_never_finishes_is_cut_off_at_the_deadline() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECONDS", "0.5")]).await;
    let user = app.user("slowloris").await;
    let (mut stream, address) = raw_connection(&app).await;
    // A mutation whose body stops a few bytes short of its declared length.
    let body = json!({ "query": CREATE_TASK, "variables": { "input": { "title": "held open" } } })
        .to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        user.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() - 3])
        .await
        .unwrap();
    let answer = refusal(&mut stream, Duration::from_secs(10), 408).await;
    assert!(
        answer.contains("The request body did not arrive within 0.5 seconds."),
        "{answer}"
    );
    assert_eq!(app.count("tasks").await, 0);
}

#[tokio::test]
async fn probe_cross_site_content_types_with_a_token_attached_run_nothing() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let id = &app.task_titled(&user.token, "keep").await;
    let payload =
        json!({ "query": format!("mutation {{ deleteTask(id: \"{id}\") }}") }).to_string();
    for content_type in [
        "text/plain",
        "text/plain; x=application/json",
        "text/plain, application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
        "application/json-patch+json",
        "application/jsonx",
        "application/graphql-response+json",
        "",
    ] {
        let reply = app
            .request()
            .token(&user.token)
            .header("content-type", content_type)
            .header("origin", "https://evil.example")
            .raw("", payload.clone())
            .send()
            .await;
        assert_eq!(reply.status, 415, "{content_type:?}");
    }
    assert_eq!(app.task_as(&user.token, id).await["title"], "keep");
}

#[tokio::test]
async fn probe_mutations_by_other_methods_run_nothing() {
    let app = spawn_app().await;
    let user = app.user("dave").await;
    let id = &app.task_titled(&user.token, "keep").await;
    let mutation = format!("mutation {{ deleteTask(id: \"{id}\") }}");
    // GET and HEAD carry the operation in the query string, the others in a JSON body.
    for (method, in_query) in [
        (reqwest::Method::GET, true),
        (reqwest::Method::HEAD, true),
        (reqwest::Method::PUT, false),
        (reqwest::Method::PATCH, false),
        (reqwest::Method::DELETE, false),
    ] {
        let request = app.request().method(method.clone()).token(&user.token);
        let request = if in_query {
            request.param("query", &mutation)
        } else {
            request.json(json!({ "query": mutation }))
        };
        let reply = request.send().await;
        assert_eq!(reply.status, 405, "{method}");
    }
    assert_eq!(app.task_as(&user.token, id).await["title"], "keep");
}

#[tokio::test]
async fn probe_cors_lookalike_origins_are_not_allowed() {
    let app = spawn_app().await;
    for origin in [
        "http://localhost:5173@evil.example",
        "http://localhost:5173.evil.example",
        "http://127.0.0.1.evil.example:80",
        "http://localhost:5173/",
        "http://localhost:5173/evil",
        "http://LOCALHOST:5173",
        "http://localhost:51 73",
        "file://",
        "http://localhost%3A5173.evil.example",
    ] {
        let preflight = app.preflight(origin).await;
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        // A simple cross-site GET runs (it is a query) but its answer stays unreadable.
        let reply = app
            .request()
            .get("/graphql")
            .header("Origin", origin)
            .param("query", TYPENAME)
            .send()
            .await;
        assert_eq!(
            reply.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(reply.header("access-control-allow-credentials"), None);
    }
}

#[tokio::test]
async fn probe_huge_headers_are_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let user = app.user("erin").await;
    let reply = app
        .request()
        .header("x-junk", &"j".repeat(1024 * 1024))
        .operation(TYPENAME, json!({}))
        .send()
        .await;
    assert_eq!(reply.status, 431, "an answer to an oversized header");
    let mut request = app.request().operation(TYPENAME, json!({}));
    for i in 0..500 {
        request = request.header(&format!("x-many-{i}"), "v");
    }
    assert_eq!(request.send().await.status, 431);
    assert!(works(&app, &user.token).await);
}
