//! Access tokens an attacker forges, tampers with, replays or dresses up.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::documents::{DELETE_ACCOUNT, ME};
use crate::helpers::{
    GENERIC_LOGIN_FAILURE, PASSWORD, SECRET, assert_invalid_authorization, assert_invalid_token,
    assert_refresh_refused, at_jwt_header, b64_json, claims_of, code, forge, refresh, sign,
    spawn_app, spawn_eddsa_app, unb64_json, valid_claims, with, works,
};

/// A token whose header is exactly `header` (hand-built JSON), payload `claims` and
/// signature `signature`.
fn hand_built(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64_json(header), b64_json(claims))
}

#[tokio::test]
async fn probe_alg_none_under_the_servers_key_id() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let kid = at_jwt_header(&user).kid.unwrap();
    let claims = valid_claims(&user);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
        assert_invalid_token(&app, &hand_built(&header, &claims, ""), alg).await;
        // Some libraries accept `none` with any signature attached.
        let signature = user.token.rsplit('.').next().unwrap();
        assert_invalid_token(&app, &hand_built(&header, &claims, signature), alg).await;
    }
    assert!(works(&app, &user.token).await);
}

#[tokio::test]
async fn probe_signature_spliced_from_another_valid_token() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    // Alice's header and payload, Mallory's (valid) signature; and the reverse.
    let a: Vec<&str> = alice.token.split('.').collect();
    let m: Vec<&str> = mallory.token.split('.').collect();
    let spliced = format!("{}.{}.{}", a[0], a[1], m[2]);
    assert_invalid_token(&app, &spliced, "alice's claims, mallory's signature").await;
    let spliced = format!("{}.{}.{}", m[0], a[1], m[2]);
    assert_invalid_token(&app, &spliced, "mallory's header, alice's claims").await;
    // Re-encoding the same claims with other JSON spacing changes the signed bytes.
    let respaced = format!(
        "{}.{}.{}",
        a[0],
        {
            use base64::Engine;
            let claims = unb64_json(a[1]);
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_string_pretty(&claims).unwrap())
        },
        a[2]
    );
    assert_invalid_token(&app, &respaced, "re-encoded payload").await;
    assert!(works(&app, &alice.token).await && works(&app, &mallory.token).await);
}

#[tokio::test]
async fn probe_expired_just_beyond_the_leeway() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    let now = chrono::Utc::now().timestamp();
    for exp in [now - 45, now - 3600, 0, -1] {
        let token = forge(&user, &with(valid_claims(&user), "exp", json!(exp)));
        assert_invalid_token(&app, &token, &format!("exp {exp}")).await;
    }
}

#[tokio::test]
async fn probe_not_yet_valid_just_beyond_the_leeway() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let now = chrono::Utc::now().timestamp();
    for nbf in [now + 45, now + 86_400, i64::from(i32::MAX)] {
        let claims = with(valid_claims(&user), "nbf", json!(nbf));
        let claims = with(claims, "exp", json!(nbf + 600));
        let token = forge(&user, &claims);
        assert_invalid_token(&app, &token, &format!("nbf {nbf}")).await;
    }
}

