//! The rails that keep taskql administrable: the last active administrator cannot be
//! demoted, deactivated or deleted, by any path and under any race.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::documents::{
    DELETE_ACCOUNT, DELETE_ACCOUNT_CODE, DELETE_USER, SET_USER_ACTIVE, SET_USER_ROLE, USERS,
};
use crate::helpers::{PASSWORD, TestApp, code, message, spawn_app, works};

const LAST_ADMIN: &str = "This is the last active administrator account: make another account an administrator first, so that someone can still administer taskql.";

/// How many active administrators the admin API lists, asked with `token`.
async fn active_admins(app: &TestApp, token: &str) -> u64 {
    let body = app
        .gql(
            Some(token),
            USERS,
            json!({ "filter": { "role": "ADMIN", "isActive": true } }),
        )
        .await;
    body["data"]["users"]["totalCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test]
async fn the_last_active_administrator_cannot_delete_their_own_account() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    // A deactivated administrator does not count.
    let dormant = app.admin("dormant").await;
    let body = app.set_active(&admin, &dormant.id, false).await;
    assert_eq!(body["data"]["setUserActive"]["isActive"], false, "{body}");

    let body = app
        .gql(Some(&admin.token), DELETE_ACCOUNT, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(message(&body), LAST_ADMIN);
    assert!(works(&app, &admin.token).await);
    assert_eq!(active_admins(&app, &admin.token).await, 1);

    // With another active administrator, it can go.
    let body = app.set_active(&admin, &dormant.id, true).await;
    assert_eq!(body["data"]["setUserActive"]["isActive"], true, "{body}");
    let body = app
        .gql(Some(&admin.token), DELETE_ACCOUNT, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(body["data"]["deleteAccount"], true, "{body}");
    let survivor = app.logged_in("dormant").await;
    assert_eq!(active_admins(&app, &survivor.token).await, 1);
}

#[tokio::test]
async fn the_refusal_comes_before_a_second_factor_code_is_spent() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let authenticator = app.two_factor_on(&admin).await;
    let recovery = &authenticator.recovery_codes[0];
    let body = app
        .gql(
            Some(&admin.token),
            DELETE_ACCOUNT_CODE,
            json!({ "p": PASSWORD, "c": recovery }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(message(&body), LAST_ADMIN);
    // The recovery code still completes a login.
    app.token_with_code("root", recovery).await;
}

#[tokio::test]
async fn two_administrators_removing_each_other_at_once_leave_one() {
    for (document, removal) in [
        (SET_USER_ROLE, json!({ "role": "USER" })),
        (SET_USER_ACTIVE, json!({ "active": false })),
        (DELETE_USER, json!({})),
    ] {
        let app = spawn_app().await;
        let ann = app.admin("ann").await;
        let ben = app.admin("ben").await;
        let mut of_ben = removal.clone();
        of_ben["id"] = json!(ben.id);
        let mut of_ann = removal;
        of_ann["id"] = json!(ann.id);
        // While a transaction of the test's holds both rows, both removals pass the guard
        // and wait at the rail's first lock; released, they meet the rail together.
        let db = app.db().await;
        let blocker = db.begin().await.unwrap();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let hold = match db.get_database_backend() {
            DbBackend::Postgres => {
                "SELECT id FROM users WHERE username IN ('ann', 'ben') FOR UPDATE"
            }
            _ => "UPDATE users SET updated_at = updated_at WHERE username IN ('ann', 'ben')",
        };
        blocker.execute_unprepared(hold).await.unwrap();
        let release = async {
            if postgres {
                waiting_for_locks(&app, 2).await;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            }
            blocker.commit().await.unwrap();
        };
        let (first, second, ()) = tokio::join!(
            app.post(Some(&ann.token), document, of_ben),
            app.post(Some(&ben.token), document, of_ann),
            release,
        );
        let answers = [first.json(), second.json()];
        let refused: Vec<&Value> = answers
            .iter()
            .filter(|body| !body["errors"].is_null())
            .collect();
        assert_eq!(refused.len(), 1, "{document}: {answers:?}");
        if postgres {
            assert_eq!(code(refused[0]), "CONFLICT", "{document}: {answers:?}");
            assert_eq!(message(refused[0]), LAST_ADMIN);
        } else {
            // SQLite has one writer, and the second request may reach the database only
            // after the first committed: it then finds itself no longer an
            // administrator, or, deactivated or deleted, signed out.
            assert!(
                ["CONFLICT", "FORBIDDEN", "UNAUTHENTICATED"].contains(&code(refused[0])),
                "{document}: {answers:?}"
            );
        }
        let active_admins = app
            .count("users WHERE role = 'admin' AND is_active = true")
            .await;
        assert_eq!(active_admins, 1, "{document}: {answers:?}");
    }
}

/// Returns once `count` statements on the test's PostgreSQL database wait for a lock; a
/// bounded wait.
async fn waiting_for_locks(app: &TestApp, count: i64) {
    let db = app.db().await;
    for _ in 0..200 {
        let waiting = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        if waiting >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} statements came to wait for a lock within 10 seconds");
}
