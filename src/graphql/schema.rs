//! Builds the schema with its limits, and exports its SDL.

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

use super::admin::{AdminMutation, AdminQuery};
use super::email::EmailMutation;
use super::introspection::IntrospectionRefused;
use super::security::SecurityQuery;
use super::sessions::{SessionMutation, SessionQuery};
use super::tasks::{TaskMutation, TaskQuery, TaskSubscription};
use super::throttling::Throttled;
use super::two_factor::TwoFactorMutation;
use super::users::{UserMutation, UserQuery};
use crate::state::AppState;

/// Deepest selection accepted (the introspection query of GraphiQL needs 13).
pub const MAX_DEPTH: usize = 16;
/// Most fields one operation may resolve: each field counts once, the fields under `tasks`
/// count once per task of the page, and `tasks` adds [`STATEMENT_COST`] per statement it
/// may run. A full page of 100 tasks with every field and its owner fits.
pub const MAX_COMPLEXITY: usize = 5_000;
/// What a field that runs a statement of its own costs on top of its fields, per statement:
/// a round trip to the database costs far more than resolving a field from memory.
pub const STATEMENT_COST: usize = 10;
/// Most directives on one field.
pub const MAX_DIRECTIVES: usize = 4;

/// Every query root field.
#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    TaskQuery,
    SessionQuery,
    SecurityQuery,
    AdminQuery,
);

/// Every mutation root field.
#[derive(MergedObject, Default)]
pub struct Mutation(
    UserMutation,
    EmailMutation,
    TwoFactorMutation,
    SessionMutation,
    TaskMutation,
    AdminMutation,
);

/// Every subscription root field.
#[derive(MergedSubscription, Default)]
pub struct Subscription(TaskSubscription);

/// The schema taskql serves; its query and mutation roots count their fields against
/// the rate limits.
pub type TaskqlSchema = Schema<Throttled<Query>, Throttled<Mutation>, Subscription>;

fn builder() -> SchemaBuilder<Throttled<Query>, Throttled<Mutation>, Subscription> {
    Schema::build(
        Throttled::default(),
        Throttled::default(),
        Subscription::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_directives(MAX_DIRECTIVES)
    .limit_recursive_depth(super::limits::MAX_NESTING)
}

/// Persisted queries kept in memory, least recently used dropped first.
pub const PERSISTED_QUERIES: usize = 256;

/// The schema with the application state installed. Without `introspection`, clients can
/// neither introspect (an operation that tries is refused with FORBIDDEN) nor get "did you
/// mean" suggestions for misspelt fields. Apollo's automatic persisted queries are served
/// before the schema sees a request (`http::prepare`).
pub fn build_schema(state: AppState, introspection: bool) -> TaskqlSchema {
    let builder = builder().data(state);
    if introspection {
        builder.finish()
    } else {
        builder
            .extension(IntrospectionRefused)
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

#[cfg(test)]
mod tests {
    use async_graphql::extensions::Analyzer;

    use super::{STATEMENT_COST, builder};

    /// The complexity the schema's rules give `query`.
    async fn complexity(query: &str) -> u64 {
        let response = builder().extension(Analyzer).finish().execute(query).await;
        let analysis = response
            .extensions
            .get("analyzer")
            .cloned()
            .expect("the analyzer's figures")
            .into_json()
            .expect("JSON figures");
        analysis["complexity"].as_u64().expect("a complexity")
    }

    #[tokio::test]
    async fn a_connection_field_costs_its_statements_even_for_an_empty_page() {
        let statements = 2 * STATEMENT_COST as u64;
        assert_eq!(
            complexity("{ tasks(first: 0) { totalCount } }").await,
            statements
        );
        let aliased: String = (0..10)
            .map(|i| format!("t{i}: tasks(first: 0) {{ totalCount }} "))
            .collect();
        assert_eq!(
            complexity(&format!("{{ {aliased} }}")).await,
            10 * statements
        );
        // Each cursor adds the statement that looks past it.
        assert_eq!(
            complexity(r#"{ tasks(first: 0, after: "x", before: "y") { totalCount } }"#).await,
            statements + 2 * STATEMENT_COST as u64
        );
        // The page's fields count once per task, as before.
        assert_eq!(
            complexity("{ tasks(first: 10) { nodes { id } } }").await,
            10 * 2 + statements
        );
    }
}
