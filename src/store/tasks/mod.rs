//! Tasks, readable and writable only through a viewer.
//!
//! [`ViewerTasks`] is the single way to reach the tasks table. It can only be built from an
//! authenticated [`Viewer`](crate::auth::Viewer), and every statement it issues is filtered
//! by that viewer's id, so another user's task behaves exactly like a missing one. What it
//! returns is a [`Task`]: plain data, with no way back to the table.

mod changes;
mod cursor;
mod filter;
mod order;
mod repository;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use cursor::Cursor;
pub use filter::{SearchText, TaskFilter};
pub use order::{Sort, SortKey};
pub use repository::{NewTask, Page, PageQuery, PageSize, TaskPatch, ViewerTasks};

use super::entities::task;
use crate::domain::{TaskPriority, TaskStatus};

/// One task as the rest of taskql sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority: TaskPriority,
    pub due_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<task::Model> for Task {
    fn from(task: task::Model) -> Self {
        Self {
            id: task.id,
            owner_id: task.owner_id,
            title: task.title,
            description: task.description,
            status: task.status,
            priority: task.priority,
            due_at: task.due_at,
            completed_at: task.completed_at,
            created_at: task.created_at,
            updated_at: task.updated_at,
        }
    }
}
