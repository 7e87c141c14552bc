//! The viewer's own task changes, as `taskEvents` streams them: the only way to receive
//! the hub's changes, and narrowed to the viewer before they leave the store.

use futures_util::{Stream, StreamExt, future};
use tokio_stream::wrappers::BroadcastStream;

use super::ViewerTasks;
use crate::error::AppError;
use crate::store::events::{Announced, TaskChange, TaskChangeKind};

impl ViewerTasks<'_> {
    /// Every creation, change and deletion of the viewer's own tasks from now on, on any
    /// replica. A subscriber too slow to keep up, or sent a change whose task could not be
    /// read back, gets one error and the stream ends, so it knows to refetch rather than
    /// silently miss changes.
    pub fn changes(&self) -> impl Stream<Item = Result<TaskChange, AppError>> + Send + use<> {
        let owner_id = self.owner_id;
        let changes = BroadcastStream::new(self.events.subscribe()).filter_map(move |change| {
            future::ready(match change {
                Ok(change) if change.owner_id != owner_id => None,
                Ok(change) => Some(owned(change)),
                Err(err) => Some(Err(AppError::Internal(anyhow::anyhow!(
                    "a subscriber fell behind: {err}"
                )))),
            })
        });
        changes.scan(false, |ended, change| {
            let next = (!*ended).then_some(change);
            *ended = matches!(next, Some(Err(_)));
            future::ready(next)
        })
    }
}

/// One of the viewer's changes as its subscription yields it.
fn owned(change: Announced) -> Result<TaskChange, AppError> {
    let task = match (change.kind, change.task) {
        (TaskChangeKind::Deleted, _) => None,
        (_, Some(task)) => Some(task),
        // Too large to travel with its notification, and the replica's listener could not
        // read it back.
        (_, None) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "a changed task could not be read back"
            )));
        }
    };
    Ok(TaskChange {
        kind: change.kind,
        task_id: change.task_id,
        task,
    })
}
