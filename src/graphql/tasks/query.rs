//! The task queries: `task` and `tasks`.

use std::collections::HashSet;

use async_graphql::{Context, ID, Object};
use uuid::Uuid;

use super::inputs::{PageArgs, TaskFilter, TaskOrder, statements};
use super::types::{Task, TaskConnection};
use super::viewer_tasks;
use crate::error::AppError;
use crate::graphql::paging::page_size;
use crate::graphql::parse_id;
use crate::graphql::users::CachingUserLoader;
use crate::store::tasks::Page;

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
        let tasks = viewer_tasks(ctx)?;
        let id = parse_id(&id, "id", "task")?;
        Ok(tasks.get(id).await?.map(Task::from))
    }

    /// The viewer's tasks, a page at a time (GraphQL Cursor Connections). Newest first
    /// unless `orderBy` says otherwise; ties are broken by id, so paging never repeats or
    /// skips a task.
    #[graphql(
        complexity = "page_size(first.or(last)) as usize * child_complexity + statements(after.is_some(), before.is_some())"
    )]
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
        let tasks = viewer_tasks(ctx)?;
        let query = PageArgs {
            first,
            after,
            last,
            before,
            filter,
            order_by,
        }
        .parse()?;
        let page = tasks.page(query).await?;
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
