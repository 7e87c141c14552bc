//! The server section: where to listen, which proxies to believe, and the limits and
//! switches of the GraphQL endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use super::env::{flag, parse, ranged};
use super::{AppEnv, ConfigError, CorsOrigins};
use crate::client::TrustedProxies;
use crate::http::SocketBounds;

/// Largest `GRAPHQL_MAX_BATCH` accepted.
pub const MAX_BATCH_LIMIT: usize = 100;

/// How the server listens and serves requests.
pub(super) struct Server {
    pub bind_addr: SocketAddr,
    pub max_body_bytes: usize,
    pub trusted_proxies: TrustedProxies,
    pub introspection: bool,
    pub cors: CorsOrigins,
    pub max_batch: usize,
    pub ws_auth_recheck: Duration,
    pub socket_bounds: SocketBounds,
    pub request_timeout: Duration,
}

impl Server {
    /// Reads the server variables; introspection defaults to on in development only.
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> Result<Self, ConfigError> {
        let max_body_bytes = ranged(get, "MAX_BODY_BYTES", 256 * 1024, 1024..=64 * 1024 * 1024)?;
        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => TrustedProxies::default(),
            Some(raw) => TrustedProxies::parse(&raw)
                .map_err(|message| ConfigError::new("TRUSTED_PROXIES", message))?,
        };
        let introspection = flag(get, "GRAPHQL_INTROSPECTION", app_env == AppEnv::Development)?;
        let cors = CorsOrigins::read(get, app_env)?;
        let max_batch: usize = parse(get, "GRAPHQL_MAX_BATCH", 0)?;
        if max_batch > MAX_BATCH_LIMIT {
            return Err(ConfigError::new(
                "GRAPHQL_MAX_BATCH",
                format!("must be between 0 (batching off) and {MAX_BATCH_LIMIT}"),
            ));
        }
        let recheck_seconds: u64 = parse(get, "WS_AUTH_RECHECK_SECONDS", 5)?;
        if !(1..=300).contains(&recheck_seconds) {
            return Err(ConfigError::new(
                "WS_AUTH_RECHECK_SECONDS",
                "must be between 1 and 300",
            ));
        }
        let timeout_seconds: f64 = parse(get, "REQUEST_TIMEOUT_SECONDS", 10.0)?;
        if !(0.1..=300.0).contains(&timeout_seconds) {
            return Err(ConfigError::new(
                "REQUEST_TIMEOUT_SECONDS",
                "must be between 0.1 and 300",
            ));
        }
        let socket_bounds = SocketBounds {
            subscriptions_per_socket: ranged(
                get,
                "WS_MAX_SUBSCRIPTIONS_PER_SOCKET",
                50,
                1..=10_000,
            )? as usize,
            sockets_per_account: ranged(get, "WS_MAX_SOCKETS_PER_ACCOUNT", 20, 1..=10_000)?
                as usize,
            sockets_per_address: ranged(get, "WS_MAX_SOCKETS_PER_ADDRESS", 100, 1..=100_000)?
                as usize,
        };
        Ok(Self {
            bind_addr: parse(get, "BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            max_body_bytes: max_body_bytes as usize,
            trusted_proxies,
            introspection,
            cors,
            max_batch,
            ws_auth_recheck: Duration::from_secs(recheck_seconds),
            socket_bounds,
            request_timeout: Duration::from_secs_f64(timeout_seconds),
        })
    }
}
