//! The `taskql` binary: configuration errors, secrets, schema, migrations and accounts.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::documents::{
    CHANGE_PASSWORD, DELETE_ACCOUNT, LOGIN_FULL, LOGOUT, LOGOUT_ALL, ME, REFRESH, REGISTER,
    REVOKE_SESSION,
};
use crate::helpers::{
    DATA_KEY, Delivered, PASSWORD, SECRET, claims_of, code, mail_files, request_to, spawn_app,
    stderr, taskql, token_pair,
};

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
        (
            vec![("APP_ENV", "production"), ("SECRET_KEY", SECRET)],
            "DATA_ENCRYPTION_KEY",
        ),
        (
            vec![
                ("APP_ENV", "production"),
                ("SECRET_KEY", SECRET),
                ("DATA_ENCRYPTION_KEY", "too-short"),
            ],
            "DATA_ENCRYPTION_KEY",
        ),
        (
            vec![
                ("APP_ENV", "production"),
                ("SECRET_KEY", SECRET),
                ("DATA_ENCRYPTION_KEY", DATA_KEY),
            ],
            "SMTP_URL",
        ),
        (
            vec![
                ("SECRET_KEY", SECRET),
                ("SMTP_URL", "smtp://user:too-short@[bad"),
            ],
            "SMTP_URL",
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
async fn deactivation_ends_every_session_for_good_and_reactivation_revives_none() {
    let app = spawn_app().await;
    let user = app.user("Harriet").await;
    let vars = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("SECRET_KEY", SECRET),
    ];

    let output = taskql(&["user", "deactivate", "harriet"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));

    let response = app.post(Some(&user.token), ME, json!({})).await;
    assert_eq!(
        response.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body = response.body.clone();
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let body = app.login("Harriet", PASSWORD).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert_eq!(
        body["errors"][0]["message"],
        "Invalid username or password."
    );

    let output = taskql(&["user", "activate", "HARRIET"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));
    // Every token issued before the deactivation stays dead: the sessions ended with it.
    let body = app.post(Some(&user.token), ME, json!({})).await.json();
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = app.gql(None, REFRESH, json!({ "t": user.refresh })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let body = app.login("harriet", PASSWORD).await;
    let (token, _) = token_pair(&body, "login");
    let body = app
        .gql(Some(&token), "{ me { isActive } }", json!({}))
        .await;
    assert_eq!(body["data"]["me"]["isActive"], true);

    // An account deactivated by an earlier release kept its sessions; activating it ends
    // them too.
    let earlier = app.user("ingrid").await;
    app.deactivate("ingrid").await;
    let output = taskql(&["user", "activate", "ingrid"], &vars);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 session(s) ended"));
    let body = app.post(Some(&earlier.token), ME, json!({})).await.json();
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    let output = taskql(&["user", "deactivate", "nobody"], &vars);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no account"));
}

/// A `taskql serve` child process, killed when dropped (also when a test fails).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `taskql serve` with `vars` on a free port until its log says it listens, and
/// returns the server and the GraphQL URL.
fn serve(dir: &std::path::Path, vars: &[(&str, &str)]) -> (Server, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskql"))
        .env_clear()
        .envs(vars.iter().copied())
        .env("BIND_ADDR", "127.0.0.1:0")
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn taskql");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("taskql did not start");
        // The address ends at a space (compact logs) or a quote (JSON logs).
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split(|c: char| c.is_whitespace() || c == '"')
                .next()
                .unwrap()
                .to_owned();
        }
    };
    LOG_LINES.with(|cell| *cell.borrow_mut() = Some(rx));
    (Server(child), url)
}

/// POSTs `body` to the child server at `url`, with `token` as bearer when given; the JSON
/// answer.
async fn post_to(url: &str, body: Value, token: Option<&str>) -> Value {
    let mut request = request_to(url).json(body);
    if let Some(token) = token {
        request = request.token(token);
    }
    request.send().await.body
}

