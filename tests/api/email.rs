//! Mail that people rely on, over HTTP and real SMTP: verifying an address, resetting a
//! forgotten password, changing the address, and the outbox that delivers them once,
//! whatever fails on the way.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::documents::{
    CHANGE_EMAIL, LOGIN, ME_EMAIL, REQUEST_RESET, REQUEST_VERIFICATION, RESET_PASSWORD,
    VERIFY_EMAIL,
};
use crate::helpers::{
    Delivered, MailServer, PASSWORD, TestApp, assert_refresh_refused, code, mail_files, message,
    refresh, spawn_app_with, works,
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

/// `changeEmail` as `token`'s viewer.
async fn change_email(app: &TestApp, token: &str, email: &str, password: &str) -> Value {
    app.gql(
        Some(token),
        CHANGE_EMAIL,
        json!({ "e": email, "p": password }),
    )
    .await
}

/// `requestPasswordReset` for `email`, anonymously.
async fn ask_reset(app: &TestApp, email: &str) -> Value {
    app.gql(None, REQUEST_RESET, json!({ "e": email })).await
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
    let (app, mail) = mailing(&[
        ("EMAIL_VERIFICATION", "off"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1"),
    ])
    .await;
    let rita = app.user("rita").await;
    let elsewhere = app.logged_in("rita").await;
    // Someone else guesses from an address the account has never signed in from, until
    // the account's backoff holds that address: the reset clears it.
    let from_elsewhere = |password: &str| {
        app.request()
            .forwarded_for("203.0.113.77")
            .operation(
                LOGIN,
                json!({ "input": { "username": "rita", "password": password } }),
            )
            .send()
    };
    for _ in 0..2 {
        from_elsewhere("not the password").await;
    }
    assert_eq!(from_elsewhere(PASSWORD).await.code(), "RATE_LIMITED");

    ok(
        &ask_reset(&app, "Rita@Example.com").await,
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
    let login = from_elsewhere(NEW_PASSWORD).await.json();
    assert!(
        login["data"]["login"]["accessToken"].is_string(),
        "backoff cleared: {login}"
    );
    assert_eq!(code(&app.login("rita", PASSWORD).await), "UNAUTHENTICATED");
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
async fn a_link_works_once_however_many_use_it_at_the_same_moment() {
    let (app, mail) = mailing(&[]).await;
    app.registered("twice").await;
    let token = mail.nth("twice@example.com", 1).await.token();
    let uses = futures::future::join_all(
        (0..6).map(|_| app.gql(None, VERIFY_EMAIL, json!({ "t": token }))),
    )
    .await;
    let worked = uses
        .iter()
        .filter(|body| body["data"]["verifyEmail"] == true)
        .count();
    assert_eq!(worked, 1, "{uses:?}");
    for body in uses
        .iter()
        .filter(|body| body["data"]["verifyEmail"] != true)
    {
        invalid_link(body);
    }
}

#[tokio::test]
async fn a_new_password_ends_a_pending_change_of_address_and_links_to_a_left_address_are_void() {
    let (app, mail) = mailing(&[("EMAIL_VERIFICATION", "off")]).await;
    let gwen = app.user("gwen").await;
    // Whoever asks to move the account knows the password; the owner changes it.
    ok(
        &change_email(&app, &gwen.token, "thief@example.com", PASSWORD).await,
        "changeEmail",
    );
    let stolen = mail.nth("thief@example.com", 1).await.token();
    let changed = app
        .change_password(Some(&gwen.token), PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    invalid_link(&app.gql(None, VERIFY_EMAIL, json!({ "t": stolen })).await);
    let me = app.gql(Some(&gwen.token), ME_EMAIL, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "gwen@example.com");

    // A reset link sent to the old address stops working once the account moves.
    ok(
        &ask_reset(&app, "gwen@example.com").await,
        "requestPasswordReset",
    );
    let old_reset = mail
        .wait_for("gwen@example.com", 3)
        .await
        .into_iter()
        .find(|message| message.subject() == "Reset your taskql password")
        .unwrap()
        .token();
    ok(
        &change_email(&app, &gwen.token, "gwen@new.example", NEW_PASSWORD).await,
        "changeEmail",
    );
    let move_link = mail.nth("gwen@new.example", 1).await.token();
    mail.wait_for("gwen@example.com", 4).await;
    invalid_link(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": move_link, "p": "another fine passphrase" }),
        )
        .await,
    );
    ok(
        &app.gql(None, VERIFY_EMAIL, json!({ "t": move_link })).await,
        "verifyEmail",
    );
    // The old address hears that the account left it.
    let left = mail.nth("gwen@example.com", 5).await;
    assert_eq!(
        left.subject(),
        "Your taskql account moved to another email address"
    );
    invalid_link(
        &app.gql(
            None,
            RESET_PASSWORD,
            json!({ "t": old_reset, "p": "another fine passphrase" }),
        )
        .await,
    );
    // And a reset asked for the old address now sends nothing.
    let before = mail.to("gwen@example.com").len();
    ok(
        &ask_reset(&app, "gwen@example.com").await,
        "requestPasswordReset",
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(mail.to("gwen@example.com").len(), before);
}

#[tokio::test]
async fn every_misuse_of_a_link_is_one_generic_error() {
    let (app, mail) = mailing(&[]).await;
    app.registered("mia").await;
    let verify = mail.nth("mia@example.com", 1).await.token();
    ok(
        &ask_reset(&app, "mia@example.com").await,
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
        &ask_reset(&app, "mia@example.com").await,
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
    let wrong = change_email(&app, &carl.token, "carl@new.example", "not it").await;
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
    let taken = change_email(&app, &carl.token, "dana@example.com", PASSWORD).await;
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
        &change_email(&app, &carl.token, "Carl@New.Example", PASSWORD).await,
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
        &change_email(&app, &erin.token, "shared@example.com", PASSWORD).await,
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
            &ask_reset(&app, "lena@example.com").await,
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
            &ask_reset(&app, "nobody@example.com").await,
            "requestPasswordReset",
        );
    }
    let limited = app
        .post(None, REQUEST_RESET, json!({ "e": "third@example.com" }))
        .await
        .json();
    assert_eq!(code(&limited), "RATE_LIMITED", "per client: {limited}");
    // The second request replaced the first if it was still waiting: one or two mails.
    mail.wait_for("lena@example.com", 1).await;
}

#[tokio::test]
async fn a_reset_asked_while_smtp_refuses_arrives_once_when_it_accepts_again() {
    let (app, mail) = mailing(&[]).await;
    app.user("sam").await;
    mail.refuse(true);
    ok(
        &ask_reset(&app, "sam@example.com").await,
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
    // Nothing listens on the first server's SMTP port: its attempts fail at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("smtp://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let vars = [
        ("SMTP_URL", closed_url.as_str()),
        ("MAIL_RETRY_SECONDS", "1"),
        ("MAIL_CLAIM_SECONDS", "10"),
    ];
    let app = spawn_app_with(&vars).await;
    app.user("kim").await;
    ok(
        &ask_reset(&app, "kim@example.com").await,
        "requestPasswordReset",
    );
    app.kill();
    let db = app.db().await;
    let pending = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM outbox WHERE state = 'pending' AND recipient = 'kim@example.com'",
        ))
        .await
        .unwrap();
    assert_eq!(
        pending.len(),
        1,
        "committed with the request, not yet delivered"
    );

    let mail = MailServer::start();
    let url = mail.url();
    let restarted = app
        .replica(&[
            ("SMTP_URL", &url),
            ("MAIL_RETRY_SECONDS", "1"),
            ("MAIL_CLAIM_SECONDS", "10"),
        ])
        .await;
    // Killed mid-attempt, the first server still holds its claim for up to ten seconds.
    let message = mail
        .nth_within("kim@example.com", 1, Duration::from_secs(20))
        .await;
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
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        mail.to("kim@example.com").len(),
        2,
        "the link, then the notice; once each"
    );
}

#[tokio::test]
async fn two_replicas_on_one_database_send_each_message_once() {
    let (app, mail) = mailing(&[("MAIL_ADDRESS_RATE_LIMIT", "1000/hour")]).await;
    // The replica sends through a server of its own, so each message's sender is known.
    let other = MailServer::start();
    let other_url = other.url();
    let replica = app
        .replica(&[
            ("SMTP_URL", &other_url),
            ("MAIL_ADDRESS_RATE_LIMIT", "1000/hour"),
        ])
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
    for _ in 0..300 {
        if mail.all().len() + other.all().len() >= USERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both workers poll every two seconds: a duplicate would have arrived by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut recipients: Vec<String> = mail
        .all()
        .into_iter()
        .chain(other.all())
        .flat_map(|message| message.to)
        .collect();
    recipients.sort();
    let mut expected: Vec<String> = (0..USERS).map(|i| format!("twin{i}@example.com")).collect();
    expected.sort();
    assert_eq!(
        recipients, expected,
        "each message once, by one replica or the other"
    );
    assert!(
        !mail.all().is_empty() && !other.all().is_empty(),
        "both replicas delivered"
    );
}

#[tokio::test]
async fn development_mail_is_written_to_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox-files");
    let app = spawn_app_with(&[("MAIL_DIR", mail_dir.to_str().unwrap())]).await;
    app.registered("fay").await;
    let files = mail_files(&mail_dir, 1).await;
    assert!(files[0].extension().is_some_and(|ext| ext == "eml"));
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: fay@example.com"), "{raw}");
    let token = Delivered {
        to: Vec::new(),
        raw,
    }
    .token();
    assert!(token.starts_with("tqe_"), "{token}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&mail_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // Signed in, the viewer asks again: a second file.
    let fay = app.logged_in("fay").await;
    let again = app
        .gql(Some(&fay.token), REQUEST_VERIFICATION, json!({}))
        .await;
    ok(&again, "requestEmailVerification");
    mail_files(&mail_dir, 2).await;
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
