//! `register`, `login` and `me`.

use serde_json::{Value, json};

use crate::helpers::{
    DEFAULT_ARGON2ID, PASSWORD, code, message, spawn_app, spawn_app_with, texts_of,
};

#[tokio::test]
async fn register_then_login_by_username_or_email_in_any_case() {
    let app = spawn_app().await;
    let body = app.register("Alice", "Alice@Example.COM", PASSWORD).await;
    let user = &body["data"]["register"];
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["role"], "USER");
    assert_eq!(user["isActive"], true);
    assert_eq!(user["emailVerified"], false);
    let id = user["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    for login in [
        "Alice",
        "alice",
        "ALICE",
        "alice@example.com",
        "ALICE@example.com",
    ] {
        let body = app.login(login, PASSWORD).await;
        let payload = &body["data"]["login"];
        assert_eq!(payload["tokenType"], "Bearer", "{login}: {body}");
        assert_eq!(payload["expiresIn"], 1800);
        assert_eq!(payload["user"]["id"], id);
        let token = payload["accessToken"].as_str().unwrap();
        let me = app
            .gql(Some(token), "{ me { id username email } }", json!({}))
            .await;
        assert_eq!(me["data"]["me"]["id"], id);
        assert_eq!(me["data"]["me"]["username"], "Alice");
    }
}

#[tokio::test]
async fn access_tokens_follow_rfc_9068_and_name_the_user_by_id() {
    let app = spawn_app().await;
    let user = app.signed_up("carol").await;
    let header = jsonwebtoken::decode_header(&user.token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["taskql"]);
    validation.set_issuer(&["taskql"]);
    let claims = jsonwebtoken::decode::<Value>(
        &user.token,
        &jsonwebtoken::DecodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], user.id.as_str());
    for claim in ["iat", "nbf", "exp", "iss", "aud", "jti"] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1800
    );
}

#[tokio::test]
async fn access_token_lifetime_follows_the_configuration() {
    let app = crate::helpers::spawn_app_with(&[("ACCESS_TOKEN_EXPIRE_MINUTES", "5")]).await;
    app.register("dave", "dave@example.com", PASSWORD).await;
    let body = app.login("dave", PASSWORD).await;
    assert_eq!(body["data"]["login"]["expiresIn"], 300);
}

#[tokio::test]
async fn every_login_failure_gives_the_same_answer() {
    let app = spawn_app().await;
    app.signed_up("erin").await;
    let cases = [
        ("erin", "wrong password!"),
        ("nobody", PASSWORD),
        ("nobody@example.com", PASSWORD),
        ("erin", "short"),
        ("erin", &"x".repeat(10_000)),
        ("", PASSWORD),
        ("bad name!", PASSWORD),
        ("e\u{0}rin", PASSWORD),
        ("erin@", PASSWORD),
    ];
    let mut answers = Vec::new();
    for (username, password) in cases {
        let body = app.login(username, password).await;
        assert!(body["data"].is_null(), "{username}: {body}");
        assert_eq!(code(&body), "UNAUTHENTICATED", "{username}: {body}");
        answers.push(message(&body).to_owned());
    }
    answers.dedup();
    assert_eq!(answers, ["Invalid username or password."]);
}

