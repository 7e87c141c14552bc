//! Learning which accounts, sessions or tokens exist from the answers' differences.

use serde_json::{Value, json};

use crate::helpers::documents::{LOGIN, LOGOUT, LOGOUT_ALL, ME, REFRESH, REGISTER};
use crate::helpers::{
    GENERIC_LOGIN_FAILURE, PASSWORD, Reply, TestApp, at_jwt_header, forge, sign, spawn_app,
    spawn_app_with, valid_claims,
};

/// Status, content type, `WWW-Authenticate` and body bytes of one reply.
fn fingerprint(reply: Reply) -> (u16, String, Option<String>, String) {
    let content_type = reply.header("content-type").unwrap_or_default().to_owned();
    (
        reply.status,
        content_type,
        reply.www_authenticate,
        reply.text,
    )
}

async fn login_fingerprint(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (u16, String, Option<String>, String) {
    let response = app
        .post(
            None,
            LOGIN,
            json!({ "input": { "username": username, "password": password } }),
        )
        .await;
    fingerprint(response)
}

#[tokio::test]
async fn probe_login_failures_are_byte_identical_whatever_the_cause() {
    let app = spawn_app().await;
    for name in ["alice", "bob", "carol"] {
        app.user(name).await;
    }
    let reference = login_fingerprint(&app, "nobody-here", PASSWORD).await;
    assert_eq!(reference.0, 200);
    assert_eq!(reference.2, None);
    let body: Value = serde_json::from_str(&reference.3).unwrap();
    assert!(body["data"].is_null());
    assert_eq!(body["errors"][0]["message"], GENERIC_LOGIN_FAILURE);
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED" })
    );
    for (username, password, case) in [
        ("alice", "wrong password entirely", "wrong password"),
        (
            "ALICE",
            "wrong password entirely",
            "wrong password, other letter case",
        ),
        ("bob@example.com", "wrong password entirely", "known email"),
        ("nobody@example.com", PASSWORD, "unknown email"),
        ("x", PASSWORD, "malformed username"),
        ("carol", "short", "malformed password"),
        ("not an email@", PASSWORD, "malformed email"),
    ] {
        assert_eq!(
            login_fingerprint(&app, username, password).await,
            reference,
            "{case}"
        );
    }
}

#[tokio::test]
async fn probe_a_deactivated_account_with_its_right_password_looks_like_a_wrong_one() {
    let app = spawn_app().await;
    app.user("dave").await;
    app.user("erin").await;
    app.deactivate("dave").await;
    assert_eq!(
        login_fingerprint(&app, "dave", PASSWORD).await,
        login_fingerprint(&app, "erin", "wrong password entirely").await
    );
}

#[tokio::test]
async fn probe_register_checks_every_rule_before_revealing_a_taken_name() {
    let app = spawn_app().await;
    app.user("frank").await;
    let register = |username: &'static str, email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            fingerprint(
                app.post(
                    None,
                    REGISTER,
                    json!({ "input": { "username": username, "email": email, "password": password } }),
                )
                .await,
            )
        }
    };
    // With a password the policy refuses, a taken name and a free one answer alike.
    assert_eq!(
        register("frank", "new@example.com", "short").await,
        register("fresh", "new@example.com", "short").await
    );
    assert_eq!(
        register("fresh", "frank@example.com", "short").await,
        register("fresh", "fresh@example.com", "short").await
    );
    assert_eq!(
        register("frank", "not an email", PASSWORD).await,
        register("fresh", "not an email", PASSWORD).await
    );
    // The conflict itself says only what the contract allows: nothing about the owner.
    let (_, _, _, body) = register("other-name", "frank@example.com", PASSWORD).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "CONFLICT" }),
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["message"],
        "This email address is already registered."
    );
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn probe_password_strength_does_not_depend_on_whether_an_account_exists() {
    let app = spawn_app().await;
    let query = "query($p: String!, $u: String, $e: String) { passwordStrength(password: $p, username: $u, email: $e) { acceptable score reasons suggestions } }";
    let variables = json!({ "p": "grace2026", "u": "grace", "e": "grace@example.com" });
    let before = fingerprint(app.post(None, query, variables.clone()).await);
    app.user("grace").await;
    let after = fingerprint(app.post(None, query, variables).await);
    assert_eq!(before, after);
}

#[tokio::test]
async fn probe_refresh_failures_are_byte_identical_whatever_the_cause() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let refresh = |token: String| {
        let app = &app;
        async move { fingerprint(app.post(None, REFRESH, json!({ "t": token })).await) }
    };
    let logged_out = app.user("hank").await;
    app.gql(None, LOGOUT, json!({ "t": logged_out.refresh }))
        .await;
    let reused = app.user("ivan").await;
    assert!(
        app.gql(None, REFRESH, json!({ "t": reused.refresh })).await["data"]["refreshToken"]
            .is_object()
    );
    let deactivated = app.user("judy").await;
    app.deactivate("judy").await;
    let expired = app.user("kim").await;
    app.execute("UPDATE sessions SET expires_at = created_at WHERE user_id IN (SELECT id FROM users WHERE username = 'kim')").await;

    let reference = refresh(format!("tqr_{}", "A".repeat(43))).await;
    assert_eq!(reference.0, 200);
    for (token, case) in [
        (logged_out.refresh, "logged out"),
        (reused.refresh, "rotated and reused"),
        (deactivated.refresh, "deactivated account"),
        (expired.refresh, "expired session"),
        ("garbage".to_owned(), "garbage"),
        (String::new(), "empty"),
    ] {
        assert_eq!(refresh(token).await, reference, "{case}");
    }
}

#[tokio::test]
async fn probe_access_token_failures_are_byte_identical_whatever_the_cause() {
    let app = spawn_app().await;
    let me = |token: String| {
        let app = &app;
        async move { fingerprint(app.post(Some(&token), ME, json!({})).await) }
    };
    let revoked = app.user("liam").await;
    app.gql(Some(&revoked.token), LOGOUT_ALL, json!({})).await;
    let forged_for = app.user("mona").await;
    let now = chrono::Utc::now().timestamp();
    let mut expired_claims = valid_claims(&forged_for);
    expired_claims["exp"] = json!(now - 3600);
    let reference = me("garbage".to_owned()).await;
    assert_eq!(
        reference.2.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    for (token, case) in [
        (revoked.token.clone(), "revoked session"),
        (forge(&forged_for, &expired_claims), "expired"),
        (
            sign(
                &at_jwt_header(&forged_for),
                &valid_claims(&forged_for),
                "some-other-secret-some-other-secret",
            ),
            "forged",
        ),
        (forged_for.refresh.clone(), "refresh token"),
    ] {
        assert_eq!(me(token).await, reference, "{case}");
    }
}
