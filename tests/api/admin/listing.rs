//! `users` and `auditLog`: keyset pages, filters, search strings that try to be SQL or
//! wildcards, and what a page costs.

use serde_json::{Value, json};

use crate::helpers::documents::{AUDIT_LOG, USERS};
use crate::helpers::{TestApp, code, message, spawn_app};

/// The usernames of a `users` answer's page.
fn names(body: &Value) -> Vec<&str> {
    body["data"]["users"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|user| user["username"].as_str().unwrap())
        .collect()
}

async fn users(app: &TestApp, token: &str, variables: Value) -> Value {
    app.gql(Some(token), USERS, variables).await
}

#[tokio::test]
async fn users_are_paged_newest_first_with_a_total_on_every_page() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    for i in 1..=7 {
        app.insert_user(&format!("user{i}")).await;
    }
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for (page, want) in [(1, 3), (2, 3), (3, 2)] {
        let body = users(&app, &admin.token, json!({ "first": 3, "after": after })).await;
        let connection = &body["data"]["users"];
        assert_eq!(connection["totalCount"], 8, "{body}");
        assert_eq!(names(&body).len(), want, "page {page}: {body}");
        assert_eq!(connection["pageInfo"]["hasNextPage"], page < 3, "{body}");
        assert_eq!(
            connection["pageInfo"]["hasPreviousPage"],
            page > 1,
            "{body}"
        );
        assert_eq!(
            connection["pageInfo"]["endCursor"],
            connection["edges"][want - 1]["cursor"]
        );
        seen.extend(names(&body).into_iter().map(str::to_owned));
        after = connection["pageInfo"]["endCursor"].clone();
    }
    let mut expected: Vec<String> = (1..=7).rev().map(|i| format!("user{i}")).collect();
    expected.push("root".into());
    assert_eq!(seen, expected);

    let body = users(&app, &admin.token, json!({ "first": 1000 })).await;
    assert_eq!(names(&body).len(), 8, "{body}");
    let body = users(&app, &admin.token, json!({ "first": 0 })).await;
    assert_eq!(names(&body).len(), 0, "{body}");
    assert_eq!(body["data"]["users"]["pageInfo"]["hasNextPage"], true);
    let body = users(&app, &admin.token, json!({ "first": -1 })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    for junk in ["", "nope", "dGFza3M6MQ", &"A".repeat(5000)] {
        let body = users(&app, &admin.token, json!({ "after": junk })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{junk:.20}: {body}");
        assert_eq!(message(&body), "`after` is not a cursor of this list");
    }
    // A security-event cursor is no account cursor.
    let events = app.gql(Some(&admin.token), AUDIT_LOG, json!({})).await;
    let cursor = events["data"]["auditLog"]["pageInfo"]["endCursor"].clone();
    assert!(cursor.is_string(), "{events}");
    let body = users(&app, &admin.token, json!({ "after": cursor })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn users_are_filtered_by_role_activity_verification_and_literal_search() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    for name in ["Alice", "bob", "carol_x", "davex", "erin"] {
        app.insert_user(name).await;
    }
    app.deactivate("bob").await;
    app.execute("UPDATE users SET email_verified = true WHERE username IN ('Alice', 'erin')")
        .await;
    let filtered = |filter: Value| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            let body = users(app, &token, json!({ "filter": filter, "first": 100 })).await;
            let mut found: Vec<String> = names(&body).into_iter().map(str::to_owned).collect();
            found.sort();
            assert_eq!(body["data"]["users"]["totalCount"], found.len(), "{body}");
            found
        }
    };
    assert_eq!(filtered(json!({ "role": "ADMIN" })).await, ["root"]);
    assert_eq!(filtered(json!({ "isActive": false })).await, ["bob"]);
    assert_eq!(
        filtered(json!({ "emailVerified": true })).await,
        ["Alice", "erin"]
    );
    assert_eq!(
        filtered(json!({ "emailVerified": false, "isActive": true, "role": "USER" })).await,
        ["carol_x", "davex"]
    );
    // In usernames and addresses alike, in any letter case.
    assert_eq!(filtered(json!({ "search": "ALI" })).await, ["Alice"]);
    assert_eq!(
        filtered(json!({ "search": "e@EXAMPLE.c" })).await,
        ["Alice"]
    );
    assert_eq!(filtered(json!({ "search": "" })).await.len(), 6);
    // Every character is literal: wildcards, escapes, quotes and SQL are text.
    assert_eq!(filtered(json!({ "search": "_" })).await, ["carol_x"]);
    for search in [
        "%",
        "\\",
        "r%x",
        "a_i",
        "' OR '1'='1",
        "'; DROP TABLE users; --",
        "\" OR 1=1 --",
        "ünïcödé ✓",
        "*",
        "%%%%",
    ] {
        assert_eq!(
            filtered(json!({ "search": search })).await,
            Vec::<String>::new(),
            "{search}"
        );
    }
    assert_eq!(app.count("users").await, 6);
    for (search, rule) in [
        ("a\0b", "`filter.search` must not contain the NUL character"),
        (
            &*"x".repeat(255),
            "`filter.search` must be at most 254 characters",
        ),
    ] {
        let body = users(
            &app,
            &admin.token,
            json!({ "filter": { "search": search } }),
        )
        .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(message(&body), rule);
    }
}

