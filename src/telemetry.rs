//! Logging: human-readable lines in development, JSON lines in production.

use tracing_subscriber::EnvFilter;

use crate::config::{AppEnv, ConfigError};

/// Filter used when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber. `RUST_LOG` picks what is logged.
pub fn init(app_env: AppEnv) -> Result<(), ConfigError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => {
            EnvFilter::try_new(&value).map_err(|err| ConfigError {
                var: "RUST_LOG",
                message: format!("is not a valid filter: {err}"),
            })?
        }
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match app_env {
        AppEnv::Development => builder.compact().init(),
        AppEnv::Production => builder.json().init(),
    }
    Ok(())
}
