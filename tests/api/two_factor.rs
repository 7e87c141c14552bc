//! The second factor over HTTP: setting it up, the second step of a login, replayed and
//! reused codes, challenges that expire or are spent, the limits on guessing, the step-up
//! that dangerous changes need, secrets at rest, and each owner's security history.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::documents::{
    BEGIN_TWO_FACTOR, CHANGE_EMAIL_CODE, CHANGE_PASSWORD_CODE, DELETE_ACCOUNT_CODE,
    DISABLE_TWO_FACTOR, ENABLE_TWO_FACTOR, LOGIN_FULL, ME_TWO_FACTOR, REGENERATE_CODES,
    REQUEST_RESET, RESET_PASSWORD_CODE, SECURITY_EVENTS, VERIFY_LOGIN,
};
use crate::helpers::{
    Authenticator, DATA_KEY, GENERIC_UNAUTHENTICATED, MailServer, PASSWORD, TestApp, claims_of,
    code, message, refresh, spawn_app, spawn_app_with, token_pair, works,
};

const NEW_PASSWORD: &str = "a brand new passphrase 2026";
const SECOND_FACTOR: &str =
    "Enter the code your authenticator app shows, or one of your recovery codes.";

fn second_factor_required(body: &Value, case: &str) {
    assert_eq!(code(body), "SECOND_FACTOR_REQUIRED", "{case}: {body}");
    assert_eq!(message(body), SECOND_FACTOR, "{case}: {body}");
    assert!(
        body["errors"][0]["extensions"]["challenge"].is_null(),
        "only login hands out a challenge: {body}"
    );
}

fn unauthenticated(body: &Value, case: &str) {
    assert_eq!(code(body), "UNAUTHENTICATED", "{case}: {body}");
    assert_eq!(message(body), GENERIC_UNAUTHENTICATED, "{case}: {body}");
}

/// The signed-in payload of a `verifyLogin` that worked.
fn signed_in(body: &Value) -> (String, String) {
    token_pair(body, "verifyLogin")
}

async fn me_two_factor(app: &TestApp, token: &str) -> Value {
    app.gql(Some(token), ME_TWO_FACTOR, json!({})).await["data"]["me"].clone()
}

async fn stored_secrets(app: &TestApp) -> Vec<(Option<String>, Option<String>)> {
    let db = app.db().await;
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT totp_secret, totp_pending FROM users",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        (
            row.try_get_by_index::<Option<String>>(0).unwrap(),
            row.try_get_by_index::<Option<String>>(1).unwrap(),
        )
    })
    .collect()
}

