//! Tasks: `task`, `tasks`, `createTask`, `updateTask`, `deleteTask`. Every resolver goes
//! through the viewer's [`ViewerTasks`]; none reaches the tasks table another way.

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    ComplexObject, Context, ID, InputObject, MaybeUndefined, Object, SimpleObject,
};
use uuid::Uuid;

use super::scalars::DateTime;
use super::users::{User, UserLoader};
use super::{parse_id, state, viewer};
use crate::domain::{TaskDescription, TaskPriority, TaskStatus, TaskTitle};
use crate::error::AppError;
use crate::store::TaskRecord;
use crate::store::tasks::{Cursor, NewTask, Page, TaskPatch, ViewerTasks};

/// Page size when `first` is not given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page served; larger requests are cut to this size.
pub const MAX_PAGE_SIZE: u64 = 100;

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
        ctx.data_unchecked::<DataLoader<UserLoader>>()
            .load_one(self.owner_id)
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("cannot load a task owner: {err}")))?
            .map(User::from)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("task owner is missing")))
    }
}

impl From<TaskRecord> for Task {
    fn from(task: TaskRecord) -> Self {
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
    /// Pass as `after` to continue after this task.
    cursor: String,
    /// The task.
    node: Task,
}

/// Where a page sits in the whole list (GraphQL Cursor Connections).
#[derive(SimpleObject)]
pub struct PageInfo {
    /// More tasks follow this page.
    has_next_page: bool,
    /// Tasks precede this page.
    has_previous_page: bool,
    /// Cursor of the first task of the page; null for an empty page.
    start_cursor: Option<String>,
    /// Cursor of the last task of the page; null for an empty page.
    end_cursor: Option<String>,
}

/// A page of the viewer's tasks.
#[derive(SimpleObject)]
pub struct TaskConnection {
    /// The tasks of this page with their cursors.
    edges: Vec<TaskEdge>,
    /// The tasks of this page, without cursors.
    nodes: Vec<Task>,
    /// Where this page sits.
    page_info: PageInfo,
    /// How many tasks the viewer has in all.
    total_count: i32,
}

impl From<Page> for TaskConnection {
    fn from(page: Page) -> Self {
        let cursors: Vec<String> = page
            .tasks
            .iter()
            .map(|(cursor, _)| cursor.encode())
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
            .map(|((_, record), cursor)| {
                let edge = TaskEdge {
                    cursor,
                    node: Task::from(record.clone()),
                };
                (edge, Task::from(record))
            })
            .unzip();
        Self {
            edges,
            nodes,
            page_info,
            total_count: i32::try_from(page.total_count).unwrap_or(i32::MAX),
        }
    }
}

/// The number of tasks a page holds for a `first` argument (negative counts as empty).
fn page_size(first: Option<i32>) -> u64 {
    first.map_or(DEFAULT_PAGE_SIZE, |n| {
        u64::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE)
    })
}

/// A new task.
#[derive(InputObject)]
pub struct CreateTaskInput {
    /// 1 to 200 characters; surrounding spaces are removed.
    title: String,
    /// At most 10,000 characters.
    description: Option<String>,
    /// Starting status; creating a task as DONE sets `completedAt`. Null means TODO.
    #[graphql(default_with = "Some(TaskStatus::Todo)")]
    status: Option<TaskStatus>,
    /// How urgent it is. Null means MEDIUM.
    #[graphql(default_with = "Some(TaskPriority::Medium)")]
    priority: Option<TaskPriority>,
    /// When it should be done.
    due_at: Option<DateTime>,
}

/// Changes to a task. An absent field is left unchanged; an explicit null clears
/// `description` or `dueAt` (and is refused for the other fields, which cannot be empty).
#[derive(InputObject)]
pub struct UpdateTaskInput {
    /// New title, 1 to 200 characters.
    title: MaybeUndefined<String>,
    /// New description, or null to clear it.
    description: MaybeUndefined<String>,
    /// New status.
    status: MaybeUndefined<TaskStatus>,
    /// New priority.
    priority: MaybeUndefined<TaskPriority>,
    /// New due time, or null to clear it.
    due_at: MaybeUndefined<DateTime>,
}

