//! GraphQL over HTTP: content negotiation, CORS, Apollo's automatic persisted queries and
//! bounded batching.

use serde_json::{Value, json};

use crate::helpers::documents::{ME, TASK_COUNT, TYPENAME};
use crate::helpers::{Reply, TestApp, code, message, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// POSTs `body`, accepting `accept` when given.
async fn post_accepting(app: &TestApp, accept: Option<&str>, body: Value) -> Reply {
    let mut request = app.request().json(body);
    if let Some(accept) = accept {
        request = request.accept(accept);
    }
    request.send().await
}

/// The reply's media type.
fn content_type(reply: &Reply) -> &str {
    reply.header("content-type").expect("Content-Type")
}

#[tokio::test]
async fn responses_are_graphql_response_json_when_accepted_and_json_otherwise() {
    let app = spawn_app().await;
    let ok = json!({ "query": TYPENAME });
    for (accept, want) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
        (
            Some("application/json, application/graphql-response+json;q=0"),
            "application/json",
        ),
    ] {
        let reply = post_accepting(&app, accept, ok.clone()).await;
        assert_eq!(reply.status, 200, "{accept:?}");
        assert_eq!(content_type(&reply), want, "{accept:?}");
        assert_eq!(reply.body["data"]["__typename"], "Query");
    }

    // Request errors: 400 with graphql-response+json, 200 with plain JSON.
    for document in ["{ nope }", "{ tasks { ", "query($x: Int!) { __typename }"] {
        let body = json!({ "query": document });
        let reply = post_accepting(&app, Some(GRAPHQL_RESPONSE), body.clone()).await;
        assert_eq!(reply.status, 400, "{document}");
        assert_eq!(content_type(&reply), GRAPHQL_RESPONSE);
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let reply = post_accepting(&app, None, body).await;
        assert_eq!(reply.status, 200, "{document}");
    }
    // A field error is an executed operation: 200 either way.
    let reply = post_accepting(&app, Some(GRAPHQL_RESPONSE), json!({ "query": ME })).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.code(), "UNAUTHENTICATED");
    // Refusals keep their status and the negotiated type.
    let reply = app
        .request()
        .accept(GRAPHQL_RESPONSE)
        .raw("text/plain", r#"{"query":"{ __typename }"}"#)
        .send()
        .await;
    assert_eq!(reply.status, 415);
    assert_eq!(content_type(&reply), GRAPHQL_RESPONSE);
}

/// The origin the reply allows, if any.
fn allowed_origin(reply: &Reply) -> Option<String> {
    reply
        .header("access-control-allow-origin")
        .map(str::to_owned)
}

#[tokio::test]
async fn cors_allows_localhost_in_development_and_only_configured_origins_otherwise() {
    let development = spawn_app().await;
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
    ] {
        let response = development.preflight(origin).await;
        assert_eq!(allowed_origin(&response).as_deref(), Some(origin));
        let headers = response
            .header("access-control-allow-headers")
            .expect("allowed headers")
            .to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"));
    }
    for origin in [
        "https://evil.example",
        "http://localhost.evil.example:5173",
        "http://localhost:",
        "https://localhost:5173",
        "null",
    ] {
        let response = development.preflight(origin).await;
        assert_eq!(allowed_origin(&response), None, "{origin}");
    }
    let response = development
        .request()
        .header("Origin", "http://localhost:5173")
        .token("not-a-token")
        .operation(TYPENAME, json!({}))
        .send()
        .await;
    assert_eq!(
        allowed_origin(&response).as_deref(),
        Some("http://localhost:5173")
    );
    let exposed = response
        .header("access-control-expose-headers")
        .expect("exposed headers")
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"));

    let production = spawn_app_with(&[("APP_ENV", "production")]).await;
    assert_eq!(
        allowed_origin(&production.preflight("http://localhost:5173").await),
        None
    );

    let configured = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
    ])
    .await;
    let response = configured.preflight("https://app.example.com").await;
    assert_eq!(
        allowed_origin(&response).as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        allowed_origin(&configured.preflight("https://other.example.com").await),
        None
    );
    assert_eq!(
        allowed_origin(&configured.preflight("http://localhost:5173").await),
        None
    );
}

/// POSTs `body` as JSON with `token` and returns the JSON answer.
async fn post_as(app: &TestApp, token: &str, body: Value) -> Value {
    app.request().token(token).json(body).send().await.body
}

