//! One typed configuration, read from the environment (and an optional `.env`) once at
//! startup and validated as a whole. Every rejection names the variable it is about.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::client::TrustedProxies;
use crate::throttle::{BackoffRule, Limits, Rate, RedisSettings};

/// Database used when `DATABASE_URL` is not set: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://taskql.db?mode=rwc";
/// Shortest `SECRET_KEY` accepted, in bytes (HS256 wants at least the hash size).
pub const MIN_SECRET_KEY_BYTES: usize = 32;
/// File name of the development signing key kept beside the database.
pub const DEV_KEY_FILE: &str = "taskql-secret.key";

/// Whether taskql runs for a developer or in production; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
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
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token still yields a new one (concurrent refreshes).
    pub refresh_reuse_grace: Duration,
    /// How long a replica may trust its last session check (0: check every request).
    pub session_cache_ttl: Duration,
    /// How often revoked and expired sessions are deleted.
    pub session_purge_interval: Duration,
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
    /// How long one HTTP request may run before it is cancelled, and how long its body may
    /// take to arrive.
    pub request_timeout: Duration,
}

/// Which browser origins may call the API from their pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Exactly these origins (none: no cross-origin browser access).
    List(Vec<String>),
    /// Any `http://localhost:<port>`, `http://127.0.0.1:<port>` or `http://[::1]:<port>`:
    /// the development default, for dev servers such as Vite.
    Localhost,
}

/// Largest `GRAPHQL_MAX_BATCH` accepted.
pub const MAX_BATCH_LIMIT: usize = 100;

/// Parses `CORS_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]` origins.
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = |origin: &str| {
        ConfigError::new(
            "CORS_ALLOWED_ORIGINS",
            format!("`{origin}` is not an origin such as https://app.example.com"),
        )
    };
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let (scheme, rest) = origin.split_once("://").ok_or_else(|| invalid(origin))?;
            let valid = matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains(['/', '?', '#', '@', ' ', '*']);
            if valid {
                Ok(origin.to_ascii_lowercase())
            } else {
                Err(invalid(origin))
            }
        })
        .collect()
}

