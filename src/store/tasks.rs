//! Tasks, readable and writable only through a viewer.
//!
//! [`ViewerTasks`] is the single way to reach the tasks table. It can only be built from an
//! authenticated [`Viewer`], and every statement it issues is filtered by that viewer's id,
//! so another user's task behaves exactly like a missing one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use sea_orm::sea_query::{Expr, NullOrdering, SimpleExpr};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbBackend,
    EntityTrait, ExprTrait, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    Set, Value,
};
use uuid::Uuid;

use super::entities::task::{self, Column, Entity as Tasks};
use super::now;
use crate::auth::Viewer;
use crate::domain::{
    OrderDirection, OrderField, TaskDescription, TaskPriority, TaskStatus, TaskTitle,
};
use crate::error::AppError;

/// One task as the rest of taskql sees it: plain data, no way back to the table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// One key of an order: a field and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: OrderField,
    pub direction: OrderDirection,
}

/// The order of a listing: its keys, then the id (in the direction of the last key), so
/// that no two tasks tie and a page never repeats or skips one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort(Vec<SortKey>);

impl Sort {
    /// Newest first.
    pub fn newest_first() -> Self {
        Self(vec![SortKey {
            field: OrderField::CreatedAt,
            direction: OrderDirection::Desc,
        }])
    }

    /// The given keys; newest first when there are none. A field named twice is refused.
    pub fn parse(orders: Vec<SortKey>) -> Result<Self, AppError> {
        if orders.is_empty() {
            return Ok(Self::newest_first());
        }
        for (index, order) in orders.iter().enumerate() {
            if orders[..index].iter().any(|o| o.field == order.field) {
                return Err(AppError::bad_input(
                    "`orderBy` names the same field more than once",
                ));
            }
        }
        Ok(Self(orders))
    }

    fn id_direction(&self) -> OrderDirection {
        self.0.last().map_or(OrderDirection::Desc, |o| o.direction)
    }

    /// A stable text form, carried in cursors so a cursor only serves the order it came from.
    fn signature(&self) -> String {
        self.0
            .iter()
            .map(|o| format!("{:?}.{:?}", o.field, o.direction))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Which tasks a listing includes. Every field narrows the result; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<Vec<TaskStatus>>,
    pub priority: Option<Vec<TaskPriority>>,
    pub search: Option<SearchText>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub overdue: Option<bool>,
}

/// Text to find in titles and descriptions, case-insensitively; every character is data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Longest search accepted, in characters (a title is at most 200).
    pub const MAX_CHARS: usize = 200;
    /// Shortest search the trigram indexes serve; shorter ones scan the viewer's tasks.
    const MIN_INDEXED_CHARS: usize = 3;