async fn kinds(app: &TestApp, token: &str) -> Vec<String> {
    let body = app
        .gql(Some(token), SECURITY_EVENTS, json!({ "first": 100 }))
        .await;
    body["data"]["securityEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|node| node["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn setup_login_with_a_totp_and_with_a_recovery_code() {
    let app = spawn_app().await;
    let ada = app.user("ada").await;
    assert_eq!(
        me_two_factor(&app, &ada.token).await["twoFactorEnabled"],
        false
    );

    // Setting up changes nothing until a code confirms it.
    let setup = app
        .gql(Some(&ada.token), BEGIN_TWO_FACTOR, json!({ "p": PASSWORD }))
        .await;
    let setup = &setup["data"]["beginTwoFactorSetup"];
    let secret = setup["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    );
    let uri = setup["otpauthUri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!("otpauth://totp/taskql:ada?secret={secret}")),
        "{uri}"
    );
    assert!(uri.contains("issuer=taskql"), "{uri}");
    assert!(setup["qrCodeSvg"].as_str().unwrap().contains("<svg"));
    assert_eq!(
        me_two_factor(&app, &ada.token).await["twoFactorEnabled"],
        false
    );
    let plain = app.login("ada", PASSWORD).await;
    assert!(plain["data"]["login"]["accessToken"].is_string(), "{plain}");

    let authenticator = Authenticator::for_secret(secret);
    let wrong = app
        .gql(
            Some(&ada.token),
            ENABLE_TWO_FACTOR,
            json!({ "c": "000000" }),
        )
        .await;
    let wrong_step = authenticator.code(3);
    let far = app
        .gql(
            Some(&ada.token),
            ENABLE_TWO_FACTOR,
            json!({ "c": wrong_step }),
        )
        .await;
    for body in [&wrong, &far] {
        assert_eq!(code(body), "BAD_USER_INPUT", "{body}");
        assert!(message(body).contains("`code`"), "{body}");
    }
    let enabled = app
        .gql(
            Some(&ada.token),
            ENABLE_TWO_FACTOR,
            json!({ "c": authenticator.code(0) }),
        )
        .await;
    let codes: Vec<String> = enabled["data"]["enableTwoFactor"]
        .as_array()
        .unwrap_or_else(|| panic!("{enabled}"))
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        me_two_factor(&app, &ada.token).await["twoFactorEnabled"],
        true
    );
    let again = app
        .gql(Some(&ada.token), BEGIN_TWO_FACTOR, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(code(&again), "CONFLICT", "{again}");

    // A wrong password answers as it always did: nothing tells of a second factor.
    let wrong_password = app.login("ada", "not the password at all").await;
    assert_eq!(code(&wrong_password), "UNAUTHENTICATED", "{wrong_password}");
    assert_eq!(message(&wrong_password), "Invalid username or password.");
    assert!(wrong_password["errors"][0]["extensions"]["challenge"].is_null());

    let login = app.login("ada", PASSWORD).await;
    assert!(login["data"].is_null(), "{login}");
    assert_eq!(code(&login), "SECOND_FACTOR_REQUIRED", "{login}");
    let challenge = login["errors"][0]["extensions"]["challenge"]
        .as_str()
        .unwrap();
    assert!(challenge.starts_with("tqc_"), "{challenge}");
    let verified = app.verify_login(challenge, &authenticator.code(1)).await;
    let (access, refresh_token) = signed_in(&verified);
    assert_eq!(
        verified["data"]["verifyLogin"]["user"]["twoFactorEnabled"],
        true
    );
    assert_eq!(claims_of(&access)["amr"], json!(["pwd", "otp"]));
    assert!(works(&app, &access).await);
    assert!(me_two_factor(&app, &access).await["lastLoginAt"].is_string());
    // The session keeps how it was established across refreshes.
    let refreshed = refresh(&app, &refresh_token).await;
    let (renewed, _) = token_pair(&refreshed, "refreshToken");
    assert_eq!(claims_of(&renewed)["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims_of(&ada.token)["amr"], json!(["pwd"]));

    // A lost phone: a recovery code, in any letter case, once.
    let challenge = app.challenge("ada").await;
    let recovery = codes[0].to_uppercase();
    let (access, _) = signed_in(&app.verify_login(&challenge, &recovery).await);
    assert!(works(&app, &access).await);
    let challenge = app.challenge("ada").await;
    second_factor_required(
        &app.verify_login(&challenge, &codes[0]).await,
        "a spent recovery code",
    );
    let (access, _) = signed_in(&app.verify_login(&challenge, &codes[1]).await);
    let history = kinds(&app, &access).await;
    for kind in [
        "TWO_FACTOR_ENABLED",
        "LOGIN_SUCCEEDED",
        "RECOVERY_CODE_USED",
        "SECOND_FACTOR_FAILED",
    ] {
        assert!(history.iter().any(|k| k == kind), "{kind} in {history:?}");
    }
}

#[tokio::test]
async fn a_totp_is_accepted_once_and_a_step_never_goes_back() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "50")]).await;
    let bob = app.user("bob").await;
    let authenticator = app.two_factor_on(&bob).await;
    // The code that turned two-factor on is spent.
    let challenge = app.challenge("bob").await;
    second_factor_required(
        &app.verify_login(&challenge, &authenticator.enabling_code)
            .await,
        "the enabling code again",
    );
    let next = authenticator.code(1);
    signed_in(&app.verify_login(&challenge, &next).await);
    let challenge = app.challenge("bob").await;
    second_factor_required(
        &app.verify_login(&challenge, &next).await,
        "a code replayed on another challenge",
    );
    second_factor_required(
        &app.verify_login(&challenge, &authenticator.enabling_code)
            .await,
        "an earlier step",
    );
    for junk in [
        "",
        "12345",
        "1234567",
        "abcdef",
        "١٢٣٤٥٦",
        &"9".repeat(100_000),
    ] {
        let challenge = app.challenge("bob").await;
        let body = app.verify_login(&challenge, junk).await;
        assert!(
            matches!(code(&body), "SECOND_FACTOR_REQUIRED" | "BAD_USER_INPUT"),
            "{body}"
        );
        assert!(!body.to_string().contains(&challenge[4..]), "{body}");
    }
}

#[tokio::test]
async fn challenges_are_single_use_short_lived_and_bound_to_their_account() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "50")]).await;
    let cy = app.user("cyd").await;
    let dee = app.user("dee").await;
    let cy_factor = app.two_factor_on(&cy).await;
    let dee_factor = app.two_factor_on(&dee).await;

    // Used once.
    let challenge = app.challenge("cyd").await;
    signed_in(
        &app.verify_login(&challenge, &cy_factor.recovery_codes[0])
            .await,
    );
    unauthenticated(
        &app.verify_login(&challenge, &cy_factor.recovery_codes[1])
            .await,
        "a spent challenge",
    );

    // Another account's codes do not complete it.
    let challenge = app.challenge("cyd").await;
    second_factor_required(
        &app.verify_login(&challenge, &dee_factor.recovery_codes[0])
            .await,
        "dee's recovery code on cy's challenge",
    );
    second_factor_required(
        &app.verify_login(&challenge, &dee_factor.code(1)).await,
        "dee's code on cy's challenge",
    );
    let dee_challenge = app.challenge("dee").await;
    signed_in(
        &app.verify_login(&dee_challenge, &dee_factor.recovery_codes[0])
            .await,
    );

    // Five minutes.
    let challenge = app.challenge("cyd").await;
    app.execute("UPDATE login_challenges SET expires_at = created_at")
        .await;
    unauthenticated(
        &app.verify_login(&challenge, &cy_factor.recovery_codes[1])
            .await,
        "an expired challenge",
    );

    // A new password voids the challenges the old one earned.
    let challenge = app.challenge("cyd").await;
    let changed = app
        .gql(
            Some(&cy.token),
            CHANGE_PASSWORD_CODE,
            json!({ "p": PASSWORD, "n": NEW_PASSWORD, "c": cy_factor.recovery_codes[2] }),
        )
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    unauthenticated(
        &app.verify_login(&challenge, &cy_factor.recovery_codes[3])
            .await,
        "a challenge of the old password",
    );

    for forged in [
        "",
        "tqc_",
        "tqr_AAAA",
        &format!("tqc_{}", "A".repeat(43)),
        "x".repeat(10_000).as_str(),
    ] {
        unauthenticated(&app.verify_login(forged, "123456").await, forged);
    }
}

