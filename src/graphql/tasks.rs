//! Tasks: `task`, `tasks`, `createTask`, `updateTask`, `deleteTask`. Every resolver goes
//! through the viewer's [`ViewerTasks`]; none reaches the tasks table another way.

use std::collections::HashSet;

use async_graphql::{
    ComplexObject, Context, ID, InputObject, MaybeUndefined, Object, SimpleObject, Subscription,
};
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use super::scalars::DateTime;
use super::users::{CachingUserLoader, User};
use super::{parse_id, state, viewer};
use crate::auth::Viewer;
use crate::domain::{
    OrderDirection, OrderField, TaskDescription, TaskPriority, TaskStatus, TaskTitle,
};
use crate::error::AppError;
use crate::store::events::{TaskChange, TaskChangeKind};
use crate::store::tasks::{
    self as store, Cursor, NewTask, Page, PageQuery, PageSize, SearchText, Sort, SortKey,
    TaskPatch, ViewerTasks,
};

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
        ctx.data_unchecked::<CachingUserLoader>()
            .load_one(self.owner_id)
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("cannot load a task owner: {err}")))?
            .map(User::from)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("task owner is missing")))
    }
}

impl From<store::Task> for Task {
    fn from(task: store::Task) -> Self {
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
    /// How many of the viewer's tasks match the filter, on all pages together.
    total_count: i32,
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

/// The number of tasks a page holds for a `first` or `last` argument (negative counts as
/// empty; resolvers refuse it before it matters).
fn page_size(count: Option<i32>) -> u64 {
    count.map_or(DEFAULT_PAGE_SIZE, |n| {
        u64::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE)
    })
}

/// Which of the viewer's tasks `tasks` returns. Every field given narrows the result.
#[derive(InputObject, Default)]
pub struct TaskFilter {
    /// Only tasks in one of these statuses (an empty list matches nothing).
    status: Option<Vec<TaskStatus>>,
    /// Only tasks with one of these priorities (an empty list matches nothing).
    priority: Option<Vec<TaskPriority>>,
    /// Only tasks whose title or description contains this text, ignoring letter case.
    /// Every character is matched literally; at most 200 characters.
    search: Option<String>,
    /// Only tasks due strictly before this time.
    due_before: Option<DateTime>,
    /// Only tasks due strictly after this time.
    due_after: Option<DateTime>,
    /// true: only tasks due in the past and not DONE; false: only the others.
    overdue: Option<bool>,
}

impl TaskFilter {
    fn parse(self) -> Result<store::TaskFilter, AppError> {
        Ok(store::TaskFilter {
            status: self.status,
            priority: self.priority,
            search: self.search.as_deref().map(SearchText::parse).transpose()?,
            due_before: self.due_before.map(|at| at.0),
            due_after: self.due_after.map(|at| at.0),
            overdue: self.overdue,
        })
    }
}

/// One key of the order of `tasks`.
#[derive(InputObject)]
pub struct TaskOrder {
    /// The field to order by.
    field: OrderField,
    /// Smallest or largest first.
    direction: OrderDirection,
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
        let task = viewer_tasks(ctx, viewer).get(id).await?;
        Ok(task.map(Task::from))
    }

