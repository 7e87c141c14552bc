//! What administrators do to accounts: roles, deactivation that ends sessions for good,
//! revoking sessions, deleting accounts, and the audit events each leaves with its actor.

use serde_json::{Value, json};

use crate::helpers::documents::{
    AUDIT_LOG, DELETE_ACCOUNT, DELETE_USER, ME, REFRESH, REVOKE_USER_SESSIONS, SET_USER_ACTIVE,
    SET_USER_ROLE, USER, USERS,
};
use crate::helpers::{PASSWORD, TestApp, code, message, refresh, spawn_app, works};

/// The kinds and actors' names of `user_id`'s events in the audit log, newest first.
async fn audit_of(app: &TestApp, admin: &str, user_id: &str) -> Vec<(String, Option<String>)> {
    let body = app
        .gql(
            Some(admin),
            AUDIT_LOG,
            json!({ "userId": user_id, "first": 100 }),
        )
        .await;
    body["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|event| {
            assert_eq!(event["user"]["id"], user_id, "{body}");
            (
                event["kind"].as_str().unwrap().to_owned(),
                event["actor"]["username"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The variables of a document about the account with this id.
type Variables = fn(&str) -> Value;

fn by(actor: &str, kind: &str) -> (String, Option<String>) {
    (kind.to_owned(), Some(actor.to_owned()))
}

#[tokio::test]
async fn deactivation_through_the_api_ends_every_session_for_good() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let second = app.logged_in("alice").await;

    let body = app.set_active(&admin, &user.id, false).await;
    assert_eq!(
        body["data"]["setUserActive"],
        json!({ "id": user.id, "isActive": false })
    );
    for session in [&user, &second] {
        assert!(!works(&app, &session.token).await);
        let body = app
            .gql(None, REFRESH, json!({ "t": session.refresh }))
            .await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = app.login("alice", PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(message(&body), "Invalid username or password.");
    // Deactivating again changes nothing and records nothing.
    let body = app.set_active(&admin, &user.id, false).await;
    assert_eq!(body["data"]["setUserActive"]["isActive"], false, "{body}");

    let body = app.set_active(&admin, &user.id, true).await;
    assert_eq!(body["data"]["setUserActive"]["isActive"], true, "{body}");
    // No token from before comes back; a new login works.
    for session in [&user, &second] {
        assert!(!works(&app, &session.token).await);
        assert_eq!(
            code(&refresh(&app, &session.refresh).await),
            "UNAUTHENTICATED"
        );
    }
    let again = app.logged_in("alice").await;
    assert!(works(&app, &again.token).await);

    let events = audit_of(&app, &admin.token, &user.id).await;
    assert_eq!(
        events[..4],
        [
            ("LOGIN_SUCCEEDED".to_owned(), None),
            by("root", "ACCOUNT_ACTIVATED"),
            ("LOGIN_FAILED".to_owned(), None),
            by("root", "ACCOUNT_DEACTIVATED"),
        ],
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|(kind, _)| kind == "ACCOUNT_DEACTIVATED")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_login_waiting_for_its_second_factor_at_a_deactivation_never_completes() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let authenticator = app.two_factor_on(&user).await;
    let waiting = app.challenge("alice").await;

    app.set_active(&admin, &user.id, false).await;
    app.set_active(&admin, &user.id, true).await;
    let body = app.verify_login(&waiting, &authenticator.code(1)).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    // The code was good: a login begun after the activation completes with it.
    let token = app.token_with_code("alice", &authenticator.code(1)).await;
    assert!(works(&app, &token).await);
}

#[tokio::test]
async fn a_change_of_standing_whose_audit_event_cannot_be_stored_does_not_happen() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let id = json!({ "id": user.id });
    app.execute("ALTER TABLE security_events RENAME TO security_events_away")
        .await;
    for (document, variables) in [
        (SET_USER_ACTIVE, json!({ "id": user.id, "active": false })),
        (SET_USER_ROLE, json!({ "id": user.id, "role": "ADMIN" })),
        (REVOKE_USER_SESSIONS, id.clone()),
        (DELETE_USER, id.clone()),
    ] {
        let body = app.gql(Some(&admin.token), document, variables).await;
        assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
        assert_eq!(message(&body), "Internal server error.");
    }
    let body = app
        .gql(Some(&user.token), DELETE_ACCOUNT, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    // Nothing happened: alice is still an active user, and her session still works.
    assert!(works(&app, &user.token).await);
    let body = app.gql(Some(&admin.token), USER, id.clone()).await;
    assert_eq!(body["data"]["user"]["role"], "USER", "{body}");
    assert_eq!(body["data"]["user"]["isActive"], true, "{body}");

    // With the history back, the same action happens, and its event is there.
    app.execute("ALTER TABLE security_events_away RENAME TO security_events")
        .await;
    let body = app.set_active(&admin, &user.id, false).await;
    assert_eq!(body["data"]["setUserActive"]["isActive"], false, "{body}");
    assert!(!works(&app, &user.token).await);
    let events = audit_of(&app, &admin.token, &user.id).await;
    assert_eq!(events[0], by("root", "ACCOUNT_DEACTIVATED"), "{events:?}");
}

#[tokio::test]
async fn revoking_an_accounts_sessions_ends_them_all_and_says_how_many() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let first = app.user("alice").await;
    let second = app.logged_in("alice").await;
    let bystander = app.user("bob").await;
    let revoke = json!({ "id": first.id });
    let body = app
        .gql(Some(&admin.token), REVOKE_USER_SESSIONS, revoke.clone())
        .await;
    assert_eq!(body["data"]["revokeUserSessions"], 2, "{body}");
    for session in [&first, &second] {
        assert!(!works(&app, &session.token).await);
        assert_eq!(
            code(&refresh(&app, &session.refresh).await),
            "UNAUTHENTICATED"
        );
    }
    assert!(works(&app, &bystander.token).await);
    assert!(works(&app, &admin.token).await);
    let body = app
        .gql(Some(&admin.token), REVOKE_USER_SESSIONS, revoke)
        .await;
    assert_eq!(body["data"]["revokeUserSessions"], 0, "{body}");
    // The account itself is untouched: its owner logs in again.
    assert!(works(&app, &app.logged_in("alice").await.token).await);
    let events = audit_of(&app, &admin.token, &first.id).await;
    assert_eq!(
        events
            .iter()
            .filter(|event| **event == by("root", "ALL_SESSIONS_REVOKED"))
            .count(),
        2,
        "{events:?}"
    );
}

#[tokio::test]
async fn deleting_an_account_takes_its_tasks_and_sessions_and_keeps_its_audit_trail() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    app.create_tasks(&user.token, 3).await;
    let own = app.user("root_tasks").await;
    app.create_tasks(&own.token, 1).await;

    let body = app
        .gql(Some(&admin.token), DELETE_USER, json!({ "id": user.id }))
        .await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    assert!(!works(&app, &user.token).await);
    assert_eq!(code(&refresh(&app, &user.refresh).await), "UNAUTHENTICATED");
    assert_eq!(app.count("tasks").await, 1);
    let body = app
        .gql(Some(&admin.token), USER, json!({ "id": user.id }))
        .await;
    assert!(body["data"]["user"].is_null(), "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql(Some(&admin.token), DELETE_USER, json!({ "id": user.id }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    assert_eq!(message(&body), "User not found.");

    // The event names the administrator; the account it concerns is gone.
    let body = app
        .gql(
            Some(&admin.token),
            AUDIT_LOG,
            json!({ "userId": user.id, "kinds": ["ACCOUNT_DELETED"] }),
        )
        .await;
    let nodes = &body["data"]["auditLog"]["nodes"];
    assert_eq!(nodes.as_array().map(Vec::len), Some(1), "{body}");
    assert!(nodes[0]["user"].is_null(), "{body}");
    assert_eq!(nodes[0]["actor"]["username"], "root", "{body}");
    // The username is free again.
    let body = app.register("alice", "alice@example.com", PASSWORD).await;
    assert!(body["data"]["register"]["id"].is_string(), "{body}");
}

#[tokio::test]
async fn a_promoted_user_is_an_administrator_on_the_next_request() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let body = app.gql(Some(&user.token), USERS, json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let promote = json!({ "id": user.id, "role": "ADMIN" });
    let body = app
        .gql(Some(&admin.token), SET_USER_ROLE, promote.clone())
        .await;
    assert_eq!(
        body["data"]["setUserRole"],
        json!({ "id": user.id, "role": "ADMIN" })
    );
    let body = app.gql(Some(&user.token), USERS, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 2, "{body}");
    // Promoting again changes nothing and records nothing.
    let body = app.gql(Some(&admin.token), SET_USER_ROLE, promote).await;
    assert_eq!(body["data"]["setUserRole"]["role"], "ADMIN", "{body}");
    let events = audit_of(&app, &admin.token, &user.id).await;
    assert_eq!(
        events
            .iter()
            .filter(|(kind, _)| kind == "ROLE_CHANGED")
            .collect::<Vec<_>>(),
        [&by("root", "ROLE_CHANGED")]
    );
    // The new administrator may demote the one who promoted them.
    let body = app.set_role(&user, &admin.id, "USER").await;
    assert_eq!(body["data"]["setUserRole"]["role"], "USER", "{body}");
    let body = app.gql(Some(&admin.token), ME, json!({})).await;
    assert!(body["data"]["me"]["id"].is_string(), "{body}");

    // The audit log says which way each role went, and only role changes carry a role.
    let body = app
        .gql(Some(&user.token), AUDIT_LOG, json!({ "first": 100 }))
        .await;
    let roles: Vec<(&str, &str, &Value)> = body["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|event| {
            (
                event["kind"].as_str().unwrap(),
                event["user"]["id"].as_str().unwrap(),
                &event["role"],
            )
        })
        .filter(|(kind, _, role)| *kind == "ROLE_CHANGED" || !role.is_null())
        .collect();
    assert_eq!(
        roles,
        [
            ("ROLE_CHANGED", admin.id.as_str(), &json!("USER")),
            ("ROLE_CHANGED", user.id.as_str(), &json!("ADMIN")),
        ],
        "{body}"
    );
}

#[tokio::test]
async fn ids_that_name_no_account_or_are_no_ids_are_refused_plainly() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let documents: [(&str, &str, Variables); 4] = [
        (
            "setUserRole",
            SET_USER_ROLE,
            |id| json!({ "id": id, "role": "ADMIN" }),
        ),
        (
            "setUserActive",
            SET_USER_ACTIVE,
            |id| json!({ "id": id, "active": false }),
        ),
        (
            "revokeUserSessions",
            REVOKE_USER_SESSIONS,
            |id| json!({ "id": id }),
        ),
        ("deleteUser", DELETE_USER, |id| json!({ "id": id })),
    ];
    for (field, document, variables) in documents {
        let body = app
            .gql(Some(&admin.token), document, variables(&unknown))
            .await;
        assert_eq!(code(&body), "NOT_FOUND", "{field}: {body}");
        assert_eq!(message(&body), "User not found.", "{field}");
        for junk in ["", "nope", "' OR 1=1 --", "ünïcödé", &"f".repeat(100_000)] {
            let body = app.gql(Some(&admin.token), document, variables(junk)).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{field} {junk:.20}: {body}");
            assert_eq!(message(&body), "`id` must be a user ID (a UUID)", "{field}");
        }
    }
    let body = app
        .gql(Some(&admin.token), USER, json!({ "id": unknown }))
        .await;
    assert_eq!(body["data"], json!({ "user": null }), "{body}");
    let body = app
        .gql(Some(&admin.token), USER, json!({ "id": "nope" }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // A role that is not one is the engine's to refuse.
    let body = app
        .gql(
            Some(&admin.token),
            SET_USER_ROLE,
            json!({ "id": unknown, "role": "ROOT" }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}
