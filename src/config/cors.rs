//! `CORS_ALLOWED_ORIGINS`: which browser origins may call the API from their pages.

use super::{AppEnv, ConfigError};

/// Which browser origins may call the API from their pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Exactly these origins (none: no cross-origin browser access).
    List(Vec<String>),
    /// Any `http://localhost:<port>`, `http://127.0.0.1:<port>` or `http://[::1]:<port>`:
    /// the development default, for dev servers such as Vite.
    Localhost,
}

impl CorsOrigins {
    /// The configured list; unset, local dev servers in development and none in production.
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> Result<Self, ConfigError> {
        Ok(match get("CORS_ALLOWED_ORIGINS") {
            Some(raw) => CorsOrigins::List(parse_origins(&raw)?),
            None if app_env == AppEnv::Development => CorsOrigins::Localhost,
            None => CorsOrigins::List(Vec::new()),
        })
    }
}

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