thread_local! {
    static LOG_LINES: std::cell::RefCell<Option<std::sync::mpsc::Receiver<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// The permission bits of `name` in `dir`, in octal.
fn mode_of(dir: &std::path::Path, name: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(dir.join(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
    format!("{:o}", metadata.permissions().mode() & 0o777)
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_files_are_private_to_their_owner() {
    // They hold password and refresh-token hashes; SQLite alone creates them as the umask
    // allows (0644 under the usual 022).
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = serve(dir.path(), &[("SECRET_KEY", SECRET)]);
    let register = json!({ "query": REGISTER,
        "variables": { "input": { "username": "filemode", "email": "filemode@example.com", "password": PASSWORD } } });
    let body = post_to(&url, register, None).await;
    assert!(body["data"]["register"]["id"].is_string(), "{body}");
    for name in ["taskql.db", "taskql.db-wal", "taskql.db-shm"] {
        assert_eq!(mode_of(dir.path(), name), "600", "{name}");
    }
    drop(server);
}

#[test]
fn a_database_file_open_to_other_users_is_narrowed_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("shared.db");
    std::fs::write(&database, b"").unwrap();
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let output = taskql(
        &["migrate"],
        &[("DATABASE_URL", &url), ("SECRET_KEY", SECRET)],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode_of(dir.path(), "shared.db"), "600");
    let log = stderr(&output);
    let warned: Vec<_> = log
        .lines()
        .filter(|line| line.contains("a database file was open to other users"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("shared.db"), "{log}");
    assert!(warned[0].contains("644"), "{log}");
}

#[tokio::test]
async fn no_password_hash_or_token_reaches_the_log_even_at_trace_level() {
    // Register, login, refresh, change password, a bad token and logout, all at trace level.
    let dir = tempfile::tempdir().unwrap();
    let password = "log-canary-password-8d1e";
    let (server, url) = serve(
        dir.path(),
        &[("RUST_LOG", "trace"), ("REFRESH_REUSE_GRACE_SECONDS", "0")],
    );
    let post = |body: Value, token: Option<String>| {
        let url = url.clone();
        async move { post_to(&url, body, token.as_deref()).await }
    };
    let register = json!({ "query": "mutation($i: RegisterInput!) { register(input: $i) { id } }",
        "variables": { "i": { "username": "logcheck", "email": "logcheck@example.com", "password": password } } });
    assert!(post(register, None).await["data"]["register"].is_object());
    let new_password = "second-log-canary-pass";
    let login = |password: &str| {
        json!({ "query": LOGIN_FULL,
            "variables": { "input": { "username": "logcheck", "password": password } } })
    };
    let refresh = |token: &str| json!({ "query": REFRESH, "variables": { "t": token } });
    let (_, first_refresh) = token_pair(&post(login(password), None).await, "login");
    let (token, second_refresh) =
        token_pair(&post(refresh(&first_refresh), None).await, "refreshToken");
    let change = json!({ "query": CHANGE_PASSWORD,
        "variables": { "c": password, "n": new_password } });
    assert_eq!(
        post(change, Some(token.clone())).await["data"]["changePassword"],
        true
    );
    assert!(post(login("wrong-log-canary"), None).await["errors"].is_array());
    let me = json!({ "query": ME });
    assert!(post(me.clone(), Some(token.clone())).await["data"]["me"].is_object());
    post(me, Some(format!("{token}x"))).await;
    let logout = json!({ "query": LOGOUT,
        "variables": { "t": second_refresh } });
    assert_eq!(post(logout, None).await["data"]["logout"], true);
    // A new login whose rotated refresh token is replayed (reuse detection logs a warning),
    // then logoutAll and deleteAccount.
    let (_, third_refresh) = token_pair(&post(login(new_password), None).await, "login");
    assert!(post(refresh(&third_refresh), None).await["data"]["refreshToken"].is_object());
    assert!(
        post(refresh(&third_refresh), None).await["errors"].is_array(),
        "reuse, with no grace"
    );
    let (fourth_access, _) = token_pair(&post(login(new_password), None).await, "login");
    let logout_all = json!({ "query": LOGOUT_ALL });
    assert_eq!(
        post(logout_all, Some(fourth_access)).await["data"]["logoutAll"],
        true
    );
    let (fifth_access, _) = token_pair(&post(login(new_password), None).await, "login");
    let delete = json!({ "query": DELETE_ACCOUNT, "variables": { "p": new_password } });
    assert_eq!(
        post(delete, Some(fifth_access)).await["data"]["deleteAccount"],
        true
    );

    drop(server);
    let log: Vec<String> =
        LOG_LINES.with(|cell| cell.borrow_mut().take().unwrap().iter().collect());
    assert!(log.len() > 5, "trace logging produced output: {log:?}");
    assert!(
        log.iter().any(|line| line.contains("refresh token reused")),
        "{log:?}"
    );
    assert!(log.iter().any(|line| line.contains("account deleted")));
    let signature = token.rsplit('.').next().unwrap();
    let digest = |value: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(value.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let secrets = [
        first_refresh.clone(),
        second_refresh.clone(),
        third_refresh.clone(),
        digest(&first_refresh),
        digest(&second_refresh),
        digest(&third_refresh),
        new_password.to_owned(),
    ];
    for line in &log {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "{line}");
        }
        assert!(!line.contains(password), "{line}");
        assert!(!line.contains("wrong-log-canary"), "{line}");
        assert!(!line.contains("$argon2"), "{line}");
        assert!(!line.contains(signature), "{line}");
    }
}

#[tokio::test]
async fn production_logs_one_json_audit_line_per_account_event_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let (server, url) = serve(
        dir.path(),
        &[
            ("APP_ENV", "production"),
            ("SECRET_KEY", SECRET),
            ("DATA_ENCRYPTION_KEY", DATA_KEY),
            ("SMTP_URL", "off"),
            ("DATABASE_URL", &database_url),
            ("REFRESH_REUSE_GRACE_SECONDS", "0"),
        ],
    );
    let password = "audit-canary-password-51c7";
    let new_password = "second-audit-canary-pass";
    let post = |query: &str, variables: Value, token: Option<&str>| {
        let (url, body) = (
            url.clone(),
            json!({ "query": query, "variables": variables }),
        );
        let token = token.map(str::to_owned);
        async move { post_to(&url, body, token.as_deref()).await }
    };
    let login = |password: &'static str| {
        let body = post(
            LOGIN_FULL,
            json!({ "input": { "username": "auditee", "password": password } }),
            None,
        );
        async move { token_pair(&body.await, "login") }
    };
    let session_of = |access: &str| claims_of(access)["sid"].as_str().unwrap().to_owned();

    let registered = post(
        REGISTER,
        json!({ "input": { "username": "auditee", "email": "auditee@example.com", "password": password } }),
        None,
    )
    .await;
    let user_id = registered["data"]["register"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for username in ["auditee", "nobody-here"] {
        let failed = post(
            LOGIN_FULL,
            json!({ "input": { "username": username, "password": "wrong-audit-canary" } }),
            None,
        )
        .await;
        assert_eq!(code(&failed), "UNAUTHENTICATED");
    }
    let (first_access, first_refresh) = login(password).await;
    let first_session = session_of(&first_access);
    let rotated = post(REFRESH, json!({ "t": first_refresh }), None).await;
    let (second_access, second_refresh) = token_pair(&rotated, "refreshToken");
    let reused = post(REFRESH, json!({ "t": first_refresh }), None).await;
    assert_eq!(code(&reused), "UNAUTHENTICATED");
    let (third_access, third_refresh) = login(password).await;
    let third_session = session_of(&third_access);
    let logout = post(LOGOUT, json!({ "t": third_refresh }), None).await;
    assert_eq!(logout["data"]["logout"], true);
    let (fourth_access, fourth_refresh) = login(password).await;
    let fourth_session = session_of(&fourth_access);
    let (fifth_access, fifth_refresh) = login(password).await;
    let fifth_session = session_of(&fifth_access);
    for (document, variables, field) in [
        (
            REVOKE_SESSION,
            json!({ "id": fifth_session }),
            "revokeSession",
        ),
        (
            CHANGE_PASSWORD,
            json!({ "c": password, "n": new_password }),
            "changePassword",
        ),
        (
            DELETE_ACCOUNT,
            json!({ "p": new_password }),
            "deleteAccount",
        ),
    ] {
        let body = post(document, variables, Some(&fourth_access)).await;
        assert_eq!(body["data"][field], true, "{field}: {body}");
    }

    drop(server);
    let log: Vec<String> =
        LOG_LINES.with(|cell| cell.borrow_mut().take().unwrap().iter().collect());
    let lines: Vec<serde_json::Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let audit: Vec<[Option<&str>; 4]> = lines
        .iter()
        .filter(|line| line["target"] == "audit")
        .map(|line| {
            let field = |name: &str| line["fields"][name].as_str();
            [
                field("event"),
                field("user_id"),
                field("session_id"),
                field("client_ip"),
            ]
        })
        .collect();
    let ip = Some("127.0.0.1");
    let user = Some(user_id.as_str());
    let [first, third, fourth, fifth] = [
        &first_session,
        &third_session,
        &fourth_session,
        &fifth_session,
    ]
    .map(|session| Some(session.as_str()));
    assert_eq!(
        audit,
        [
            [Some("register"), user, None, ip],
            [Some("login.failure"), user, None, ip],
            [Some("login.failure"), None, None, ip],
            [Some("login.success"), user, first, ip],
            [Some("refresh"), user, first, ip],
            [Some("refresh.reuse_detected"), user, first, ip],
            [Some("login.success"), user, third, ip],
            [Some("logout"), user, third, ip],
            [Some("login.success"), user, fourth, ip],
            [Some("login.success"), user, fifth, ip],
            [Some("sessions.revoked"), user, fifth, ip],
            [Some("password.changed"), user, fourth, ip],
            [Some("account.deleted"), user, fourth, ip],
        ]
    );
    let digest = |value: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(value.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut secrets = vec![
        password.to_owned(),
        new_password.to_owned(),
        "wrong-audit-canary".to_owned(),
        "nobody-here".to_owned(),
        "$argon2".to_owned(),
        SECRET.to_owned(),
    ];
    for access in [
        &first_access,
        &second_access,
        &third_access,
        &fourth_access,
        &fifth_access,
    ] {
        secrets.push(access.rsplit('.').next().unwrap().to_owned());
    }
    for refresh in [
        &first_refresh,
        &second_refresh,
        &third_refresh,
        &fourth_refresh,
        &fifth_refresh,
    ] {
        secrets.push(refresh.clone());
        secrets.push(digest(refresh));
    }
    for line in &log {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "{secret} leaked: {line}");
        }
    }
}

/// The `audit` lines among JSON log `lines`, as (event, user_id, session_id).
fn audit_events(lines: &[String]) -> Vec<(String, Option<String>, Option<String>)> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "audit")
        .map(|line| {
            let field = |name: &str| line["fields"][name].as_str().map(str::to_owned);
            (
                field("event").unwrap_or_default(),
                field("user_id"),
                field("session_id"),
            )
        })
        .collect()
}