/// A configuration value that cannot be used; the message is one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
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

        let app_env = match get("APP_ENV").as_deref().map(str::trim) {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("must be `development` or `production`, not `{other}`"),
                ));
            }
        };
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

        let (secret_key, generated_key_file) = match get("SECRET_KEY") {
            Some(key) if key.len() >= MIN_SECRET_KEY_BYTES => (SecretString::from(key), None),
            Some(_) => {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!(
                        "must be at least {MIN_SECRET_KEY_BYTES} bytes; `taskql gen-secret` prints one"
                    ),
                ));
            }
            None if app_env == AppEnv::Production => {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    "is required when APP_ENV=production; `taskql gen-secret` prints one",
                ));
            }
            None => {
                let path = dev_key_path(&database_url);
                let key = load_or_create_dev_key(&path)
                    .map_err(|err| ConfigError::new("SECRET_KEY", err))?;
                (key, Some(path))
            }
        };

        let previous_secret_keys = get("SECRET_KEY_PREVIOUS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|key| !key.is_empty())
                    .map(|key| {
                        if key.len() >= MIN_SECRET_KEY_BYTES {
                            Ok(SecretString::from(key.to_owned()))
                        } else {
                            Err(ConfigError::new(
                                "SECRET_KEY_PREVIOUS",
                                format!("every key must be at least {MIN_SECRET_KEY_BYTES} bytes"),
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let jwt_private_key = get("JWT_PRIVATE_KEY_FILE")
            .map(|path| {
                fs::read_to_string(path.trim())
                    .map(SecretString::from)
                    .map_err(|err| {
                        ConfigError::new(
                            "JWT_PRIVATE_KEY_FILE",
                            format!("cannot read {path}: {err}"),
                        )
                    })
            })
            .transpose()?;

        let minutes = ranged(&get, "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1..=1440)?;
        let refresh_days = ranged(&get, "REFRESH_TOKEN_EXPIRE_DAYS", 7, 1..=365)?;
        let grace = ranged(&get, "REFRESH_REUSE_GRACE_SECONDS", 10, 0..=60)?;
        let cache = ranged(&get, "SESSION_CACHE_SECONDS", 0, 0..=5)?;
        let purge = ranged(&get, "SESSION_PURGE_INTERVAL_SECONDS", 3600, 1..=86_400)?;
        let max_body_bytes = ranged(&get, "MAX_BODY_BYTES", 256 * 1024, 1024..=64 * 1024 * 1024)?;
        let argon2 = argon2::Params::new(
            ranged(&get, "ARGON2_MEMORY_KIB", 19_456, 19_456..=4_194_304)? as u32,
            ranged(&get, "ARGON2_ITERATIONS", 2, 2..=20)? as u32,
            ranged(&get, "ARGON2_PARALLELISM", 1, 1..=16)? as u32,
            None,
        )
        .map_err(|err| ConfigError::new("ARGON2_MEMORY_KIB", err.to_string()))?;
        let backoff_base = ranged(&get, "LOGIN_BACKOFF_BASE_SECONDS", 30, 1..=3600)?;
        let backoff_max = ranged(&get, "LOGIN_BACKOFF_MAX_SECONDS", 3600, 1..=86_400)?;
        if backoff_max < backoff_base {
            return Err(ConfigError::new(
                "LOGIN_BACKOFF_MAX_SECONDS",
                "must not be less than LOGIN_BACKOFF_BASE_SECONDS",
            ));
        }
        let backoff = |free_failures: u64| BackoffRule {
            free_failures: free_failures as u32,
            base: Duration::from_secs(backoff_base),
            max: Duration::from_secs(backoff_max),
        };
        let limits = Limits {
            login_account: backoff(ranged(&get, "LOGIN_ACCOUNT_FREE_FAILURES", 5, 1..=1000)?),
            login_address: backoff(ranged(
                &get,
                "LOGIN_ADDRESS_FREE_FAILURES",
                20,
                1..=100_000,
            )?),
            register: rate(&get, "REGISTER_RATE_LIMIT", "10/hour")?,
            refresh: rate(&get, "REFRESH_RATE_LIMIT", "60/minute")?,
            password_strength: rate(&get, "PASSWORD_STRENGTH_RATE_LIMIT", "60/minute")?,
            mutations: rate(&get, "MUTATION_RATE_LIMIT", "120/minute")?,
        };
        let redis = match get("REDIS_URL") {
            None => None,
            Some(url) => {
                let url = url.trim();
                let scheme_ok = ["redis://", "redis+unix://", "unix://"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme));
                if !scheme_ok || ::redis::Client::open(url).is_err() {
                    // The value may hold a password: never echo it.
                    return Err(ConfigError::new(
                        "REDIS_URL",
                        "must be a URL such as redis://host:6379/0 or unix:///path/redis.sock (no TLS)",
                    ));
                }
                let key_prefix = get("REDIS_KEY_PREFIX").unwrap_or_else(|| "taskql:".into());
                if key_prefix.len() > 64 || key_prefix.chars().any(char::is_whitespace) {
                    return Err(ConfigError::new(
                        "REDIS_KEY_PREFIX",
                        "must be at most 64 bytes without spaces",
                    ));
                }
                Some(RedisSettings {
                    url: SecretString::from(url.to_owned()),
                    key_prefix,
                    timeout: Duration::from_millis(ranged(
                        &get,
                        "REDIS_TIMEOUT_MS",
                        250,
                        10..=10_000,
                    )?),
                })
            }
        };
        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => TrustedProxies::default(),
            Some(raw) => TrustedProxies::parse(&raw)
                .map_err(|message| ConfigError::new("TRUSTED_PROXIES", message))?,
        };
        let introspection = match get("GRAPHQL_INTROSPECTION").as_deref().map(str::trim) {
            None => app_env == AppEnv::Development,
            Some("true") => true,
            Some("false") => false,
            Some(_) => {
                return Err(ConfigError::new(
                    "GRAPHQL_INTROSPECTION",
                    "must be `true` or `false`",
                ));
            }
        };

        let cors = match get("CORS_ALLOWED_ORIGINS") {
            Some(raw) => CorsOrigins::List(parse_origins(&raw)?),
            None if app_env == AppEnv::Development => CorsOrigins::Localhost,
            None => CorsOrigins::List(Vec::new()),
        };
        let max_batch: usize = parse(&get, "GRAPHQL_MAX_BATCH", 0)?;
        if max_batch > MAX_BATCH_LIMIT {
            return Err(ConfigError::new(
                "GRAPHQL_MAX_BATCH",
                format!("must be between 0 (batching off) and {MAX_BATCH_LIMIT}"),
            ));
        }
        let recheck_seconds: u64 = parse(&get, "WS_AUTH_RECHECK_SECONDS", 5)?;
        if !(1..=300).contains(&recheck_seconds) {
            return Err(ConfigError::new(
                "WS_AUTH_RECHECK_SECONDS",
                "must be between 1 and 300",
            ));
        }

        let timeout_seconds: f64 = parse(&get, "REQUEST_TIMEOUT_SECONDS", 10.0)?;
        if !(0.1..=300.0).contains(&timeout_seconds) {
            return Err(ConfigError::new(
                "REQUEST_TIMEOUT_SECONDS",
                "must be between 0.1 and 300",
            ));
        }
        let request_timeout = Duration::from_secs_f64(timeout_seconds);
        // A login makes a few Redis calls in turn; each must be able to time out, and the
        // request carry on with local counters, well before the deadline cancels it.
        if let Some(redis) = &redis
            && redis.timeout.saturating_mul(4) > request_timeout
        {
            return Err(ConfigError::new(
                "REDIS_TIMEOUT_MS",
                format!(
                    "must be at most a quarter of REQUEST_TIMEOUT_SECONDS ({} ms here), so that requests finish on local counters while Redis hangs",
                    request_timeout.as_millis() / 4
                ),
            ));
        }

        Ok(Self {
            database_url,
            secret_key,
            previous_secret_keys,
            jwt_private_key,
            generated_key_file,
            access_token_ttl: Duration::from_secs(minutes * 60),
            refresh_token_ttl: Duration::from_secs(refresh_days * 86_400),
            refresh_reuse_grace: Duration::from_secs(grace),
            session_cache_ttl: Duration::from_secs(cache),
            session_purge_interval: Duration::from_secs(purge),
            argon2,
            limits,
            redis,
            trusted_proxies,
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "taskql".into()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "taskql".into()),
            bind_addr: parse(&get, "BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            app_env,
            max_body_bytes: max_body_bytes as usize,
            introspection,
            cors,
            max_batch,
            ws_auth_recheck: Duration::from_secs(recheck_seconds),
            request_timeout,
        })
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(var, format!("`{raw}` is not a valid value"))),
    }
}

/// An integer variable that must lie in `range`.
fn ranged(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = parse(get, var, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            var,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

/// A rate such as `10/hour`.
fn rate(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Rate, ConfigError> {
    Rate::parse(get(var).as_deref().unwrap_or(default))
        .map_err(|message| ConfigError::new(var, message))
}

/// A fresh random 256-bit key, URL-safe base64 (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The development key lives beside the SQLite file, or in the working directory otherwise.
fn dev_key_path(database_url: &str) -> PathBuf {
    let dir = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|file| !file.is_empty() && *file != ":memory:")
        .and_then(|file| Path::new(file).parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(DEV_KEY_FILE)
}

fn load_or_create_dev_key(path: &Path) -> Result<SecretString, String> {
    if let Ok(metadata) = fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        return Err(format!(
            "development key file {} is readable by other users; run `chmod 600` on it",
            path.display()
        ));
    }
    match fs::read_to_string(path) {
        Ok(key) if key.trim().len() >= MIN_SECRET_KEY_BYTES => {
            return Ok(SecretString::from(key.trim().to_owned()));
        }
        Ok(_) => {
            return Err(format!(
                "development key file {} is too short; delete it to generate a new one",
                path.display()
            ));
        }
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {err}", path.display()));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let key = generate_secret();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
    file.write_all(key.as_bytes())
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(SecretString::from(key))
}

/// The bytes that sign access tokens.
pub fn key_bytes(key: &SecretString) -> &[u8] {
    key.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_key_is_set() {
        let config = load(&[("SECRET_KEY", KEY)]).unwrap();
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.access_token_ttl, Duration::from_secs(30 * 60));
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!(config.max_body_bytes, 256 * 1024);
        assert!(config.introspection);
        assert_eq!(config.jwt_issuer, "taskql");
        assert!(config.generated_key_file.is_none());
        assert_eq!(config.cors, CorsOrigins::Localhost);
        assert_eq!(config.max_batch, 0);
        assert_eq!(config.ws_auth_recheck, Duration::from_secs(5));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(config.refresh_reuse_grace, Duration::from_secs(10));
        assert!(config.session_cache_ttl.is_zero());
        assert_eq!(config.session_purge_interval, Duration::from_secs(3600));
        assert_eq!(config.argon2, argon2::Params::DEFAULT);
        assert!(config.previous_secret_keys.is_empty());
        assert!(config.jwt_private_key.is_none());
        assert_eq!(config.limits.register, Rate::parse("10/hour").unwrap());
        assert_eq!(config.limits.refresh, Rate::parse("60/minute").unwrap());
        assert_eq!(
            config.limits.password_strength,
            Rate::parse("60/minute").unwrap()
        );
        assert_eq!(config.limits.mutations, Rate::parse("120/minute").unwrap());
        assert!(config.redis.is_none());
        assert_eq!(config.trusted_proxies, TrustedProxies::default());
    }

    #[test]
    fn redis_settings_take_a_prefix_and_a_timeout_and_never_echo_the_url() {
        let config = load(&[
            ("SECRET_KEY", KEY),
            ("REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0"),
            ("REDIS_TIMEOUT_MS", "100"),
        ])
        .unwrap();
        let redis = config.redis.unwrap();
        assert_eq!(redis.key_prefix, "taskql:");
        assert_eq!(redis.timeout, Duration::from_millis(100));
        assert!(!format!("{redis:?}").contains("hunter2"));
        let socket = load(&[("SECRET_KEY", KEY), ("REDIS_URL", "unix:///run/redis.sock")]);
        assert!(socket.unwrap().redis.is_some());
        let err = load(&[("SECRET_KEY", KEY), ("REDIS_URL", "hunter2")]).unwrap_err();
        assert_eq!(err.var, "REDIS_URL");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn the_redis_timeout_fits_four_times_into_the_request_deadline() {
        let vars = |redis_ms, deadline| {
            load(&[
                ("SECRET_KEY", KEY),
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("REDIS_TIMEOUT_MS", redis_ms),
                ("REQUEST_TIMEOUT_SECONDS", deadline),
            ])
        };
        assert!(vars("250", "1").is_ok());
        assert!(vars("2500", "10").is_ok());
        let err = vars("251", "1").unwrap_err();
        assert_eq!(err.var, "REDIS_TIMEOUT_MS");
        assert_eq!(
            err.message,
            "must be at most a quarter of REQUEST_TIMEOUT_SECONDS (250 ms here), so that requests finish on local counters while Redis hangs"
        );
        assert_eq!(vars("10000", "10").unwrap_err().var, "REDIS_TIMEOUT_MS");
        let without_redis = load(&[
            ("SECRET_KEY", KEY),
            ("REDIS_TIMEOUT_MS", "10000"),
            ("REQUEST_TIMEOUT_SECONDS", "0.1"),
        ]);
        assert!(without_redis.is_ok(), "the timeout only matters with Redis");
    }

    #[test]
    fn previous_keys_are_a_comma_separated_list_of_long_keys() {
        let other = "fedcba9876543210fedcba9876543210";
        let config = load(&[
            ("SECRET_KEY", KEY),
            ("SECRET_KEY_PREVIOUS", &format!("{other}, {KEY}")),
        ])
        .unwrap();
        assert_eq!(config.previous_secret_keys.len(), 2);
        let err = load(&[
            ("SECRET_KEY", KEY),
            ("SECRET_KEY_PREVIOUS", &format!("{other},short")),
        ])
        .unwrap_err();
        assert_eq!(err.var, "SECRET_KEY_PREVIOUS");
        assert!(!err.to_string().contains("short"));
    }

    #[test]
    fn cors_origins_are_listed_exactly_and_none_by_default_in_production() {
        let config = load(&[("APP_ENV", "production"), ("SECRET_KEY", KEY)]).unwrap();
        assert_eq!(config.cors, CorsOrigins::List(vec![]));
        let config = load(&[
            ("SECRET_KEY", KEY),
            (
                "CORS_ALLOWED_ORIGINS",
                " https://App.example.com , http://localhost:5173,",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.cors,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:5173".into()
            ])
        );
    }

    #[test]
    fn batching_is_bounded_and_the_recheck_interval_configurable() {
        let config = load(&[
            ("SECRET_KEY", KEY),
            ("GRAPHQL_MAX_BATCH", "10"),
            ("WS_AUTH_RECHECK_SECONDS", "1"),
            ("REQUEST_TIMEOUT_SECONDS", "0.25"),
        ])
        .unwrap();
        assert_eq!(config.max_batch, 10);
        assert_eq!(config.ws_auth_recheck, Duration::from_secs(1));
        assert_eq!(config.request_timeout, Duration::from_millis(250));
    }

    #[test]
    fn production_requires_a_long_enough_key_and_hides_introspection() {
        let err = load(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        let err = load(&[("APP_ENV", "production"), ("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        assert!(
            !err.to_string().contains("short"),
            "the key is never echoed"
        );
        let config = load(&[("APP_ENV", "production"), ("SECRET_KEY", KEY)]).unwrap();
        assert!(!config.introspection);
    }

    #[test]
    fn every_invalid_value_names_its_variable() {
        for (var, value) in [
            ("APP_ENV", "staging"),
            ("DATABASE_URL", "mysql://localhost/x"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "soon"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
            ("BIND_ADDR", "localhost"),
            ("MAX_BODY_BYTES", "12"),
            ("GRAPHQL_INTROSPECTION", "yes"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("CORS_ALLOWED_ORIGINS", "ftp://files.example.com"),
            ("GRAPHQL_MAX_BATCH", "101"),
            ("GRAPHQL_MAX_BATCH", "-1"),
            ("WS_AUTH_RECHECK_SECONDS", "0"),
            ("WS_AUTH_RECHECK_SECONDS", "301"),
            ("REQUEST_TIMEOUT_SECONDS", "0.05"),
            ("REQUEST_TIMEOUT_SECONDS", "301"),
            ("REQUEST_TIMEOUT_SECONDS", "NaN"),
            ("REQUEST_TIMEOUT_SECONDS", "soon"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "0"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "366"),
            ("REFRESH_REUSE_GRACE_SECONDS", "61"),
            ("SESSION_CACHE_SECONDS", "6"),
            ("SESSION_PURGE_INTERVAL_SECONDS", "0"),
            ("ARGON2_MEMORY_KIB", "4096"),
            ("ARGON2_ITERATIONS", "1"),
            ("ARGON2_PARALLELISM", "0"),
            ("JWT_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
            ("LOGIN_ACCOUNT_FREE_FAILURES", "0"),
            ("LOGIN_ADDRESS_FREE_FAILURES", "many"),
            ("LOGIN_BACKOFF_BASE_SECONDS", "0"),
            ("LOGIN_BACKOFF_MAX_SECONDS", "10"),
            ("REGISTER_RATE_LIMIT", "10"),
            ("REFRESH_RATE_LIMIT", "0/minute"),
            ("PASSWORD_STRENGTH_RATE_LIMIT", "5/week"),
            ("MUTATION_RATE_LIMIT", "many/minute"),
            ("REDIS_URL", "http://user:hunter2@localhost"),
            ("REDIS_URL", "redis://user:hunter2@[bad"),
            ("REDIS_URL", "rediss://user:hunter2@redis.example.com"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.example.com"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ] {
            let err = load(&[("SECRET_KEY", KEY), (var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}");
            assert!(err.to_string().starts_with(var));
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn development_key_is_generated_once_beside_the_database_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data.db?mode=rwc", dir.path().display());
        let first = load(&[("DATABASE_URL", &url)]).unwrap();
        let path = dir.path().join(DEV_KEY_FILE);
        assert_eq!(first.generated_key_file.as_deref(), Some(path.as_path()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = load(&[("DATABASE_URL", &url)]).unwrap();
        assert_eq!(
            first.secret_key.expose_secret(),
            second.secret_key.expose_secret()
        );
        assert!(first.secret_key.expose_secret().len() >= MIN_SECRET_KEY_BYTES);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&[("DATABASE_URL", &url)]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        assert!(err.message.contains("chmod 600"), "{err}");
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