#[tokio::test]
async fn the_audit_log_pages_every_accounts_events_and_filters_by_account_and_kind() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let alice = app.user("alice").await;
    app.logged_in("alice").await;
    app.user("bob").await;
    let log = |variables: Value| {
        let app = &app;
        let token = admin.token.clone();
        async move { app.gql(Some(&token), AUDIT_LOG, variables).await }
    };
    let kinds = |body: &Value| -> Vec<String> {
        body["data"]["auditLog"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|event| event["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    // Four logins in all: root's, alice's two and bob's.
    let body = log(json!({ "kinds": ["LOGIN_SUCCEEDED"] })).await;
    assert_eq!(kinds(&body).len(), 4, "{body}");
    let body = log(json!({ "userId": alice.id })).await;
    assert_eq!(
        kinds(&body),
        ["LOGIN_SUCCEEDED", "LOGIN_SUCCEEDED"],
        "{body}"
    );
    let body = log(json!({ "userId": alice.id, "kinds": ["ROLE_CHANGED", "LOGIN_FAILED"] })).await;
    assert!(kinds(&body).is_empty(), "{body}");
    let body = log(json!({ "kinds": [] })).await;
    assert!(kinds(&body).is_empty(), "{body}");

    let mut all = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = log(json!({ "first": 1, "after": after })).await;
        all.extend(kinds(&body));
        let info = &body["data"]["auditLog"]["pageInfo"];
        if info["hasNextPage"] == false {
            break;
        }
        after = info["endCursor"].clone();
        assert!(all.len() < 10, "{all:?}");
    }
    assert_eq!(all.len(), 4, "{all:?}");

    for (variables, argument) in [
        (
            json!({ "userId": "nope" }),
            "`userId` must be a user ID (a UUID)",
        ),
        (
            json!({ "after": "nope" }),
            "`after` is not a cursor of this list",
        ),
        (json!({ "first": -5 }), "`first` must not be negative"),
    ] {
        let body = log(variables).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(message(&body), argument);
    }
    let many: Vec<&str> = std::iter::repeat_n("LOGIN_FAILED", 33).collect();
    let body = log(json!({ "kinds": many })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = log(json!({ "kinds": ["NOT_A_KIND"] })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn a_page_of_users_costs_the_same_statements_however_many_it_holds() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let cost = |first: i32| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            let before = app.statements.get();
            let body = users(app, &token, json!({ "first": first })).await;
            assert!(body["errors"].is_null(), "{body}");
            app.statements.get() - before
        }
    };
    let small = cost(1).await;
    for i in 0..20 {
        app.insert_user(&format!("many{i}")).await;
    }
    assert_eq!(cost(21).await, small);
    // The guard's lookup, the page and the count.
    assert_eq!(small, 3);
}
