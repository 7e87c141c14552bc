//! Tasks, readable and writable only through a viewer.
//!
//! [`ViewerTasks`] is the single way to reach the tasks table. It can only be built from an
//! authenticated [`Viewer`], and every statement it issues is filtered by that viewer's id,
//! so another user's task behaves exactly like a missing one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use uuid::Uuid;

use super::entities::task::{self, Column, Entity as Tasks};
use super::{TaskRecord, now};
use crate::auth::Viewer;
use crate::domain::{TaskDescription, TaskPriority, TaskStatus, TaskTitle};
use crate::error::AppError;

/// A position in the default order (newest first, then id), opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    const PREFIX: &'static str = "c1:";

    fn of(task: &TaskRecord) -> Self {
        Self {
            created_at: task.created_at,
            id: task.id,
        }
    }

    /// The opaque string handed to clients.
    pub fn encode(&self) -> String {
        let raw = format!(
            "{}{}:{}",
            Self::PREFIX,
            self.created_at.timestamp_micros(),
            self.id.simple()
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// `None` for anything this server did not produce.
    pub fn decode(cursor: &str) -> Option<Self> {
        if cursor.len() > 128 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let (micros, id) = raw.strip_prefix(Self::PREFIX)?.split_once(':')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::try_parse(id).ok()?,
        })
    }

    /// Rows after this one in the default order.
    fn after(&self) -> Condition {
        Condition::any()
            .add(Column::CreatedAt.lt(self.created_at))
            .add(
                Condition::all()
                    .add(Column::CreatedAt.eq(self.created_at))
                    .add(Column::Id.lt(self.id)),
            )
    }
}

/// One page of tasks in the default order.
#[derive(Debug)]
pub struct Page {
    pub tasks: Vec<(Cursor, TaskRecord)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub total_count: u64,
}

/// What `createTask` stores.
pub struct NewTask {
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub status: TaskStatus,
    pub priority: TaskPriority,
    pub due_at: Option<DateTime<Utc>>,
}

/// What `updateTask` changes: `None` leaves a field alone; `Some(None)` clears it.
#[derive(Default)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<TaskDescription>>,
    pub status: Option<TaskStatus>,
    pub priority: Option<TaskPriority>,
    pub due_at: Option<Option<DateTime<Utc>>>,
}

impl TaskPatch {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.status.is_none()
            && self.priority.is_none()
            && self.due_at.is_none()
    }
}

/// The tasks of one viewer.
pub struct ViewerTasks<'a> {
    db: &'a DatabaseConnection,
    owner_id: Uuid,
}

impl<'a> ViewerTasks<'a> {
    pub fn new(db: &'a DatabaseConnection, viewer: &Viewer) -> Self {
        Self {
            db,
            owner_id: viewer.user_id(),
        }
    }

    fn scoped(&self) -> Select<Tasks> {
        Tasks::find().filter(Column::OwnerId.eq(self.owner_id))
    }

    /// The viewer's task with this id; `None` also when it is someone else's.
    pub async fn get(&self, id: Uuid) -> Result<Option<TaskRecord>, AppError> {
        Ok(self.scoped().filter(Column::Id.eq(id)).one(self.db).await?)
    }

    /// Up to `first` tasks after `after`, newest first.
    pub async fn page(&self, after: Option<Cursor>, first: u64) -> Result<Page, AppError> {
        let mut query = self.scoped();
        if let Some(cursor) = after {
            query = query.filter(cursor.after());
        }
        let mut rows = query
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(first + 1)
            .all(self.db)
            .await?;
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let has_previous_page = match after {
            Some(cursor) => self
                .scoped()
                .filter(cursor.after().not())
                .limit(1)
                .one(self.db)
                .await?
                .is_some(),
            None => false,
        };
        Ok(Page {
            tasks: rows.into_iter().map(|t| (Cursor::of(&t), t)).collect(),
            has_next_page,
            has_previous_page,
            total_count: self.scoped().count(self.db).await?,
        })
    }

    pub async fn create(&self, new: NewTask) -> Result<TaskRecord, AppError> {
        let now = now();
        let row = task::ActiveModel {
            id: Set(Uuid::now_v7()),
            owner_id: Set(self.owner_id),
            title: Set(new.title.into_inner()),
            description: Set(new.description.map(TaskDescription::into_inner)),
            status: Set(new.status),
            priority: Set(new.priority),
            due_at: Set(new.due_at),
            completed_at: Set((new.status == TaskStatus::Done).then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        };
        Ok(row.insert(self.db).await?)
    }

    /// Applies `patch` in one owner-filtered statement, so concurrent updates of other
    /// fields are not overwritten; NOT_FOUND when the task is absent or not the viewer's.
    pub async fn update(&self, id: Uuid, patch: TaskPatch) -> Result<TaskRecord, AppError> {
        if patch.is_empty() {
            return self.get(id).await?.ok_or(AppError::NotFound("Task"));
        }
        let mut update = Tasks::update_many()
            .filter(Column::OwnerId.eq(self.owner_id))
            .filter(Column::Id.eq(id))
            .col_expr(Column::UpdatedAt, Expr::value(now()));
        if let Some(title) = patch.title {
            update = update.col_expr(Column::Title, Expr::value(title.into_inner()));
        }
        if let Some(description) = patch.description {
            let description = description.map(TaskDescription::into_inner);
            update = update.col_expr(Column::Description, Expr::value(description));
        }
        if let Some(priority) = patch.priority {
            update = update.col_expr(Column::Priority, Expr::value(priority));
        }
        if let Some(due_at) = patch.due_at {
            update = update.col_expr(Column::DueAt, Expr::value(due_at));
        }
        if let Some(status) = patch.status {
            update = update
                .col_expr(Column::Status, Expr::value(status))
                .col_expr(Column::CompletedAt, completed_at_after(status));
        }
        update
            .exec_with_returning(self.db)
            .await?
            .pop()
            .ok_or(AppError::NotFound("Task"))
    }

    /// Deletes the task; NOT_FOUND when it is absent or not the viewer's.
    pub async fn delete(&self, id: Uuid) -> Result<(), AppError> {
        let result = Tasks::delete_many()
            .filter(Column::OwnerId.eq(self.owner_id))
            .filter(Column::Id.eq(id))
            .exec(self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(AppError::NotFound("Task"));
        }
        Ok(())
    }
}

/// The new `completed_at` when the status is set to `status`: kept if the task was already
/// DONE, now if it becomes DONE, cleared otherwise. The CASE reads the row's previous status
/// (SQL evaluates every SET expression against the old row), so no read is needed first.
fn completed_at_after(status: TaskStatus) -> SimpleExpr {
    if status == TaskStatus::Done {
        Expr::case(
            Column::Status.eq(TaskStatus::Done),
            Expr::col(Column::CompletedAt),
        )
        .finally(Expr::value(now()))
        .into()
    } else {
        Expr::value(None::<DateTime<Utc>>)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_strings() {
        let cursor = Cursor {
            created_at: Utc.timestamp_micros(1_780_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in [
            "",
            "abc",
            "!!!!",
            &URL_SAFE_NO_PAD.encode("c1:notanumber:x"),
            &URL_SAFE_NO_PAD.encode(format!("c2:1:{}", Uuid::nil().simple())),
            &URL_SAFE_NO_PAD.encode("c1:1:not-a-uuid"),
            &URL_SAFE_NO_PAD.encode(format!("c1:{}:{}", i64::MAX, Uuid::nil().simple())),
            &"A".repeat(10_000),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
