//! Builds the whole application from a [`Config`]; `main` and the tests use it alike.

use std::net::SocketAddr;

use async_graphql::extensions::apollo_persisted_queries::LruCacheStorage;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::{Config, key_bytes};
use crate::events::TaskEvents;
use crate::graphql::build_schema;
use crate::graphql::schema::PERSISTED_QUERIES;
use crate::http::{HttpState, router};
use crate::store::{self, StatementCounter};

/// What resolvers and handlers share: the pool, the keys and the hashing pool.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keys: JwtKeys,
    pub passwords: PasswordHasher,
    pub events: TaskEvents,
}

/// A migrated database, a bound listener and the router, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    statements: StatementCounter,
}

impl Application {
    /// Connects, migrates, builds the schema and binds `config.bind_addr` (port 0 picks a
    /// free port; [`Application::address`] tells which).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut db = connect_and_migrate(&config).await?;
        let statements = StatementCounter::install(&mut db);
        let events = TaskEvents::start(&db).await?;
        // Half the cores hash at most, so the async workers keep a core under a login flood.
        let hashing_threads = std::thread::available_parallelism().map_or(1, |n| n.get() / 2);
        let app = AppState {
            db,
            keys: JwtKeys::new(
                key_bytes(&config.secret_key),
                &config.jwt_issuer,
                &config.jwt_audience,
                config.access_token_ttl,
            ),
            passwords: PasswordHasher::new(hashing_threads)?,
            events,
        };
        let persisted = LruCacheStorage::new(PERSISTED_QUERIES);
        let schema = build_schema(app.clone(), config.introspection, persisted.clone());
        let router = router(HttpState {
            schema,
            app,
            graphiql: config.introspection,
            max_body_bytes: config.max_body_bytes,
            ws_auth_recheck: config.ws_auth_recheck,
            max_batch: config.max_batch,
            persisted,
            cors: config.cors,
        });
        let listener = TcpListener::bind(config.bind_addr).await.map_err(|err| {
            anyhow::anyhow!("BIND_ADDR: cannot listen on {}: {err}", config.bind_addr)
        })?;
        let address = listener.local_addr()?;
        Ok(Self {
            listener,
            router,
            address,
            statements,
        })
    }

    /// Counts the SQL statements the application runs.
    pub fn statements(&self) -> StatementCounter {
        self.statements.clone()
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Opens and migrates the configured database, for commands that need no server.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = store::connect(&config.database_url).await?;
    store::migrate(&db).await?;
    Ok(db)
}
