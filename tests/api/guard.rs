//! The request guard: every invalid credential fails the same way, with
//! `WWW-Authenticate: Bearer error="invalid_token"`, while register and login still work.

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::helpers::documents::{LOGIN, ME, REGISTER, TASK_COUNT};
use crate::helpers::{
    PASSWORD, SECRET, assert_invalid_authorization, assert_invalid_token, at_jwt_header, code,
    forge, message, sign, spawn_app, valid_claims, with, without,
};

#[tokio::test]
async fn a_valid_token_authenticates_and_no_token_is_anonymous() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let response = app.post(Some(&user.token), ME, json!({})).await;
    assert!(response.headers.get("www-authenticate").is_none());
    let body = response.body.clone();
    assert_eq!(body["data"]["me"]["id"], user.id.as_str());

    // A hand-signed token with the server's rules is as good as an issued one.
    let crafted = forge(&user, &valid_claims(&user));
    let body = app.gql(Some(&crafted), ME, json!({})).await;
    assert_eq!(body["data"]["me"]["id"], user.id.as_str());

    let response = app.post(None, ME, json!({})).await;
    assert!(response.headers.get("www-authenticate").is_none());
    let body = response.body.clone();
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn malformed_and_forged_tokens_are_refused_alike() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    let claims = valid_claims(&user);
    let now = chrono::Utc::now().timestamp();

    let kid = at_jwt_header(&user).kid;
    let mut hs512 = Header::new(Algorithm::HS512);
    hs512.typ = Some("at+jwt".into());
    hs512.kid = kid.clone();
    let mut plain_jwt = at_jwt_header(&user);
    plain_jwt.typ = Some("JWT".into());
    let mut no_typ = at_jwt_header(&user);
    no_typ.typ = None;
    let mut no_kid = at_jwt_header(&user);
    no_kid.kid = None;
    let mut unknown_kid = at_jwt_header(&user);
    unknown_kid.kid = Some("hs-somebody-elses-key".into());
    let other = app.user("other").await;
    let others_session = crate::helpers::claims_of(&other.token)["sid"].clone();

    // alg: none, hand-built: the signature part is empty.
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt"})),
        b64(&claims)
    );
    // An id no user or session has.
    let unknown_id = || json!(uuid::Uuid::now_v7().to_string());
    // A valid token with its payload swapped for another user's.
    let parts: Vec<&str> = user.token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(claims.clone(), "sub", unknown_id())),
        parts[2]
    );
    let truncated_signature = &user.token[..user.token.len() - 4];

    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        ("three dots", "a.b.c".into()),
        ("unicode", "tøkén.ü.ß".into()),
        ("huge", "a".repeat(16 * 1024)),
        ("alg none", alg_none),
        ("tampered payload", tampered),
        ("truncated signature", truncated_signature.into()),
        (
            "wrong key",
            sign(
                &at_jwt_header(&user),
                &claims,
                "another-secret-another-secret-xxxxxx",
            ),
        ),
        ("HS512", sign(&hs512, &claims, SECRET)),
        ("typ JWT", sign(&plain_jwt, &claims, SECRET)),
        ("no typ", sign(&no_typ, &claims, SECRET)),
        (
            "expired",
            forge(&user, &with(claims.clone(), "exp", json!(now - 120))),
        ),
        (
            "not yet valid",
            forge(&user, &with(claims.clone(), "nbf", json!(now + 600))),
        ),
        (
            "wrong issuer",
            forge(&user, &with(claims.clone(), "iss", json!("evil"))),
        ),
        (
            "wrong audience",
            forge(&user, &with(claims.clone(), "aud", json!("other-api"))),
        ),
        ("no exp", forge(&user, &without(claims.clone(), "exp"))),
        ("no sub", forge(&user, &without(claims.clone(), "sub"))),
        ("no iss", forge(&user, &without(claims.clone(), "iss"))),
        ("no aud", forge(&user, &without(claims.clone(), "aud"))),
        (
            "exp as string",
            forge(&user, &with(claims.clone(), "exp", json!("9999999999"))),
        ),
        (
            "username as sub",
            forge(&user, &with(claims.clone(), "sub", json!("bob"))),
        ),
        ("no kid", sign(&no_kid, &claims, SECRET)),
        ("unknown kid", sign(&unknown_kid, &claims, SECRET)),
        ("no sid", forge(&user, &without(claims.clone(), "sid"))),
        (
            "unknown session",
            forge(&user, &with(claims.clone(), "sid", unknown_id())),
        ),
        (
            "another user's session",
            forge(&user, &with(claims.clone(), "sid", others_session)),
        ),
        (
            "unknown user",
            forge(&user, &with(claims.clone(), "sub", unknown_id())),
        ),
    ];
    for (case, token) in &cases {
        assert_invalid_token(&app, token, case).await;
    }
}

