//! One typed configuration, read from the environment (and an optional `.env`) once at
//! startup and validated as a whole. Every rejection names the variable it is about.
//!
//! Each section of variables has a reader of its own; [`Config::from_lookup`] runs them
//! in turn and checks what spans sections.

mod cors;
mod dev_key;
mod env;
mod keys;
mod limits;
mod mail;
mod server;
mod sessions;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

pub use cors::CorsOrigins;
pub use dev_key::{DEV_DATA_KEY_FILE, DEV_KEY_FILE, generate_secret, key_bytes};
pub use keys::MIN_SECRET_KEY_BYTES;
pub use mail::{DEV_MAIL_DIR, EmailVerification, MailSettings, MailTransport};
pub use server::MAX_BATCH_LIMIT;

use crate::client::TrustedProxies;
use crate::throttle::{Limits, RedisSettings};
use keys::Keys;
use server::Server;
use sessions::Sessions;

/// Database used when `DATABASE_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://taskql.db?mode=rwc";

/// Whether taskql runs for a developer or in production; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl AppEnv {
    /// `APP_ENV`, development when unset.
    fn read(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match get("APP_ENV").as_deref().map(str::trim) {
            None | Some("development") => Ok(AppEnv::Development),
            Some("production") => Ok(AppEnv::Production),
            Some(other) => Err(ConfigError::new(
                "APP_ENV",
                format!("must be `development` or `production`, not `{other}`"),
            )),
        }
    }
}

/// Everything taskql needs to run, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub secret_key: SecretString,
    /// Earlier keys that still verify tokens (`SECRET_KEY_PREVIOUS`), never sign.
    pub previous_secret_keys: Vec<SecretString>,
    /// An Ed25519 private key (PKCS#8 PEM): tokens are then signed EdDSA.
    pub jwt_private_key: Option<SecretString>,
    /// Set when the key was generated for development rather than configured.
    pub generated_key_file: Option<PathBuf>,
    /// `DATA_ENCRYPTION_KEY`: seals second-factor secrets at rest; never signs.
    pub data_key: SecretString,
    /// Earlier data keys that still open what they sealed (`DATA_ENCRYPTION_KEY_PREVIOUS`).
    pub previous_data_keys: Vec<SecretString>,
    /// Set when the data key was generated for development rather than configured.
    pub generated_data_key_file: Option<PathBuf>,
    /// The issuer name authenticator apps show beside a TOTP (`TOTP_ISSUER`).
    pub totp_issuer: String,
    /// How long each account's security history is kept.
    pub security_event_retention: Duration,
    /// Whether an administrator without two-factor is refused the admin API
    /// (`ADMIN_REQUIRE_TWO_FACTOR`; on in production by default).
    pub admin_require_two_factor: bool,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token still yields a new one (concurrent refreshes).
    pub refresh_reuse_grace: Duration,
    /// How long a replica may trust its last session check (0: check every request).
    pub session_cache_ttl: Duration,
    /// How often revoked and expired sessions are deleted.
    pub session_purge_interval: Duration,
    /// Most live sessions one account keeps; a login past it ends the least recently used.
    pub max_sessions_per_account: u64,
    pub argon2: argon2::Params,
    /// Login backoff and rate limits.
    pub limits: Limits,
    /// Where throttling counters are shared between replicas; `None`: in this process.
    pub redis: Option<RedisSettings>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub bind_addr: SocketAddr,
    pub app_env: AppEnv,
    pub max_body_bytes: usize,
    /// Introspection, field suggestions and GraphiQL.
    pub introspection: bool,
    /// Browser origins allowed to call the API (CORS).
    pub cors: CorsOrigins,
    /// Most operations one batched request may carry; 0 refuses batches.
    pub max_batch: usize,
    /// How often a subscription socket re-checks its token.
    pub ws_auth_recheck: Duration,
    /// Subscriptions per socket, and live sockets per account and per client network.
    pub socket_bounds: crate::http::SocketBounds,
    /// How long one HTTP request may run before it is cancelled, and how long its body may
    /// take to arrive.
    pub request_timeout: Duration,
    /// How mail leaves, and the rules of the flows that send it.
    pub mail: MailSettings,
}

