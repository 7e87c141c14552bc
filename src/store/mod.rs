//! Data access. Entities stay private to this module: the rest of taskql reads and writes
//! through [`users`], [`sessions`] and [`tasks`], and tasks only through a viewer's
//! [`tasks::ViewerTasks`]. Every function returns plain types of this module's own, so
//! nothing outside it can reach a table around the owner scope.

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

mod entities;
pub mod events;
pub mod sessions;
pub mod tasks;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// Opens the pool. A missing SQLite file is created; SQLite gets WAL, enforced foreign keys
/// and a busy timeout, so concurrent requests wait for the writer instead of failing.
pub async fn connect(database_url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(database_url);
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
