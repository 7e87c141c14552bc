//! Which tasks a listing includes: the filter and its search text.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, DbBackend};

use crate::domain::{TaskPriority, TaskStatus};
use crate::error::AppError;
use crate::store::entities::task::Column;

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

impl TaskFilter {
    /// The condition on `tasks` that keeps exactly the tasks this filter includes at `now`.
    pub(super) fn condition(&self, backend: DbBackend, now: DateTime<Utc>) -> Condition {
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
        let like = crate::store::containing(&self.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_has_limits() {
        assert!(SearchText::parse(&"x".repeat(SearchText::MAX_CHARS)).is_ok());
        assert!(SearchText::parse(&"é".repeat(SearchText::MAX_CHARS + 1)).is_err());
        assert!(SearchText::parse("a\0b").is_err());
        assert!(SearchText::parse("").is_ok());
    }
}
