//! Sessions: refresh-token rotation and reuse detection, revocation, account operations,
//! key rotation and published keys.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::documents::{
    DELETE_ACCOUNT, LOGIN_FULL, LOGOUT, LOGOUT_ALL, ME, REFRESH, REVOKE_SESSION,
};
use crate::helpers::{
    DEFAULT_ARGON2ID, PASSWORD, SECRET, TestApp, claims_of, code, message, refresh, refreshed,
    spawn_app, spawn_app_with, spawn_eddsa_app, with_last_char_flipped, works,
};

const SESSIONS: &str = "{ sessions { id createdAt lastUsedAt expiresAt userAgent ip current } }";

#[tokio::test]
async fn login_returns_a_refresh_token_that_rotates() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let body = app.login("alice", PASSWORD).await;
    assert_eq!(body["data"]["login"]["refreshExpiresIn"], 7 * 86_400);
    assert!(user.refresh.starts_with("tqr_") && user.refresh.len() >= 47);

    let body = refresh(&app, &user.refresh).await;
    let payload = &body["data"]["refreshToken"];
    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["expiresIn"], 1800);
    assert_eq!(payload["refreshExpiresIn"], 7 * 86_400);
    assert_eq!(payload["user"]["id"], user.id.as_str());
    let (access, next) = refreshed(&body);
    assert_ne!(next, user.refresh);
    assert!(works(&app, &access).await);
    assert_eq!(
        claims_of(&access)["sid"],
        claims_of(&user.token)["sid"],
        "same session"
    );
    // The next token rotates in turn.
    let (access, _) = refreshed(&refresh(&app, &next).await);
    assert!(works(&app, &access).await);
}

