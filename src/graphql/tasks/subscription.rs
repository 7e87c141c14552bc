//! The task subscription: `taskEvents`, served over WebSocket at `/graphql/ws`.

use async_graphql::{Context, Subscription};
use futures_util::{Stream, StreamExt};

use super::types::TaskEvent;
use super::viewer_tasks;
use crate::error::AppError;

/// Task subscriptions, served over WebSocket at `/graphql/ws`.
#[derive(Default)]
pub struct TaskSubscription;

#[Subscription]
impl TaskSubscription {
    /// Every creation, change and deletion of the viewer's own tasks, from now on. A
    /// subscriber that would miss an event (too slow to keep up, or the server could not
    /// read the changed task back) gets an error and the stream ends, so it knows to
    /// refetch and subscribe again rather than silently miss events.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<TaskEvent, async_graphql::Error>> + use<>, AppError> {
        let changes = viewer_tasks(ctx)?.changes();
        Ok(changes.map(|change| change.map(TaskEvent::from).map_err(Into::into)))
    }
}
