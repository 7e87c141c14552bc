//! What error bodies and responses must never carry: SQL, table and type names, stack
//! traces, hashes.

use serde_json::{Value, json};

use crate::helpers::documents::{LOGOUT, TASK_ID};
use crate::helpers::{JSON, PASSWORD, TestApp, code, message, refresh, spawn_app, unb64_json};

/// Fragments that would show the server's internals.
const INTERNALS: &[&str] = &[
    "sqlx",
    "sea_orm",
    "sea-orm",
    "seaorm",
    "dberr",
    "sqlite",
    "postgres",
    "select ",
    "insert ",
    "update \"",
    "relation \"",
    "constraint",
    "unique",
    "password_hash",
    "token_hash",
    "refresh_tokens",
    "panicked",
    "backtrace",
    "stack backtrace",
    "thread '",
    "src/",
    ".rs:",
    "taskql::",
    "core::",
    "alloc::",
    "std::",
    "anyhow",
    "option<",
    "vec<",
    "tokio",
    "hyper",
];

fn assert_no_internals(text: &str, case: &str) {
    let lower = text.to_lowercase();
    for fragment in INTERNALS {
        assert!(!lower.contains(fragment), "{case}: {fragment:?} in {text}");
    }
}

/// Every error of `body` carries a code from the contract.
fn assert_contract_codes(body: &Value, case: &str) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: no errors in {body}"));
    for error in errors {
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        assert!(
            [
                "UNAUTHENTICATED",
                "FORBIDDEN",
                "BAD_USER_INPUT",
                "NOT_FOUND",
                "CONFLICT",
                "RATE_LIMITED",
                "INTERNAL_SERVER_ERROR",
            ]
            .contains(&code),
            "{case}: {body}"
        );
    }
}

async fn raw_post(app: &TestApp, token: Option<&str>, body: String) -> (u16, String) {
    let mut request = app.request().raw(JSON, body);
    if let Some(token) = token {
        request = request.token(token);
    }
    let reply = request.send().await;
    (reply.status, reply.text)
}

#[tokio::test]
async fn probe_rejected_documents_and_arguments_show_no_internals() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let token = Some(user.token.as_str());
    let cases: Vec<(&str, Value)> = vec![
        ("{ me { id ", json!({})),
        ("{ nope }", json!({})),
        ("{ me { passwordHash } }", json!({})),
        ("{ task(id: 5) { id } }", json!({})),
        ("{ tasks(first: 99999999999) { totalCount } }", json!({})),
        ("{ tasks(first: \"ten\") { totalCount } }", json!({})),
        (
            "{ tasks(orderBy: [{ field: SQL, direction: ASC }]) { totalCount } }",
            json!({}),
        ),
        (
            "mutation { createTask(input: { title: \"t\", dueAt: \"yesterday\" }) { id } }",
            json!({}),
        ),
        (
            "mutation { createTask(input: { title: \"t\", dueAt: \"+275760-09-13T00:00:00Z\" }) { id } }",
            json!({}),
        ),
        (
            "mutation { createTask(input: { title: \"t\", status: DROP }) { id } }",
            json!({}),
        ),
        (TASK_ID, json!({})),
        (TASK_ID, json!({ "id": [1, 2] })),
        (TASK_ID, json!({ "id": { "$ne": null } })),
        (
            "query($f: TaskFilter) { tasks(filter: $f) { totalCount } }",
            json!({ "f": { "status": ["NOPE"] } }),
        ),
        (
            "query($f: TaskFilter) { tasks(filter: $f) { totalCount } }",
            json!({ "f": "' OR 1=1" }),
        ),
        ("{ ...F } fragment F on Nope { id }", json!({})),
        ("{ me { id } } { me { id } }", json!({})),
        ("subscription { taskEvents { kind } }", json!({})),
        ("query { me { id @skip(if: \"yes\") } }", json!({})),
    ];
    for (query, variables) in cases {
        let body = app.gql(token, query, variables.clone()).await;
        assert_contract_codes(&body, query);
        assert_no_internals(&body.to_string(), query);
    }
    // Bodies that are not GraphQL requests at all.
    for raw in [
        "{\"query\": \"{ me { id } }\", \"variables\": \"not an object\"}".to_owned(),
        "{\"query\": \"{ me { id } }\", \"operationName\": 5}".to_owned(),
        "{\"query\": \"{ me { id } }\", \"extensions\": {\"persistedQuery\": {\"version\": 1, \"sha256Hash\": \"' OR 1=1\"}}}".to_owned(),
        format!("{{\"query\": \"{{ me {{ id }} }}\", \"variables\": {}}}", "[".repeat(200) + &"]".repeat(200)),
        "{\"query\": \"{ me { id } }\"} trailing".to_owned(),
        "\u{0}".to_owned(),
    ] {
        let (status, text) = raw_post(&app, token, raw.clone()).await;
        assert!(matches!(status, 200 | 400), "{raw}: {status}");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{raw}: {text}"));
        assert_contract_codes(&body, &raw);
        assert_no_internals(&text, &raw);
    }
}

