//! Refresh tokens replayed, raced, revived after logout, or imitated.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::documents::LOGOUT;
use crate::helpers::{
    PASSWORD, TestApp, assert_refresh_refused, refresh, refreshed, spawn_app, spawn_app_with,
    with_last_char_flipped, works,
};

/// Presents `token` `times` times at once and asserts that every answer without data is
/// the generic refusal (named `case`); returns every answer and the granted ones.
async fn storm(app: &TestApp, token: &str, times: usize, case: &str) -> (Vec<Value>, Vec<Value>) {
    let answers = futures::future::join_all((0..times).map(|_| refresh(app, token))).await;
    for body in answers.iter().filter(|body| body["data"].is_null()) {
        assert_refresh_refused(body, case);
    }
    let granted = answers
        .iter()
        .filter(|body| body["data"]["refreshToken"].is_object())
        .cloned()
        .collect();
    (answers, granted)
}

#[tokio::test]
async fn probe_replay_after_rotation_beyond_the_grace() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECONDS", "1")]).await;
    let victim = app.user("alice").await;
    let (access, newer) = refreshed(&refresh(&app, &victim.refresh).await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The thief replays the stolen, rotated token after the grace period.
    assert_refresh_refused(&refresh(&app, &victim.refresh).await, "replay");
    // The whole family is gone: the victim's current tokens too.
    assert!(!works(&app, &access).await);
    assert_refresh_refused(&refresh(&app, &newer).await, "successor after reuse");
}

#[tokio::test]
async fn probe_parallel_replay_within_the_grace_yields_at_most_two_successors() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    let (answers, granted) = storm(&app, &user.refresh, 12, "extra presentation").await;
    assert!(
        (1..=2).contains(&granted.len()),
        "{} successors: {answers:?}",
        granted.len()
    );
    // The session lives on and each successor rotates normally.
    for body in granted {
        let (access, next) = refreshed(&body);
        assert!(works(&app, &access).await);
        assert!(refresh(&app, &next).await["data"]["refreshToken"].is_object());
    }
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn probe_parallel_replay_with_strict_detection_ends_the_session() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let user = app.user("carol").await;
    let (answers, granted) = storm(&app, &user.refresh, 16, "reuse").await;
    assert!(
        granted.len() <= 1,
        "{} successors: {answers:?}",
        granted.len()
    );
    // Several presentations of one token are reuse: nothing of the session survives.
    assert!(!works(&app, &user.token).await);
    for body in granted {
        let (access, next) = refreshed(&body);
        assert!(!works(&app, &access).await, "a successor outlived reuse");
        assert_refresh_refused(&refresh(&app, &next).await, "successor");
    }
}

#[tokio::test]
async fn probe_the_grace_does_not_revive_a_logged_out_session() {
    let app = spawn_app().await;
    let user = app.user("dave").await;
    let (_, newer) = refreshed(&refresh(&app, &user.refresh).await);
    let body = app.gql(None, LOGOUT, json!({ "t": newer })).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    // Within the grace period, the retired token must not reopen the ended session.
    assert_refresh_refused(&refresh(&app, &user.refresh).await, "retired token");
    assert_refresh_refused(&refresh(&app, &newer).await, "logged-out token");
    assert!(!works(&app, &user.token).await);
}

#[tokio::test]
async fn probe_the_grace_does_not_revive_a_session_ended_by_a_password_change() {
    let app = spawn_app().await;
    let here = app.user("erin").await;
    let stolen = app.login("erin", PASSWORD).await["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, newer) = refreshed(&refresh(&app, &stolen).await);
    let body = app
        .change_password(Some(&here.token), PASSWORD, "violet harbor lantern 42")
        .await;
    assert_eq!(body["data"]["changePassword"], true, "{body}");
    assert_refresh_refused(&refresh(&app, &stolen).await, "retired token");
    assert_refresh_refused(&refresh(&app, &newer).await, "current token");
    assert!(works(&app, &here.token).await);
}

#[tokio::test]
async fn probe_lookalike_refresh_tokens() {
    let app = spawn_app().await;
    let user = app.user("frank").await;
    let body = &user.refresh["tqr_".len()..];
    // 43 bytes after the prefix but built of multi-byte characters and odd bytes.
    let multibyte = format!("tqr_{}{}", "é".repeat(21), "x");
    assert_eq!(multibyte.len(), user.refresh.len());
    let lookalikes = [
        format!("tqr_{}", "A".repeat(43)),
        format!("TQR_{body}"),
        format!(" {}", user.refresh),
        format!("{} ", user.refresh),
        format!("{}\n", user.refresh),
        format!("{}\u{0}", &user.refresh[..user.refresh.len() - 1]),
        format!("tqr_{}", body.to_uppercase()),
        format!("tqr_{}=", body),
        user.refresh.replace("tqr_", "tqr-"),
        multibyte,
        format!("tqr_{}", &body[..42]),
        format!("{}{}", user.refresh, user.refresh),
    ];
    for token in &lookalikes {
        assert_refresh_refused(&refresh(&app, token).await, &format!("{token:?}"));
    }
    assert_eq!(app.count("refresh_tokens").await, 1, "nothing was issued");
    // The real token was not burnt by the probes.
    assert!(refresh(&app, &user.refresh).await["data"]["refreshToken"].is_object());
}

#[tokio::test]
async fn probe_logout_with_forged_tokens_ends_nobody() {
    let app = spawn_app().await;
    let victim = app.user("grace").await;
    let flipped = with_last_char_flipped(&victim.refresh);
    for token in [
        flipped.as_str(),
        victim.token.as_str(),
        "tqr_' OR 1=1 --",
        "%",
        "",
    ] {
        let body = app.gql(None, LOGOUT, json!({ "t": token })).await;
        assert_eq!(body["data"]["logout"], false, "{token}: {body}");
        assert!(body["errors"].is_null(), "{body}");
    }
    assert!(works(&app, &victim.token).await);
    assert!(refresh(&app, &victim.refresh).await["data"]["refreshToken"].is_object());
}
