//! Throttling: backoff of `login` per account identifier and per client IP, rate limits
//! of `register`, `passwordStrength` and mutations, 429 for refused requests, and the
//! client address behind trusted proxies.

use serde_json::{Value, json};

use crate::helpers::documents::{
    CHANGE_PASSWORD, DELETE_ACCOUNT, LOGIN, ME, REGISTER, REVOKE_SESSION,
};
use crate::helpers::{
    PASSWORD, Reply, TestApp, assert_rate_limited, code, current_session, message,
    parallel_guesses, register_input, spawn_app, spawn_app_with, spawn_backing_off,
    spawn_login_limited,
};

/// Logs in with the right password and asserts a whole-request refusal; the body.
async fn refused_login(app: &TestApp, username: &str) -> Value {
    let outcome = app.login_from(None, username, PASSWORD).await;
    assert_rate_limited(&outcome);
    outcome.body
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
    let app = spawn_login_limited("3", "1000").await;
    app.registered("alice").await;
    app.user("bob").await;
    for attempt in ["wrong one", "wrong two", "wrong three"] {
        assert_eq!(code(&app.login("alice", attempt).await), "UNAUTHENTICATED");
        assert_eq!(code(&app.login("ghost", attempt).await), "UNAUTHENTICATED");
    }
    // Now even the right password waits, in any letter case of the name.
    let real = refused_login(&app, "ALICE").await;
    assert_eq!(code(&real), "RATE_LIMITED", "{real}");
    assert!(message(&real).starts_with("Too many attempts"));
    let unknown = refused_login(&app, "Ghost").await;
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
    let app = spawn_login_limited("1000", "4").await;
    app.user("dave").await;
    for (i, victim) in ["erin", "frank", "grace", "heidi"].iter().enumerate() {
        let body = app
            .login_from(Some(&format!("203.0.113.{i}")), victim, "guess")
            .await
            .body;
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    // Rotating X-Forwarded-For gains nothing: the address is the connection's.
    for forwarded in ["198.51.100.7", "198.51.100.8, 10.0.0.1", "::1"] {
        let body = app.login_from(Some(forwarded), "dave", PASSWORD).await.body;
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
    let app = spawn_backing_off("60").await;
    app.registered("ivan").await;
    assert_eq!(
        code(&app.login("ivan", "wrong password!").await),
        "UNAUTHENTICATED"
    );
    let body = refused_login(&app, "ivan").await;
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        code(&app.login("ivan", "wrong password!").await),
        "UNAUTHENTICATED"
    );
    let body = refused_login(&app, "ivan").await;
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfter"], 2,
        "doubled: {body}"
    );
}

#[tokio::test]
async fn parallel_guesses_at_one_account_are_counted_before_any_is_verified() {
    let app = spawn_app_with(&[("LOGIN_ADDRESS_FREE_FAILURES", "1000")]).await;
    app.registered("judy").await;
    let (verified, refused) = parallel_guesses(&[&app], 40, |_| "judy".into()).await;
    assert_eq!(
        (verified, refused),
        (5, 35),
        "only the 5 free failures are verified"
    );
    assert_eq!(code(&refused_login(&app, "judy").await), "RATE_LIMITED");
}

#[tokio::test]
async fn parallel_guesses_from_one_address_are_counted_before_any_is_verified() {
    let app = spawn_login_limited("1000", "4").await;
    app.user("kate").await;
    let (verified, refused) = parallel_guesses(&[&app], 40, |i| format!("victim{i}")).await;
    assert_eq!(
        (verified, refused),
        (4, 36),
        "only the 4 free failures are verified"
    );
    assert_eq!(code(&refused_login(&app, "kate").await), "RATE_LIMITED");
}

const STRENGTH: &str = "query($p: String!) { passwordStrength(password: $p) { score } }";
const CREATE: &str = "mutation { createTask(input: { title: \"t\" }) { id } }";

#[tokio::test]
async fn register_is_limited_per_client_ip_and_a_refusal_is_a_429() {
    let app = spawn_app_with(&[("REGISTER_RATE_LIMIT", "2/hour")]).await;
    for name in ["reg1", "reg2"] {
        let Reply {
            status,
            retry_after: retry,
            body,
            ..
        } = app
            .post_via(None, None, REGISTER, register_input(name))
            .await;
        assert_eq!((status, retry), (200, None), "{body}");
        assert!(body["data"]["register"]["id"].is_string(), "{body}");
    }
    let refused = app
        .post_via(None, None, REGISTER, register_input("reg3"))
        .await;
    let seconds = assert_rate_limited(&refused);
    assert!(seconds <= 3600, "within the hour: {seconds}");
    assert_eq!(
        app.count("users").await,
        2,
        "the refused one was not created"
    );
}

