//! The `taskql` binary: configuration errors, secrets, schema, migrations and accounts.

use std::process::{Command, Output};

use serde_json::json;

use crate::helpers::{PASSWORD, SECRET, code, spawn_app};

/// Runs the binary with only `vars` in its environment, in an empty directory.
fn taskql(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_taskql"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run taskql")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn gen_secret_prints_a_fresh_256_bit_key() {
    let first = String::from_utf8(taskql(&["gen-secret"], &[]).stdout).unwrap();
    let second = String::from_utf8(taskql(&["gen-secret"], &[]).stdout).unwrap();
    assert_eq!(first.trim().len(), 43);
    assert_ne!(first, second);
}

#[test]
fn schema_prints_the_sdl_and_check_detects_drift() {
    let output = taskql(&["schema"], &[]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        taskql::graphql::sdl()
    );
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    assert!(
        taskql(&["schema", "--check", committed], &[])
            .status
            .success()
    );
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.graphql");
    std::fs::write(&stale, "type Query { old: Int }").unwrap();
    let output = taskql(&["schema", "--check", stale.to_str().unwrap()], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("differs"));
}

#[test]
fn invalid_configuration_stops_startup_with_one_line_naming_the_variable() {
    for (vars, variable) in [
        (vec![("APP_ENV", "production")], "SECRET_KEY"),
        (
            vec![("APP_ENV", "production"), ("SECRET_KEY", "too-short")],
            "SECRET_KEY",
        ),
        (
            vec![
                ("SECRET_KEY", SECRET),
                ("ACCESS_TOKEN_EXPIRE_MINUTES", "forever"),
            ],
            "ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (
            vec![("SECRET_KEY", SECRET), ("BIND_ADDR", "nowhere")],
            "BIND_ADDR",
        ),
        (
            vec![("SECRET_KEY", SECRET), ("DATABASE_URL", "mysql://x")],
            "DATABASE_URL",
        ),
        (
            vec![("SECRET_KEY", SECRET), ("RUST_LOG", "info,[")],
            "RUST_LOG",
        ),
    ] {
        let output = taskql(&["serve"], &vars);
        assert!(!output.status.success(), "{vars:?}");
        let err = stderr(&output);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(variable), "{err}");
        assert!(!err.contains("too-short"), "the key is not echoed: {err}");
    }
}

#[tokio::test]
async fn migrate_prepares_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fresh.db?mode=rwc", dir.path().display());
    let output = taskql(
        &["migrate"],
        &[("DATABASE_URL", &url), ("SECRET_KEY", SECRET)],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    use sea_orm::{ConnectionTrait, Database};
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared("SELECT id, owner_id, title FROM tasks")
        .await
        .unwrap();
    // Running it again is a no-op.
    assert!(
        taskql(
            &["migrate"],
            &[("DATABASE_URL", &url), ("SECRET_KEY", SECRET)]
        )
        .status
        .success()
    );
}

#[tokio::test]
async fn deactivated_accounts_can_neither_log_in_nor_use_earlier_tokens() {
    let app = spawn_app().await;
    let user = app.user("Harriet").await;
    let vars = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("SECRET_KEY", SECRET),
    ];

    let output = taskql(&["user", "deactivate", "harriet"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));

    let response = app
        .post(Some(&user.token), "{ me { id } }", json!({}))
        .await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let body = app.login("Harriet", PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert_eq!(
        body["errors"][0]["message"],
        "Invalid username or password."
    );

    let output = taskql(&["user", "activate", "HARRIET"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));
    let body = app
        .gql(Some(&user.token), "{ me { isActive } }", json!({}))
        .await;
    assert_eq!(body["data"]["me"]["isActive"], true);
    assert!(app.login("harriet", PASSWORD).await["data"]["login"].is_object());

    let output = taskql(&["user", "deactivate", "nobody"], &vars);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no account"));
}