#[tokio::test]
async fn tokens_within_the_leeway_still_work() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let now = chrono::Utc::now().timestamp();
    let claims = with(valid_claims(&user), "exp", json!(now - 10));
    let token = forge(&user, &claims);
    let body = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(body["data"]["me"]["id"], user.id.as_str(), "{body}");
}

#[tokio::test]
async fn other_authorization_schemes_and_shapes_are_invalid() {
    let app = spawn_app().await;
    let user = app.user("dan").await;
    for value in [
        "Basic ZGFuOnBhc3N3b3Jk".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        user.token.clone(),
        format!("Token {}", user.token),
        format!("Bearer {} extra", user.token),
    ] {
        assert_invalid_authorization(&app, &value, &value).await;
    }
    // The scheme is case-insensitive.
    let reply = app
        .request()
        .authorization(&format!("bearer {}", user.token))
        .operation(ME, json!({}))
        .send()
        .await;
    assert_eq!(reply.body["data"]["me"]["id"], user.id.as_str());
    // Two Authorization headers are ambiguous, so invalid.
    let reply = app
        .request()
        .token(&user.token)
        .token(&user.token)
        .operation(ME, json!({}))
        .send()
        .await;
    assert!(reply.www_authenticate.is_some());
}

#[tokio::test]
async fn register_and_login_work_with_a_stale_token_attached() {
    let app = spawn_app().await;
    let stale = "stale.token.value";
    let response = app
        .post(
            Some(stale),
            REGISTER,
            json!({ "input": { "username": "erin", "email": "erin@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        response.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body = response.body.clone();
    assert!(body["data"]["register"]["id"].is_string(), "{body}");

    let response = app
        .post(
            Some(stale),
            LOGIN,
            json!({ "input": { "username": "erin", "password": PASSWORD } }),
        )
        .await;
    let body = response.body.clone();
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

#[tokio::test]
async fn a_deleted_users_token_stops_working_and_their_tasks_go_with_them() {
    let app = spawn_app().await;
    let doomed = app.user("frank").await;
    let survivor = app.user("grace").await;
    for i in 0..3 {
        app.create_task(&doomed.token, json!({ "title": format!("task {i}") }))
            .await;
    }
    app.create_task(&survivor.token, json!({ "title": "mine" }))
        .await;

    assert_eq!(app.count("tasks").await, 4);
    app.execute("DELETE FROM users WHERE username = 'frank'")
        .await;
    assert_eq!(app.count("tasks").await, 1, "cascade delete");

    assert_invalid_token(&app, &doomed.token, "deleted user").await;
    let body = app.gql(Some(&survivor.token), TASK_COUNT, json!({})).await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 1);
}

#[tokio::test]
async fn a_database_failure_while_checking_a_token_is_not_blamed_on_the_token() {
    let app = spawn_app().await;
    let user = app.user("hank").await;
    app.execute("DROP TABLE refresh_tokens").await;
    app.execute("DROP TABLE sessions").await;
    let response = app.post(Some(&user.token), ME, json!({})).await;
    assert!(response.headers.get("www-authenticate").is_none());
    let body = response.body.clone();
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    assert_eq!(message(&body), "Internal server error.");
}
