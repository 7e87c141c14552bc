//! Brute-force throttling of `login`, per account identifier and per client IP.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code, message, spawn_app_with};

async fn login_from(app: &TestApp, username: &str, password: &str, forwarded_for: &str) -> Value {
    app.client
        .post(app.graphql_url())
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({
            "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            "variables": { "i": { "username": username, "password": password } },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The error with its `retryAfter` taken out, for comparing two throttled answers.
fn shape(body: &Value) -> Value {
    let mut error = body["errors"][0].clone();
    let retry = error["extensions"]
        .as_object_mut()
        .unwrap()
        .remove("retryAfter")
        .expect("retryAfter");
    let seconds = retry.as_u64().expect("whole seconds");
    assert!((1..=30).contains(&seconds), "{body}");
    error
}

#[tokio::test]
async fn repeated_failures_on_one_account_make_it_wait_known_or_not() {
    let app = spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", "3"),
        ("LOGIN_ADDRESS_FREE_FAILURES", "1000"),
    ])
    .await;
    app.user("alice").await;
    app.user("bob").await;
    for attempt in ["wrong one", "wrong two", "wrong three"] {
        assert_eq!(code(&app.login("alice", attempt).await), "UNAUTHENTICATED");
        assert_eq!(code(&app.login("ghost", attempt).await), "UNAUTHENTICATED");
    }
    // Now even the right password waits, in any letter case of the name.
    let real = app.login("ALICE", PASSWORD).await;
    assert_eq!(code(&real), "RATE_LIMITED", "{real}");
    assert!(message(&real).starts_with("Too many attempts"));
    let unknown = app.login("Ghost", PASSWORD).await;
    assert_eq!(
        shape(&real),
        shape(&unknown),
        "a throttled unknown account looks the same"
    );
    assert!(real["data"].is_null());
    // Other accounts from the same address are not affected.
    assert!(app.login("bob", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn a_successful_login_clears_the_accounts_failures() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "3")]).await;
    app.user("carol").await;
    for _ in 0..3 {
        app.login("carol", "wrong password!").await;
        app.login("carol", "wrong password!").await;
        assert!(app.login("carol", PASSWORD).await["data"]["login"].is_object());
    }
}

#[tokio::test]
async fn one_address_guessing_at_many_accounts_is_slowed_down_whatever_it_forwards() {
    let app = spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1000"),
        ("LOGIN_ADDRESS_FREE_FAILURES", "4"),
    ])
    .await;
    app.user("dave").await;
    for (i, victim) in ["erin", "frank", "grace", "heidi"].iter().enumerate() {
        let body = login_from(&app, victim, "guess", &format!("203.0.113.{i}")).await;
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    // Rotating X-Forwarded-For gains nothing: the address is the connection's.
    for forwarded in ["198.51.100.7", "198.51.100.8, 10.0.0.1", "::1"] {
        let body = login_from(&app, "dave", PASSWORD, forwarded).await;
        assert_eq!(code(&body), "RATE_LIMITED", "{forwarded}: {body}");
        assert!(
            body["errors"][0]["extensions"]["retryAfter"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
}

#[tokio::test]
async fn waits_grow_with_further_failures() {
    let app = spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1"),
        ("LOGIN_BACKOFF_BASE_SECONDS", "1"),
        ("LOGIN_BACKOFF_MAX_SECONDS", "60"),
    ])
    .await;
    app.user("ivan").await;
    assert_eq!(
        code(&app.login("ivan", "wrong password!").await),
        "UNAUTHENTICATED"
    );
    let body = app.login("ivan", PASSWORD).await;
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        code(&app.login("ivan", "wrong password!").await),
        "UNAUTHENTICATED"
    );
    let body = app.login("ivan", PASSWORD).await;
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfter"], 2,
        "doubled: {body}"
    );
}
