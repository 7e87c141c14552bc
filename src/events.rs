//! Task change notifications behind `taskEvents`.
//!
//! Mutations publish a [`TaskChange`]: who owns the task, which task, what happened, and
//! the task as the mutation left it, so a subscriber sees each state even when the next
//! change follows at once. Subscribers keep only their own tasks' changes. On SQLite a tokio broadcast channel carries changes within the process;
//! on PostgreSQL they travel through LISTEN/NOTIFY, so every replica sharing the database
//! hears every change, its own included.

use std::time::Duration;

use async_graphql::Enum;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::store::tasks::Task;

/// PostgreSQL channel the changes travel on.
const CHANNEL: &str = "taskql_task_events";
/// Changes a slow subscriber may fall behind by before it skips some.
const BUFFER: usize = 1024;
/// PostgreSQL refuses notification payloads of 8000 bytes or more.
const MAX_NOTIFY_BYTES: usize = 7_900;

/// What happened to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[graphql(name = "TaskEventKind")]
pub enum TaskChangeKind {
    /// The task was created.
    Created,
    /// The task was changed.
    Updated,
    /// The task was deleted.
    Deleted,
}

/// One change of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskChange {
    pub owner_id: Uuid,
    pub task_id: Uuid,
    pub kind: TaskChangeKind,
    /// The task after the change; `None` for a deletion, and for a task too large for a
    /// PostgreSQL notification (subscribers then read it back).
    pub task: Option<Task>,
}

/// The publish/subscribe hub of task changes.
#[derive(Clone)]
pub struct TaskEvents {
    sender: broadcast::Sender<TaskChange>,
    /// Set on PostgreSQL, where publishing is a NOTIFY.
    notify: Option<DatabaseConnection>,
}

impl TaskEvents {
    /// Starts the hub for `db`; on PostgreSQL this also starts listening on the channel.
    pub async fn start(db: &DatabaseConnection) -> anyhow::Result<Self> {
        let (sender, _) = broadcast::channel(BUFFER);
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(Self {
                sender,
                notify: None,
            });
        }
        let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
        listener.listen(CHANNEL).await?;
        tokio::spawn(relay(listener, sender.clone()));
        Ok(Self {
            sender,
            notify: Some(db.clone()),
        })
    }

    /// Announces a change to every subscriber. A change that cannot be published is
    /// logged: the mutation it reports has already happened.
    pub async fn publish(&self, change: TaskChange) {
        let Some(db) = &self.notify else {
            // No receivers is not an error: nobody is subscribed right now.
            let _ = self.sender.send(change);
            return;
        };
        let payload = serde_json::to_string(&change).and_then(|payload| {
            if payload.len() <= MAX_NOTIFY_BYTES {
                return Ok(payload);
            }
            serde_json::to_string(&TaskChange {
                task: None,
                ..change
            })
        });
        let result = match payload {
            Ok(payload) => db
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), payload.into()],
                ))
                .await
                .map(drop)
                .map_err(anyhow::Error::from),
            Err(err) => Err(err.into()),
        };
        if let Err(err) = result {
            tracing::error!(error = format!("{err:#}"), "cannot publish a task change");
        }
    }

    /// A receiver of every change published from now on, of every owner.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskChange> {
        self.sender.subscribe()
    }
}

/// Forwards notifications from PostgreSQL to the local subscribers. The listener
/// reconnects by itself after a lost connection; notifications sent meanwhile are lost.
async fn relay(mut listener: PgListener, sender: broadcast::Sender<TaskChange>) {
    loop {
        match listener.recv().await {
            Ok(notification) => match serde_json::from_str(notification.payload()) {
                Ok(change) => {
                    let _ = sender.send(change);
                }
                Err(err) => tracing::warn!(error = %err, "ignoring a malformed task change"),
            },
            Err(err) => {
                tracing::warn!(error = %err, "task change listener lost its connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