#[tokio::test]
async fn duplicate_usernames_and_emails_conflict_in_any_letter_case() {
    let app = spawn_app().await;
    app.signed_up("frank").await;
    for (username, email, expected) in [
        ("frank", "other@example.com", "username"),
        ("FRANK", "other@example.com", "username"),
        ("Frank", "other@example.com", "username"),
        ("someone", "frank@example.com", "email"),
        ("someone", "FRANK@EXAMPLE.COM", "email"),
    ] {
        let body = app.register(username, email, PASSWORD).await;
        assert_eq!(code(&body), "CONFLICT", "{username} {email}: {body}");
        assert!(message(&body).contains(expected), "{body}");
    }
    // The original account still logs in with its own password.
    assert!(app.login("frank", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_let_exactly_one_through() {
    let app = spawn_app().await;
    let attempts = (0..6).map(|i| {
        let app = &app;
        async move {
            app.register("grace", &format!("grace{i}@example.com"), PASSWORD)
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|body| body["data"]["register"].is_object())
        .count();
    assert_eq!(created, 1, "{results:?}");
    for body in results.iter().filter(|b| b["data"]["register"].is_null()) {
        assert_eq!(code(body), "CONFLICT", "{body}");
    }
}

#[tokio::test]
async fn registration_rules_are_enforced_with_plain_words() {
    // Every attempt counts against the per-address register limit; this test makes many.
    let app = spawn_app_with(&[("REGISTER_RATE_LIMIT", "100/hour")]).await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let long_username = "u".repeat(33);
    let long_password = "p".repeat(129);
    let huge_password = "p".repeat(100_000);
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        (
            "",
            "a@example.com",
            PASSWORD,
            "username must be 3 to 32 characters",
        ),
        (
            "ab",
            "a@example.com",
            PASSWORD,
            "username must be 3 to 32 characters",
        ),
        (
            &long_username,
            "a@example.com",
            PASSWORD,
            "username must be 3 to 32 characters",
        ),
        (
            "has space",
            "a@example.com",
            PASSWORD,
            "username may contain only",
        ),
        (
            "émile",
            "a@example.com",
            PASSWORD,
            "username may contain only",
        ),
        (
            "nul\u{0}ok",
            "a@example.com",
            PASSWORD,
            "username may contain only",
        ),
        (
            "robert');--",
            "a@example.com",
            PASSWORD,
            "username may contain only",
        ),
        ("valid_1", "", PASSWORD, "email must be a valid address"),
        (
            "valid_1",
            "not-an-email",
            PASSWORD,
            "email must be a valid address",
        ),
        (
            "valid_1",
            "a@localhost",
            PASSWORD,
            "email must be a valid address",
        ),
        (
            "valid_1",
            "Name <a@example.com>",
            PASSWORD,
            "email must be a valid address",
        ),
        (
            "valid_1",
            &long_email,
            PASSWORD,
            "email must be at most 254 characters",
        ),
        (
            "valid_1",
            "a@example.com",
            "",
            "password must be 8 to 128 characters",
        ),
        (
            "valid_1",
            "a@example.com",
            "1234567",
            "password must be 8 to 128 characters",
        ),
        (
            "valid_1",
            "a@example.com",
            &long_password,
            "password must be 8 to 128 characters",
        ),
        (
            "valid_1",
            "a@example.com",
            &huge_password,
            "password must be 8 to 128 characters",
        ),
    ];
    for (username, email, password, rule) in cases {
        let body = app.register(username, email, password).await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "{username:?} {email:?}: {body}"
        );
        assert!(message(&body).contains(rule), "{rule}: {body}");
    }
}

#[tokio::test]
async fn unicode_passwords_are_normalized_before_hashing_and_verifying() {
    let app = spawn_app().await;
    // Registered with a precomposed "é", logged in with "e" + combining accent.
    app.register(
        "henri",
        "henri@example.com",
        "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e",
    )
    .await;
    let body = app
        .login("henri", "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e")
        .await;
    assert!(body["data"]["login"].is_object(), "{body}");
    // Full-width letters, digits and spaces match their ASCII forms.
    app.register("ichiro", "ichiro@example.com", "tranquil meadow 2026")
        .await;
    let body = app
        .login(
            "ichiro",
            "ｔｒａｎｑｕｉｌ\u{3000}ｍｅａｄｏｗ\u{3000}２０２６",
        )
        .await;
    assert!(body["data"]["login"].is_object(), "{body}");
    // Emoji count as one character each (ten of them are 40 bytes, well under 128 characters).
    let body = app
        .register("emoji", "emoji@example.com", "🔑🌵🚀🎻🐙🍩🧭🪁🦉🎲")
        .await;
    assert!(body["data"]["register"].is_object(), "{body}");
}

#[tokio::test]
async fn passwords_and_hashes_never_appear_in_any_response() {
    let app = spawn_app().await;
    let password = "unique-canary-password-7f3a";
    let mut bodies = vec![
        app.register("jane", "jane@example.com", password).await,
        app.register("jane", "jane2@example.com", password).await,
    ];
    let login = app.login("jane", password).await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    bodies.push(login);
    bodies.push(app.login("jane", "wrong-canary-password").await);
    bodies.push(
        app.gql(
            Some(&token),
            "{ me { id username email role isActive emailVerified createdAt } }",
            json!({}),
        )
        .await,
    );
    // Introspection shows no field that could carry a secret.
    let user_fields = app
        .gql(
            None,
            r#"{ __type(name: "User") { fields { name } } }"#,
            json!({}),
        )
        .await;
    bodies.push(user_fields.clone());
    for body in &bodies {
        let text = body.to_string();
        assert!(!text.contains(password), "{text}");
        assert!(!text.contains("wrong-canary"), "{text}");
        assert!(!text.contains("$argon2"), "{text}");
    }
    let names = texts_of(&user_fields["data"]["__type"]["fields"], "name");
    assert!(names.iter().all(|n| !n.to_lowercase().contains("password")));
    assert!(names.iter().all(|n| !n.to_lowercase().contains("hash")));
}

#[tokio::test]
async fn stored_passwords_are_argon2id_hashes() {
    let app = spawn_app().await;
    app.signed_up("kate").await;
    let hash = app.stored_hash("kate").await;
    assert!(hash.starts_with(DEFAULT_ARGON2ID), "{hash}");
    assert!(!hash.contains(PASSWORD));
}
