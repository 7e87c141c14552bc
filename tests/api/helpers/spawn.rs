//! The one spawner: the real application on 127.0.0.1:0 against a fresh database. SQLite
//! by default; with `TEST_DATABASE_URL=postgres://…` every test gets a database of its own
//! on that server, and replicas share it.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use taskql::auth::HashingWork;
use taskql::config::Config;
use taskql::startup::Application;
use taskql::store::StatementCounter;
use tempfile::TempDir;
use uuid::Uuid;

/// The signing key every test server uses, so tests can forge and craft tokens.
pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
/// The data encryption key every test app seals second-factor secrets with.
pub const DATA_KEY: &str = "integration-test-data-key-0123456789abcdef";
/// A running server and what a test may inspect of it.
pub struct TestApp {
    pub address: String,
    /// The SQL statements the server has run.
    pub statements: StatementCounter,
    /// The argon2 hashes and verifications the server has run.
    pub hashing: HashingWork,
    pub database_url: String,
    /// Used only through [`TestApp::request`].
    pub(super) client: reqwest::Client,
    _dir: TempDir,
    /// The PostgreSQL server URL and the database created for this test.
    postgres: Option<(String, String)>,
    /// The serving task, to kill the server as a crash would.
    server: tokio::task::AbortHandle,
}

impl Drop for TestApp {
    /// Drops the test's PostgreSQL database, closing the server's open connections.
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = Database::connect(&server).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// Spawns with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns with extra environment variables on top of the test defaults.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, postgres) = fresh_database(&dir).await;
    start(dir, database_url, postgres, vars).await
}

impl TestApp {
    /// Another replica on this app's database, configured with `vars`.
    pub async fn replica(&self, vars: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        start(dir, self.database_url.clone(), None, vars).await
    }
}

async fn start(
    dir: TempDir,
    database_url: String,
    postgres: Option<(String, String)>,
    vars: &[(&str, &str)],
) -> TestApp {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url.clone()),
        ("SECRET_KEY".into(), SECRET.into()),
        ("DATA_ENCRYPTION_KEY".into(), DATA_KEY.into()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
    ]);
    for (name, value) in vars {
        env.insert((*name).into(), (*value).into());
    }
    // Production needs an SMTP server; tests that are not about mail go without.
    if env
        .get("APP_ENV")
        .is_some_and(|value| value == "production")
    {
        env.entry("SMTP_URL".into()).or_insert_with(|| "off".into());
    }
    env.entry("MAIL_DIR".into())
        .or_insert_with(|| dir.path().join("mail").to_string_lossy().into_owned());
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("test config");
    let app = Application::build(config).await.expect("application");
    let address = format!("http://{}", app.address());
    let statements = app.statements();
    let hashing = app.hashing();
    let server = tokio::spawn(app.run_until_stopped()).abort_handle();
    TestApp {
        server,
        address,
        statements,
        hashing,
        database_url,
        client: reqwest::Client::new(),
        _dir: dir,
        postgres,
    }
}

/// The database URL for one test and, on PostgreSQL, what to drop afterwards.
async fn fresh_database(dir: &TempDir) -> (String, Option<(String, String)>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let name = format!("taskql_test_{}", Uuid::now_v7().simple());
            let admin = Database::connect(&server).await.expect("TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            (url.to_string(), Some((server, name)))
        }
        _ => (
            format!(
                "sqlite://{}/taskql.db?mode=rwc",
                dir.path().to_str().expect("utf-8 temp path")
            ),
            None,
        ),
    }
}

impl TestApp {
    /// Stops the server at once, its background work with it, as a crash would.
    pub fn kill(&self) {
        self.server.abort();
    }

    /// The subscription endpoint.
    pub fn ws_url(&self) -> String {
        format!(
            "{}/graphql/ws",
            self.address.replacen("http://", "ws://", 1)
        )
    }

    /// A direct connection to the test's database, for checks no API offers.
    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.database_url)
            .await
            .expect("database")
    }

    /// How many rows `table` holds.
    pub async fn count(&self, table: &str) -> i64 {
        use sea_orm::Statement;
        let db = self.db().await;
        db.query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number")
    }

    /// Runs `sql` on the test's database, for states no API can reach.
    pub async fn execute(&self, sql: &str) {
        self.db()
            .await
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// Deactivates `username`'s account straight in the database, as an administrator would.
    pub async fn deactivate(&self, username: &str) {
        self.execute(&format!(
            "UPDATE users SET is_active = false WHERE username = '{username}'"
        ))
        .await;
    }
}
