//! Requests that race each other or fail half-way: neither may cost a user their session
//! or their login.

use crate::helpers::{
    PASSWORD, assert_refresh_refused, code, refresh, refreshed, spawn_app, spawn_app_with, works,
};

/// A trigger that makes every new refresh token fail to be stored, and its removal: on
/// SQLite, then on PostgreSQL.
const REFUSE_NEW_TOKENS: [(&str, &str); 2] = [
    (
        "CREATE TRIGGER refuse_tokens BEFORE INSERT ON refresh_tokens \
         BEGIN SELECT RAISE(ABORT, 'storage refused'); END",
        "DROP TRIGGER refuse_tokens",
    ),
    (
        "CREATE FUNCTION refuse_tokens() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'storage refused'; END $$; \
         CREATE TRIGGER refuse_tokens BEFORE INSERT ON refresh_tokens \
         FOR EACH ROW EXECUTE FUNCTION refuse_tokens()",
        "DROP TRIGGER refuse_tokens ON refresh_tokens; DROP FUNCTION refuse_tokens()",
    ),
];

#[tokio::test]
async fn probe_a_refresh_that_fails_half_way_leaves_the_presented_token_working() {
    // No grace period: a retried token would count as reuse at once if the failed
    // attempt had retired it.
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let user = app.user("alice").await;
    let (refuse, allow) = REFUSE_NEW_TOKENS[usize::from(app.database_url.starts_with("postgres"))];
    app.execute(refuse).await;

    let failed = refresh(&app, &user.refresh).await;
    assert_eq!(code(&failed), "INTERNAL_SERVER_ERROR", "{failed}");
    assert!(
        !failed.to_string().contains("storage refused"),
        "no internals leak: {failed}"
    );

    app.execute(allow).await;
    let retried = refresh(&app, &user.refresh).await;
    let (access, next) = refreshed(&retried);
    assert!(works(&app, &access).await, "the session survived");
    assert!(
        works(&app, &user.token).await,
        "and its earlier access token"
    );
    assert!(refresh(&app, &next).await["data"]["refreshToken"].is_object());
    // The retried token is spent now, as any rotated token is.
    assert_refresh_refused(&refresh(&app, &user.refresh).await, "spent token");
}

#[tokio::test]
async fn probe_two_correct_logins_right_after_the_hashing_cost_was_raised_both_succeed() {
    let first = spawn_app().await;
    first.user("carol").await;
    // The same database served with a higher cost: each login finds a weaker hash and
    // upgrades it; the hashing pool runs them one after the other, so one upgrade loses.
    let app = first.replica(&[("ARGON2_ITERATIONS", "3")]).await;
    let (one, two) = tokio::join!(app.login("carol", PASSWORD), app.login("carol", PASSWORD));
    for body in [&one, &two] {
        let token = body["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("a correct password never fails: {body}"));
        assert!(works(&app, token).await, "{body}");
    }
    assert!(app.stored_hash("carol").await.contains("t=3"));
}
