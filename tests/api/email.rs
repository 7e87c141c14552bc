//! Mail that people rely on, over HTTP and real SMTP: verifying an address, resetting a
//! forgotten password, changing the address, and the outbox that delivers them once,
//! whatever fails on the way.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::documents::{
    CHANGE_EMAIL, ME, ME_EMAIL, REQUEST_RESET, REQUEST_VERIFICATION, RESET_PASSWORD, VERIFY_EMAIL,
};
use crate::helpers::{
    MailServer, PASSWORD, TestApp, assert_refresh_refused, code, message, refresh, spawn_app_with,
    works,
};

const NEW_PASSWORD: &str = "a brand new passphrase 2026";
const INVALID_LINK: &str = "This link is not valid: it may have expired, been used already or been replaced by a newer one. Ask for a new one.";

/// An app that sends through its own SMTP server, with links to `https://tasks.test`.
async fn mailing(extra: &[(&str, &str)]) -> (TestApp, MailServer) {
    let mail = MailServer::start();
    let url = mail.url();
    let mut vars = vec![
        ("SMTP_URL", url.as_str()),
        ("PUBLIC_URL", "https://tasks.test/"),
        ("MAIL_RETRY_SECONDS", "1"),
    ];
    vars.extend_from_slice(extra);
    (spawn_app_with(&vars).await, mail)
}

fn ok(body: &Value, field: &str) {
    assert_eq!(body["data"][field], true, "{body}");
}

fn invalid_link(body: &Value) {
    assert_eq!(code(body), "BAD_USER_INPUT", "{body}");
    assert_eq!(message(body), INVALID_LINK, "{body}");
}

#[tokio::test]
async fn sign_up_sends_a_link_that_verifies_the_address_once() {
    let (app, mail) = mailing(&[]).await;
    app.registered("vera").await;
    let message = mail.nth("vera@example.com", 1).await;
    assert_eq!(message.subject(), "Confirm your email address for taskql");
    let link = message.link().unwrap();
    assert!(
        link.starts_with("https://tasks.test/verify-email#token=tqe_"),
        "{link}"
    );
    assert!(
        message.text().contains("did not sign up"),
        "says what to do if unasked"
    );
    assert!(
        message
            .part("text/html")
            .contains("<a href=\"https://tasks.test/verify-email#token=")
    );

    let vera = app.logged_in("vera").await;
    let me = app.gql(Some(&vera.token), ME_EMAIL, json!({})).await;
    assert_eq!(me["data"]["me"]["emailVerified"], false);
    ok(
        &app.gql(None, VERIFY_EMAIL, json!({ "t": message.token() }))
            .await,
        "verifyEmail",
    );
    let me = app.gql(Some(&vera.token), ME_EMAIL, json!({})).await;
    assert_eq!(me["data"]["me"]["emailVerified"], true, "{me}");
    invalid_link(
        &app.gql(None, VERIFY_EMAIL, json!({ "t": message.token() }))
            .await,
    );
}

