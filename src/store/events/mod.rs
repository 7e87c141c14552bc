//! The hub of task changes behind `taskEvents`.
//!
//! Only the store reaches it: the viewer's task repository announces each write it makes,
//! and a subscription opens through [`ViewerTasks::changes`](super::tasks::ViewerTasks::changes),
//! which keeps that viewer's changes alone. Each change carries the task as the write left
//! it, so a subscriber sees each state even when the next change follows at once. On SQLite
//! a tokio broadcast channel carries changes within the process; on PostgreSQL they travel
//! through LISTEN/NOTIFY as a versioned [`wire`] payload, so every replica sharing the
//! database hears every change, its own included. A task too large for a notification
//! travels without it and is read back once by each replica's listener, before any
//! subscriber sees the change: one read per replica, however many subscribe.

mod wire;

use std::time::Duration;

use async_graphql::Enum;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::tasks::{Task, find};

/// PostgreSQL channel the changes travel on.
const CHANNEL: &str = "taskql_task_events";
/// Longest wait for reading back a task too large for its notification; the listener
/// relays nothing meanwhile.
const READ_BACK_WAIT: Duration = Duration::from_secs(2);
/// Changes a slow subscriber may fall behind by before it skips some.
const BUFFER: usize = 1024;

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

/// One change of one of the viewer's tasks, as the viewer's subscription yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChange {
    pub kind: TaskChangeKind,
    pub task_id: Uuid,
    /// The task after the change; `None` for a deletion.
    pub task: Option<Task>,
}

/// A change as it travels from a write to every subscriber, of every owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Announced {
    pub(super) owner_id: Uuid,
    pub(super) task_id: Uuid,
    pub(super) kind: TaskChangeKind,
    /// The task after the change; `None` for a deletion, and for a task too large for a
    /// PostgreSQL notification whose read-back failed (its subscribers get an error).
    pub(super) task: Option<Task>,
}

/// The publish/subscribe hub of task changes.
#[derive(Clone)]
pub struct TaskEvents {
    sender: broadcast::Sender<Announced>,
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
        tokio::spawn(relay(listener, sender.clone(), db.clone()));
        Ok(Self {
            sender,
            notify: Some(db.clone()),
        })
    }

    /// Announces a change to every subscriber. A change that cannot be published is
    /// logged: the write it reports has already happened.
    pub(super) async fn publish(&self, change: Announced) {
        let Some(db) = &self.notify else {
            // No receivers is not an error: nobody is subscribed right now.
            let _ = self.sender.send(change);
            return;
        };
        let result = match wire::encode(&change) {
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

    /// A receiver of every change published from now on, of every owner; the store
    /// narrows it to one viewer before anything else sees it.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Announced> {
        self.sender.subscribe()
    }
}

/// Forwards notifications from PostgreSQL to the local subscribers, reading back a task
/// too large to travel with its notification. The listener reconnects by itself after a
/// lost connection; notifications sent meanwhile are lost.
async fn relay(
    mut listener: PgListener,
    sender: broadcast::Sender<Announced>,
    db: DatabaseConnection,
) {
    loop {
        match listener.recv().await {
            Ok(notification) => match wire::decode(notification.payload()) {
                Ok(mut change) => {
                    if change.task.is_none() && change.kind != TaskChangeKind::Deleted {
                        // Nobody here to read it for.
                        if sender.receiver_count() == 0 {
                            continue;
                        }
                        match tokio::time::timeout(
                            READ_BACK_WAIT,
                            find(&db, change.owner_id, change.task_id),
                        )
                        .await
                        {
                            Ok(Ok(Some(task))) => change.task = Some(task),
                            // Deleted meanwhile: its DELETED change follows.
                            Ok(Ok(None)) => continue,
                            // Sent on without its task: its subscribers are told to refetch.
                            Ok(Err(err)) => {
                                tracing::warn!(error = %err, "cannot read back a changed task");
                            }
                            Err(_) => tracing::warn!("reading back a changed task timed out"),
                        }
                    }
                    let _ = sender.send(change);
                }
                Err(err) => tracing::warn!(error = %err, "ignoring a task change notification"),
            },
            Err(err) => {
                tracing::warn!(error = %err, "task change listener lost its connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