#[tokio::test]
async fn evicted_sessions_and_changes_of_activation_are_on_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let vars = [
        ("APP_ENV", "production"),
        ("SECRET_KEY", SECRET),
        ("DATA_ENCRYPTION_KEY", DATA_KEY),
        ("SMTP_URL", "off"),
        ("DATABASE_URL", database_url.as_str()),
    ];
    let mut served = vars.to_vec();
    served.push(("MAX_SESSIONS_PER_ACCOUNT", "1"));
    let (server, url) = serve(dir.path(), &served);
    let registered = post_to(
        &url,
        json!({ "query": REGISTER,
            "variables": { "input": { "username": "evictee", "email": "evictee@example.com", "password": PASSWORD } } }),
        None,
    )
    .await;
    let user_id = registered["data"]["register"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = json!({ "query": LOGIN_FULL,
        "variables": { "input": { "username": "evictee", "password": PASSWORD } } });
    let (first, _) = token_pair(&post_to(&url, login.clone(), None).await, "login");
    let (second, _) = token_pair(&post_to(&url, login, None).await, "login");
    drop(server);
    let log: Vec<String> =
        LOG_LINES.with(|cell| cell.borrow_mut().take().unwrap().iter().collect());
    let sid = |access: &str| claims_of(access)["sid"].as_str().map(str::to_owned);
    let user = Some(user_id.clone());
    assert_eq!(
        audit_events(&log)[1..],
        [
            ("login.success".to_owned(), user.clone(), sid(&first)),
            ("session.evicted".to_owned(), user.clone(), sid(&first)),
            ("login.success".to_owned(), user.clone(), sid(&second)),
        ]
    );

    for (action, event) in [
        ("deactivate", "account.deactivated"),
        ("activate", "account.activated"),
    ] {
        let output = taskql(&["user", action, "evictee"], &vars);
        assert!(output.status.success(), "{}", stderr(&output));
        let lines: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
        assert_eq!(
            audit_events(&lines),
            [(event.to_owned(), user.clone(), None)],
            "{lines:?}"
        );
    }
    let again = taskql(&["user", "activate", "evictee"], &vars);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already active"));
    assert!(
        audit_events(
            &stderr(&again)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        )
        .is_empty()
    );
}

