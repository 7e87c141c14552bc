//! `taskql user promote` and `taskql user demote`: how the first administrator is made.

use serde_json::json;

use crate::helpers::documents::{AUDIT_LOG, USERS};
use crate::helpers::{DATA_KEY, SECRET, code, spawn_app, stderr, stdout, taskql};

#[tokio::test]
async fn the_cli_promotes_and_demotes_and_keeps_the_last_active_administrator() {
    let app = spawn_app().await;
    let user = app.user("Harriet").await;
    let vars = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("SECRET_KEY", SECRET),
        ("DATA_ENCRYPTION_KEY", DATA_KEY),
    ];
    let body = app.gql(Some(&user.token), USERS, json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    let output = taskql(&["user", "promote", "harriet"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Harriet is now an administrator\n");
    // The session from before the promotion administers at once.
    let body = app.gql(Some(&user.token), USERS, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 1, "{body}");
    let output = taskql(&["user", "promote", "HARRIET"], &vars);
    assert_eq!(stdout(&output), "Harriet was already an administrator\n");

    // The last active administrator stays one, and stays active.
    for action in ["demote", "deactivate"] {
        let output = taskql(&["user", action, "harriet"], &vars);
        assert!(!output.status.success(), "{action}");
        assert!(
            stderr(&output).contains("last active administrator"),
            "{action}: {}",
            stderr(&output)
        );
    }
    let body = app.gql(Some(&user.token), USERS, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 1, "{body}");

    let ingrid = app.user("ingrid").await;
    assert!(
        taskql(&["user", "promote", "ingrid"], &vars)
            .status
            .success()
    );
    let output = taskql(&["user", "demote", "harriet"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Harriet is now a user\n");
    let body = app.gql(Some(&user.token), USERS, json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // Each change is on the audit log with the role it gave and no actor: the machine made it.
    let body = app
        .gql(
            Some(&ingrid.token),
            AUDIT_LOG,
            json!({ "userId": user.id, "kinds": ["ROLE_CHANGED"] }),
        )
        .await;
    assert_eq!(
        body["data"]["auditLog"]["nodes"],
        json!([
            { "kind": "ROLE_CHANGED", "role": "USER", "user": { "id": user.id }, "actor": null },
            { "kind": "ROLE_CHANGED", "role": "ADMIN", "user": { "id": user.id }, "actor": null },
        ]),
        "{body}"
    );

    for action in ["promote", "demote"] {
        let output = taskql(&["user", action, "nobody"], &vars);
        assert!(!output.status.success());
        assert!(stderr(&output).contains("no account is named nobody"));
        let output = taskql(&["user", action, "not a name!"], &vars);
        assert!(!output.status.success());
    }
}