    /// Any text up to [`Self::MAX_CHARS`] characters, except NUL (PostgreSQL cannot store it).
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(AppError::bad_input(format!(
                "`search` must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if raw.contains('\0') {
            return Err(AppError::bad_input(
                "`search` must not contain the NUL character",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The condition on `tasks` that matches this text on `backend`.
    fn condition(&self, backend: DbBackend) -> SimpleExpr {
        let like = format!("%{}%", escape_like(&self.0));
        match backend {
            DbBackend::Sqlite if self.0.chars().count() >= Self::MIN_INDEXED_CHARS => {
                // A quoted FTS5 phrase: quotes doubled, so operators and wildcards are data.
                // Over trigram tokens a phrase matches exactly the substrings.
                let phrase = format!("\"{}\"", self.0.replace('"', "\"\""));
                Expr::cust_with_values(
                    r#""tasks"."rowid" IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH ?)"#,
                    [phrase],
                )
            }
            DbBackend::Postgres => Expr::cust_with_values(
                r#"("tasks"."title" ILIKE $1 ESCAPE $2 OR "tasks"."description" ILIKE $1 ESCAPE $2)"#,
                [like, "\\".to_owned()],
            ),
            _ => Expr::cust_with_values(
                r#"("tasks"."title" LIKE ? ESCAPE ? OR "tasks"."description" LIKE ? ESCAPE ?)"#,
                [like.clone(), "\\".to_owned(), like, "\\".to_owned()],
            ),
        }
    }
}

/// `text` as a literal inside a LIKE pattern with `\` as the escape character.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl TaskFilter {
    fn condition(&self, backend: DbBackend, now: DateTime<Utc>) -> Condition {
        let mut condition = Condition::all();
        if let Some(status) = &self.status {
            condition = condition.add(Column::Status.is_in(status.iter().copied()));
        }
        if let Some(priority) = &self.priority {
            condition = condition.add(Column::Priority.is_in(priority.iter().copied()));
        }
        if let Some(search) = &self.search {
            condition = condition.add(search.condition(backend));
        }
        if let Some(before) = self.due_before {
            condition = condition.add(Column::DueAt.lt(before));
        }
        if let Some(after) = self.due_after {
            condition = condition.add(Column::DueAt.gt(after));
        }
        if let Some(overdue) = self.overdue {
            let is_overdue = Condition::all()
                .add(Column::DueAt.lt(now))
                .add(Column::Status.ne(TaskStatus::Done));
            condition = condition.add(if overdue {
                is_overdue
            } else {
                Condition::any()
                    .add(Column::DueAt.is_null())
                    .add(Column::DueAt.gte(now))
                    .add(Column::Status.eq(TaskStatus::Done))
            });
        }
        condition
    }
}

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

/// The value of one order key of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Time(DateTime<Utc>),
    OptionalTime(Option<DateTime<Utc>>),
    Priority(TaskPriority),
    Text(String),
}

impl Key {
    fn of(task: &Task, field: OrderField) -> Self {
        match field {
            OrderField::CreatedAt => Key::Time(task.created_at),
            OrderField::UpdatedAt => Key::Time(task.updated_at),
            OrderField::DueAt => Key::OptionalTime(task.due_at),
            OrderField::Priority => Key::Priority(task.priority),
            OrderField::Title => Key::Text(task.title.clone()),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Key::Time(at) => at.timestamp_micros().into(),
            Key::OptionalTime(at) => at.map(|at| at.timestamp_micros()).into(),
            Key::Priority(priority) => i64::from(priority.to_value()).into(),
            Key::Text(text) => text.clone().into(),
        }
    }

    /// Years a task's times can fall in: what an RFC 3339 timestamp (years 0000 to 9999)
    /// can name once converted to UTC. A cursor key outside them was not issued here (and
    /// PostgreSQL cannot even hold years before 4713 BC).
    const YEARS: std::ops::RangeInclusive<i32> = -1..=10_000;

    fn from_json(field: OrderField, value: &serde_json::Value) -> Option<Self> {
        let time = |value: &serde_json::Value| {
            DateTime::from_timestamp_micros(value.as_i64()?)
                .filter(|at| Self::YEARS.contains(&at.year()))
        };
        Some(match field {
            OrderField::CreatedAt | OrderField::UpdatedAt => Key::Time(time(value)?),
            OrderField::DueAt if value.is_null() => Key::OptionalTime(None),
            OrderField::DueAt => Key::OptionalTime(Some(time(value)?)),
            OrderField::Priority => Key::Priority(
                TaskPriority::try_from_value(&i16::try_from(value.as_i64()?).ok()?).ok()?,
            ),
            // No title holds a NUL, and PostgreSQL cannot compare text with one.
            OrderField::Title => Key::Text(
                value
                    .as_str()
                    .filter(|text| !text.contains('\0'))?
                    .to_owned(),
            ),
        })
    }

    /// The bound value; `None` stands for SQL NULL.
    fn value(&self) -> Option<Value> {
        match self {
            Key::Time(at) => Some((*at).into()),
            Key::OptionalTime(at) => at.map(Into::into),
            Key::Priority(priority) => Some((*priority).into()),
            Key::Text(text) => Some(text.clone().into()),
        }
    }
}

fn column(field: OrderField) -> Column {
    match field {
        OrderField::CreatedAt => Column::CreatedAt,
        OrderField::UpdatedAt => Column::UpdatedAt,
        OrderField::DueAt => Column::DueAt,
        OrderField::Priority => Column::Priority,
        OrderField::Title => Column::Title,
    }
}

/// A position in one order, opaque to clients: the order keys of a task and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    keys: Vec<Key>,
    id: Uuid,
}

impl Cursor {
    const VERSION: u64 = 2;
    /// Longest cursor string accepted (a 200-character title fits comfortably).
    const MAX_LEN: usize = 4096;

    fn of(task: &Task, sort: &Sort) -> Self {
        Self {
            keys: sort.0.iter().map(|o| Key::of(task, o.field)).collect(),
            id: task.id,
        }
    }

    /// The opaque string handed to clients.
    pub fn encode(&self, sort: &Sort) -> String {
        let raw = serde_json::json!({
            "v": Self::VERSION,
            "s": sort.signature(),
            "k": self.keys.iter().map(Key::to_json).collect::<Vec<_>>(),
            "i": self.id.simple().to_string(),
        });
        URL_SAFE_NO_PAD.encode(raw.to_string())
    }

    /// `None` for anything this server did not produce for `sort`.
    pub fn decode(cursor: &str, sort: &Sort) -> Option<Self> {
        if cursor.len() > Self::MAX_LEN {
            return None;
        }
        let raw: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        if raw["v"].as_u64()? != Self::VERSION || raw["s"].as_str()? != sort.signature() {
            return None;
        }
        let values = raw["k"].as_array()?;
        if values.len() != sort.0.len() {
            return None;
        }
        let keys = sort
            .0
            .iter()
            .zip(values)
            .map(|(order, value)| Key::from_json(order.field, value))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            keys,
            id: Uuid::try_parse(raw["i"].as_str()?).ok()?,
        })
    }

