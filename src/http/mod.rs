//! The HTTP surface: routes, limits and request tracing.

mod batch;
mod graphiql;
mod graphql;
mod live;
mod media;
mod prepare;
mod refusal;
mod reply;
mod ws;

use std::time::Duration;

use async_graphql::extensions::apollo_persisted_queries::LruCacheStorage;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use live::{LiveSockets, SocketBounds};

use crate::client::TrustedProxies;
use crate::config::CorsOrigins;
use crate::graphql::TaskqlSchema;
use crate::state::AppState;
use crate::store;

/// What the handlers answer with.
type HttpResponse = axum::response::Response;

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub schema: TaskqlSchema,
    pub app: AppState,
    /// Serve GraphiQL on a plain GET of `/graphql`, and its files under `/graphiql/`.
    pub graphiql: bool,
    pub max_body_bytes: usize,
    /// How often a subscription socket re-checks its token.
    pub ws_auth_recheck: Duration,
    /// This replica's live sockets, and how many each client may hold.
    pub sockets: LiveSockets,
    /// The deadline of each request, and of each query or mutation sent over a socket.
    pub request_timeout: Duration,
    /// Most operations in one batched request; 0 refuses batches.
    pub max_batch: usize,
    /// Apollo persisted queries, shared with the schema's extension.
    pub persisted: LruCacheStorage,
    /// Browser origins allowed to call the API.
    pub cors: CorsOrigins,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

/// All routes of taskql.
pub fn router(state: HttpState) -> Router {
    let cors = cors_layer(&state.cors);
    let mut routes = Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(jwks));
    if state.graphiql {
        routes = routes.route("/graphiql/{file}", get(graphiql::asset));
    }
    routes
        .layer(cors)
        // Spans name the method and path only: query strings may carry variables.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// CORS for browser clients: the configured origins may send GET and POST with the headers
/// GraphQL clients use, and read `WWW-Authenticate`. No credentials (cookies) are involved:
/// tokens travel in `Authorization`.
fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let allow_origin = match origins {
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
        CorsOrigins::Localhost => AllowOrigin::predicate(|origin, _| {
            origin.to_str().is_ok_and(|origin| {
                ["http://localhost:", "http://127.0.0.1:", "http://[::1]:"]
                    .iter()
                    .any(|prefix| {
                        origin.strip_prefix(prefix).is_some_and(|port| {
                            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                        })
                    })
            })
        }),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(600))
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
    match store::ping(&state.app.db).await {
        Ok(_) => StatusCode::OK,
        Err(err) => {
            tracing::error!(error = %err, "health check cannot reach the database");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
