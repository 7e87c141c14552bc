//! Builds the whole application from a [`Config`]; `main` and the tests use it alike.

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::extensions::apollo_persisted_queries::LruCacheStorage;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::auth::{
    AdminPolicy, DataKeys, HashingWork, JwtKeys, KeyMaterial, PasswordHasher, SessionCache,
};
use crate::config::{Config, key_bytes};
use crate::graphql::build_schema;
use crate::graphql::schema::PERSISTED_QUERIES;
use crate::http::{HttpState, LiveSockets, router};
use crate::mail::{Mail, Transport, Worker};
use crate::services::{SessionSettings, TwoFactorSettings};
use crate::state::AppState;
use crate::store::events::TaskEvents;
use crate::store::{self, StatementCounter};
use crate::throttle::Throttle;

/// A migrated database, a bound listener and the router, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    statements: StatementCounter,
    hashing: HashingWork,
    purge_interval: Duration,
    security_event_retention: Duration,
    mail: Mail,
    transport: Transport,
    /// The pool of background work: the mail worker, the purge, deferred history writes.
    background_db: DatabaseConnection,
}

impl Application {
    /// Connects, migrates, builds the schema and binds `config.bind_addr` (port 0 picks a
    /// free port; [`Application::address`] tells which).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut db = connect_and_migrate(&config).await?;
        let statements = StatementCounter::install(&mut db);
        let events = TaskEvents::start(&db).await?;
        // Every core may hash: the hashing threads run at a lower priority, so request
        // handling preempts them and a login flood only takes the time requests leave.
        let hashing_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let keys = JwtKeys::new(
            KeyMaterial {
                secret: key_bytes(&config.secret_key),
                previous_secrets: config.previous_secret_keys.iter().map(key_bytes).collect(),
                ed25519_pem: config
                    .jwt_private_key
                    .as_ref()
                    .map(|pem| pem.expose_secret()),
            },
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl,
        )?;
        let throttle = match &config.redis {
            Some(redis) => Throttle::with_redis(config.limits, redis).await?,
            None => Throttle::local(config.limits),
        };
        let transport = Transport::new(&config.mail.transport)?;
        let background_db = store::connect_background(&config.database_url).await?;
        let mail = Mail::new(config.mail.clone());
        let app = AppState {
            db: db.clone(),
            keys,
            passwords: PasswordHasher::new(config.argon2.clone(), hashing_threads)?,
            session_settings: SessionSettings {
                refresh_ttl: config.refresh_token_ttl,
                reuse_grace: config.refresh_reuse_grace,
                max_live: config.max_sessions_per_account,
            },
            session_cache: SessionCache::new(config.session_cache_ttl),
            events,
            throttle,
            mail: mail.clone(),
            two_factor: TwoFactorSettings {
                keys: DataKeys::new(
                    key_bytes(&config.data_key),
                    &config
                        .previous_data_keys
                        .iter()
                        .map(key_bytes)
                        .collect::<Vec<_>>(),
                ),
                issuer: config.totp_issuer.clone(),
            },
            background: background_db.clone(),
            admin_policy: AdminPolicy {
                require_two_factor: config.admin_require_two_factor,
            },
        };
        let hashing = app.passwords.work();
        let persisted = LruCacheStorage::new(PERSISTED_QUERIES);
        let schema = build_schema(app.clone(), config.introspection);
        let router = router(HttpState {
            schema,
            app,
            graphiql: config.introspection,
            max_body_bytes: config.max_body_bytes,
            ws_auth_recheck: config.ws_auth_recheck,
            sockets: LiveSockets::new(config.socket_bounds),
            request_timeout: config.request_timeout,
            max_batch: config.max_batch,
            persisted,
            cors: config.cors,
            trusted_proxies: config.trusted_proxies,
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
            hashing,
            purge_interval: config.session_purge_interval,
            security_event_retention: config.security_event_retention,
            mail,
            transport,
            background_db,
        })
    }

    /// Counts the SQL statements the application runs.
    pub fn statements(&self) -> StatementCounter {
        self.statements.clone()
    }

    /// Counts the argon2 hashes and verifications the application runs.
    pub fn hashing(&self) -> HashingWork {
        self.hashing.clone()
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight. Meanwhile the
    /// outbox is delivered, and revoked and expired sessions are purged, in the background;
    /// both stop with the server, or when this future is dropped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_expired(
            self.background_db.clone(),
            self.purge_interval,
            self.security_event_retention,
        ));
        let _mail = Worker {
            db: self.background_db,
            transport: self.transport,
            mail: self.mail,
        }
        .spawn();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await;
        purge.abort();
        served
    }
}

/// Deletes what has outlived its use: dead sessions, expired login challenges, and
/// security events older than the retention period.
async fn purge_expired(db: DatabaseConnection, interval: Duration, retention: Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let now = store::now();
        match store::sessions::purge(&db, now).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged dead sessions"),
            Err(err) => tracing::warn!(error = %err, "cannot purge sessions"),
        }
        if let Err(err) = store::second_factor::purge_challenges(&db, now).await {
            tracing::warn!(error = %err, "cannot purge login challenges");
        }
        let before = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match store::security_events::purge(&db, before).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged old security events"),
            Err(err) => tracing::warn!(error = %err, "cannot purge security events"),
        }
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
