//! The repository of one viewer's tasks: reads, pages and writes, each owner-filtered,
//! and each write announced to the viewer's subscriptions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Select, Set,
};
use uuid::Uuid;

use super::Task;
use super::cursor::Cursor;
use super::filter::TaskFilter;
use super::order::{Sort, beyond, ordered};
use crate::auth::Viewer;
use crate::domain::{TaskDescription, TaskPriority, TaskStatus, TaskTitle};
use crate::error::AppError;
use crate::store::entities::task::{self, Column, Entity as Tasks};
use crate::store::events::{Announced, TaskChangeKind, TaskEvents};
use crate::store::now;

/// How many tasks a page holds, counted from the front (`first`) or the back (`last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    First(u64),
    Last(u64),
}

/// What one `tasks` call asks for.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub filter: TaskFilter,
    pub sort: Sort,
    pub after: Option<Cursor>,
    pub before: Option<Cursor>,
    pub size: PageSize,
}

/// One page of tasks.
#[derive(Debug)]
pub struct Page {
    pub tasks: Vec<(Cursor, Task)>,
    pub sort: Sort,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// The filter the page was cut from, for counting its matches when asked.
    pub filter: TaskFilter,
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

/// The tasks of one viewer, and the changes to them.
pub struct ViewerTasks<'a> {
    pub(super) db: &'a DatabaseConnection,
    pub(super) events: &'a TaskEvents,
    pub(super) owner_id: Uuid,
}

impl<'a> ViewerTasks<'a> {
    /// The repository of `viewer`'s tasks; its writes are announced on `events`.
    pub fn new(db: &'a DatabaseConnection, events: &'a TaskEvents, viewer: &Viewer) -> Self {
        Self {
            db,
            events,
            owner_id: viewer.user_id(),
        }
    }

    fn scoped(&self) -> Select<Tasks> {
        scoped(self.owner_id)
    }

    /// The viewer's task with this id; `None` also when it is someone else's.
    pub async fn get(&self, id: Uuid) -> Result<Option<Task>, AppError> {
        find(self.db, self.owner_id, id).await
    }

    /// How many of the viewer's tasks match `filter`, on all pages together.
    pub async fn count(&self, filter: &TaskFilter) -> Result<u64, AppError> {
        let condition = filter.condition(self.db.get_database_backend(), now());
        Ok(self.scoped().filter(condition).count(self.db).await?)
    }

    /// One page of the viewer's tasks that match the filter, in the query's order,
    /// between its cursors; keyset-based, so a late page costs what the first does.
    pub async fn page(&self, query: PageQuery) -> Result<Page, AppError> {
        let backend = self.db.get_database_backend();
        let filtered = self.scoped().filter(query.filter.condition(backend, now()));
        let mut bounded = filtered.clone();
        if let Some(after) = &query.after {
            bounded = bounded.filter(beyond(after, &query.sort, true));
        }
        if let Some(before) = &query.before {
            bounded = bounded.filter(beyond(before, &query.sort, false));
        }
        let (forward, count) = match query.size {
            PageSize::First(count) => (true, count),
            PageSize::Last(count) => (false, count),
        };
        let mut rows = ordered(bounded, &query.sort, forward)
            .limit(count + 1)
            .all(self.db)
            .await?;
        let more = rows.len() as u64 > count;
        rows.truncate(count as usize);
        if !forward {
            rows.reverse();
        }
        // Is there anything on the far side of a cursor? (The cursor's own task counts:
        // it is not on this page.)
        let outside = |cursor: &Option<Cursor>, forward: bool| {
            let filtered = filtered.clone();
            let condition = cursor
                .as_ref()
                .map(|cursor| beyond(cursor, &query.sort, forward).not());
            async move {
                match condition {
                    Some(condition) => Ok::<_, AppError>(
                        filtered
                            .filter(condition)
                            .limit(1)
                            .one(self.db)
                            .await?
                            .is_some(),
                    ),
                    None => Ok(false),
                }
            }
        };
        let (has_next_page, has_previous_page) = if forward {
            (
                more || outside(&query.before, false).await?,
                outside(&query.after, true).await?,
            )
        } else {
            (
                outside(&query.before, false).await?,
                more || outside(&query.after, true).await?,
            )
        };
        Ok(Page {
            tasks: rows
                .into_iter()
                .map(|row| {
                    let task = Task::from(row);
                    (Cursor::of(&task, &query.sort), task)
                })
                .collect(),
            filter: query.filter,
            sort: query.sort,
            has_next_page,
            has_previous_page,
        })
    }

    /// Stores a new task of the viewer's and announces it.
    pub async fn create(&self, new: NewTask) -> Result<Task, AppError> {
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
        let task = Task::from(row.insert(self.db).await?);
        self.announce(TaskChangeKind::Created, task.id, Some(&task))
            .await;
        Ok(task)
    }

    /// Applies `patch` in one owner-filtered statement, so concurrent updates of other
    /// fields are not overwritten, and announces the result (an empty patch too);
    /// NOT_FOUND when the task is absent or not the viewer's.
    pub async fn update(&self, id: Uuid, patch: TaskPatch) -> Result<Task, AppError> {
        let task = self.apply(id, patch).await?;
        self.announce(TaskChangeKind::Updated, task.id, Some(&task))
            .await;
        Ok(task)
    }

    async fn apply(&self, id: Uuid, patch: TaskPatch) -> Result<Task, AppError> {
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
            .map(Task::from)
            .ok_or(AppError::NotFound("Task"))
    }

    /// Deletes the task and announces it; NOT_FOUND when it is absent or not the viewer's.
    pub async fn delete(&self, id: Uuid) -> Result<(), AppError> {
        let result = Tasks::delete_many()
            .filter(Column::OwnerId.eq(self.owner_id))
            .filter(Column::Id.eq(id))
            .exec(self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(AppError::NotFound("Task"));
        }
        self.announce(TaskChangeKind::Deleted, id, None).await;
        Ok(())
    }

    /// Tells the viewer's subscriptions, on every replica, what a write did. The write has
    /// happened whatever becomes of the announcement.
    async fn announce(&self, kind: TaskChangeKind, task_id: Uuid, task: Option<&Task>) {
        self.events
            .publish(Announced {
                owner_id: self.owner_id,
                task_id,
                kind,
                task: task.cloned(),
            })
            .await;
    }
}

fn scoped(owner_id: Uuid) -> Select<Tasks> {
    Tasks::find().filter(Column::OwnerId.eq(owner_id))
}

/// `owner_id`'s task with this id; `None` also when it is someone else's.
pub(in crate::store) async fn find(
    db: &DatabaseConnection,
    owner_id: Uuid,
    id: Uuid,
) -> Result<Option<Task>, AppError> {
    let found = scoped(owner_id).filter(Column::Id.eq(id)).one(db).await?;
    Ok(found.map(Task::from))
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