#[tokio::test]
async fn a_rotated_token_presented_again_revokes_its_whole_session() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let victim = app.user("bob").await;
    let other_device = app.logged_in("bob").await;

    let (access, newer) = refreshed(&refresh(&app, &victim.refresh).await);
    // The attacker replays the stolen, already rotated token.
    let body = refresh(&app, &victim.refresh).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    // Every token of that session is dead now: older, newer, access and refresh alike.
    assert!(!works(&app, &access).await);
    assert!(!works(&app, &victim.token).await);
    assert_eq!(code(&refresh(&app, &newer).await), "UNAUTHENTICATED");
    // Bob's other login is untouched.
    assert!(works(&app, &other_device.token).await);
    assert!(refresh(&app, &other_device.refresh).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn two_tabs_refreshing_the_same_token_at_once_both_stay_logged_in() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let (first, second) = tokio::join!(refresh(&app, &user.refresh), refresh(&app, &user.refresh));
    let (access_a, refresh_a) = refreshed(&first);
    let (access_b, refresh_b) = refreshed(&second);
    assert_ne!(refresh_a, refresh_b);
    for (access, next) in [(access_a, refresh_a), (access_b, refresh_b)] {
        assert!(works(&app, &access).await);
        let (access, _) = refreshed(&refresh(&app, &next).await);
        assert!(works(&app, &access).await);
    }
    // Within the grace period a sequential repeat is treated the same way, once: a third
    // presentation is refused without ending the session.
    let fresh = app.logged_in("carol").await;
    let (_, rotated) = refreshed(&refresh(&app, &fresh.refresh).await);
    let (again, second) = refreshed(&refresh(&app, &fresh.refresh).await);
    assert!(works(&app, &again).await);
    assert_eq!(
        code(&refresh(&app, &fresh.refresh).await),
        "UNAUTHENTICATED"
    );
    assert!(works(&app, &again).await, "the session lives on");
    assert!(refresh(&app, &rotated).await["data"]["refreshToken"].is_object());
    assert!(refresh(&app, &second).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn invalid_refresh_tokens_are_refused_alike() {
    let app = spawn_app().await;
    let user = app.user("dave").await;
    let huge = "t".repeat(100_000);
    let flipped = with_last_char_flipped(&user.refresh);
    for bad in [
        "",
        "tqr_",
        "not-a-token",
        huge.as_str(),
        user.token.as_str(),
        flipped.as_str(),
        "tqr_' OR 1=1 --",
    ] {
        let body = refresh(&app, bad).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
        assert_eq!(
            message(&body),
            "Authentication required: send a valid access token."
        );
    }
    // A stale access token attached does not get in the way.
    let body = app
        .gql(Some("stale"), REFRESH, json!({ "t": user.refresh }))
        .await;
    assert!(body["data"]["refreshToken"].is_object(), "{body}");
}

#[tokio::test]
async fn logout_ends_the_session_and_its_access_tokens_at_once() {
    let app = spawn_app().await;
    let user = app.user("erin").await;
    let other = app.logged_in("erin").await;
    let body = app.gql(None, LOGOUT, json!({ "t": user.refresh })).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert!(!works(&app, &user.token).await);
    assert_eq!(code(&refresh(&app, &user.refresh).await), "UNAUTHENTICATED");
    assert!(works(&app, &other.token).await, "other sessions stay");
    // Logging out twice, or with something that is no token, says false.
    for token in [user.refresh.as_str(), "nonsense"] {
        let body = app.gql(None, LOGOUT, json!({ "t": token })).await;
        assert_eq!(body["data"]["logout"], false);
    }
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_viewer_only() {
    let app = spawn_app().await;
    let first = app.user("frank").await;
    let second = app.logged_in("frank").await;
    let bystander = app.user("grace").await;
    let body = app.gql(Some(&first.token), LOGOUT_ALL, json!({})).await;
    assert_eq!(body["data"]["logoutAll"], true);
    for session in [&first, &second] {
        assert!(!works(&app, &session.token).await);
        assert_eq!(
            code(&refresh(&app, &session.refresh).await),
            "UNAUTHENTICATED"
        );
    }
    assert!(works(&app, &bystander.token).await);
    let body = app.gql(None, LOGOUT_ALL, json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn sessions_lists_live_sessions_marking_the_current_one_and_no_secrets() {
    let app = spawn_app().await;
    let user = app.user("hana").await;
    let phone = app
        .request()
        .header("user-agent", "TaskqlPhone/1.0 \t(odd)")
        .operation(
            LOGIN_FULL,
            json!({ "input": { "username": "hana", "password": PASSWORD } }),
        )
        .send()
        .await
        .body;
    let phone_refresh = phone["data"]["login"]["refreshToken"].as_str().unwrap();

    let body = app.gql(Some(&user.token), SESSIONS, json!({})).await;
    let sessions = body["data"]["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], claims_of(&user.token)["sid"]);
    let phone_session = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(
        phone_session["userAgent"], "TaskqlPhone/1.0 (odd)",
        "control characters dropped"
    );
    assert_eq!(phone_session["ip"], "127.0.0.1");
    for session in sessions {
        assert!(session["expiresAt"].as_str() > session["createdAt"].as_str());
    }
    let text = body.to_string();
    for secret in [user.refresh.as_str(), phone_refresh, user.token.as_str()] {
        assert!(!text.contains(secret));
        let digest: String = Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!text.contains(&digest));
    }
    // Logged-out sessions disappear from the list.
    app.gql(None, LOGOUT, json!({ "t": phone_refresh })).await;
    let body = app.gql(Some(&user.token), SESSIONS, json!({})).await;
    assert_eq!(body["data"]["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoke_session_ends_one_of_the_viewers_sessions_and_nobody_elses() {
    let app = spawn_app().await;
    let laptop = app.user("ivan").await;
    let phone = app.logged_in("ivan").await;
    let mallory = app.user("mallory").await;
    let revoke = REVOKE_SESSION;
    let phone_sid = claims_of(&phone.token)["sid"].clone();
    let laptop_sid = claims_of(&laptop.token)["sid"].clone();

    let body = app
        .gql(Some(&mallory.token), revoke, json!({ "id": laptop_sid }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    assert!(
        works(&app, &laptop.token).await,
        "someone else's session is untouched"
    );

    let body = app
        .gql(Some(&laptop.token), revoke, json!({ "id": phone_sid }))
        .await;
    assert_eq!(body["data"]["revokeSession"], true, "{body}");
    assert!(!works(&app, &phone.token).await);
    assert_eq!(
        code(&refresh(&app, &phone.refresh).await),
        "UNAUTHENTICATED"
    );
    assert!(works(&app, &laptop.token).await);

    let body = app
        .gql(Some(&laptop.token), revoke, json!({ "id": phone_sid }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "already revoked");
    for bad in ["", "nope", "'; DELETE FROM sessions; --"] {
        let body = app
            .gql(Some(&laptop.token), revoke, json!({ "id": bad }))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT");
        assert!(message(&body).contains("`id`"));
    }
    let body = app.gql(None, revoke, json!({ "id": phone_sid })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let here = app.user("judy").await;
    let elsewhere = app.logged_in("judy").await;
    let new_password = "violet harbor lantern 42";

    for (current, new, rule) in [
        (
            "wrong password entirely",
            new_password,
            "`currentPassword` is incorrect",
        ),
        ("", new_password, "`currentPassword` is incorrect"),
        (PASSWORD, "short", "password must be 8 to 128 characters"),
        (PASSWORD, "password123", "password is too easy to guess"),
        (
            PASSWORD,
            "judy-rocks-the-galaxy",
            "must not contain your username",
        ),
        (PASSWORD, PASSWORD, "newPassword must differ"),
    ] {
        let body = app.change_password(Some(&here.token), current, new).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(message(&body).contains(rule), "{rule}: {body}");
    }
    assert!(
        works(&app, &elsewhere.token).await,
        "failed attempts change nothing"
    );

    let body = app
        .change_password(Some(&here.token), PASSWORD, new_password)
        .await;
    assert_eq!(body["data"]["changePassword"], true, "{body}");
    assert!(works(&app, &here.token).await);
    assert!(refresh(&app, &here.refresh).await["data"]["refreshToken"].is_object());
    assert!(!works(&app, &elsewhere.token).await);
    assert_eq!(
        code(&refresh(&app, &elsewhere.refresh).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(code(&app.login("judy", PASSWORD).await), "UNAUTHENTICATED");
    assert!(app.login("judy", new_password).await["data"]["login"].is_object());
}

#[tokio::test]
async fn delete_account_removes_the_user_their_tasks_and_sessions() {
    let app = spawn_app().await;
    let user = app.user("kim").await;
    let other = app.logged_in("kim").await;
    app.create_task(&user.token, json!({ "title": "doomed" }))
        .await;

    let body = app
        .gql(
            Some(&user.token),
            DELETE_ACCOUNT,
            json!({ "p": "not my password" }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("`password` is incorrect"));
    assert!(works(&app, &user.token).await);

    let body = app
        .gql(Some(&user.token), DELETE_ACCOUNT, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(body["data"]["deleteAccount"], true, "{body}");
    for session in [&user, &other] {
        assert!(!works(&app, &session.token).await);
        assert_eq!(
            code(&refresh(&app, &session.refresh).await),
            "UNAUTHENTICATED"
        );
    }
    assert_eq!(code(&app.login("kim", PASSWORD).await), "UNAUTHENTICATED");
    for table in ["users", "tasks", "sessions", "refresh_tokens"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    // The name is free again.
    assert!(app.register("kim", "kim@example.com", PASSWORD).await["data"]["register"].is_object());
}

#[tokio::test]
async fn the_password_policy_explains_every_rejection_and_the_form_sees_the_same() {
    let app = spawn_app().await;
    let strength = "query($p: String!, $u: String, $e: String) { passwordStrength(password: $p, username: $u, email: $e) { acceptable score reasons suggestions } }";
    for (password, rule) in [
        ("", "password must be 8 to 128 characters"),
        ("short", "password must be 8 to 128 characters"),
        (
            &"long".repeat(40) as &str,
            "password must be 8 to 128 characters",
        ),
        ("password", "password is too easy to guess"),
        ("12345678", "password is too easy to guess"),
        ("qwertyuiop", "password is too easy to guess"),
        ("iloveyou", "password is too easy to guess"),
        ("liam-the-great-2026", "must not contain your username"),
        ("liam.smith-at-work!", "must not contain your email address"),
    ] {
        let body = app
            .register("liam", "Liam.Smith@example.com", password)
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{password}: {body}");
        assert!(message(&body).contains(rule), "{rule}: {body}");
        let judged = app
            .gql(
                None,
                strength,
                json!({ "p": password, "u": "liam", "e": "Liam.Smith@example.com" }),
            )
            .await;
        let verdict = &judged["data"]["passwordStrength"];
        assert_eq!(verdict["acceptable"], false, "{judged}");
        let reasons: Vec<&str> = verdict["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(reasons.iter().any(|r| r.contains(rule)), "{rule}: {judged}");
        assert_eq!(
            message(&body),
            reasons.join("; "),
            "the form says what register says"
        );
    }
    let judged = app
        .gql(
            None,
            strength,
            json!({ "p": "correct horse battery staple" }),
        )
        .await;
    let verdict = &judged["data"]["passwordStrength"];
    assert_eq!(verdict["acceptable"], true);
    assert_eq!(verdict["reasons"], json!([]));
    assert!(verdict["score"].as_i64().unwrap() >= 3);
    let judged = app.gql(None, strength, json!({ "p": "password" })).await;
    assert_eq!(judged["data"]["passwordStrength"]["score"], 0);
    assert!(
        !judged["data"]["passwordStrength"]["suggestions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn weaker_stored_hashes_are_upgraded_at_login() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let app = spawn_app().await;
    app.user("mona").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    app.set_stored_hash("mona", &weak).await;
    assert!(app.login("mona", PASSWORD).await["data"]["login"].is_object());
    let stored = app.stored_hash("mona").await;
    assert!(stored.starts_with(DEFAULT_ARGON2ID), "{stored}");
    assert!(app.login("mona", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn keys_rotate_without_logging_anyone_out() {
    let new_key = "the-new-signing-key-0123456789abcdefgh";
    let before = spawn_app().await;
    let user = before.user("nina").await;
    let after = before
        .replica(&[("SECRET_KEY", new_key), ("SECRET_KEY_PREVIOUS", SECRET)])
        .await;
    assert!(
        works(&after, &user.token).await,
        "a token signed with the previous key"
    );
    let (fresh, _) = refreshed(&refresh(&after, &user.refresh).await);
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&fresh), kid(&user.token), "new tokens use the new key");
    assert!(works(&after, &fresh).await);
    // A replica that never had the new key refuses its kid.
    assert!(!works(&before, &fresh).await);
    let response = before.post(Some(&fresh), ME, json!({})).await;
    assert_eq!(
        response.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    // Once the old key is retired, its tokens stop working.
    let retired = before.replica(&[("SECRET_KEY", new_key)]).await;
    assert!(!works(&retired, &user.token).await);
    assert!(works(&retired, &fresh).await);
}

#[tokio::test]
async fn eddsa_tokens_verify_with_the_published_jwks_as_an_outside_service_would() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    let (app, _keys) = spawn_eddsa_app().await;
    let user = app.user("oscar").await;
    assert!(works(&app, &user.token).await);

    let reply = app.request().get("/.well-known/jwks.json").send().await;
    assert_eq!(reply.status, 200);
    let jwks: JwkSet = serde_json::from_value(reply.body).unwrap();
    let header = jsonwebtoken::decode_header(&user.token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["taskql"]);
    validation.set_issuer(&["taskql"]);
    let claims = jsonwebtoken::decode::<Value>(
        &user.token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], user.id.as_str());

    // Key confusion: the Ed25519 kid with an HS256 signature made with the public key.
    let public = match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(params) => params.x.clone(),
        other => panic!("unexpected key type {other:?}"),
    };
    let mut confused = jsonwebtoken::Header::new(Algorithm::HS256);
    confused.typ = Some("at+jwt".into());
    confused.kid = header.kid.clone();
    let claims = json!({
        "sub": user.id, "sid": claims["sid"], "iat": chrono::Utc::now().timestamp(),
        "nbf": chrono::Utc::now().timestamp(), "exp": chrono::Utc::now().timestamp() + 600,
        "iss": "taskql", "aud": "taskql", "jti": "x",
    });
    for secret in [
        public.as_bytes().to_vec(),
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &public).unwrap(),
    ] {
        let forged = jsonwebtoken::encode(
            &confused,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert!(!works(&app, &forged).await, "HS256 under the EdDSA kid");
    }
    // And the HS256 kid of SECRET_KEY with an EdDSA signature of some other key.
    let other_key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
        .to_pkcs8_der()
        .unwrap();
    let mut hs_kid_eddsa = jsonwebtoken::Header::new(Algorithm::EdDSA);
    hs_kid_eddsa.typ = Some("at+jwt".into());
    let plain_app_token = {
        let plain = spawn_app().await;
        plain.user("olga").await.token
    };
    hs_kid_eddsa.kid = jsonwebtoken::decode_header(&plain_app_token).unwrap().kid;
    let forged = jsonwebtoken::encode(
        &hs_kid_eddsa,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(other_key.as_bytes()),
    )
    .unwrap();
    assert!(!works(&app, &forged).await, "EdDSA under the HS256 kid");

    // Without an Ed25519 key the set is empty: nothing secret is ever published.
    let plain = spawn_app().await;
    let jwks = plain
        .request()
        .get("/.well-known/jwks.json")
        .send()
        .await
        .body;
    assert_eq!(jwks, json!({ "keys": [] }));
}

#[tokio::test]
async fn dead_sessions_are_purged_in_the_background() {
    let app = spawn_app_with(&[("SESSION_PURGE_INTERVAL_SECONDS", "1")]).await;
    let user = app.user("pat").await;
    let kept = app.logged_in("pat").await;
    app.gql(None, LOGOUT, json!({ "t": user.refresh })).await;
    assert_eq!(
        eventually(&app, "sessions", 1).await,
        1,
        "the revoked session was purged, the live one kept"
    );
    assert!(works(&app, &kept.token).await);

    // Expired refresh tokens of the live session go too; its current one stays.
    let (_, current) = refreshed(&refresh(&app, &kept.refresh).await);
    assert_eq!(app.count("refresh_tokens").await, 2);
    app.execute("UPDATE refresh_tokens SET expires_at = created_at WHERE rotated_at IS NOT NULL")
        .await;
    assert_eq!(eventually(&app, "refresh_tokens", 1).await, 1);
    assert!(refresh(&app, &current).await["data"]["refreshToken"].is_object());
}

/// The row count of `table` once it reaches `expected`, or after five seconds.
async fn eventually(app: &TestApp, table: &str, expected: i64) -> i64 {
    let mut rows = app.count(table).await;
    for _ in 0..50 {
        if rows == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rows = app.count(table).await;
    }
    rows
}

#[tokio::test]
async fn with_a_session_cache_revocation_still_takes_effect_at_once_on_this_replica() {
    let app = spawn_app_with(&[("SESSION_CACHE_SECONDS", "5")]).await;
    let user = app.user("quinn").await;
    assert!(works(&app, &user.token).await, "now cached as live");
    app.gql(None, LOGOUT, json!({ "t": user.refresh })).await;
    assert!(!works(&app, &user.token).await);
    let other = app.logged_in("quinn").await;
    assert!(works(&app, &other.token).await);
    app.gql(Some(&other.token), LOGOUT_ALL, json!({})).await;
    assert!(!works(&app, &other.token).await);
}
