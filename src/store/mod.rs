//! Data access. Entities stay private to this module: the rest of taskql reads and writes
//! through [`users`], [`sessions`], [`second_factor`], [`security_events`], [`outbox`],
//! [`mail_tokens`], [`admin`] and [`tasks`]: tasks only through a viewer's
//! [`tasks::ViewerTasks`], and listings of every account and every history through an
//! administrator's [`admin::AdminStore`], which has no way to tasks. Every function returns plain types
//! of this module's own, so nothing outside it can reach a table around the owner scope.

/// Declares a plain type of the store's own holding columns of an entity's model, and its
/// conversion from the model. The store returns these instead of models, so no caller can
/// reach a table through what it was given. Each field names a column of the model.
macro_rules! plain_from_model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident from $model:ty {
            $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
        }

        impl From<$model> for $name {
            fn from(model: $model) -> Self {
                Self {
                    $($field: model.$field,)*
                }
            }
        }
    };
}

pub mod admin;
mod entities;
pub mod events;
pub mod mail_tokens;
pub mod outbox;
pub mod second_factor;
pub mod security_events;
pub mod sessions;
pub mod tasks;
pub mod users;

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// Opens the pool. A missing SQLite file is created, readable by its owner only; SQLite
/// gets WAL, enforced foreign keys and a busy timeout, so concurrent requests wait for the
/// writer instead of failing.
pub async fn connect(database_url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_pool(database_url, None).await
}

/// A pool of at most two connections, for background work (the mail worker) that must
/// neither take a request's connection nor count as its work.
pub async fn connect_background(database_url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_pool(database_url, Some(2)).await
}

async fn connect_pool(
    database_url: &str,
    max_connections: Option<u32>,
) -> anyhow::Result<DatabaseConnection> {
    if let Some(file) = sqlite_file(database_url) {
        make_private(&file)?;
    }
    let mut options = ConnectOptions::new(database_url);
    if let Some(max) = max_connections {
        options.max_connections(max).min_connections(0);
    }
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options)
        .await
        .context("cannot connect to the database")
}

/// The file a SQLite `database_url` names, as SQLite will open it: `None` for PostgreSQL
/// and for a database in memory.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database.is_empty()
        || database == ":memory:"
        || params.split('&').any(|param| param == "mode=memory")
    {
        return None;
    }
    // sqlx's own parser (it decodes `%`-escapes), so that this is the file the pool opens.
    let options = SqliteConnectOptions::from_str(database_url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Keeps the SQLite database and its `-wal` and `-shm` files readable by their owner only:
/// they hold password and refresh-token hashes. A missing database file is created with
/// mode 0600 before SQLite opens it, since SQLite gives the other two the database file's
/// permissions; an existing file open to others is narrowed to its owner, with a warning,
/// so that files an earlier release left world-readable need no manual step.
fn make_private(database: &Path) -> anyhow::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(database)
    {
        Ok(_) => return Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
        Err(err) => {
            return Err(err).with_context(|| format!("cannot create {}", database.display()));
        }
    }
    let mut files = vec![database.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    for file in files {
        let mode = match fs::metadata(&file) {
            Ok(metadata) => metadata.permissions().mode(),
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", file.display())),
        };
        if mode & 0o077 == 0 {
            continue;
        }
        let private = mode & 0o700;
        fs::set_permissions(&file, fs::Permissions::from_mode(private)).with_context(|| {
            format!(
                "{} is open to other users (mode {:o}); run `chmod 600` on it as its owner",
                file.display(),
                mode & 0o777
            )
        })?;
        tracing::warn!(
            file = %file.display(),
            was = format!("{:o}", mode & 0o777),
            now = format!("{private:o}"),
            "a database file was open to other users; it is now its owner's only"
        );
    }
    Ok(())
}

/// How many SQL statements a connection pool has run since it was opened. Observability
/// for operators, and how the tests prove that a page of tasks with owners costs a constant
/// number of queries.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Starts counting the statements of `db` and of every clone made from it afterwards.
    pub fn install(db: &mut DatabaseConnection) -> Self {
        let counter = Self::default();
        let count = Arc::clone(&counter.0);
        db.set_metric_callback(move |info| {
            count.fetch_add(1, AtomicOrdering::Relaxed);
            tracing::trace!(
                elapsed_us = info.elapsed.as_micros() as u64,
                failed = info.failed,
                "statement"
            );
        });
        counter
    }

    /// Statements run so far.
    pub fn get(&self) -> u64 {
        self.0.load(AtomicOrdering::Relaxed)
    }
}

/// Whether the database answers, for the health check.
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared("SELECT 1").await.map(drop)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("cannot migrate the database")
}

/// The current time at the precision both databases store (microseconds), so a value
/// read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A LIKE pattern (escape character `\`) that matches any text containing `text`, every
/// character of it literal.
fn containing(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(containing(r"100% _done_ \o/"), r"%100\% \_done\_ \\o/%");
    }

    #[test]
    fn sqlite_urls_name_their_file_and_others_none() {
        for (url, file) in [
            ("sqlite://taskql.db?mode=rwc", Some("taskql.db")),
            ("sqlite://data/app.db", Some("data/app.db")),
            (
                "sqlite:///srv/taskql/app.db?mode=rwc",
                Some("/srv/taskql/app.db"),
            ),
            ("sqlite:app.db", Some("app.db")),
            ("sqlite://my%20data.db?mode=rwc", Some("my data.db")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("sqlite://app.db?mode=memory", None),
            ("sqlite://", None),
            ("postgres://db.example.com/taskql", None),
        ] {
            assert_eq!(sqlite_file(url).as_deref(), file.map(Path::new), "{url}");
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_database_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("new.db");
        make_private(&database).unwrap();
        assert_eq!(mode(&database), 0o600);
        assert_eq!(fs::metadata(&database).unwrap().len(), 0);
    }

    #[test]
    fn existing_database_files_open_to_others_are_narrowed_to_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("old.db");
        let (wal, shm) = (dir.path().join("old.db-wal"), dir.path().join("old.db-shm"));
        for (file, mode) in [(&database, 0o644), (&wal, 0o664), (&shm, 0o606)] {
            fs::write(file, b"").unwrap();
            fs::set_permissions(file, fs::Permissions::from_mode(mode)).unwrap();
        }
        make_private(&database).unwrap();
        for file in [&database, &wal, &shm] {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        // An owner's own narrower choice is kept.
        fs::set_permissions(&database, fs::Permissions::from_mode(0o400)).unwrap();
        make_private(&database).unwrap();
        assert_eq!(mode(&database), 0o400);
    }
}