#[tokio::test]
async fn a_challenge_allows_five_guesses_and_the_account_backs_off() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "50")]).await;
    let eve = app.user("eve").await;
    let factor = app.two_factor_on(&eve).await;
    let challenge = app.challenge("eve").await;
    for guess in 0..5 {
        second_factor_required(
            &app.verify_login(&challenge, &format!("{:06}", guess)).await,
            "a wrong guess",
        );
    }
    unauthenticated(
        &app.verify_login(&challenge, &factor.recovery_codes[0])
            .await,
        "the sixth guess, right or not",
    );
    // The right code was not spent by a dead challenge.
    let challenge = app.challenge("eve").await;
    signed_in(
        &app.verify_login(&challenge, &factor.recovery_codes[0])
            .await,
    );

    // Across challenges, the account's backoff holds guesses as failed logins are held,
    // except from a client the owner completed a second step from: someone holding the
    // password cannot lock the owner out by guessing codes.
    let app = spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", "3"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let fay = app.user("fay").await;
    let factor = app.two_factor_on(&fay).await;
    let from = |address: &'static str, query: &'static str, variables: Value| {
        app.request()
            .forwarded_for(address)
            .operation(query, variables)
            .send()
    };
    let login = json!({ "input": { "username": "fay", "password": PASSWORD } });
    let challenge_from = |address: &'static str| {
        let login = login.clone();
        async move {
            let body = from(address, LOGIN_FULL, login).await.json();
            body["errors"][0]["extensions"]["challenge"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned()
        }
    };
    const ATTACKER: &str = "203.0.113.9";
    for _ in 0..3 {
        let challenge = challenge_from(ATTACKER).await;
        let body = from(
            ATTACKER,
            VERIFY_LOGIN,
            json!({ "ch": challenge, "c": "000000" }),
        )
        .await
        .json();
        second_factor_required(&body, "wrong");
    }
    for (address, case) in [(ATTACKER, "the guesser"), ("198.51.100.7", "a new device")] {
        let challenge = challenge_from(address).await;
        let held = from(
            address,
            VERIFY_LOGIN,
            json!({ "ch": challenge, "c": factor.recovery_codes[0] }),
        )
        .await
        .json();
        assert_eq!(code(&held), "RATE_LIMITED", "{case}: {held}");
        assert!(
            held["errors"][0]["extensions"]["retryAfter"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
    let history = kinds(&app, &fay.token).await;
    assert!(
        history.iter().any(|k| k == "LOGIN_THROTTLED"),
        "{history:?}"
    );
    assert_eq!(
        app.count("recovery_codes").await,
        10,
        "no recovery code was spent while held"
    );
    // The owner's own client, where two-factor was set up, is not held.
    let challenge = app.challenge("fay").await;
    signed_in(
        &app.verify_login(&challenge, &factor.recovery_codes[0])
            .await,
    );
}

/// A step-up mutation as `token`'s viewer, with `code` (or none).
async fn step_up(app: &TestApp, token: &str, document: &str, code: Option<&str>) -> Value {
    let variables = match document {
        CHANGE_PASSWORD_CODE => json!({ "p": PASSWORD, "n": NEW_PASSWORD, "c": code }),
        CHANGE_EMAIL_CODE => json!({ "e": "elsewhere@example.com", "p": PASSWORD, "c": code }),
        DELETE_ACCOUNT_CODE => json!({ "p": PASSWORD, "c": code }),
        DISABLE_TWO_FACTOR | REGENERATE_CODES => json!({ "p": PASSWORD, "c": code.unwrap_or("") }),
        other => panic!("not a step-up document: {other}"),
    };
    app.gql(Some(token), document, variables).await
}

#[tokio::test]
async fn dangerous_changes_need_a_code_when_two_factor_is_on() {
    let mail = MailServer::start();
    let url = mail.url();
    let app = spawn_app_with(&[("SMTP_URL", url.as_str()), ("MAIL_RETRY_SECONDS", "1")]).await;
    let gus = app.user("gus").await;
    let factor = app.two_factor_on(&gus).await;
    let mut codes: Vec<String> = factor.recovery_codes.clone();
    let first_codes = factor.recovery_codes.clone();
    for (document, field) in [
        (CHANGE_EMAIL_CODE, "changeEmail"),
        (REGENERATE_CODES, "regenerateRecoveryCodes"),
        (CHANGE_PASSWORD_CODE, "changePassword"),
    ] {
        if document != REGENERATE_CODES {
            second_factor_required(&step_up(&app, &gus.token, document, None).await, field);
        }
        second_factor_required(
            &step_up(&app, &gus.token, document, Some("")).await,
            &format!("{field} with an empty code"),
        );
        second_factor_required(
            &step_up(&app, &gus.token, document, Some("000000")).await,
            &format!("{field} with a wrong code"),
        );
        let right = codes.remove(0);
        let done = step_up(&app, &gus.token, document, Some(&right)).await;
        match done["data"][field].as_array() {
            Some(fresh) => {
                codes = fresh
                    .iter()
                    .map(|code| code.as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(codes.len(), 10);
            }
            None => assert_eq!(done["data"][field], true, "{field}: {done}"),
        }
    }
    second_factor_required(
        &app.gql(
            Some(&gus.token),
            DISABLE_TWO_FACTOR,
            json!({ "p": NEW_PASSWORD, "c": "" }),
        )
        .await,
        "disableTwoFactor without a code",
    );
    second_factor_required(
        &app.gql(
            Some(&gus.token),
            DISABLE_TWO_FACTOR,
            json!({ "p": NEW_PASSWORD, "c": "000000" }),
        )
        .await,
        "disableTwoFactor with a wrong code",
    );
    // The password is the new one now; the regenerated codes replaced the first ones.
    let stale = &first_codes[5];
    let disabled = app
        .gql(
            Some(&gus.token),
            DISABLE_TWO_FACTOR,
            json!({ "p": NEW_PASSWORD, "c": stale }),
        )
        .await;
    second_factor_required(&disabled, "a recovery code replaced by regeneration");
    let disabled = app
        .gql(
            Some(&gus.token),
            DISABLE_TWO_FACTOR,
            json!({ "p": NEW_PASSWORD, "c": factor.code(1) }),
        )
        .await;
    assert_eq!(disabled["data"]["disableTwoFactor"], true, "{disabled}");
    assert_eq!(
        me_two_factor(&app, &gus.token).await["twoFactorEnabled"],
        false
    );
    let plain = app.login("gus", NEW_PASSWORD).await;
    assert!(plain["data"]["login"]["accessToken"].is_string(), "{plain}");
    let off = app
        .gql(
            Some(&gus.token),
            DISABLE_TWO_FACTOR,
            json!({ "p": NEW_PASSWORD, "c": "123456" }),
        )
        .await;
    assert_eq!(code(&off), "BAD_USER_INPUT", "{off}");

    // The owner heard of every one.
    let subjects: Vec<String> = mail
        .wait_for("gus@example.com", 8)
        .await
        .iter()
        .map(|m| m.subject())
        .collect();
    for subject in [
        "Two-factor authentication was turned on for taskql",
        "Your taskql email address is about to change",
        "New taskql recovery codes were made",
        "Your taskql password was changed",
        "Two-factor authentication was turned off for taskql",
    ] {
        assert!(
            subjects.iter().any(|s| s == subject),
            "{subject} in {subjects:?}"
        );
    }
    let history = kinds(&app, &gus.token).await;
    for kind in [
        "RECOVERY_CODES_REGENERATED",
        "TWO_FACTOR_DISABLED",
        "PASSWORD_CHANGED",
        "EMAIL_CHANGE_REQUESTED",
    ] {
        assert!(history.iter().any(|k| k == kind), "{kind} in {history:?}");
    }

    // deleteAccount last: it ends the account.
    let hal = app.user("hal").await;
    let factor = app.two_factor_on(&hal).await;
    second_factor_required(
        &step_up(&app, &hal.token, DELETE_ACCOUNT_CODE, None).await,
        "deleteAccount",
    );
    second_factor_required(
        &step_up(&app, &hal.token, DELETE_ACCOUNT_CODE, Some("111111")).await,
        "deleteAccount with a wrong code",
    );
    let deleted = step_up(&app, &hal.token, DELETE_ACCOUNT_CODE, Some(&factor.code(1))).await;
    assert_eq!(deleted["data"]["deleteAccount"], true, "{deleted}");
}

#[tokio::test]
async fn a_reset_link_alone_does_not_take_over_an_account_with_two_factor() {
    let mail = MailServer::start();
    let url = mail.url();
    let app = spawn_app_with(&[("SMTP_URL", url.as_str()), ("MAIL_RETRY_SECONDS", "1")]).await;
    let ivy = app.user("ivy").await;
    let factor = app.two_factor_on(&ivy).await;
    let asked = app
        .gql(None, REQUEST_RESET, json!({ "e": "ivy@example.com" }))
        .await;
    assert_eq!(asked["data"]["requestPasswordReset"], true, "{asked}");
    let token = mail
        .wait_for("ivy@example.com", 2)
        .await
        .into_iter()
        .find(|message| message.subject() == "Reset your taskql password")
        .expect("a reset link")
        .token();
    let reset = |code: Option<&str>| {
        app.gql(
            None,
            RESET_PASSWORD_CODE,
            json!({ "t": token, "n": NEW_PASSWORD, "c": code }),
        )
    };
    second_factor_required(&reset(None).await, "no code");
    second_factor_required(&reset(Some("000000")).await, "a wrong code");
    assert!(works(&app, &ivy.token).await, "nothing changed");
    let done = reset(Some(&factor.recovery_codes[0])).await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");
    assert!(!works(&app, &ivy.token).await, "every session ended");
    let challenge = {
        let login = app.login("ivy", NEW_PASSWORD).await;
        login["errors"][0]["extensions"]["challenge"]
            .as_str()
            .unwrap_or_else(|| panic!("two-factor stays on: {login}"))
            .to_owned()
    };
    signed_in(&app.verify_login(&challenge, &factor.code(1)).await);
    let subjects: Vec<String> = mail
        .wait_for("ivy@example.com", 4)
        .await
        .iter()
        .map(|m| m.subject())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s == "A taskql recovery code was used"),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_survive_a_change_of_key() {
    let app = spawn_app().await;
    let jo = app.user("joe").await;
    let setup = app
        .gql(Some(&jo.token), BEGIN_TWO_FACTOR, json!({ "p": PASSWORD }))
        .await;
    let secret = setup["data"]["beginTwoFactorSetup"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let factor = Authenticator::for_secret(&secret);
    let enabled = app
        .gql(
            Some(&jo.token),
            ENABLE_TWO_FACTOR,
            json!({ "c": factor.code(0) }),
        )
        .await;
    let codes = enabled["data"]["enableTwoFactor"]
        .as_array()
        .unwrap()
        .clone();
    let stored = stored_secrets(&app).await;
    let (Some(sealed), None) = &stored[0] else {
        panic!("{stored:?}");
    };
    assert!(!sealed.contains(&secret), "{sealed}");
    let raw_hex: String = totp_rs::Secret::try_from_base32(&secret)
        .unwrap()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!sealed.to_lowercase().contains(&raw_hex), "{sealed}");
    let db = app.db().await;
    let hashes = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT code_hash FROM recovery_codes",
        ))
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    for row in hashes {
        let hash: String = row.try_get_by_index(0).unwrap();
        for code in &codes {
            let code = code.as_str().unwrap();
            assert!(!hash.contains(&code.replace('-', "")), "{hash}");
        }
    }

    // A replica without the key opens nothing; with the old key as previous, everything,
    // and the secret is sealed again under the new key as it is used.
    let other_key = "another-data-key-another-data-key-0123456789";
    let keyless = app.replica(&[("DATA_ENCRYPTION_KEY", other_key)]).await;
    let challenge = keyless.challenge("joe").await;
    second_factor_required(
        &keyless.verify_login(&challenge, &factor.code(1)).await,
        "a key that did not seal it",
    );
    let rotated = app
        .replica(&[
            ("DATA_ENCRYPTION_KEY", other_key),
            ("DATA_ENCRYPTION_KEY_PREVIOUS", DATA_KEY),
        ])
        .await;
    let challenge = rotated.challenge("joe").await;
    signed_in(&rotated.verify_login(&challenge, &factor.code(1)).await);
    let resealed = stored_secrets(&app).await[0].0.clone().unwrap();
    assert_ne!(&resealed, sealed, "sealed again under the new key");
    app.forget_used_steps().await;
    let challenge = keyless.challenge("joe").await;
    signed_in(&keyless.verify_login(&challenge, &factor.code(0)).await);
}

#[tokio::test]
async fn each_owner_reads_their_own_history_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let kay = app.user("kay").await;
    let lee = app.user("lee").await;
    for _ in 0..3 {
        app.logged_in("kay").await;
    }
    let wrong = app.login("kay", "not the password at all").await;
    assert_eq!(code(&wrong), "UNAUTHENTICATED");
    // A failed login is written to the history after its answer, so that the answer costs
    // the same whether or not the name has an account.
    for _ in 0..50 {
        if kinds(&app, &kay.token).await.len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let page = |first: i64, after: Option<String>| {
        app.gql(
            Some(&kay.token),
            SECURITY_EVENTS,
            json!({ "first": first, "after": after }),
        )
    };
    let first = page(2, None).await;
    let connection = &first["data"]["securityEvents"];
    let edges = connection["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2, "{first}");
    assert_eq!(
        edges[0]["node"]["kind"], "LOGIN_FAILED",
        "newest first: {first}"
    );
    assert_eq!(edges[0]["node"]["ip"], "127.0.0.1");
    assert_eq!(edges[1]["node"]["kind"], "LOGIN_SUCCEEDED");
    assert!(edges[1]["node"]["sessionId"].is_string());
    assert_eq!(edges[0]["node"]["user"]["id"], kay.id.as_str());
    assert!(edges[0]["node"]["actor"].is_null());
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    let rest = page(
        100,
        connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned),
    )
    .await;
    let rest = &rest["data"]["securityEvents"];
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);
    let kinds_left: Vec<&str> = rest["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds_left,
        ["LOGIN_SUCCEEDED", "LOGIN_SUCCEEDED", "LOGIN_SUCCEEDED"]
    );
    // Nobody else's events, whatever the cursor.
    let lee_events = app
        .gql(Some(&lee.token), SECURITY_EVENTS, json!({ "first": 100 }))
        .await;
    let lee_kinds = lee_events["data"]["securityEvents"]["nodes"]
        .as_array()
        .unwrap();
    assert_eq!(lee_kinds.len(), 1, "{lee_events}");
    for (first, after, case) in [
        (-1, None, "a negative count"),
        (10, Some("not-a-cursor".to_owned()), "a foreign cursor"),
        (10, Some("x".repeat(10_000)), "a huge cursor"),
    ] {
        let body = page(first, after).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{case}: {body}");
    }
    let anonymous = app.gql(None, SECURITY_EVENTS, json!({})).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    // Kept for the retention period only: an old event is purged.
    app.execute("UPDATE security_events SET at = '2000-01-01T00:00:00Z'")
        .await;
    let purged = app
        .replica(&[("SESSION_PURGE_INTERVAL_SECONDS", "1")])
        .await;
    let mut left = i64::MAX;
    for _ in 0..50 {
        left = app.count("security_events").await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "purged after the retention period");
    drop(purged);
}