#[tokio::test]
async fn probe_database_failures_in_account_operations_show_no_internals() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    app.execute("DROP TABLE refresh_tokens").await;
    let bodies = [
        app.login("bob", PASSWORD).await,
        refresh(&app, &user.refresh).await,
        app.gql(None, LOGOUT, json!({ "t": user.refresh })).await,
    ];
    for body in &bodies {
        assert_eq!(code(body), "INTERNAL_SERVER_ERROR", "{body}");
        assert_eq!(message(body), "Internal server error.");
        assert_eq!(
            body["errors"][0]["extensions"],
            json!({ "code": "INTERNAL_SERVER_ERROR" })
        );
        assert_no_internals(&body.to_string(), "database failure");
    }
}

#[tokio::test]
async fn probe_racing_registrations_conflict_without_naming_constraints() {
    let app = spawn_app().await;
    let attempts = [
        ("Nick", "nick1@example.com"),
        ("NICK", "nick2@example.com"),
        ("nick", "nick3@example.com"),
        ("nick4", "Shared@Example.com"),
        ("nick5", "shared@example.com"),
        ("nick6", "SHARED@EXAMPLE.COM"),
    ];
    let results = futures::future::join_all(
        attempts
            .iter()
            .map(|(username, email)| app.register(username, email, PASSWORD)),
    )
    .await;
    let created = results
        .iter()
        .filter(|body| body["data"]["register"].is_object())
        .count();
    assert_eq!(created, 2, "{results:?}");
    for body in results.iter().filter(|body| body["data"].is_null()) {
        assert_eq!(code(body), "CONFLICT", "{body}");
        assert!(
            [
                "This username is already taken.",
                "This email address is already registered."
            ]
            .contains(&message(body)),
            "{body}"
        );
        assert_no_internals(&body.to_string(), "conflict");
    }
}

#[tokio::test]
async fn probe_no_response_carries_a_stored_hash() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let mut bodies = vec![
        app.login("carol", PASSWORD).await,
        refresh(&app, &user.refresh).await,
        app.gql(
            Some(&user.token),
            "{ me { id username email role isActive emailVerified createdAt } sessions { id createdAt lastUsedAt expiresAt userAgent ip current } }",
            json!({}),
        )
        .await,
        app.register("carol", "carol2@example.com", PASSWORD).await,
        app.login("carol", "wrong password entirely").await,
    ];
    app.create_task(&user.token, json!({ "title": "t" })).await;
    bodies.push(
        app.gql(
            Some(&user.token),
            "{ tasks { edges { cursor node { id owner { id username email role isActive emailVerified createdAt } } } pageInfo { startCursor endCursor } } }",
            json!({}),
        )
        .await,
    );
    let db = app.db().await;
    let backend = db.get_database_backend();
    let mut secrets = Vec::new();
    for (table, column) in [("users", "password_hash"), ("refresh_tokens", "token_hash")] {
        for row in db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT {column} FROM {table}"),
            ))
            .await
            .unwrap()
        {
            secrets.push(row.try_get_by_index::<String>(0).unwrap());
        }
    }
    assert!(secrets.len() >= 4, "{secrets:?}");
    for body in &bodies {
        let text = body.to_string();
        // Cursors are base64 JSON: look inside them too.
        let decoded: Vec<String> = body["data"]["tasks"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|edge| unb64_json(edge["cursor"].as_str().unwrap()).to_string())
            .collect();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text}");
            assert!(
                decoded
                    .iter()
                    .all(|cursor| !cursor.contains(secret.as_str()))
            );
        }
        assert!(!text.contains("$argon2"), "{text}");
    }
}

#[tokio::test]
async fn probe_stray_routes_and_methods_show_no_internals() {
    let app = spawn_app().await;
    let cases = [
        (reqwest::Method::GET, "/nope", 404),
        (reqwest::Method::GET, "/graphql/../../etc/passwd", 404),
        (reqwest::Method::GET, "/%2e%2e/%2e%2e/etc/passwd", 404),
        (reqwest::Method::POST, "/health", 405),
        (reqwest::Method::POST, "/.well-known/jwks.json", 405),
        (reqwest::Method::DELETE, "/graphql", 405),
        (reqwest::Method::GET, "/graphql/ws", 400),
    ];
    for (method, path, status) in cases {
        let reply = app.request().method(method.clone()).path(path).send().await;
        assert_eq!(reply.status, status, "{method} {path}");
        for header in ["server", "x-powered-by"] {
            assert_eq!(reply.header(header), None, "{header}");
        }
        assert_no_internals(&reply.text, path);
    }
}
