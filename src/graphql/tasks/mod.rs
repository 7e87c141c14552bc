//! Tasks: `task`, `tasks`, `createTask`, `updateTask`, `deleteTask` and `taskEvents`.
//! Every resolver goes through the viewer's [`ViewerTasks`]; none reaches the tasks table
//! or the task changes another way.

mod inputs;
mod mutation;
mod query;
mod subscription;
mod types;

use async_graphql::Context;

pub use mutation::TaskMutation;
pub use query::TaskQuery;
pub use subscription::TaskSubscription;

use super::{state, viewer};
use crate::error::AppError;
use crate::store::tasks::ViewerTasks;

/// The viewer's task repository, or UNAUTHENTICATED.
fn viewer_tasks<'a>(ctx: &Context<'a>) -> Result<ViewerTasks<'a>, AppError> {
    let viewer = viewer(ctx)?;
    let state = state(ctx);
    Ok(ViewerTasks::new(&state.db, &state.events, viewer))
}
