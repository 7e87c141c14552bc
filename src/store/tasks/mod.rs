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
pub(super) use repository::find;
pub use repository::{NewTask, Page, PageQuery, PageSize, TaskPatch, ViewerTasks};

use super::entities::task;
use crate::domain::{TaskPriority, TaskStatus};

plain_from_model! {
    /// One task as the rest of taskql sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Task from task::Model {
        /// The task's id.
        pub id: Uuid,
        /// The account it belongs to.
        pub owner_id: Uuid,
        /// 1 to 200 characters.
        pub title: String,
        /// Free text, if any.
        pub description: Option<String>,
        /// Where the task stands.
        pub status: TaskStatus,
        /// How urgent it is.
        pub priority: TaskPriority,
        /// When it should be done, if ever.
        pub due_at: Option<DateTime<Utc>>,
        /// When it became DONE, while it is.
        pub completed_at: Option<DateTime<Utc>>,
        /// When it was created.
        pub created_at: DateTime<Utc>,
        /// When it last changed.
        pub updated_at: DateTime<Utc>,
    }
}