#[tokio::test]
async fn every_mutation_of_a_user_counts_against_one_budget() {
    let app = spawn_app_with(&[("MUTATION_RATE_LIMIT", "3/minute")]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for _ in 0..2 {
        let Reply { status, body, .. } = app
            .post_via(Some(&alice.token), None, CREATE, json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let revoke = REVOKE_SESSION;
    let Reply { status, body, .. } = app
        .post_via(
            Some(&alice.token),
            None,
            revoke,
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
        )
        .await;
    assert_eq!((status, code(&body)), (200, "NOT_FOUND"), "{body}");
    let refused = app
        .post_via(Some(&alice.token), None, CREATE, json!({}))
        .await;
    assert_rate_limited(&refused);
    assert_eq!(app.count("tasks").await, 2);
    // Queries are not mutations, and the budget is per user.
    let me = app.gql(Some(&alice.token), ME, json!({})).await;
    assert_eq!(me["data"]["me"]["id"], alice.id.as_str());
    let Reply { status, body, .. } = app
        .post_via(Some(&bob.token), None, CREATE, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn password_strength_is_limited_per_viewer_or_else_per_address() {
    let app = spawn_app_with(&[("PASSWORD_STRENGTH_RATE_LIMIT", "2/minute")]).await;
    let carol = app.user("carol").await;
    let variables = json!({ "p": "correct horse battery staple" });
    for _ in 0..2 {
        let Reply { status, body, .. } =
            app.post_via(None, None, STRENGTH, variables.clone()).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_rate_limited(&app.post_via(None, None, STRENGTH, variables.clone()).await);
    // A signed-in viewer has a budget of their own, even from the same address.
    for _ in 0..2 {
        let Reply { status, body, .. } = app
            .post_via(Some(&carol.token), None, STRENGTH, variables.clone())
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["passwordStrength"]["score"].is_number());
    }
    assert_rate_limited(
        &app.post_via(Some(&carol.token), None, STRENGTH, variables)
            .await,
    );
}

#[tokio::test]
async fn a_batch_with_one_refused_operation_is_a_partial_result_with_status_200() {
    let app = spawn_app_with(&[
        ("PASSWORD_STRENGTH_RATE_LIMIT", "1/minute"),
        ("GRAPHQL_MAX_BATCH", "5"),
    ])
    .await;
    let operation = json!({ "query": STRENGTH, "variables": { "p": "correct horse battery" } });
    let post = |batch: Value| app.request().json(batch).send();
    let reply = post(json!([operation, operation])).await;
    assert_eq!(reply.status, 200);
    assert!(reply.retry_after.is_none());
    let body = &reply.body;
    assert!(body[0]["data"]["passwordStrength"].is_object(), "{body}");
    assert_eq!(code(&body[1]), "RATE_LIMITED", "{body}");
    // Every operation refused: the whole request is.
    let reply = post(json!([operation, operation])).await;
    assert_eq!(reply.status, 429);
    let retry_after: u64 = reply
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    let body = &reply.body;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(code(&body[0]), "RATE_LIMITED");
    assert_eq!(code(&body[1]), "RATE_LIMITED");
}

#[tokio::test]
async fn a_refused_login_is_a_429_with_retry_after() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "1")]).await;
    let input = json!({ "input": { "username": "nobody", "password": "wrong password" } });
    let Reply { status, body, .. } = app.post_via(None, None, LOGIN, input.clone()).await;
    assert_eq!((status, code(&body)), (200, "UNAUTHENTICATED"));
    let seconds = assert_rate_limited(&app.post_via(None, None, LOGIN, input).await);
    assert_eq!(seconds, 30);
}

#[tokio::test]
async fn behind_a_trusted_proxy_sessions_record_the_forwarded_client() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    app.user("dora").await;
    let input = json!({ "input": { "username": "dora", "password": PASSWORD } });
    let Reply { body, .. } = app
        .post_via(None, Some("203.0.113.1, 198.51.100.23"), LOGIN, input)
        .await;
    let token = body["data"]["login"]["accessToken"].as_str().unwrap();
    let current = current_session(&app, token, "ip").await;
    assert_eq!(current["ip"], "198.51.100.23", "{current}");

    // Without trusted proxies the connection's address is recorded, whatever is forwarded.
    let direct = spawn_app().await;
    direct.user("erin").await;
    let input = json!({ "input": { "username": "erin", "password": PASSWORD } });
    let Reply { body, .. } = direct
        .post_via(None, Some("198.51.100.23"), LOGIN, input)
        .await;
    let token = body["data"]["login"]["accessToken"].as_str().unwrap();
    let sessions = direct
        .gql(Some(token), "{ sessions { ip current } }", json!({}))
        .await;
    assert!(
        sessions["data"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|session| session["ip"] == "127.0.0.1"),
        "{sessions}"
    );
}