impl UpdateTaskInput {
    fn into_patch(self) -> Result<TaskPatch, AppError> {
        Ok(TaskPatch {
            title: required(self.title, "title")?
                .map(|title| TaskTitle::parse(&title))
                .transpose()?,
            description: clearable(self.description)
                .map(|value| value.map(|text| TaskDescription::parse(&text)).transpose())
                .transpose()?,
            status: required(self.status, "status")?,
            priority: required(self.priority, "priority")?,
            due_at: clearable(self.due_at).map(|value| value.map(|at| at.0)),
        })
    }
}

/// A field that may be absent but not null.
fn required<T>(value: MaybeUndefined<T>, field: &str) -> Result<Option<T>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(format!(
            "`{field}` cannot be null; leave it out to keep the current value"
        ))),
        MaybeUndefined::Value(value) => Ok(Some(value)),
    }
}

/// A field where null means "clear".
fn clearable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

/// Task queries.
#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    /// One of the viewer's tasks; null when it does not exist or is not the viewer's
    /// (the two are indistinguishable).
    async fn task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
    ) -> Result<Option<Task>, AppError> {
        let viewer = viewer(ctx)?;
        let id = parse_id(&id, "id")?;
        let task = ViewerTasks::new(&state(ctx).db, viewer).get(id).await?;
        Ok(task.map(Task::from))
    }

    /// The viewer's tasks, newest first.
    #[graphql(complexity = "page_size(first) as usize * child_complexity + 1")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many tasks to return: 20 when absent, at most 100; 0 returns an empty page."
        )]
        first: Option<i32>,
        #[graphql(desc = "Return tasks after this cursor (from `endCursor` or an edge).")]
        after: Option<String>,
    ) -> Result<TaskConnection, AppError> {
        let viewer = viewer(ctx)?;
        if first.is_some_and(|n| n < 0) {
            return Err(AppError::bad_input("`first` must not be negative"));
        }
        let first = page_size(first);
        let after = after
            .map(|cursor| {
                Cursor::decode(&cursor)
                    .ok_or_else(|| AppError::bad_input("`after` is not a valid cursor"))
            })
            .transpose()?;
        let page = ViewerTasks::new(&state(ctx).db, viewer)
            .page(after, first)
            .await?;
        Ok(page.into())
    }
}

/// Task mutations.
#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// Creates a task owned by the viewer.
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new task.")] input: CreateTaskInput,
    ) -> Result<Task, AppError> {
        let viewer = viewer(ctx)?;
        let new = NewTask {
            title: TaskTitle::parse(&input.title)?,
            description: input
                .description
                .map(|text| TaskDescription::parse(&text))
                .transpose()?,
            status: input.status.unwrap_or_default(),
            priority: input.priority.unwrap_or_default(),
            due_at: input.due_at.map(|at| at.0),
        };
        let task = ViewerTasks::new(&state(ctx).db, viewer).create(new).await?;
        Ok(task.into())
    }

    /// Changes one of the viewer's tasks; NOT_FOUND when it does not exist or is not theirs.
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
        #[graphql(desc = "The fields to change.")] input: UpdateTaskInput,
    ) -> Result<Task, AppError> {
        let viewer = viewer(ctx)?;
        let id = parse_id(&id, "id")?;
        let patch = input.into_patch()?;
        let task = ViewerTasks::new(&state(ctx).db, viewer)
            .update(id, patch)
            .await?;
        Ok(task.into())
    }

    /// Deletes one of the viewer's tasks and returns its id; NOT_FOUND when it does not
    /// exist or is not theirs.
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
    ) -> Result<ID, AppError> {
        let viewer = viewer(ctx)?;
        let task_id = parse_id(&id, "id")?;
        ViewerTasks::new(&state(ctx).db, viewer)
            .delete(task_id)
            .await?;
        Ok(ID(task_id.to_string()))
    }
}