    /// Rows strictly after this position in `sort` (`forward`), or strictly before it.
    /// NULL due times sort after every time in both directions.
    fn beyond(&self, sort: &Sort, forward: bool) -> Condition {
        let keys = sort
            .0
            .iter()
            .zip(&self.keys)
            .map(|(order, key)| (column(order.field), order.direction, key.value()))
            .chain([(Column::Id, sort.id_direction(), Some(self.id.into()))])
            .collect::<Vec<_>>();
        let mut any = Condition::any();
        for (index, (col, direction, value)) in keys.iter().enumerate() {
            let mut all = Condition::all();
            for (col, _, value) in &keys[..index] {
                all = all.add(match value {
                    Some(value) => col.eq(value.clone()),
                    None => col.is_null(),
                });
            }
            any = any.add(all.add(strictly_beyond(*col, *direction, value, forward)));
        }
        // A redundant bound on the first key lets the database seek in its index instead of
        // walking every earlier row: this keeps page 1,000 as cheap as page 1.
        let (col, direction, value) = &keys[0];
        match (value, matches!(col, Column::DueAt)) {
            (Some(value), false) => Condition::all()
                .add(if (*direction == OrderDirection::Asc) == forward {
                    col.gte(value.clone())
                } else {
                    col.lte(value.clone())
                })
                .add(any),
            _ => any,
        }
    }
}

/// `col` strictly after (`forward`) or before `value` in `direction`, NULLs last.
fn strictly_beyond(
    col: Column,
    direction: OrderDirection,
    value: &Option<Value>,
    forward: bool,
) -> SimpleExpr {
    let ascending = direction == OrderDirection::Asc;
    match (value, forward) {
        (Some(value), true) => {
            let beyond = if ascending {
                col.gt(value.clone())
            } else {
                col.lt(value.clone())
            };
            if matches!(col, Column::DueAt) {
                beyond.or(col.is_null())
            } else {
                beyond
            }
        }
        (Some(value), false) if ascending => col.lt(value.clone()),
        (Some(value), false) => col.gt(value.clone()),
        (None, true) => Expr::cust("1 = 0"),
        (None, false) => col.is_not_null(),
    }
}

/// One page of tasks.
#[derive(Debug)]
pub struct Page {
    pub tasks: Vec<(Cursor, Task)>,
    pub sort: Sort,
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
    pub async fn get(&self, id: Uuid) -> Result<Option<Task>, AppError> {
        let found = self.scoped().filter(Column::Id.eq(id)).one(self.db).await?;
        Ok(found.map(Task::from))
    }

