//! The abuse section: the argon2 cost, login backoff, rate limits, and the Redis server
//! that shares their counters between replicas.

use std::time::Duration;

use secrecy::SecretString;

use super::ConfigError;
use super::env::{ranged, rate};
use crate::throttle::{BackoffRule, Limits, RedisSettings};

/// The argon2 parameters; the floor is OWASP's recommendation.
pub(super) fn argon2(get: &impl Fn(&str) -> Option<String>) -> Result<argon2::Params, ConfigError> {
    argon2::Params::new(
        ranged(get, "ARGON2_MEMORY_KIB", 19_456, 19_456..=4_194_304)? as u32,
        ranged(get, "ARGON2_ITERATIONS", 2, 2..=20)? as u32,
        ranged(get, "ARGON2_PARALLELISM", 1, 1..=16)? as u32,
        None,
    )
    .map_err(|err| ConfigError::new("ARGON2_MEMORY_KIB", err.to_string()))
}

/// Login backoff per account and per address, and the fixed-window rates.
pub(super) fn limits(get: &impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
    let backoff_base = ranged(get, "LOGIN_BACKOFF_BASE_SECONDS", 30, 1..=3600)?;
    let backoff_max = ranged(get, "LOGIN_BACKOFF_MAX_SECONDS", 3600, 1..=86_400)?;
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
    Ok(Limits {
        login_account: backoff(ranged(get, "LOGIN_ACCOUNT_FREE_FAILURES", 5, 1..=1000)?),
        login_address: backoff(ranged(get, "LOGIN_ADDRESS_FREE_FAILURES", 20, 1..=100_000)?),
        register: rate(get, "REGISTER_RATE_LIMIT", "10/hour")?,
        refresh: rate(get, "REFRESH_RATE_LIMIT", "60/minute")?,
        password_strength: rate(get, "PASSWORD_STRENGTH_RATE_LIMIT", "60/minute")?,
        mutations: rate(get, "MUTATION_RATE_LIMIT", "120/minute")?,
        queries: rate(get, "QUERY_RATE_LIMIT", "600/minute")?,
        logins_per_address: rate(get, "LOGIN_ADDRESS_RATE_LIMIT", "60/minute")?,
        logins_per_account: rate(get, "LOGIN_ACCOUNT_RATE_LIMIT", "20/minute")?,
        mail_per_address: rate(get, "MAIL_ADDRESS_RATE_LIMIT", "20/hour")?,
        mail_per_recipient: rate(get, "MAIL_RECIPIENT_RATE_LIMIT", "5/hour")?,
        mail_links: rate(get, "MAIL_LINK_RATE_LIMIT", "30/hour")?,
    })
}

/// `REDIS_URL` with its key prefix and timeout; `None` keeps the counters in this process.
pub(super) fn redis(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<RedisSettings>, ConfigError> {
    let Some(url) = get("REDIS_URL") else {
        return Ok(None);
    };
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
    Ok(Some(RedisSettings {
        url: SecretString::from(url.to_owned()),
        key_prefix,
        timeout: Duration::from_millis(ranged(get, "REDIS_TIMEOUT_MS", 250, 10..=10_000)?),
    }))
}
