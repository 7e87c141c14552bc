//! Builds the schema with its limits, and exports its SDL.

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use super::sessions::{SessionMutation, SessionQuery};
use super::tasks::{TaskMutation, TaskQuery};
use super::users::{UserMutation, UserQuery};
use crate::startup::AppState;

/// Deepest selection accepted (the introspection query of GraphiQL needs 13).
pub const MAX_DEPTH: usize = 16;
/// Most fields one operation may resolve: each field counts once, and the fields under
/// `tasks` count once per task of the page. A full page of 100 tasks with every field and
/// its owner fits.
pub const MAX_COMPLEXITY: usize = 5_000;
/// Most directives on one field.
pub const MAX_DIRECTIVES: usize = 4;

/// Every query root field.
#[derive(MergedObject, Default)]
pub struct Query(UserQuery, TaskQuery, SessionQuery);

/// Every mutation root field.
#[derive(MergedObject, Default)]
pub struct Mutation(UserMutation, SessionMutation, TaskMutation);

/// The schema taskql serves.
pub type TaskqlSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(MAX_DIRECTIVES)
}

/// The schema with the application state installed. Without `introspection`, clients can
/// neither introspect nor get "did you mean" suggestions for misspelt fields.
pub fn build_schema(state: AppState, introspection: bool) -> TaskqlSchema {
    let builder = builder().data(state);
    if introspection {
        builder.finish()
    } else {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
