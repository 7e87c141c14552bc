//! GraphQL over HTTP: content negotiation, CORS, Apollo's automatic persisted queries and
//! bounded batching.

use serde_json::{Value, json};

use crate::helpers::documents::{ME, TASK_COUNT, TYPENAME};
use crate::helpers::{TestApp, code, message, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn post_accepting(app: &TestApp, accept: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.graphql_url()).json(&body);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned()
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
        let response = post_accepting(&app, accept, ok.clone()).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(content_type(&response), want, "{accept:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["__typename"], "Query");
    }

    // Request errors: 400 with graphql-response+json, 200 with plain JSON.
    for document in ["{ nope }", "{ tasks { ", "query($x: Int!) { __typename }"] {
        let body = json!({ "query": document });
        let response = post_accepting(&app, Some(GRAPHQL_RESPONSE), body.clone()).await;
        assert_eq!(response.status(), 400, "{document}");
        assert_eq!(content_type(&response), GRAPHQL_RESPONSE);
        let errors: Value = response.json().await.unwrap();
        assert_eq!(code(&errors), "BAD_USER_INPUT");
        let response = post_accepting(&app, None, body).await;
        assert_eq!(response.status(), 200, "{document}");
    }
    // A field error is an executed operation: 200 either way.
    let response = post_accepting(&app, Some(GRAPHQL_RESPONSE), json!({ "query": ME })).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHENTICATED");
    // Refusals keep their status and the negotiated type.
    let response = app
        .client
        .post(app.graphql_url())
        .header("Accept", GRAPHQL_RESPONSE)
        .header("Content-Type", "text/plain")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(content_type(&response), GRAPHQL_RESPONSE);
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.graphql_url())
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn cors_allows_localhost_in_development_and_only_configured_origins_otherwise() {
    let development = spawn_app().await;
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
    ] {
        let response = preflight(&development, origin).await;
        assert_eq!(allowed_origin(&response).as_deref(), Some(origin));
        let headers = response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
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
        let response = preflight(&development, origin).await;
        assert_eq!(allowed_origin(&response), None, "{origin}");
    }
    let response = development
        .client
        .post(development.graphql_url())
        .header("Origin", "http://localhost:5173")
        .bearer_auth("not-a-token")
        .json(&json!({ "query": TYPENAME }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed_origin(&response).as_deref(),
        Some("http://localhost:5173")
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"));

    let production = spawn_app_with(&[("APP_ENV", "production")]).await;
    assert_eq!(
        allowed_origin(&preflight(&production, "http://localhost:5173").await),
        None
    );

    let configured = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
    ])
    .await;
    let response = preflight(&configured, "https://app.example.com").await;
    assert_eq!(
        allowed_origin(&response).as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        allowed_origin(&preflight(&configured, "https://other.example.com").await),
        None
    );
    assert_eq!(
        allowed_origin(&preflight(&configured, "http://localhost:5173").await),
        None
    );
}

/// POSTs `body` as JSON with `token` and returns the JSON answer.
async fn post_as(app: &TestApp, token: &str, body: Value) -> Value {
    app.client
        .post(app.graphql_url())
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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
    let response = app
        .client
        .get(app.graphql_url())
        .bearer_auth(&user.token)
        .query(&[("extensions", persisted(&hash).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
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
    let response = app
        .client
        .get(app.graphql_url())
        .bearer_auth(&user.token)
        .query(&[("extensions", persisted(&mutation_hash).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body = app.gql(Some(&user.token), TASK_COUNT, json!({})).await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 2);

    // A hash nobody registered yet is answered before anything could run, even by GET.
    let later = "mutation { createTask(input: { title: \"registered later\" }) { id } }";
    let response = app
        .client
        .get(app.graphql_url())
        .bearer_auth(&user.token)
        .query(&[("extensions", persisted(&sha256(later)).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(message(&body), "PersistedQueryNotFound", "{body}");

    // Documents over 8 KiB are not kept as persisted queries.
    let padded = format!("{{ tasks {{ totalCount }} }} {}", "#".repeat(9 * 1024));
    let response = app
        .client
        .post(app.graphql_url())
        .bearer_auth(&user.token)
        .json(&json!({ "query": padded, "extensions": persisted(&sha256(&padded)) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
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
        .client
        .post(app.graphql_url())
        .bearer_auth(&user.token)
        .json(&json!([
            { "query": "mutation { createTask(input: { title: \"one\" }) { title } }" },
            { "query": TASK_COUNT },
            { "query": "{ nope }" },
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
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
            .client
            .post(app.graphql_url())
            .bearer_auth(&user.token)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{batch}");
        let body: Value = response.json().await.unwrap();
        assert!(message(&body).contains(rule), "{batch}: {body}");
    }
    // A refused batch ran nothing.
    let response = app
        .client
        .post(app.graphql_url())
        .bearer_auth(&user.token)
        .json(&json!([
            { "query": "mutation { createTask(input: { title: \"two\" }) { title } }" },
            { "query": "   " },
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = app.gql(Some(&user.token), TASK_COUNT, json!({})).await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 1);
}
