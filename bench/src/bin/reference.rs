//! The reference server: the irreducible work of taskql's benchmarked requests and no more.
//! axum, rusqlite, HS256 tokens, one indexed statement per request, JSON out; no GraphQL,
//! no ORM, no sessions, no limits. Logins verify argon2id with taskql's default parameters
//! (m = 19456 KiB, t = 2, p = 1) on tokio's blocking pool.
//!
//! `reference <address> <sqlite file>`; it prints `listening on <address>` once it serves.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const SECRET: &[u8] = b"reference-benchmark-secret-0123456789abcdef";

struct App {
    database: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    argon2: Argon2<'static>,
    hashing: Semaphore,
}

type Shared = Arc<App>;

/// The allocator taskql serves with, so that neither side's figures are glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

thread_local! {
    /// One connection per runtime thread: statements run inline, as short SQLite reads do
    /// best, without a pool or a hand-off to another thread.
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

impl App {
    fn with_db<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StatusCode> {
        CONNECTION.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(open(&self.database).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?);
            }
            let connection = slot.as_ref().ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
            work(connection).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
        })
    }

    fn viewer(&self, headers: &HeaderMap) -> Result<i64, StatusCode> {
        let token = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(StatusCode::UNAUTHORIZED)?;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims.sub)
            .map_err(|_| StatusCode::UNAUTHORIZED)
    }
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(connection)
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: i64,
    exp: u64,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct NewTask {
    title: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct PageParams {
    first: Option<i64>,
    /// `<createdAt>,<id>` of the last task of the previous page.
    after: Option<String>,
    count: Option<bool>,
}

async fn register(
    State(app): State<Shared>,
    Json(input): Json<Credentials>,
) -> Result<Json<Value>, StatusCode> {
    let _turn = app
        .hashing
        .acquire()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let hashing = app.clone();
    let hash = tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        hashing
            .argon2
            .hash_password(input.password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)??;
    let id = app.with_db(|db| {
        db.query_row(
            "INSERT INTO users (username, password_hash) VALUES (?1, ?2) RETURNING id",
            params![input.username, hash],
            |row| row.get::<_, i64>(0),
        )
    })?;
    Ok(Json(json!({ "id": id })))
}

async fn login(
    State(app): State<Shared>,
    Json(input): Json<Credentials>,
) -> Result<Json<Value>, StatusCode> {
    let user = app.with_db(|db| {
        db.query_row(
            "SELECT id, password_hash FROM users WHERE username = ?1",
            params![input.username],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
        )
        .optional()
    })?;
    let (id, hash) = user.ok_or(StatusCode::UNAUTHORIZED)?;
    let _turn = app
        .hashing
        .acquire()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let verifying = app.clone();
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            verifying
                .argon2
                .verify_password(input.password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    if !matches {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .as_secs()
        + 1800;
    let token = jsonwebtoken::encode(&Header::default(), &Claims { sub: id, exp }, &app.encoding)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({ "accessToken": token })))
}

/// A task as the API shows it, serialized straight from the row's values.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    id: i64,
    title: String,
    description: Option<String>,
    status: String,
    created_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskPage {
    nodes: Vec<Task>,
    end_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_count: Option<i64>,
}

fn task_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: row.get(0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        status: row.get(3)?,
        created_at: row.get(4)?,
    })
}

async fn list(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(page): Query<PageParams>,
) -> Result<Json<TaskPage>, StatusCode> {
    let owner = app.viewer(&headers)?;
    let first = page.first.unwrap_or(20).clamp(0, 100);
    let after = match page.after.as_deref() {
        Some(cursor) => {
            let (created_at, id) = cursor.split_once(',').ok_or(StatusCode::BAD_REQUEST)?;
            let id: i64 = id.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
            Some((created_at.to_owned(), id))
        }
        None => None,
    };
    let body = app.with_db(|db| {
        let (nodes, cursor) = {
            let mut rows = Vec::new();
            let mut last = None;
            let mut collect = |row: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
                let task = task_of(row)?;
                last = Some(format!("{},{}", task.created_at, task.id));
                rows.push(task);
                Ok(())
            };
            const COLUMNS: &str = "SELECT id, title, description, status, created_at FROM tasks";
            match &after {
                Some((created_at, id)) => {
                    let mut statement = db.prepare_cached(&format!(
                        "{COLUMNS} WHERE owner_id = ?1 AND (created_at, id) < (?2, ?3) \
                         ORDER BY created_at DESC, id DESC LIMIT ?4"
                    ))?;
                    let mut result = statement.query(params![owner, created_at, id, first])?;
                    while let Some(row) = result.next()? {
                        collect(row)?;
                    }
                }
                None => {
                    let mut statement = db.prepare_cached(&format!(
                        "{COLUMNS} WHERE owner_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
                    ))?;
                    let mut result = statement.query(params![owner, first])?;
                    while let Some(row) = result.next()? {
                        collect(row)?;
                    }
                }
            }
            (rows, last)
        };
        let total_count = match page.count.unwrap_or(false) {
            true => Some(
                db.prepare_cached("SELECT COUNT(*) FROM tasks WHERE owner_id = ?1")?
                    .query_row(params![owner], |row| row.get(0))?,
            ),
            false => None,
        };
        Ok(TaskPage {
            nodes,
            end_cursor: cursor,
            total_count,
        })
    })?;
    Ok(Json(body))
}

/// Creates the tasks posted as a JSON array in one transaction.
async fn create(
    State(app): State<Shared>,
    headers: HeaderMap,
    Json(tasks): Json<Vec<NewTask>>,
) -> Result<Json<Vec<Task>>, StatusCode> {
    let owner = app.viewer(&headers)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let created = app.with_db(|db| {
        let transaction = db.unchecked_transaction()?;
        let mut created = Vec::with_capacity(tasks.len());
        {
            let mut statement = transaction.prepare_cached(
                "INSERT INTO tasks (owner_id, title, description, status, created_at) \
                 VALUES (?1, ?2, ?3, 'TODO', ?4) \
                 RETURNING id, title, description, status, created_at",
            )?;
            for task in &tasks {
                created.push(
                    statement
                        .query_row(params![owner, task.title, task.description, now], task_of)?,
                );
            }
        }
        transaction.commit()?;
        Ok(created)
    })?;
    Ok(Json(created))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .context("usage: reference <address> <sqlite file>")?;
    let database = args
        .next()
        .context("usage: reference <address> <sqlite file>")?;
    open(&database)?.execute_batch(
        "CREATE TABLE IF NOT EXISTS users (
             id INTEGER PRIMARY KEY,
             username TEXT NOT NULL UNIQUE,
             password_hash TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS tasks (
             id INTEGER PRIMARY KEY,
             owner_id INTEGER NOT NULL REFERENCES users (id),
             title TEXT NOT NULL,
             description TEXT,
             status TEXT NOT NULL,
             created_at TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner_id, created_at DESC, id DESC);",
    )?;
    let params = Params::new(19_456, 2, 1, None).map_err(|err| anyhow::anyhow!("{err}"))?;
    let app = Arc::new(App {
        database,
        encoding: EncodingKey::from_secret(SECRET),
        decoding: DecodingKey::from_secret(SECRET),
        validation: Validation::default(),
        argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        hashing: Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
    });
    let router = Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/tasks", get(list).post(create))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
