//! The HTTP surface: routes, limits and request tracing.

mod graphql;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sea_orm::ConnectionTrait;
use tower_http::trace::TraceLayer;

use crate::graphql::TaskqlSchema;
use crate::startup::AppState;

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub schema: TaskqlSchema,
    pub app: AppState,
    /// Serve GraphiQL on a plain GET of `/graphql`.
    pub graphiql: bool,
    pub max_body_bytes: usize,
}

/// All routes of taskql.
pub fn router(state: HttpState) -> Router {
    let max_body_bytes = state.max_body_bytes;
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Spans name the method and path only: query strings may carry variables.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// The public keys that verify taskql's access tokens (RFC 7517); empty unless tokens are
/// signed with an Ed25519 key.
async fn jwks(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.app.keys.published().clone()),
    )
}

/// Liveness and database reachability, for load balancers.
async fn health(State(state): State<HttpState>) -> StatusCode {
    match state.app.db.execute_unprepared("SELECT 1").await {
        Ok(_) => StatusCode::OK,
        Err(err) => {
            tracing::error!(error = %err, "health check cannot reach the database");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