/// A configuration value that cannot be used; the message is one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(super) fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads the process environment, after loading `.env` if one exists.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(err) if err.not_found() => {}
            // The parser's message quotes the line, which may hold a secret: give its number only.
            Err(dotenvy::Error::LineParse(_, index)) => {
                return Err(ConfigError::new(
                    ".env",
                    format!("cannot parse the line at character {index}"),
                ));
            }
            Err(err) => return Err(ConfigError::new(".env", err.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let app_env = AppEnv::read(&get)?;
        let database_url = database_url(&get)?;
        let keys = Keys::read(&get, app_env, &database_url)?;
        let sessions = Sessions::read(&get)?;
        let argon2 = limits::argon2(&get)?;
        let limits = limits::limits(&get)?;
        let redis = limits::redis(&get)?;
        let server = Server::read(&get, app_env)?;
        let mail = MailSettings::read(&get, app_env, &database_url, server.bind_addr)?;
        // A login makes a few Redis calls in turn; each must be able to time out, and the
        // request carry on with local counters, well before the deadline cancels it.
        if let Some(redis) = &redis
            && redis.timeout.saturating_mul(4) > server.request_timeout
        {
            return Err(ConfigError::new(
                "REDIS_TIMEOUT_MS",
                format!(
                    "must be at most a quarter of REQUEST_TIMEOUT_SECONDS ({} ms here), so that requests finish on local counters while Redis hangs",
                    server.request_timeout.as_millis() / 4
                ),
            ));
        }
        Ok(Self {
            database_url,
            secret_key: keys.secret_key,
            previous_secret_keys: keys.previous_secret_keys,
            jwt_private_key: keys.jwt_private_key,
            generated_key_file: keys.generated_key_file,
            data_key: keys.data_key,
            previous_data_keys: keys.previous_data_keys,
            generated_data_key_file: keys.generated_data_key_file,
            totp_issuer: totp_issuer(&get)?,
            security_event_retention: Duration::from_secs(
                env::ranged(&get, "SECURITY_EVENT_RETENTION_DAYS", 90, 1..=3650)? * 86_400,
            ),
            admin_require_two_factor: env::flag(
                &get,
                "ADMIN_REQUIRE_TWO_FACTOR",
                app_env == AppEnv::Production,
            )?,
            access_token_ttl: sessions.access_token_ttl,
            refresh_token_ttl: sessions.refresh_token_ttl,
            refresh_reuse_grace: sessions.refresh_reuse_grace,
            session_cache_ttl: sessions.session_cache_ttl,
            session_purge_interval: sessions.session_purge_interval,
            max_sessions_per_account: sessions.max_sessions_per_account,
            argon2,
            limits,
            redis,
            trusted_proxies: server.trusted_proxies,
            jwt_issuer: keys.jwt_issuer,
            jwt_audience: keys.jwt_audience,
            bind_addr: server.bind_addr,
            app_env,
            max_body_bytes: server.max_body_bytes,
            introspection: server.introspection,
            cors: server.cors,
            max_batch: server.max_batch,
            ws_auth_recheck: server.ws_auth_recheck,
            socket_bounds: server.socket_bounds,
            request_timeout: server.request_timeout,
            mail,
        })
    }
}

/// `DATABASE_URL`: SQLite or PostgreSQL, the SQLite file [`DEFAULT_DATABASE_URL`] when unset.
fn database_url(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "must start with sqlite:, postgres:// or postgresql://",
        ));
    }
    Ok(database_url)
}

/// `TOTP_ISSUER`: the name authenticator apps list the account under; `taskql` when unset.
fn totp_issuer(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let issuer = get("TOTP_ISSUER").unwrap_or_else(|| "taskql".into());
    let issuer = issuer.trim();
    if issuer.contains(':') || issuer.chars().count() > 64 || issuer.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "TOTP_ISSUER",
            "must be at most 64 characters, without a colon or control characters",
        ));
    }
    Ok(issuer.to_owned())
}