#[tokio::test]
async fn probe_refresh_token_presented_as_an_access_token() {
    let app = spawn_app().await;
    let user = app.user("dave").await;
    assert_invalid_token(&app, &user.refresh, "refresh token as bearer").await;
    // The refresh token still works for what it is for: the probe did not burn it.
    assert!(refresh(&app, &user.refresh).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn probe_tokens_of_another_type_are_refused() {
    let app = spawn_app().await;
    let user = app.user("erin").await;
    for typ in ["JWT", "id+jwt", "rt+jwt", "at+jwt ", "at", "", "logout+jwt"] {
        let mut header = at_jwt_header(&user);
        header.typ = Some(typ.into());
        let token = sign(&header, &valid_claims(&user), SECRET);
        assert_invalid_token(&app, &token, &format!("typ {typ:?}")).await;
    }
}

#[tokio::test]
async fn probe_victims_subject_with_the_attackers_own_session() {
    let app = spawn_app().await;
    let victim = app.user("victim").await;
    let mallory = app.user("mallory").await;
    // Even holding the signing key, a token naming the victim but Mallory's live session
    // (or the reverse) is refused: the session must belong to the subject.
    let claims = with(valid_claims(&mallory), "sub", json!(victim.id));
    assert_invalid_token(&app, &forge(&mallory, &claims), "victim sub, mallory sid").await;
    let claims = with(
        valid_claims(&mallory),
        "sid",
        claims_of(&victim.token)["sid"].clone(),
    );
    assert_invalid_token(&app, &forge(&mallory, &claims), "mallory sub, victim sid").await;
}

#[tokio::test]
async fn probe_subjects_of_the_wrong_shape() {
    let app = spawn_app().await;
    let user = app.user("frank").await;
    let nil = uuid::Uuid::nil().to_string();
    let subjects = [
        json!(1),
        json!(null),
        json!(""),
        json!(nil),
        json!("frank"),
        json!([user.id]),
        json!({ "id": user.id }),
        json!(format!("{} ", user.id)),
        json!(format!("{}' OR '1'='1", user.id)),
    ];
    for sub in subjects {
        let token = forge(&user, &with(valid_claims(&user), "sub", sub.clone()));
        assert_invalid_token(&app, &token, &format!("sub {sub}")).await;
    }
    for sid in [json!(null), json!(1), json!("' OR 1=1 --"), json!(nil)] {
        let token = forge(&user, &with(valid_claims(&user), "sid", sid.clone()));
        assert_invalid_token(&app, &token, &format!("sid {sid}")).await;
    }
}

#[tokio::test]
async fn probe_hostile_key_ids() {
    let app = spawn_app().await;
    let user = app.user("grace").await;
    let claims = valid_claims(&user);
    let kids = [
        String::new(),
        "../../../../etc/passwd".into(),
        "' OR '1'='1".into(),
        "hs-".into(),
        "k".repeat(10_000),
        "\u{202e}hs-".into(),
    ];
    for kid in kids {
        let mut header = at_jwt_header(&user);
        header.kid = Some(kid.clone());
        assert_invalid_token(
            &app,
            &sign(&header, &claims, SECRET),
            &format!("kid {:.40}", kid),
        )
        .await;
    }
    // A kid that is not a string at all.
    let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": 7 });
    assert_invalid_token(&app, &hand_built(&header, &claims, "c2ln"), "numeric kid").await;
}

#[tokio::test]
async fn probe_a_key_embedded_in_the_header_is_not_trusted() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let app = spawn_app().await;
    let user = app.user("hank").await;
    // The attacker's own Ed25519 key, published in the token's own `jwk` header (the
    // CVE-2018-0114 pattern), under the attacker's thumbprint and under the server's kid.
    let attacker = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
    let x = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(attacker.verifying_key().as_bytes())
    };
    let der = attacker.to_pkcs8_der().unwrap();
    let key = EncodingKey::from_ed_der(der.as_bytes());
    for kid in [
        "attacker-thumbprint".to_owned(),
        at_jwt_header(&user).kid.unwrap(),
    ] {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        header.jwk = Some(
            serde_json::from_value(json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid }))
                .unwrap(),
        );
        header.jku = Some("https://attacker.example/jwks.json".into());
        let token = jsonwebtoken::encode(&header, &valid_claims(&user), &key).unwrap();
        assert_invalid_token(&app, &token, &format!("embedded jwk, kid {kid}")).await;
    }
}

#[tokio::test]
async fn probe_hs256_with_an_empty_or_guessable_secret() {
    let app = spawn_app().await;
    let user = app.user("ivan").await;
    for secret in ["", "secret", "taskql", "changeme", "hs-"] {
        let token = sign(&at_jwt_header(&user), &valid_claims(&user), secret);
        assert_invalid_token(&app, &token, &format!("secret {secret:?}")).await;
    }
}

