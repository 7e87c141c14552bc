//! The tokens and sessions section: how long access and refresh tokens live, and how
//! sessions are checked and purged.

use std::time::Duration;

use super::ConfigError;
use super::env::ranged;

/// Token lifetimes and session upkeep.
pub(super) struct Sessions {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub session_cache_ttl: Duration,
    pub session_purge_interval: Duration,
    pub max_sessions_per_account: u64,
}

impl Sessions {
    /// Reads the lifetimes, each within its range.
    pub(super) fn read(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let minutes = ranged(get, "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1..=1440)?;
        let refresh_days = ranged(get, "REFRESH_TOKEN_EXPIRE_DAYS", 7, 1..=365)?;
        let grace = ranged(get, "REFRESH_REUSE_GRACE_SECONDS", 10, 0..=60)?;
        let cache = ranged(get, "SESSION_CACHE_SECONDS", 0, 0..=5)?;
        let purge = ranged(get, "SESSION_PURGE_INTERVAL_SECONDS", 3600, 1..=86_400)?;
        let max_sessions = ranged(get, "MAX_SESSIONS_PER_ACCOUNT", 50, 1..=10_000)?;
        Ok(Self {
            access_token_ttl: Duration::from_secs(minutes * 60),
            refresh_token_ttl: Duration::from_secs(refresh_days * 86_400),
            refresh_reuse_grace: Duration::from_secs(grace),
            session_cache_ttl: Duration::from_secs(cache),
            session_purge_interval: Duration::from_secs(purge),
            max_sessions_per_account: max_sessions,
        })
    }
}
