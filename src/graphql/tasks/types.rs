//! The GraphQL shapes of tasks: the task, its connection and its change event, each
//! built from the store's plain values.

use async_graphql::{ComplexObject, Context, ID, SimpleObject};
use uuid::Uuid;

use crate::domain::{TaskPriority, TaskStatus};
use crate::error::AppError;
use crate::graphql::paging::PageInfo;
use crate::graphql::scalars::DateTime;
use crate::graphql::users::{CachingUserLoader, User};
use crate::store::events::{TaskChange, TaskChangeKind};
use crate::store::tasks::{self, Page};

/// Something to do, owned by one user and visible only to them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Task {
    /// The task's id, a UUID.
    id: ID,
    /// 1 to 200 characters.
    title: String,
    /// Free text, at most 10,000 characters.
    description: Option<String>,
    /// Where the task stands.
    status: TaskStatus,
    /// How urgent it is.
    priority: TaskPriority,
    /// When it should be done, if ever.
    due_at: Option<DateTime>,
    /// Set when the status becomes DONE, kept while it stays DONE, cleared when it leaves DONE.
    completed_at: Option<DateTime>,
    /// When the task was created.
    created_at: DateTime,
    /// When the task last changed.
    updated_at: DateTime,
    #[graphql(skip)]
    owner_id: Uuid,
}

#[ComplexObject]
impl Task {
    /// The user the task belongs to: always the viewer.
    async fn owner(&self, ctx: &Context<'_>) -> Result<User, AppError> {
        ctx.data_unchecked::<CachingUserLoader>()
            .load_one(self.owner_id)
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("cannot load a task owner: {err}")))?
            .map(User::from)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("task owner is missing")))
    }
}

impl From<tasks::Task> for Task {
    fn from(task: tasks::Task) -> Self {
        Self {
            id: ID(task.id.to_string()),
            title: task.title,
            description: task.description,
            status: task.status,
            priority: task.priority,
            due_at: task.due_at.map(DateTime),
            completed_at: task.completed_at.map(DateTime),
            created_at: task.created_at.into(),
            updated_at: task.updated_at.into(),
            owner_id: task.owner_id,
        }
    }
}

/// One task in a connection, with the cursor that points at it.
#[derive(SimpleObject)]
pub struct TaskEdge {
    /// Pass as `after` to continue after this task, or as `before` to page back from it.
    cursor: String,
    /// The task.
    node: Task,
}

/// A page of the viewer's tasks.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct TaskConnection {
    /// The tasks of this page with their cursors.
    edges: Vec<TaskEdge>,
    /// The tasks of this page, without cursors.
    nodes: Vec<Task>,
    /// Where this page sits.
    page_info: PageInfo,
    #[graphql(skip)]
    filter: tasks::TaskFilter,
}

#[ComplexObject]
impl TaskConnection {
    /// How many of the viewer's tasks match the filter, on all pages together. Counted
    /// only when asked for: `tasks` prices the count in whether or not it is.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32, AppError> {
        let count = super::viewer_tasks(ctx)?.count(&self.filter).await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

impl From<Page> for TaskConnection {
    fn from(page: Page) -> Self {
        let cursors: Vec<String> = page
            .tasks
            .iter()
            .map(|(cursor, _)| cursor.encode(&page.sort))
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        };
        let (edges, nodes) = page
            .tasks
            .into_iter()
            .zip(cursors)
            .map(|((_, task), cursor)| {
                let edge = TaskEdge {
                    cursor,
                    node: Task::from(task.clone()),
                };
                (edge, Task::from(task))
            })
            .unzip();
        Self {
            edges,
            nodes,
            page_info,
            filter: page.filter,
        }
    }
}

/// A change to one of the viewer's tasks.
#[derive(SimpleObject)]
pub struct TaskEvent {
    /// What happened.
    kind: TaskChangeKind,
    /// The task's id.
    task_id: ID,
    /// The task as it is now; null when it was deleted.
    task: Option<Task>,
}

impl From<TaskChange> for TaskEvent {
    fn from(change: TaskChange) -> Self {
        Self {
            kind: change.kind,
            task_id: ID(change.task_id.to_string()),
            task: change.task.map(Task::from),
        }
    }
}