#[tokio::test]
async fn a_new_verification_link_retires_the_old_one_and_anyone_may_ask_without_learning_anything()
{
    let (app, mail) = mailing(&[]).await;
    app.registered("nova").await;
    let first = mail.nth("nova@example.com", 1).await;

    // Anonymous: a known unverified address, an unknown one and a malformed-looking but
    // valid one all answer the same true; only the account gets mail.
    for email in ["nova@example.com", "nobody@example.com", "NOVA@EXAMPLE.COM"] {
        let body = app
            .gql(None, REQUEST_VERIFICATION, json!({ "e": email }))
            .await;
        ok(&body, "requestEmailVerification");
    }
    let third = mail.nth("nova@example.com", 3).await;
    assert!(mail.to("nobody@example.com").is_empty());
    invalid_link(
        &app.gql(None, VERIFY_EMAIL, json!({ "t": first.token() }))
            .await,
    );
    ok(
        &app.gql(None, VERIFY_EMAIL, json!({ "t": third.token() }))
            .await,
        "verifyEmail",
    );

    // Verified: asking again sends nothing, signed in or not.
    let nova = app.logged_in("nova").await;
    ok(
        &app.gql(Some(&nova.token), REQUEST_VERIFICATION, json!({}))
            .await,
        "requestEmailVerification",
    );
    ok(
        &app.gql(
            None,
            REQUEST_VERIFICATION,
            json!({ "e": "nova@example.com" }),
        )
        .await,
        "requestEmailVerification",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.to("nova@example.com").len(), 3);

    let anonymous = app.gql(None, REQUEST_VERIFICATION, json!({})).await;
    assert_eq!(code(&anonymous), "BAD_USER_INPUT", "{anonymous}");
    assert!(message(&anonymous).contains("`email`"), "{anonymous}");
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_mail_and_every_old_session_ends() {
    let (app, mail) = mailing(&[("EMAIL_VERIFICATION", "off")]).await;
    let rita = app.user("rita").await;
    let elsewhere = app.logged_in("rita").await;
    // Failed logins before the reset: their backoff goes with it.
    for _ in 0..5 {
        app.login("rita", "not the password").await;
    }

    ok(
        &app.gql(None, REQUEST_RESET, json!({ "e": "Rita@Example.com" }))
            .await,
        "requestPasswordReset",
    );
    let reset = mail.nth("rita@example.com", 1).await;
    assert_eq!(reset.subject(), "Reset your taskql password");
    assert!(
        reset
            .link()
            .unwrap()
            .starts_with("https://tasks.test/reset-password#token=tqe_")
    );
    assert!(reset.text().contains("30 minutes"), "{}", reset.text());
    let token = reset.token();

    // A password the policy refuses leaves the link usable.
    let weak = app
        .gql(None, RESET_PASSWORD, json!({ "t": token, "p": "password" }))
        .await;
    assert_eq!(code(&weak), "BAD_USER_INPUT", "{weak}");
    assert_ne!(message(&weak), INVALID_LINK);
    ok(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": token, "p": NEW_PASSWORD }),
        )
        .await,
        "resetPassword",
    );

    for session in [&rita, &elsewhere] {
        assert!(!works(&app, &session.token).await, "access token refused");
        assert_refresh_refused(
            &refresh(&app, &session.refresh).await,
            "refresh after reset",
        );
    }
    assert_eq!(code(&app.login("rita", PASSWORD).await), "UNAUTHENTICATED");
    let login = app.login("rita", NEW_PASSWORD).await;
    assert!(
        login["data"]["login"]["accessToken"].is_string(),
        "backoff cleared: {login}"
    );
    invalid_link(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": token, "p": NEW_PASSWORD }),
        )
        .await,
    );

    let notice = mail.nth("rita@example.com", 2).await;
    assert_eq!(notice.subject(), "Your taskql password was reset");
    assert!(notice.link().is_none(), "a notice carries no link");
}

#[tokio::test]
async fn every_misuse_of_a_link_is_one_generic_error() {
    let (app, mail) = mailing(&[]).await;
    app.registered("mia").await;
    let verify = mail.nth("mia@example.com", 1).await.token();
    ok(
        &app.gql(None, REQUEST_RESET, json!({ "e": "mia@example.com" }))
            .await,
        "requestPasswordReset",
    );
    let reset = mail.nth("mia@example.com", 2).await.token();

    let forged = format!("tqe_{}", "A".repeat(43));
    let huge = "x".repeat(100_000);
    let unicode = format!("tqe_{}", "é".repeat(43));
    for token in [
        "",
        " ",
        forged.as_str(),
        huge.as_str(),
        unicode.as_str(),
        "tqr_nope",
        &verify[..verify.len() - 1],
    ] {
        invalid_link(&app.gql(None, VERIFY_EMAIL, json!({ "t": token })).await);
        invalid_link(
            &app.gql(
                None,
                RESET_PASSWORD,
                json!({ "t": token, "p": NEW_PASSWORD }),
            )
            .await,
        );
    }
    // Another flow's token.
    invalid_link(&app.gql(None, VERIFY_EMAIL, json!({ "t": reset })).await);
    invalid_link(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": verify, "p": NEW_PASSWORD }),
        )
        .await,
    );

    // Retired by a newer request.
    ok(
        &app.gql(None, REQUEST_RESET, json!({ "e": "mia@example.com" }))
            .await,
        "requestPasswordReset",
    );
    let newer = mail.nth("mia@example.com", 3).await.token();
    invalid_link(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": reset, "p": NEW_PASSWORD }),
        )
        .await,
    );

    // Expired.
    app.execute("UPDATE email_tokens SET expires_at = created_at")
        .await;
    invalid_link(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": newer, "p": NEW_PASSWORD }),
        )
        .await,
    );
    invalid_link(&app.gql(None, VERIFY_EMAIL, json!({ "t": verify })).await);
}

