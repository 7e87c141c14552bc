//! The viewer's own task changes, as `taskEvents` streams them: the only way to receive
//! the hub's changes, and narrowed to the viewer before they leave the store.

use futures_util::{Stream, StreamExt, future};
use tokio_stream::wrappers::BroadcastStream;

use super::ViewerTasks;
use super::repository::find;
use crate::error::AppError;
use crate::store::events::{TaskChange, TaskChangeKind};

impl ViewerTasks<'_> {
    /// Every creation, change and deletion of the viewer's own tasks from now on, on any
    /// replica. A subscriber too slow to keep up gets one error and the stream ends, so it
    /// knows to refetch rather than silently miss changes.
    pub fn changes(&self) -> impl Stream<Item = Result<TaskChange, AppError>> + Send + use<> {
        let owner_id = self.owner_id;
        let db = self.db.clone();
        let received =
            BroadcastStream::new(self.events.subscribe()).scan(false, |fell_behind, change| {
                let next = (!*fell_behind).then_some(change);
                *fell_behind = matches!(next, Some(Err(_)));
                future::ready(next)
            });
        received.filter_map(move |change| {
            let db = db.clone();
            async move {
                let change = match change {
                    Ok(change) if change.owner_id == owner_id => change,
                    Ok(_) => return None,
                    Err(err) => {
                        return Some(Err(AppError::Internal(anyhow::anyhow!(
                            "a subscriber fell behind: {err}"
                        ))));
                    }
                };
                let task = match (change.kind, change.task) {
                    (TaskChangeKind::Deleted, _) => None,
                    (_, Some(task)) => Some(task),
                    // Too large to travel with the notification, and the listener could not
                    // read it back: read it through the viewer's own scope. Deleted
                    // meanwhile: its DELETED change follows.
                    (_, None) => match find(&db, owner_id, change.task_id).await {
                        Ok(Some(task)) => Some(task),
                        Ok(None) => return None,
                        Err(err) => return Some(Err(err)),
                    },
                };
                Some(Ok(TaskChange {
                    kind: change.kind,
                    task_id: change.task_id,
                    task,
                }))
            }
        })
    }
}
