//! Who may use the admin API: anonymous callers, users, administrators, demoted
//! administrators, and administrators with and without a second factor.

use serde_json::{Value, json};

use crate::helpers::documents::{
    AUDIT_LOG, DELETE_USER, REVOKE_USER_SESSIONS, SET_USER_ACTIVE, SET_USER_ROLE, USER, USERS,
};
use crate::helpers::{PASSWORD, TestApp, code, message, spawn_app, spawn_app_with};

const NOT_ADMIN: &str = "This needs an administrator account.";
const OWN_ACCOUNT: &str = "This is your own account: use the self-service mutations (`changePassword`, `logoutAll`, `deleteAccount`) instead.";
const SESSION_WITHOUT_CODE: &str = "Administration needs a session that began with your second factor: log in again and enter your code.";
const TURN_ON_TWO_FACTOR: &str =
    "Administration needs two-factor authentication: turn it on for your account first.";

/// Every admin field, as a document and its variables about account `target`.
fn operations(target: &str) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("users", USERS, json!({})),
        ("user", USER, json!({ "id": target })),
        ("auditLog", AUDIT_LOG, json!({})),
        (
            "setUserRole",
            SET_USER_ROLE,
            json!({ "id": target, "role": "USER" }),
        ),
        (
            "setUserActive",
            SET_USER_ACTIVE,
            json!({ "id": target, "active": true }),
        ),
        (
            "revokeUserSessions",
            REVOKE_USER_SESSIONS,
            json!({ "id": target }),
        ),
        ("deleteUser", DELETE_USER, json!({ "id": target })),
    ]
}

/// Asserts that `token` is refused every admin field with `want` and `text`.
async fn refused_everything(
    app: &TestApp,
    token: Option<&str>,
    target: &str,
    want: &str,
    text: &str,
) {
    for (field, document, variables) in operations(target) {
        let body = app.gql(token, document, variables).await;
        assert_eq!(code(&body), want, "{field}: {body}");
        assert_eq!(message(&body), text, "{field}: {body}");
        assert!(body["data"].is_null(), "{field}: {body}");
    }
}

#[tokio::test]
async fn every_admin_field_refuses_anonymous_callers_and_users_and_serves_administrators() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    refused_everything(
        &app,
        None,
        &user.id,
        "UNAUTHENTICATED",
        "Authentication required: send a valid access token.",
    )
    .await;
    refused_everything(&app, Some(&user.token), &admin.id, "FORBIDDEN", NOT_ADMIN).await;

    // The same documents work for the administrator; deleteUser last, as it ends alice.
    for (field, document, variables) in operations(&user.id) {
        let body = app.gql(Some(&admin.token), document, variables).await;
        assert!(body["errors"].is_null(), "{field}: {body}");
        assert!(!body["data"][field].is_null(), "{field}: {body}");
    }
    let body = app
        .gql(Some(&admin.token), USER, json!({ "id": user.id }))
        .await;
    assert!(body["data"]["user"].is_null(), "{body}");
}

#[tokio::test]
async fn an_administrator_cannot_act_on_their_own_account_through_the_admin_api() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    app.admin("second").await;
    for (field, document, variables) in operations(&admin.id).into_iter().skip(3) {
        let body = app.gql(Some(&admin.token), document, variables).await;
        assert_eq!(code(&body), "FORBIDDEN", "{field}: {body}");
        assert_eq!(message(&body), OWN_ACCOUNT, "{field}: {body}");
    }
    let body = app
        .gql(Some(&admin.token), "{ me { role isActive } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({ "role": "ADMIN", "isActive": true })
    );
}

#[tokio::test]
async fn a_demoted_administrator_is_refused_on_the_next_request_on_every_replica() {
    // A replica that trusts its session checks for a few seconds still reads an
    // administrator's role on every request.
    let app = spawn_app_with(&[("SESSION_CACHE_SECONDS", "5")]).await;
    let other = app.replica(&[("SESSION_CACHE_SECONDS", "5")]).await;
    let root = app.admin("root").await;
    let demoted = app.admin("bob").await;
    for replica in [&app, &other] {
        let body = replica.gql(Some(&demoted.token), USERS, json!({})).await;
        assert_eq!(body["data"]["users"]["totalCount"], 2, "{body}");
    }
    let body = app.set_role(&root, &demoted.id, "USER").await;
    assert_eq!(body["data"]["setUserRole"]["role"], "USER", "{body}");
    for replica in [&other, &app] {
        let body = replica.gql(Some(&demoted.token), USERS, json!({})).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
        assert_eq!(message(&body), NOT_ADMIN, "{body}");
        // Still signed in: only the role went.
        let body = replica
            .gql(Some(&demoted.token), "{ me { role } }", json!({}))
            .await;
        assert_eq!(body["data"]["me"]["role"], "USER", "{body}");
    }
}