#[tokio::test]
async fn an_address_changes_only_when_the_link_sent_to_it_is_used() {
    let (app, mail) = mailing(&[("EMAIL_VERIFICATION", "off")]).await;
    let carl = app.user("carl").await;
    let wrong = app
        .gql(
            Some(&carl.token),
            CHANGE_EMAIL,
            json!({ "e": "carl@new.example", "p": "not it" }),
        )
        .await;
    assert_eq!(code(&wrong), "BAD_USER_INPUT", "{wrong}");
    for (email, rule) in [
        ("not an address", "newEmail must"),
        ("carl@example.com", "already"),
    ] {
        let body = app
            .gql(
                Some(&carl.token),
                CHANGE_EMAIL,
                json!({ "e": email, "p": PASSWORD }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(message(&body).contains(rule), "{body}");
    }
    app.user("dana").await;
    let taken = app
        .gql(
            Some(&carl.token),
            CHANGE_EMAIL,
            json!({ "e": "dana@example.com", "p": PASSWORD }),
        )
        .await;
    assert_eq!(code(&taken), "CONFLICT", "{taken}");
    let anonymous = app
        .gql(
            None,
            CHANGE_EMAIL,
            json!({ "e": "carl@new.example", "p": PASSWORD }),
        )
        .await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");

    ok(
        &app.gql(
            Some(&carl.token),
            CHANGE_EMAIL,
            json!({ "e": "Carl@New.Example", "p": PASSWORD }),
        )
        .await,
        "changeEmail",
    );
    let notice = mail.nth("carl@example.com", 1).await;
    assert_eq!(
        notice.subject(),
        "Your taskql email address is about to change"
    );
    let link = mail.nth("carl@new.example", 1).await;
    assert!(
        link.link()
            .unwrap()
            .starts_with("https://tasks.test/verify-email#token=")
    );
    let me = app.gql(Some(&carl.token), ME_EMAIL, json!({})).await;
    assert_eq!(
        me["data"]["me"]["email"], "carl@example.com",
        "unchanged until the link is used"
    );

    ok(
        &app.gql(None, VERIFY_EMAIL, json!({ "t": link.token() }))
            .await,
        "verifyEmail",
    );
    let me = app.gql(Some(&carl.token), ME_EMAIL, json!({})).await;
    assert_eq!(
        me["data"]["me"],
        json!({ "email": "carl@new.example", "emailVerified": true })
    );
    let login = app.login("carl@new.example", PASSWORD).await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
    assert_eq!(
        code(&app.login("carl@example.com", PASSWORD).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn a_change_of_address_taken_meanwhile_by_another_account_is_a_conflict() {
    let (app, mail) = mailing(&[("EMAIL_VERIFICATION", "off")]).await;
    let erin = app.user("erin").await;
    ok(
        &app.gql(
            Some(&erin.token),
            CHANGE_EMAIL,
            json!({ "e": "shared@example.com", "p": PASSWORD }),
        )
        .await,
        "changeEmail",
    );
    let link = mail.nth("shared@example.com", 1).await;
    let registered = app.register("frank", "shared@example.com", PASSWORD).await;
    assert!(
        registered["data"]["register"]["id"].is_string(),
        "{registered}"
    );
    let body = app
        .gql(None, VERIFY_EMAIL, json!({ "t": link.token() }))
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let me = app.gql(Some(&erin.token), ME_EMAIL, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "erin@example.com");
}

#[tokio::test]
async fn with_verification_required_only_a_verified_account_logs_in_and_only_after_its_password() {
    let (app, mail) = mailing(&[("EMAIL_VERIFICATION", "required")]).await;
    app.registered("rex").await;
    let refused = app.login("rex", PASSWORD).await;
    assert_eq!(code(&refused), "EMAIL_NOT_VERIFIED", "{refused}");
    assert_eq!(
        code(&app.login("rex", "not the password").await),
        "UNAUTHENTICATED"
    );
    assert_eq!(code(&app.login("ghost", PASSWORD).await), "UNAUTHENTICATED");
    ok(
        &app.gql(
            None,
            VERIFY_EMAIL,
            json!({ "t": mail.nth("rex@example.com", 1).await.token() }),
        )
        .await,
        "verifyEmail",
    );
    let login = app.login("rex", PASSWORD).await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
}

#[tokio::test]
async fn mail_turned_off_refuses_the_flows_that_need_it_and_sign_up_still_works() {
    let app = spawn_app_with(&[("SMTP_URL", "off")]).await;
    app.registered("otto").await;
    let otto = app.logged_in("otto").await;
    for (token, query, variables) in [
        (None, REQUEST_RESET, json!({ "e": "otto@example.com" })),
        (
            None,
            REQUEST_VERIFICATION,
            json!({ "e": "otto@example.com" }),
        ),
        (
            Some(otto.token.as_str()),
            CHANGE_EMAIL,
            json!({ "e": "o@new.example", "p": PASSWORD }),
        ),
    ] {
        let body = app.gql(token, query, variables).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
        assert!(message(&body).contains("Email is turned off"), "{body}");
    }
}

#[tokio::test]
async fn requests_for_mail_are_limited_per_address_asked_for_and_per_client() {
    let (app, mail) = mailing(&[
        ("MAIL_RECIPIENT_RATE_LIMIT", "2/hour"),
        ("MAIL_ADDRESS_RATE_LIMIT", "5/hour"),
    ])
    .await;
    app.user("lena").await;
    for _ in 0..2 {
        ok(
            &app.gql(None, REQUEST_RESET, json!({ "e": "lena@example.com" }))
                .await,
            "requestPasswordReset",
        );
    }
    let limited = app
        .post(None, REQUEST_RESET, json!({ "e": "lena@example.com" }))
        .await
        .json();
    assert_eq!(code(&limited), "RATE_LIMITED", "{limited}");
    // The limit is per address asked for, known or not: it says nothing about accounts.
    for _ in 0..2 {
        ok(
            &app.gql(None, REQUEST_RESET, json!({ "e": "nobody@example.com" }))
                .await,
            "requestPasswordReset",
        );
    }
    let limited = app
        .post(None, REQUEST_RESET, json!({ "e": "third@example.com" }))
        .await
        .json();
    assert_eq!(code(&limited), "RATE_LIMITED", "per client: {limited}");
    assert_eq!(mail.wait_for("lena@example.com", 2).await.len(), 2);
}

#[tokio::test]
async fn a_reset_asked_while_smtp_refuses_arrives_once_when_it_accepts_again() {
    let (app, mail) = mailing(&[]).await;
    app.user("sam").await;
    mail.refuse(true);
    ok(
        &app.gql(None, REQUEST_RESET, json!({ "e": "sam@example.com" }))
            .await,
        "requestPasswordReset",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(mail.to("sam@example.com").is_empty());
    mail.refuse(false);
    let message = mail.nth("sam@example.com", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mail.to("sam@example.com").len(), 1, "once");
    ok(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": message.token(), "p": NEW_PASSWORD }),
        )
        .await,
        "resetPassword",
    );
}

#[tokio::test]
async fn a_message_committed_before_a_crash_is_delivered_after_the_restart() {
    let down = MailServer::start();
    down.refuse(true);
    let down_url = down.url();
    let app = spawn_app_with(&[("SMTP_URL", &down_url), ("MAIL_RETRY_SECONDS", "1")]).await;
    app.user("kim").await;
    ok(
        &app.gql(None, REQUEST_RESET, json!({ "e": "kim@example.com" }))
            .await,
        "requestPasswordReset",
    );
    // Killed once the first attempt has failed: a worker killed while sending holds its
    // claim for two minutes before another may take the message.
    let db = app.db().await;
    let failed = "SELECT id FROM outbox WHERE last_error IS NOT NULL";
    for _ in 0..100 {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), failed))
            .await
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.kill();
    let mail = MailServer::start();
    let url = mail.url();
    let restarted = app
        .replica(&[("SMTP_URL", &url), ("MAIL_RETRY_SECONDS", "1")])
        .await;
    let message = mail.nth("kim@example.com", 1).await;
    ok(
        &restarted
            .gql(
                None,
                RESET_PASSWORD,
                json!({ "t": message.token(), "p": NEW_PASSWORD }),
            )
            .await,
        "resetPassword",
    );
    assert!(down.all().is_empty());
}

#[tokio::test]
async fn two_replicas_on_one_database_send_each_message_once() {
    let (app, mail) = mailing(&[("MAIL_ADDRESS_RATE_LIMIT", "1000/hour")]).await;
    let url = mail.url();
    let replica = app
        .replica(&[("SMTP_URL", &url), ("MAIL_ADDRESS_RATE_LIMIT", "1000/hour")])
        .await;
    const USERS: usize = 12;
    for i in 0..USERS {
        app.user(&format!("twin{i}")).await;
    }
    futures::future::join_all((0..USERS).map(|i| {
        let server = if i % 2 == 0 { &app } else { &replica };
        async move {
            let body = server
                .gql(
                    None,
                    REQUEST_RESET,
                    json!({ "e": format!("twin{i}@example.com") }),
                )
                .await;
            ok(&body, "requestPasswordReset");
        }
    }))
    .await;
    for i in 0..USERS {
        mail.wait_for(&format!("twin{i}@example.com"), 1).await;
    }
    // Both workers poll every two seconds: a duplicate would have arrived by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(mail.all().len(), USERS, "each message once");
}

#[tokio::test]
async fn development_mail_is_written_to_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox-files");
    let app = spawn_app_with(&[("MAIL_DIR", mail_dir.to_str().unwrap())]).await;
    app.registered("fay").await;
    let mut files = Vec::new();
    for _ in 0..200 {
        files = std::fs::read_dir(&mail_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|ext| ext == "eml"));
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: fay@example.com"), "{raw}");
    assert!(
        raw.contains("verify-email#token=") || raw.contains("verify-email#token=3D"),
        "{raw}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&mail_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // The signed-in viewer can ask again; `me` still works meanwhile.
    let fay = app.logged_in("fay").await;
    assert!(app.gql(Some(&fay.token), ME, json!({})).await["data"]["me"]["id"].is_string());
}

#[tokio::test]
async fn finished_messages_are_forgotten_after_the_retention_time() {
    let (app, mail) = mailing(&[("MAIL_RETENTION_DAYS", "1")]).await;
    app.registered("pia").await;
    mail.nth("pia@example.com", 1).await;
    let db = app.db().await;
    let count = |state: &'static str| {
        let db = &db;
        async move {
            let sql = format!("SELECT id FROM outbox WHERE state = '{state}'");
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
                .len()
        }
    };
    for _ in 0..50 {
        if count("sent").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count("sent").await, 1);
    // Long finished, as far as the rows can tell: the next worker to start purges.
    app.execute("UPDATE outbox SET finished_at = '2000-01-01 00:00:00+00:00'")
        .await;
    let url = mail.url();
    let _replica = app.replica(&[("SMTP_URL", &url)]).await;
    for _ in 0..50 {
        if count("sent").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count("sent").await, 0, "purged");
}