#[tokio::test]
async fn a_redis_that_is_down_at_startup_leaves_the_service_serving_with_local_limits() {
    let app = spawn_app_with(&[
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("REDIS_TIMEOUT_MS", "100"),
        ("REGISTER_RATE_LIMIT", "1/hour"),
    ])
    .await;
    app.registered("solo").await;
    assert_rate_limited(
        &app.post_via(None, None, REGISTER, register_input("duo"))
            .await,
    );
}

const NEW_PASSWORD: &str = "violet harbor lantern 42";

async fn change_password(app: &TestApp, token: &str, current: &str) -> Reply {
    let query = CHANGE_PASSWORD;
    let variables = json!({ "c": current, "n": NEW_PASSWORD });
    app.post_via(Some(token), None, query, variables).await
}

async fn delete_account(app: &TestApp, token: &str, password: &str) -> Reply {
    let query = DELETE_ACCOUNT;
    app.post_via(Some(token), None, query, json!({ "p": password }))
        .await
}

/// Asserts the wrong-password answer of `changePassword` or `deleteAccount`.
fn assert_incorrect(outcome: &Reply, argument: &str) {
    let Reply {
        status,
        retry_after,
        body,
        ..
    } = outcome;
    assert_eq!((*status, retry_after.as_deref()), (200, None), "{body}");
    assert_eq!(code(body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        message(body),
        format!("`{argument}` is incorrect"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_passwords_in_change_password_and_delete_account_back_off_per_user() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "3")]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for guess in ["guess one", "guess two"] {
        assert_incorrect(
            &change_password(&app, &alice.token, guess).await,
            "currentPassword",
        );
    }
    assert_incorrect(
        &delete_account(&app, &alice.token, "guess three").await,
        "password",
    );
    // Both mutations count against one budget of alice's; now even her right password
    // waits the first backoff, and the refusal spends no argon2 work.
    let verifications = app.hashing.verifications();
    assert_eq!(
        assert_rate_limited(&change_password(&app, &alice.token, PASSWORD).await),
        30
    );
    assert_eq!(
        assert_rate_limited(&delete_account(&app, &alice.token, PASSWORD).await),
        30
    );
    assert_eq!(app.hashing.verifications(), verifications);
    assert_eq!(app.count("users").await, 2, "nothing was deleted");
    // Her logins have a budget of their own, and so has every other user.
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
    assert_incorrect(
        &change_password(&app, &bob.token, "guess one").await,
        "currentPassword",
    );
    let Reply { status, body, .. } = change_password(&app, &bob.token, PASSWORD).await;
    assert_eq!(
        (status, &body["data"]["changePassword"]),
        (200, &json!(true)),
        "{body}"
    );
}

#[tokio::test]
async fn a_confirmed_password_clears_the_users_failures() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "3")]).await;
    let carol = app.user("carol").await;
    for guess in ["guess one", "guess two"] {
        assert_incorrect(
            &change_password(&app, &carol.token, guess).await,
            "currentPassword",
        );
    }
    let Reply { status, body, .. } = change_password(&app, &carol.token, PASSWORD).await;
    assert_eq!(
        (status, &body["data"]["changePassword"]),
        (200, &json!(true)),
        "{body}"
    );
    // Two more failures, which without the success would make her wait.
    for guess in ["guess three", "guess four"] {
        assert_incorrect(&delete_account(&app, &carol.token, guess).await, "password");
    }
    let Reply { status, body, .. } = delete_account(&app, &carol.token, NEW_PASSWORD).await;
    assert_eq!(
        (status, &body["data"]["deleteAccount"]),
        (200, &json!(true)),
        "{body}"
    );
    assert_eq!(app.count("users").await, 0);
}