#[tokio::test]
async fn probe_eddsa_signed_by_a_foreign_key_under_the_servers_key_id() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let (app, _keys) = spawn_eddsa_app().await;
    let user = app.user("judy").await;
    let issued = jsonwebtoken::decode_header(&user.token).unwrap();
    assert_eq!(issued.alg, Algorithm::EdDSA);
    let foreign = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32])
        .to_pkcs8_der()
        .unwrap();
    let claims = unb64_json(user.token.split('.').nth(1).unwrap());
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = issued.kid;
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ed_der(foreign.as_bytes()),
    )
    .unwrap();
    assert_invalid_token(&app, &forged, "foreign Ed25519 key under the server's kid").await;
    assert!(works(&app, &user.token).await);
}

#[tokio::test]
async fn probe_tokens_of_a_deleted_account_do_not_pass_to_its_successor() {
    let app = spawn_app().await;
    let first = app.user("kim").await;
    let body = app
        .gql(Some(&first.token), DELETE_ACCOUNT, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(body["data"]["deleteAccount"], true, "{body}");
    // Somebody registers the freed name with the same password.
    let second = app.user("kim").await;
    assert_ne!(first.id, second.id);
    assert_invalid_token(&app, &first.token, "the deleted account's token").await;
    assert_refresh_refused(
        &refresh(&app, &first.refresh).await,
        "the deleted account's refresh token",
    );
    assert!(works(&app, &second.token).await);
}

#[tokio::test]
async fn probe_deactivated_accounts_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let user = app.user("liam").await;
    let bystander = app.user("mona").await;
    app.deactivate("liam").await;
    assert_invalid_token(&app, &user.token, "deactivated account").await;
    assert_refresh_refused(&refresh(&app, &user.refresh).await, "deactivated refresh");
    let body = app.login("liam", PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert_eq!(crate::helpers::message(&body), GENERIC_LOGIN_FAILURE);
    assert!(works(&app, &bystander.token).await);
}

#[tokio::test]
async fn probe_malformed_authorization_headers() {
    let app = spawn_app().await;
    let user = app.user("nina").await;
    let token = &user.token;
    for value in [
        format!("Bearer\t{token}"),
        format!("Bearer {token},"),
        format!("Bearer {token}, Bearer {token}"),
        format!("Bearer={token}"),
        format!("Bearer:{token}"),
        format!("Bearer {token}."),
        format!("Bearer .{token}"),
        format!("Bearer {}", token.replace('.', "..")),
        "Bearer null".to_owned(),
        "Bearer undefined".to_owned(),
        "Bearer ..".to_owned(),
        format!("Basic {token}"),
        format!("Digest {token}"),
    ] {
        assert_invalid_authorization(&app, &value, &value).await;
    }
    // Bytes that are not visible ASCII in the header value.
    let mut bytes = b"Bearer ".to_vec();
    bytes.extend_from_slice(token.as_bytes());
    bytes.extend_from_slice(&[0xff, 0xfe]);
    let reply = app
        .request()
        .header_bytes("authorization", &bytes)
        .operation(ME, json!({}))
        .send()
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(reply.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn probe_an_oversized_token_is_refused_cheaply() {
    let app = spawn_app().await;
    let user = app.user("oscar").await;
    // A valid header and signature around a 48 KiB payload of junk claims.
    let claims = with(valid_claims(&user), "pad", json!("p".repeat(48 * 1024)));
    let token = format!(
        "{}.{}.{}",
        user.token.split('.').next().unwrap(),
        b64_json(&claims),
        user.token.rsplit('.').next().unwrap()
    );
    let started = std::time::Instant::now();
    assert_invalid_token(&app, &token, "48 KiB token").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        works(&app, &user.token).await,
        "the server is still serving"
    );
}