    /// One page of the viewer's tasks that match the filter, in the query's order,
    /// between its cursors; keyset-based, so a late page costs what the first does.
    pub async fn page(&self, query: PageQuery) -> Result<Page, AppError> {
        let backend = self.db.get_database_backend();
        let filtered = self.scoped().filter(query.filter.condition(backend, now()));
        let mut bounded = filtered.clone();
        if let Some(after) = &query.after {
            bounded = bounded.filter(after.beyond(&query.sort, true));
        }
        if let Some(before) = &query.before {
            bounded = bounded.filter(before.beyond(&query.sort, false));
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
                .map(|cursor| cursor.beyond(&query.sort, forward).not());
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
            total_count: filtered.count(self.db).await?,
            sort: query.sort,
            has_next_page,
            has_previous_page,
        })
    }

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
        Ok(row.insert(self.db).await?.into())
    }

    /// Applies `patch` in one owner-filtered statement, so concurrent updates of other
    /// fields are not overwritten; NOT_FOUND when the task is absent or not the viewer's.
    pub async fn update(&self, id: Uuid, patch: TaskPatch) -> Result<Task, AppError> {
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

/// `select` in `sort` (or its reverse), NULL due times last in the forward order.
fn ordered(mut select: Select<Tasks>, sort: &Sort, forward: bool) -> Select<Tasks> {
    let flip = |direction: OrderDirection| match (direction, forward) {
        (OrderDirection::Asc, true) | (OrderDirection::Desc, false) => Order::Asc,
        _ => Order::Desc,
    };
    for order in &sort.0 {
        let col = column(order.field);
        select = if matches!(col, Column::DueAt) {
            let nulls = if forward {
                NullOrdering::Last
            } else {
                NullOrdering::First
            };
            select.order_by_with_nulls(col, flip(order.direction), nulls)
        } else {
            select.order_by(col, flip(order.direction))
        };
    }
    select.order_by(Column::Id, flip(sort.id_direction()))
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

    fn by(field: OrderField, direction: OrderDirection) -> Sort {
        Sort::parse(vec![SortKey { field, direction }]).unwrap()
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_strings() {
        let sort = Sort::parse(vec![
            SortKey {
                field: OrderField::DueAt,
                direction: OrderDirection::Asc,
            },
            SortKey {
                field: OrderField::Title,
                direction: OrderDirection::Desc,
            },
            SortKey {
                field: OrderField::Priority,
                direction: OrderDirection::Asc,
            },
        ])
        .unwrap();
        let cursor = Cursor {
            keys: vec![
                Key::OptionalTime(None),
                Key::Text("ünïcode \"quoted\" 🦀".into()),
                Key::Priority(TaskPriority::Urgent),
            ],
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&cursor.encode(&sort), &sort),
            Some(cursor.clone())
        );
        let newest = Sort::newest_first();
        let dated = Cursor {
            keys: vec![Key::Time(
                Utc.timestamp_micros(1_780_000_000_123_456).unwrap(),
            )],
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&dated.encode(&newest), &newest),
            Some(dated.clone())
        );
        // A cursor serves only the order it was made for.
        assert_eq!(Cursor::decode(&cursor.encode(&sort), &newest), None);
        let oldest = by(OrderField::CreatedAt, OrderDirection::Asc);
        assert_eq!(Cursor::decode(&dated.encode(&newest), &oldest), None);
        for bad in [
            "",
            "abc",
            "!!!!",
            &URL_SAFE_NO_PAD.encode("{}"),
            &URL_SAFE_NO_PAD.encode(r#"{"v":2,"s":"CreatedAt.Desc","k":["x"],"i":"00"}"#),
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"v":2,"s":"CreatedAt.Desc","k":[{}],"i":"{}"}}"#,
                i64::MAX,
                Uuid::nil().simple()
            )),
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"v":2,"s":"CreatedAt.Desc","k":[1,2],"i":"{}"}}"#,
                Uuid::nil().simple()
            )),
            &"A".repeat(10_000),
        ] {
            assert_eq!(Cursor::decode(bad, &newest), None, "{bad}");
        }
        let priority = by(OrderField::Priority, OrderDirection::Asc);
        let out_of_range = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"v":2,"s":"Priority.Asc","k":[9],"i":"{}"}}"#,
            Uuid::nil().simple()
        ));
        assert_eq!(Cursor::decode(&out_of_range, &priority), None);
    }

    #[test]
    fn cursor_keys_no_task_can_hold_are_refused() {
        let crafted = |sort: &str, key: serde_json::Value| {
            URL_SAFE_NO_PAD.encode(
                serde_json::json!({ "v": 2, "s": sort, "k": [key], "i": Uuid::nil().simple().to_string() })
                    .to_string(),
            )
        };
        let newest = Sort::newest_first();
        let by_due = by(OrderField::DueAt, OrderDirection::Asc);
        let by_title = by(OrderField::Title, OrderDirection::Asc);
        let year = |year: i32| {
            Utc.with_ymd_and_hms(year, 6, 1, 0, 0, 0)
                .unwrap()
                .timestamp_micros()
        };
        for micros in [year(-2), year(10_001), -8_000_000_000_000_000_000] {
            assert_eq!(
                Cursor::decode(&crafted("CreatedAt.Desc", micros.into()), &newest),
                None
            );
            assert_eq!(
                Cursor::decode(&crafted("DueAt.Asc", micros.into()), &by_due),
                None
            );
        }
        for micros in [year(-1), year(0), year(9999), year(10_000)] {
            assert!(Cursor::decode(&crafted("DueAt.Asc", micros.into()), &by_due).is_some());
        }
        assert_eq!(
            Cursor::decode(&crafted("Title.Asc", "a\0b".into()), &by_title),
            None
        );
        assert!(Cursor::decode(&crafted("Title.Asc", "a b".into()), &by_title).is_some());
    }

    #[test]
    fn sorts_refuse_a_field_named_twice() {
        let key = SortKey {
            field: OrderField::Title,
            direction: OrderDirection::Asc,
        };
        assert!(Sort::parse(vec![key, key]).is_err());
        assert_eq!(Sort::parse(vec![]).unwrap(), Sort::newest_first());
    }

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(escape_like(r"100% _done_ \o/"), r"100\% \_done\_ \\o/");
    }

    #[test]
    fn search_text_has_limits() {
        assert!(SearchText::parse(&"x".repeat(SearchText::MAX_CHARS)).is_ok());
        assert!(SearchText::parse(&"é".repeat(SearchText::MAX_CHARS + 1)).is_err());
        assert!(SearchText::parse("a\0b").is_err());
        assert!(SearchText::parse("").is_ok());
    }
}