    /// The viewer's tasks, a page at a time (GraphQL Cursor Connections). Newest first
    /// unless `orderBy` says otherwise; ties are broken by id, so paging never repeats or
    /// skips a task.
    #[graphql(complexity = "page_size(first.or(last)) as usize * child_complexity + 1")]
    #[allow(clippy::too_many_arguments)]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The first tasks after `after`: 20 when neither `first` nor `last` is given, at most 100; 0 returns an empty page."
        )]
        first: Option<i32>,
        #[graphql(desc = "Return tasks after this cursor (from `endCursor` or an edge).")]
        after: Option<String>,
        #[graphql(
            desc = "The last tasks before `before`, at most 100; cannot be combined with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Return tasks before this cursor (from `startCursor` or an edge).")]
        before: Option<String>,
        #[graphql(desc = "Which tasks to include; all of the viewer's when absent.")]
        filter: Option<TaskFilter>,
        #[graphql(
            desc = "Order keys, most significant first; newest first when absent or empty. A cursor only serves the order it came from."
        )]
        order_by: Option<Vec<TaskOrder>>,
    ) -> Result<TaskConnection, AppError> {
        let viewer = viewer(ctx)?;
        let size = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input(
                    "pass either `first` or `last`, not both",
                ));
            }
            (Some(n), None) | (None, Some(n)) if n < 0 => {
                return Err(AppError::bad_input(
                    "`first` and `last` must not be negative",
                ));
            }
            (None, Some(n)) => PageSize::Last(page_size(Some(n))),
            (first, None) => PageSize::First(page_size(first)),
        };
        let sort = Sort::parse(
            order_by
                .unwrap_or_default()
                .into_iter()
                .map(|order| SortKey {
                    field: order.field,
                    direction: order.direction,
                })
                .collect(),
        )?;
        let cursor = |value: Option<String>, argument: &str| {
            value
                .map(|text| {
                    Cursor::decode(&text, &sort).ok_or_else(|| {
                        AppError::bad_input(format!(
                            "`{argument}` is not a valid cursor for this `orderBy`"
                        ))
                    })
                })
                .transpose()
        };
        let query = PageQuery {
            after: cursor(after, "after")?,
            before: cursor(before, "before")?,
            filter: filter.unwrap_or_default().parse()?,
            sort,
            size,
        };
        let page = viewer_tasks(ctx, viewer).page(query).await?;
        load_owners(ctx, &page).await?;
        Ok(page.into())
    }
}

/// When the selection asks for owners, loads the page's owners in one batch before the
/// tasks resolve, so every `Task.owner` is answered from the request's loader cache. Left to
/// the fields alone, a large page can ask while the first batch is in flight and cost more.
async fn load_owners(ctx: &Context<'_>, page: &Page) -> Result<(), AppError> {
    let selection = ctx.look_ahead();
    let wanted = selection.field("nodes").field("owner").exists()
        || selection
            .field("edges")
            .field("node")
            .field("owner")
            .exists();
    if !wanted || page.tasks.is_empty() {
        return Ok(());
    }
    let owners: HashSet<Uuid> = page.tasks.iter().map(|(_, task)| task.owner_id).collect();
    ctx.data_unchecked::<CachingUserLoader>()
        .load_many(owners)
        .await
        .map_err(|err| AppError::Internal(anyhow::anyhow!("cannot load task owners: {err}")))?;
    Ok(())
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
        let task = viewer_tasks(ctx, viewer).create(new).await?;
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
        let task = viewer_tasks(ctx, viewer).update(id, patch).await?;
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
        viewer_tasks(ctx, viewer).delete(task_id).await?;
        Ok(ID(task_id.to_string()))
    }
}

/// The viewer's task repository.
fn viewer_tasks<'a>(ctx: &Context<'a>, viewer: &Viewer) -> ViewerTasks<'a> {
    let state = state(ctx);
    ViewerTasks::new(&state.db, &state.events, viewer)
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

/// Task subscriptions, served over WebSocket at `/graphql/ws`.
#[derive(Default)]
pub struct TaskSubscription;

#[Subscription]
impl TaskSubscription {
    /// Every creation, change and deletion of the viewer's own tasks, from now on. A
    /// subscriber too slow to keep up gets an error and the stream ends, so it knows to
    /// refetch and subscribe again rather than silently miss events.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<TaskEvent, async_graphql::Error>> + use<>, AppError> {
        let viewer = viewer(ctx)?;
        let changes = viewer_tasks(ctx, viewer).changes();
        Ok(changes.map(|change| change.map(TaskEvent::from).map_err(Into::into)))
    }
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