#[tokio::test]
async fn an_administrator_with_two_factor_needs_a_session_that_began_with_it() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let authenticator = app.two_factor_on(&admin).await;
    // The session from before two-factor was turned on began with a password alone.
    let body = app.gql(Some(&admin.token), USERS, json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert_eq!(message(&body), SESSION_WITHOUT_CODE, "{body}");

    app.forget_used_steps().await;
    // A TOTP or a recovery code: either is a second factor.
    for code in [
        authenticator.code(0),
        authenticator.recovery_codes[0].clone(),
    ] {
        let token = app.token_with_code("root", &code).await;
        let body = app.gql(Some(&token), USERS, json!({})).await;
        assert_eq!(body["data"]["users"]["totalCount"], 1, "{body}");
    }
}

#[tokio::test]
async fn where_two_factor_is_required_an_administrator_without_it_is_refused_saying_so() {
    for vars in [
        vec![("ADMIN_REQUIRE_TWO_FACTOR", "true")],
        // Production requires it unless the operator turns the rule off.
        vec![("APP_ENV", "production")],
    ] {
        let app = spawn_app_with(&vars).await;
        let admin = app.admin("root").await;
        let body = app.gql(Some(&admin.token), USERS, json!({})).await;
        assert_eq!(code(&body), "FORBIDDEN", "{vars:?}: {body}");
        assert_eq!(message(&body), TURN_ON_TWO_FACTOR, "{vars:?}: {body}");

        let authenticator = app.two_factor_on(&admin).await;
        app.forget_used_steps().await;
        let token = app.token_with_code("root", &authenticator.code(0)).await;
        let body = app.gql(Some(&token), USERS, json!({})).await;
        assert_eq!(body["data"]["users"]["totalCount"], 1, "{vars:?}: {body}");
    }
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("ADMIN_REQUIRE_TWO_FACTOR", "false"),
    ])
    .await;
    let admin = app.admin("root").await;
    let body = app.gql(Some(&admin.token), USERS, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 1, "{body}");
}

#[tokio::test]
async fn last_login_times_are_shown_to_their_account_and_administrators_only() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let own = app
        .gql(Some(&user.token), "{ me { lastLoginAt } }", json!({}))
        .await;
    assert!(own["data"]["me"]["lastLoginAt"].is_string(), "{own}");
    // A login's payload is the account's own, though the request carries no token.
    let login = app
        .gql(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { user { lastLoginAt } } }",
            json!({ "i": { "username": "alice", "password": PASSWORD } }),
        )
        .await;
    assert!(
        login["data"]["login"]["user"]["lastLoginAt"].is_string(),
        "{login}"
    );
    let own = app
        .gql(Some(&user.token), "{ me { lastLoginAt } }", json!({}))
        .await;
    let seen = app
        .gql(Some(&admin.token), USER, json!({ "id": user.id }))
        .await;
    assert_eq!(
        seen["data"]["user"]["lastLoginAt"], own["data"]["me"]["lastLoginAt"],
        "{seen}"
    );

    // Alice meets the administrator as the actor of an event in her history: without
    // the administrator's last login.
    let body = app
        .gql(
            Some(&admin.token),
            REVOKE_USER_SESSIONS,
            json!({ "id": user.id }),
        )
        .await;
    assert_eq!(body["data"]["revokeUserSessions"], 2, "{body}");
    let alice = app.logged_in("alice").await;
    let history = app
        .gql(
            Some(&alice.token),
            "{ securityEvents { nodes { kind ip userAgent actor { id username lastLoginAt } } } }",
            json!({}),
        )
        .await;
    let events = history["data"]["securityEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"));
    let revoked = events
        .iter()
        .find(|event| event["kind"] == "ALL_SESSIONS_REVOKED")
        .unwrap_or_else(|| panic!("{history}"));
    assert_eq!(
        revoked["actor"],
        json!({ "id": admin.id, "username": "root", "lastLoginAt": null })
    );
    // Nor from where the administrator acted; her own events keep their client.
    assert_eq!(
        (&revoked["ip"], &revoked["userAgent"]),
        (&json!(null), &json!(null))
    );
    let login = events
        .iter()
        .find(|event| event["kind"] == "LOGIN_SUCCEEDED")
        .unwrap_or_else(|| panic!("{history}"));
    assert_eq!(login["ip"], "127.0.0.1", "{history}");
    // The audit log keeps it for administrators.
    let audit = app
        .gql(
            Some(&admin.token),
            "query($u: ID) { auditLog(userId: $u, kinds: [ALL_SESSIONS_REVOKED]) { nodes { ip } } }",
            json!({ "u": user.id }),
        )
        .await;
    assert_eq!(
        audit["data"]["auditLog"]["nodes"][0]["ip"], "127.0.0.1",
        "{audit}"
    );
}