#[tokio::test]
async fn a_setup_waits_fifteen_minutes_and_no_longer_than_the_password() {
    let app = spawn_app().await;
    let max = app.user("max").await;
    let begin = || app.gql(Some(&max.token), BEGIN_TWO_FACTOR, json!({ "p": PASSWORD }));
    let enable = |code: String| app.gql(Some(&max.token), ENABLE_TWO_FACTOR, json!({ "c": code }));
    let no_setup = |body: &Value| {
        assert_eq!(code(body), "BAD_USER_INPUT", "{body}");
        assert!(message(body).contains("beginTwoFactorSetup"), "{body}");
    };
    no_setup(&enable("123456".into()).await);

    let secret = begin().await["data"]["beginTwoFactorSetup"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.execute("UPDATE users SET totp_pending_at = '2000-01-01T00:00:00Z'")
        .await;
    no_setup(&enable(Authenticator::for_secret(&secret).code(0)).await);

    // A new password forgets a setup whoever knew the old one began.
    let secret = begin().await["data"]["beginTwoFactorSetup"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = app
        .change_password(Some(&max.token), PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    no_setup(&enable(Authenticator::for_secret(&secret).code(0)).await);
    assert_eq!(
        me_two_factor(&app, &max.token).await["twoFactorEnabled"],
        false
    );
}

#[tokio::test]
async fn racing_requests_spend_a_code_once_and_a_challenge_five_times_at_most() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "50")]).await;
    let ned = app.user("ned").await;
    let factor = app.two_factor_on(&ned).await;
    let next = factor.code(1);
    for code in [next.as_str(), factor.recovery_codes[0].as_str()] {
        let mut challenges = Vec::new();
        for _ in 0..4 {
            challenges.push(app.challenge("ned").await);
        }
        let answers = futures::future::join_all(
            challenges
                .iter()
                .map(|challenge| app.verify_login(challenge, code)),
        )
        .await;
        let won = answers
            .iter()
            .filter(|body| body["data"]["verifyLogin"]["accessToken"].is_string())
            .count();
        assert_eq!(won, 1, "{code}: {answers:?}");
        for body in answers.iter().filter(|body| body["data"].is_null()) {
            second_factor_required(body, "a code another request spent");
        }
    }
    let challenge = app.challenge("ned").await;
    let wrong: Vec<String> = (0..8).map(|guess| format!("{guess:06}")).collect();
    let guesses = futures::future::join_all(
        wrong
            .iter()
            .map(|guess| app.verify_login(&challenge, guess)),
    )
    .await;
    let judged = guesses
        .iter()
        .filter(|body| code(body) == "SECOND_FACTOR_REQUIRED")
        .count();
    assert_eq!(judged, 5, "{guesses:?}");
    assert!(
        guesses
            .iter()
            .all(|body| matches!(code(body), "SECOND_FACTOR_REQUIRED" | "UNAUTHENTICATED")),
        "{guesses:?}"
    );
}