#[tokio::test]
async fn development_mail_is_written_to_files_the_log_names_and_no_token_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/mail.db?mode=rwc", dir.path().display());
    let (server, url) = serve(
        dir.path(),
        &[
            ("SECRET_KEY", SECRET),
            ("DATABASE_URL", &database_url),
            ("RUST_LOG", "trace"),
        ],
    );
    let input =
        json!({ "username": "mailer", "email": "mailer@example.com", "password": PASSWORD });
    let registered = post_to(
        &url,
        json!({ "query": REGISTER, "variables": { "input": input } }),
        None,
    )
    .await;
    assert!(
        registered["data"]["register"]["id"].is_string(),
        "{registered}"
    );
    let reset =
        json!({ "query": "mutation { requestPasswordReset(email: \"mailer@example.com\") }" });
    assert_eq!(
        post_to(&url, reset, None).await["data"]["requestPasswordReset"],
        true
    );

    let mail_dir = dir.path().join("taskql-mail");
    let files = mail_files(&mail_dir, 2).await;
    let tokens: Vec<String> = files
        .iter()
        .map(|file| {
            let raw = std::fs::read_to_string(file).unwrap();
            Delivered {
                to: Vec::new(),
                raw,
            }
            .token()
        })
        .collect();
    // The tokens travel through the request path too, with everything logged.
    let verify = |token: &str| json!({ "query": "mutation($t: String!) { verifyEmail(token: $t) }", "variables": { "t": token } });
    for token in &tokens {
        post_to(&url, verify(token), None).await;
    }

    drop(server);
    let log: Vec<String> =
        LOG_LINES.with(|cell| cell.borrow_mut().take().unwrap().iter().collect());
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let naming: Vec<&String> = log.iter().filter(|line| line.contains(name)).collect();
        assert_eq!(naming.len(), 1, "one line names {name}: {naming:?}");
    }
    let digest = |value: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(value.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    for token in &tokens {
        let secret = token.trim_start_matches("tqe_");
        for line in &log {
            assert!(!line.contains(secret), "a token in the log: {line}");
            assert!(
                !line.contains(&digest(token)),
                "a token hash in the log: {line}"
            );
        }
    }
}