/// A GET of `/graphql` with `token` and persisted-query `extensions`.
async fn get_persisted(app: &TestApp, token: &str, extensions: Value) -> Reply {
    app.request()
        .get("/graphql")
        .token(token)
        .param("extensions", &extensions.to_string())
        .send()
        .await
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn automatic_persisted_queries_register_by_post_and_run_by_hash() {
    let app = spawn_app().await;
    let user = app.user("apq").await;
    app.create_task(&user.token, json!({ "title": "persisted" }))
        .await;
    let query = "query Titles { tasks { nodes { title } } }";
    let hash = sha256(query);

    // Unknown hash: the client is told to send the document.
    let body = post_as(&app, &user.token, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(message(&body), "PersistedQueryNotFound", "{body}");

    // Document and hash together: run and remembered.
    let body = post_as(
        &app,
        &user.token,
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        body["data"]["tasks"]["nodes"][0]["title"], "persisted",
        "{body}"
    );

    // By hash alone, with POST and with GET.
    let body = post_as(&app, &user.token, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(
        body["data"]["tasks"]["nodes"][0]["title"], "persisted",
        "{body}"
    );
    let response = get_persisted(&app, &user.token, persisted(&hash)).await;
    assert_eq!(response.status, 200);
    let body = response.body;
    assert_eq!(
        body["data"]["tasks"]["nodes"][0]["title"], "persisted",
        "{body}"
    );

    // A hash that does not match its document is refused; nothing runs.
    let body = post_as(
        &app,
        &user.token,
        json!({
            "query": "mutation { createTask(input: { title: \"sneaky\" }) { id } }",
            "extensions": persisted(&hash),
        }),
    )
    .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    for bad in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
        json!({ "persistedQuery": "nonsense" }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": 42 } }),
    ] {
        let body = post_as(&app, &user.token, json!({ "extensions": bad })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        assert!(body["data"].is_null(), "{bad}: {body}");
    }

    // A persisted mutation still cannot run by GET.
    let mutation = "mutation { createTask(input: { title: \"by get\" }) { id } }";
    let mutation_hash = sha256(mutation);
    let body = post_as(
        &app,
        &user.token,
        json!({ "query": mutation, "extensions": persisted(&mutation_hash) }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let response = get_persisted(&app, &user.token, persisted(&mutation_hash)).await;
    assert_eq!(response.status, 405);
    let body = app.gql(Some(&user.token), TASK_COUNT, json!({})).await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 2);

    // A hash nobody registered yet is answered before anything could run, even by GET.
    let later = "mutation { createTask(input: { title: \"registered later\" }) { id } }";
    let response = get_persisted(&app, &user.token, persisted(&sha256(later))).await;
    assert_eq!(response.status, 200);
    let body = response.body;
    assert_eq!(message(&body), "PersistedQueryNotFound", "{body}");

    // Documents over 8 KiB are not kept as persisted queries.
    let padded = format!("{{ tasks {{ totalCount }} }} {}", "#".repeat(9 * 1024));
    let response = app
        .request()
        .token(&user.token)
        .json(json!({ "query": padded, "extensions": persisted(&sha256(&padded)) }))
        .send()
        .await;
    assert_eq!(response.status, 400);
    let body = response.body;
    assert!(message(&body).contains("8192 bytes"), "{body}");
    let body = app.gql(Some(&user.token), &padded, json!({})).await;
    assert_eq!(
        body["data"]["tasks"]["totalCount"], 2,
        "fine without persistedQuery"
    );
}

#[tokio::test]
async fn batches_run_when_enabled_and_stay_within_their_bound() {
    let app = spawn_app_with(&[("GRAPHQL_MAX_BATCH", "3")]).await;
    let user = app.user("batcher").await;
    let response = app
        .request()
        .token(&user.token)
        .json(json!([
            { "query": "mutation { createTask(input: { title: \"one\" }) { title } }" },
            { "query": TASK_COUNT },
            { "query": "{ nope }" },
        ]))
        .send()
        .await;
    assert_eq!(response.status, 200);
    let body = response.body;
    assert_eq!(body[0]["data"]["createTask"]["title"], "one");
    assert_eq!(body[1]["data"]["tasks"]["totalCount"], 1);
    assert_eq!(code(&body[2]), "BAD_USER_INPUT");

    let four = Value::Array(vec![json!({ "query": TYPENAME }); 4]);
    for (batch, rule) in [
        (four, "1 to 3"),
        (json!([]), "1 to 3"),
        (json!([{ "query": TYPENAME }, 42]), "JSON array"),
        (json!([{ "query": "" }]), "no GraphQL document"),
    ] {
        let response = app
            .request()
            .token(&user.token)
            .json(batch.clone())
            .send()
            .await;
        assert_eq!(response.status, 400, "{batch}");
        let body = response.body;
        assert!(message(&body).contains(rule), "{batch}: {body}");
    }
    // A refused batch ran nothing.
    let response = app
        .request()
        .token(&user.token)
        .json(json!([
            { "query": "mutation { createTask(input: { title: \"two\" }) { title } }" },
            { "query": "   " },
        ]))
        .send()
        .await;
    assert_eq!(response.status, 400);
    let body = app.gql(Some(&user.token), TASK_COUNT, json!({})).await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 1);
}
