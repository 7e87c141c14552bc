//! The input types of the task fields and their parsing into the store's values.

use async_graphql::{InputObject, MaybeUndefined};

use crate::domain::{
    OrderDirection, OrderField, TaskDescription, TaskPriority, TaskStatus, TaskTitle,
};
use crate::error::AppError;
use crate::graphql::paging::page_size;
use crate::graphql::scalars::DateTime;
use crate::graphql::schema::STATEMENT_COST;
use crate::store::tasks::{
    self, Cursor, NewTask, PageQuery, PageSize, SearchText, Sort, SortKey, TaskPatch,
};

/// The complexity `tasks` adds for its statements: the page, the count `totalCount` may
/// ask for, and one look past each cursor given. Priced whether or not `totalCount` is
/// selected, so an empty page that only counts is not free.
pub(super) fn statements(after: bool, before: bool) -> usize {
    (2 + usize::from(after) + usize::from(before)) * STATEMENT_COST
}

/// Most values a `status` or `priority` filter list may hold (each becomes one bind
/// parameter; the enums have fewer values than this).
const MAX_FILTER_VALUES: usize = 10;

/// `values`, unless there are more than [`MAX_FILTER_VALUES`]: BAD_USER_INPUT naming
/// `argument` then.
fn bounded<T>(values: Option<Vec<T>>, argument: &str) -> Result<Option<Vec<T>>, AppError> {
    match values {
        Some(values) if values.len() > MAX_FILTER_VALUES => Err(AppError::bad_input(format!(
            "`{argument}` takes at most {MAX_FILTER_VALUES} values"
        ))),
        values => Ok(values),
    }
}

/// Which of the viewer's tasks `tasks` returns. Every field given narrows the result.
#[derive(InputObject, Default)]
pub struct TaskFilter {
    /// Only tasks in one of these statuses (an empty list matches nothing); at most 10.
    status: Option<Vec<TaskStatus>>,
    /// Only tasks with one of these priorities (an empty list matches nothing); at most 10.
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
    fn parse(self) -> Result<tasks::TaskFilter, AppError> {
        Ok(tasks::TaskFilter {
            status: bounded(self.status, "filter.status")?,
            priority: bounded(self.priority, "filter.priority")?,
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

impl CreateTaskInput {
    /// The task to store, with its title and description checked.
    pub(super) fn parse(self) -> Result<NewTask, AppError> {
        Ok(NewTask {
            title: TaskTitle::parse(&self.title)?,
            description: self
                .description
                .map(|text| TaskDescription::parse(&text))
                .transpose()?,
            status: self.status.unwrap_or_default(),
            priority: self.priority.unwrap_or_default(),
            due_at: self.due_at.map(|at| at.0),
        })
    }
}

impl UpdateTaskInput {
    /// The changes to apply; null is refused where a field cannot be empty.
    pub(super) fn into_patch(self) -> Result<TaskPatch, AppError> {
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

/// The arguments of `tasks`, checked and turned into the store's query.
pub(super) struct PageArgs {
    pub(super) first: Option<i32>,
    pub(super) after: Option<String>,
    pub(super) last: Option<i32>,
    pub(super) before: Option<String>,
    pub(super) filter: Option<TaskFilter>,
    pub(super) order_by: Option<Vec<TaskOrder>>,
}

impl PageArgs {
    /// BAD_USER_INPUT for `first` with `last`, a negative count, a field ordered twice, a
    /// cursor of another order, or a bad search.
    pub(super) fn parse(self) -> Result<PageQuery, AppError> {
        let size = match (self.first, self.last) {
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
            self.order_by
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
        Ok(PageQuery {
            after: cursor(self.after, "after")?,
            before: cursor(self.before, "before")?,
            filter: self.filter.unwrap_or_default().parse()?,
            sort,
            size,
        })
    }
}