#[tokio::test]
async fn no_second_factor_secret_reaches_a_log_line_or_an_error() {
    use crate::helpers::Authenticator;
    use crate::helpers::documents::{
        BEGIN_TWO_FACTOR, CHANGE_PASSWORD_CODE, DISABLE_TWO_FACTOR, ENABLE_TWO_FACTOR,
        REGENERATE_CODES, VERIFY_LOGIN,
    };
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
    let (server, url) = serve(
        dir.path(),
        &[
            ("APP_ENV", "production"),
            ("SECRET_KEY", SECRET),
            ("DATA_ENCRYPTION_KEY", DATA_KEY),
            ("SMTP_URL", "off"),
            ("DATABASE_URL", &database_url),
            ("RUST_LOG", "debug"),
        ],
    );
    let post = |query: &'static str, variables: Value, token: Option<String>| {
        let (url, body) = (
            url.clone(),
            json!({ "query": query, "variables": variables }),
        );
        async move { post_to(&url, body, token.as_deref()).await }
    };
    let password = "two-factor-canary-password";
    let registered = post(
        REGISTER,
        json!({ "input": { "username": "carol", "email": "carol@example.com", "password": password } }),
        None,
    )
    .await;
    assert!(
        registered["data"]["register"]["id"].is_string(),
        "{registered}"
    );
    let login = || {
        post(
            LOGIN_FULL,
            json!({ "input": { "username": "carol", "password": password } }),
            None,
        )
    };
    let (access, _) = token_pair(&login().await, "login");
    let token = Some(access.clone());
    let setup = post(BEGIN_TWO_FACTOR, json!({ "p": password }), token.clone()).await;
    let setup = &setup["data"]["beginTwoFactorSetup"];
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let uri = setup["otpauthUri"].as_str().unwrap().to_owned();
    let factor = Authenticator::for_secret(&secret);
    let mut errors = vec![post(ENABLE_TWO_FACTOR, json!({ "c": "000000" }), token.clone()).await];
    let enabling = factor.code(0);
    let enabled = post(ENABLE_TWO_FACTOR, json!({ "c": enabling }), token.clone()).await;
    let mut codes: Vec<String> = enabled["data"]["enableTwoFactor"]
        .as_array()
        .unwrap_or_else(|| panic!("{enabled}"))
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    let challenged = login().await;
    let challenge = challenged["errors"][0]["extensions"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    // A wrong code on a live challenge, then a right one, then the spent challenge again.
    errors.push(
        post(
            VERIFY_LOGIN,
            json!({ "ch": challenge, "c": enabling }),
            None,
        )
        .await,
    );
    let verified = post(
        VERIFY_LOGIN,
        json!({ "ch": challenge, "c": codes[9] }),
        None,
    )
    .await;
    assert!(
        verified["data"]["verifyLogin"]["accessToken"].is_string(),
        "{verified}"
    );
    errors.push(
        post(
            VERIFY_LOGIN,
            json!({ "ch": challenge, "c": codes[0] }),
            None,
        )
        .await,
    );
    assert_eq!(code(&errors[0]), "BAD_USER_INPUT", "{:?}", errors[0]);
    assert_eq!(
        code(&errors[1]),
        "SECOND_FACTOR_REQUIRED",
        "{:?}",
        errors[1]
    );
    assert_eq!(code(&errors[2]), "UNAUTHENTICATED", "{:?}", errors[2]);
    let regenerated = post(
        REGENERATE_CODES,
        json!({ "p": password, "c": codes[2] }),
        token.clone(),
    )
    .await;
    codes.extend(
        regenerated["data"]["regenerateRecoveryCodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{regenerated}"))
            .iter()
            .map(|code| code.as_str().unwrap().to_owned()),
    );
    errors.push(
        post(
            CHANGE_PASSWORD_CODE,
            json!({ "p": password, "n": "a second canary passphrase", "c": codes[3] }),
            token.clone(),
        )
        .await,
    );
    let disabled = post(
        DISABLE_TWO_FACTOR,
        json!({ "p": password, "c": codes[10] }),
        token.clone(),
    )
    .await;
    assert_eq!(disabled["data"]["disableTwoFactor"], true, "{disabled}");

    drop(server);
    let log: Vec<String> =
        LOG_LINES.with(|cell| cell.borrow_mut().take().unwrap().iter().collect());
    let digest = |value: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(value.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    let stored = |sql: &'static str| {
        let db = db.clone();
        async move {
            use sea_orm::{ConnectionTrait, Statement};
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
                .into_iter()
                .filter_map(|row| row.try_get_by_index::<Option<String>>(0).unwrap())
                .collect::<Vec<String>>()
        }
    };
    let mut secrets = vec![
        secret.clone(),
        uri.clone(),
        challenge.clone(),
        digest(&challenge),
        DATA_KEY.to_owned(),
        // A six-digit code alone could match any number; quoted, it is a value.
        format!("\"{enabling}\""),
    ];
    secrets.extend(stored("SELECT code_hash FROM recovery_codes").await);
    secrets.extend(stored("SELECT password_hash FROM users").await);
    for code in &codes {
        secrets.push(code.clone());
        secrets.push(code.replace('-', ""));
    }
    let events = audit_events(&log);
    for event in [
        "two_factor.enabled",
        "recovery_code.used",
        "second_factor.failure",
        "recovery_codes.regenerated",
        "two_factor.disabled",
    ] {
        assert!(
            events.iter().any(|(name, ..)| name == event),
            "{event} in {events:?}"
        );
    }
    assert!(log.len() > events.len(), "debug lines were written too");
    for line in &log {
        for leaked in &secrets {
            assert!(!line.contains(leaked.as_str()), "{leaked} leaked: {line}");
        }
    }
    for error in &errors {
        assert!(error["errors"].is_array(), "{error}");
        let text = error.to_string();
        for leaked in &secrets {
            assert!(
                !text.contains(leaked.as_str()),
                "{leaked} in an error: {text}"
            );
        }
    }
}
