//! The task mutations: `createTask`, `updateTask` and `deleteTask`. Each write announces
//! itself through the viewer's repository; no resolver publishes.

use async_graphql::{Context, ID, Object};

use super::inputs::{CreateTaskInput, UpdateTaskInput};
use super::types::Task;
use super::viewer_tasks;
use crate::error::AppError;
use crate::graphql::parse_id;

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
        let tasks = viewer_tasks(ctx)?;
        let new = input.parse()?;
        Ok(tasks.create(new).await?.into())
    }

    /// Changes one of the viewer's tasks; NOT_FOUND when it does not exist or is not theirs.
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
        #[graphql(desc = "The fields to change.")] input: UpdateTaskInput,
    ) -> Result<Task, AppError> {
        let tasks = viewer_tasks(ctx)?;
        let id = parse_id(&id, "id", "task")?;
        let patch = input.into_patch()?;
        Ok(tasks.update(id, patch).await?.into())
    }

    /// Deletes one of the viewer's tasks and returns its id; NOT_FOUND when it does not
    /// exist or is not theirs.
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
    ) -> Result<ID, AppError> {
        let tasks = viewer_tasks(ctx)?;
        let task_id = parse_id(&id, "id", "task")?;
        tasks.delete(task_id).await?;
        Ok(ID(task_id.to_string()))
    }
}
