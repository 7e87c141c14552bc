//! The HTTP surface: what is refused before any operation runs, and the limits.

use serde_json::json;

use taskql::graphql::INTROSPECTION_DISABLED;

use crate::helpers::documents::{ME, TASK_ID, TYPENAME};
use crate::helpers::{JSON, Reply, code, message, spawn_app, spawn_app_with};

#[tokio::test]
async fn batched_requests_are_refused_by_default() {
    let app = spawn_app().await;
    let reply = app
        .request()
        .json(json!([{ "query": TYPENAME }, { "query": TYPENAME }]))
        .send()
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    assert!(reply.message().contains("one operation per request"));
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations() {
    let app = spawn_app().await;
    let reply = app
        .request()
        .get("/graphql")
        .param("query", TYPENAME)
        .send()
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["data"]["__typename"], "Query");

    for (query, name) in [
        (
            "mutation { register(input: { username: \"viaget\", email: \"g@example.com\", password: \"long enough pw\" }) { id } }",
            None,
        ),
        (
            "query A { __typename } mutation B { register(input: { username: \"viaget\", email: \"g@example.com\", password: \"long enough pw\" }) { id } }",
            Some("B"),
        ),
        (
            "query A { __typename } mutation B { register(input: { username: \"viaget\", email: \"g@example.com\", password: \"long enough pw\" }) { id } }",
            None,
        ),
    ] {
        let mut request = app.request().get("/graphql").param("query", query);
        if let Some(name) = name {
            request = request.param("operationName", name);
        }
        let reply = request.send().await;
        assert_eq!(reply.status, 405, "{query}");
        assert!(reply.header("allow").expect("Allow").contains("POST"));
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
    // Nothing was registered by GET.
    let body = app.login("viaget", "long enough pw").await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn post_accepts_only_json_content_types() {
    let app = spawn_app().await;
    let payload = r#"{"query":"mutation { register(input: { username: \"csrf\", email: \"csrf@example.com\", password: \"long enough pw\" }) { id } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/graphql"),
        Some("application/jsonp"),
        None,
    ] {
        let reply = app
            .request()
            .raw(content_type.unwrap_or_default(), payload)
            .send()
            .await;
        assert_eq!(reply.status, 415, "{content_type:?}");
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
    let body = app.login("csrf", "long enough pw").await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "nothing ran");

    // Parameters and letter case of the JSON type are fine.
    let reply = app
        .request()
        .raw(
            "Application/JSON; charset=utf-8",
            r#"{"query":"{ __typename }"}"#,
        )
        .send()
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn malformed_bodies_get_a_clear_error_without_parser_internals() {
    let app = spawn_app().await;
    for raw in [
        "",
        "{",
        "null",
        "42",
        "\"query\"",
        r#"{"query": 5}"#,
        r#"{"variables": {}}"#,
        "\u{feff}{}",
    ] {
        let reply = app.request().raw(JSON, raw).send().await;
        assert_eq!(reply.status, 400, "{raw:?}");
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        assert!(reply.message().contains("`query`"), "{}", reply.text);
    }
    // A GraphQL syntax error says where, not what the parser thought.
    let body = app.gql(None, "{ me { id ", json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(
        message(&body),
        "Syntax error: the document is not valid GraphQL."
    );
    assert!(body["errors"][0]["locations"].is_array());
    assert!(!body.to_string().contains("expected"), "{body}");
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_by_length_and_when_chunked() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let big = json!({ "query": TYPENAME, "variables": { "pad": "x".repeat(4096) } }).to_string();
    let reply = app.request().raw(JSON, big.clone()).send().await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    assert!(reply.message().contains("2048"));

    // Without Content-Length: a chunked stream is cut off at the cap too.
    let reply = app.request().chunked(JSON, big, 512).send().await;
    assert_eq!(reply.status, 413);

    // Just under the cap is fine.
    let small = json!({ "query": TYPENAME, "variables": { "pad": "x".repeat(1500) } }).to_string();
    assert_eq!(app.request().raw(JSON, small).send().await.status, 200);
}

#[tokio::test]
async fn the_default_body_cap_is_256_kib() {
    let app = spawn_app().await;
    let under =
        json!({ "query": TYPENAME, "variables": { "pad": "x".repeat(250 * 1024) } }).to_string();
    assert_eq!(app.request().raw(JSON, under).send().await.status, 200);
    let over =
        json!({ "query": TYPENAME, "variables": { "pad": "x".repeat(256 * 1024) } }).to_string();
    assert_eq!(app.request().raw(JSON, over).send().await.status, 413);
}

#[tokio::test]
async fn depth_complexity_and_directive_limits_stop_a_query_before_it_runs() {
    let app = spawn_app().await;
    let user = app.user("deep").await;
    let token = Some(user.token.as_str());

    let ordinary = "{ tasks { edges { node { owner { id username } } } pageInfo { endCursor } } }";
    let body = app.gql(token, ordinary, json!({})).await;
    assert!(body["errors"].is_null(), "an ordinary query passes: {body}");

    // A full page of 100 tasks with every field and its owner fits; a few such pages do not.
    let full_page = "tasks(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title description status priority dueAt completedAt createdAt updatedAt owner { id username email role isActive emailVerified createdAt } } } nodes { id title description status priority dueAt completedAt createdAt updatedAt owner { id username email role isActive emailVerified createdAt } } }";
    let body = app
        .gql(token, &format!("{{ {full_page} }}"), json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let aliases: String = (0..3).map(|i| format!("a{i}: {full_page} ")).collect();

    // 17 nested levels through the introspection type graph.
    let mut nested = String::from("name");
    for _ in 0..17 {
        nested = format!("ofType {{ {nested} }}");
    }
    // Five directives on one field (distinct, so only the directive limit objects).
    let directives = "@include(if: true) @skip(if: false) @include(if: true) @skip(if: false) @include(if: true)";
    let refused = [
        (
            "depth",
            format!("{{ __type(name: \"Task\") {{ {nested} }} }}"),
            "nested too deep",
        ),
        ("complexity", format!("{{ {aliases} }}"), "too complex"),
        (
            "directives",
            format!("{{ me {directives} {{ id }} }}"),
            "The number of directives on the field `me` cannot be greater than `4`",
        ),
    ];
    for (case, query, expected) in refused {
        let body = app.gql(token, &query, json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{case}: {body}");
        assert!(message(&body).contains(expected), "{case}: {body}");
    }
}

#[tokio::test]
async fn graphiqls_introspection_query_fits_within_the_limits() {
    let app = spawn_app().await;
    let body = app.gql(None, INTROSPECTION_QUERY, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn production_hides_introspection_suggestions_and_graphiql() {
    let app = spawn_app_with(&[("APP_ENV", "production")]).await;
    let body = app
        .gql(
            None,
            r#"{ __schema { types { name } } __type(name: "Task") { fields { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = app.gql(None, "{ tsks { totalCount } }", json!({})).await;
    assert!(!message(&body).contains("Did you mean"), "{body}");
    assert_eq!(app.request().get("/graphql").send().await.status, 400);

    // Development serves GraphiQL to a browser and suggests field names.
    let dev = spawn_app().await;
    let reply = dev
        .request()
        .get("/graphql")
        .accept("text/html")
        .send()
        .await;
    assert_eq!(reply.status, 200);
    let content_type = reply.header("content-type").expect("Content-Type");
    assert!(content_type.starts_with("text/html"));
    assert!(reply.text.to_lowercase().contains("graphiql"));
    let body = dev.gql(None, "{ tsks { totalCount } }", json!({})).await;
    assert!(message(&body).contains("Did you mean"), "{body}");

    // And production can opt back in.
    let opted =
        spawn_app_with(&[("APP_ENV", "production"), ("GRAPHQL_INTROSPECTION", "true")]).await;
    let body = opted
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn introspection_when_off_is_refused_with_an_error_that_says_so() {
    let app = spawn_app_with(&[("GRAPHQL_INTROSPECTION", "false")]).await;
    let assert_refused = |reply: &Reply, status: u16, case: &str| {
        assert_eq!(reply.status, status, "{case}: {}", reply.text);
        assert_eq!(reply.code(), "FORBIDDEN", "{case}: {}", reply.text);
        assert_eq!(reply.message(), INTROSPECTION_DISABLED, "{case}");
        assert!(reply.body["data"].is_null(), "{case}: {}", reply.text);
        assert_eq!(reply.body["errors"].as_array().unwrap().len(), 1, "{case}");
    };
    let hidden = [
        ("plain", INTROSPECTION_QUERY),
        ("type", r#"{ __type(name: "Task") { name } }"#),
        (
            "aliased in a fragment",
            "{ me { id } ...F } fragment F on Query { ... on Query { s: __schema { queryType { name } } } }",
        ),
    ];
    for (case, query) in hidden {
        let reply = app.request().operation(query, json!({})).send().await;
        assert_refused(&reply, 200, case);
        let reply = app
            .request()
            .get("/graphql")
            .param("query", query)
            .send()
            .await;
        assert_refused(&reply, 200, case);
        // A request error, like a document over a limit: 400 in GraphQL over HTTP.
        let reply = app
            .request()
            .operation(query, json!({}))
            .accept("application/graphql-response+json")
            .send()
            .await;
        assert_refused(&reply, 400, case);
    }
    // What the operation that runs does not select is not refused.
    let reply = app
        .request()
        .json(json!({
            "query": "query Plain { __typename } query Schema { __schema { types { name } } }",
            "operationName": "Plain",
        }))
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn every_error_carries_a_code() {
    let app = spawn_app().await;
    for (query, variables) in [
        ("{ nope }", json!({})),
        ("{ task { id } }", json!({})),
        (TASK_ID, json!({})),
        (
            "query($n: Int) { tasks(first: $n) { totalCount } }",
            json!({ "n": "ten" }),
        ),
        (ME, json!({})),
        ("query A { me { id } } query B { me { id } }", json!({})),
        ("subscription { taskEvents { kind } }", json!({})),
    ] {
        let body = app.gql(None, query, variables).await;
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {body}"));
        for error in errors {
            assert!(error["extensions"]["code"].is_string(), "{query}: {body}");
        }
    }
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;
    assert_eq!(app.request().get("/health").send().await.status, 200);
}

/// What GraphiQL sends, shared with the document limits' unit tests.
const INTROSPECTION_QUERY: &str = include_str!("../documents/graphiql-introspection.graphql");
