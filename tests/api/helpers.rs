//! Spawns the real application on 127.0.0.1:0 against a fresh database and talks to it
//! over HTTP. SQLite by default; with `TEST_DATABASE_URL=postgres://…` every test gets a
//! database of its own on that server.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use taskql::auth::HashingWork;
use taskql::config::Config;
use taskql::graphql::limits::MAX_ROOT_FIELDS;
use taskql::startup::Application;
use taskql::store::StatementCounter;
use tempfile::TempDir;
use uuid::Uuid;

/// The signing key every test server uses, so tests can forge and craft tokens.
pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
/// A password the policy accepts.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    /// The SQL statements the server has run.
    pub statements: StatementCounter,
    /// The argon2 hashes and verifications the server has run.
    pub hashing: HashingWork,
    pub database_url: String,
    pub client: reqwest::Client,
    _dir: TempDir,
    /// The PostgreSQL server URL and the database created for this test.
    postgres: Option<(String, String)>,
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

/// A registered, logged-in user.
pub struct TestUser {
    pub id: String,
    pub token: String,
    pub refresh: String,
}

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
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
    ]);
    for (name, value) in vars {
        env.insert((*name).into(), (*value).into());
    }
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("test config");
    let app = Application::build(config).await.expect("application");
    let address = format!("http://{}", app.address());
    let statements = app.statements();
    let hashing = app.hashing();
    tokio::spawn(app.run_until_stopped());
    TestApp {
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
    /// The subscription endpoint.
    pub fn ws_url(&self) -> String {
        format!(
            "{}/graphql/ws",
            self.address.replacen("http://", "ws://", 1)
        )
    }

    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.address)
    }

    /// POSTs one operation; `token` becomes `Authorization: Bearer <token>`.
    pub async fn post(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.graphql_url())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// POSTs one operation and returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.post(token, query, variables).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON body")
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

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Value {
        self.gql(
            None,
            "mutation($input: RegisterInput!) { register(input: $input) { id username email role isActive emailVerified createdAt } }",
            json!({ "input": { "username": username, "email": email, "password": password } }),
        )
        .await
    }

    /// Logs in and returns the body, whatever the status (a throttled login is a 429).
    pub async fn login(&self, username: &str, password: &str) -> Value {
        self.post(
            None,
            "mutation($input: LoginInput!) { login(input: $input) { accessToken tokenType expiresIn refreshToken refreshExpiresIn user { id username } } }",
            json!({ "input": { "username": username, "password": password } }),
        )
        .await
        .json()
        .await
        .expect("JSON body")
    }

    /// Registers `username` (email `<username>@example.com`) and logs in.
    pub async fn user(&self, username: &str) -> TestUser {
        let registered = self
            .register(username, &format!("{username}@example.com"), PASSWORD)
            .await;
        let id = registered["data"]["register"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("register failed: {registered}"))
            .to_owned();
        let login = self.login(username, PASSWORD).await;
        let token = login["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {login}"))
            .to_owned();
        let refresh = login["data"]["login"]["refreshToken"]
            .as_str()
            .unwrap()
            .to_owned();
        TestUser { id, token, refresh }
    }

    /// Creates `count` tasks titled "task 0", "task 1", … in order, as many per request as
    /// an operation may hold root fields.
    pub async fn create_tasks(&self, token: &str, count: usize) {
        let ids: Vec<usize> = (0..count).collect();
        for chunk in ids.chunks(MAX_ROOT_FIELDS) {
            let mutation = chunk
                .iter()
                .map(|i| format!("t{i}: createTask(input: {{ title: \"task {i}\" }}) {{ id }}"))
                .collect::<Vec<_>>()
                .join(" ");
            let body = self
                .gql(
                    Some(token),
                    &format!("mutation {{ {mutation} }}"),
                    json!({}),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
        }
    }

    /// Creates a task with `input` and returns it (id, title, status, …).
    pub async fn create_task(&self, token: &str, input: Value) -> Value {
        let body = self
            .gql(
                Some(token),
                "mutation($input: CreateTaskInput!) { createTask(input: $input) { id title description status priority dueAt completedAt createdAt updatedAt } }",
                json!({ "input": input }),
            )
            .await;
        let task = body["data"]["createTask"].clone();
        assert!(task.is_object(), "createTask failed: {body}");
        task
    }
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The message of the first error.
pub fn message(body: &Value) -> &str {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

/// Signs `claims` with `header` and `secret`, as an attacker or a test would.
pub fn sign(header: &Header, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("sign")
}

/// The claims of a token the server issued (signature checked with [`SECRET`]).
pub fn claims_of(token: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&["taskql"]);
    validation.set_issuer(&["taskql"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("a token this server issued")
    .claims
}

/// Claims the server would accept for `user`'s session, valid now.
pub fn valid_claims(user: &TestUser) -> Value {
    let issued = claims_of(&user.token);
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": issued["sub"], "sid": issued["sid"], "iat": now, "nbf": now, "exp": now + 600,
        "iss": "taskql", "aud": "taskql", "jti": Uuid::now_v7().to_string(),
    })
}

/// The header the server signs `user`'s tokens with (`typ` and `kid` included).
pub fn at_jwt_header(user: &TestUser) -> Header {
    let issued = jsonwebtoken::decode_header(&user.token).expect("header");
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = issued.kid;
    header
}
