//! The signing keys section: the key that signs, earlier keys that still verify, an
//! optional Ed25519 key, and the issuer and audience tokens carry.

use std::fs;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::dev_key::{DEV_DATA_KEY_FILE, DEV_KEY_FILE, dev_key_path, load_or_create_dev_key};
use super::{AppEnv, ConfigError};

/// Shortest `SECRET_KEY` accepted, in bytes (HS256 wants at least the hash size).
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// The keys and names that sign and verify access tokens, and the keys that seal secrets
/// at rest.
pub(super) struct Keys {
    pub secret_key: SecretString,
    pub generated_key_file: Option<PathBuf>,
    pub previous_secret_keys: Vec<SecretString>,
    pub data_key: SecretString,
    pub generated_data_key_file: Option<PathBuf>,
    pub previous_data_keys: Vec<SecretString>,
    pub jwt_private_key: Option<SecretString>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
}

impl Keys {
    /// Reads the key variables; without `SECRET_KEY` or `DATA_ENCRYPTION_KEY`, development
    /// uses a key file beside the database and production refuses to start.
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
        database_url: &str,
    ) -> Result<Self, ConfigError> {
        let (secret_key, generated_key_file) =
            required_key(get, "SECRET_KEY", DEV_KEY_FILE, app_env, database_url)?;
        let (data_key, generated_data_key_file) = required_key(
            get,
            "DATA_ENCRYPTION_KEY",
            DEV_DATA_KEY_FILE,
            app_env,
            database_url,
        )?;
        if data_key.expose_secret() == secret_key.expose_secret() {
            return Err(ConfigError::new(
                "DATA_ENCRYPTION_KEY",
                "must differ from SECRET_KEY: one key signs tokens, the other seals secrets at rest",
            ));
        }
        Ok(Self {
            secret_key,
            generated_key_file,
            previous_secret_keys: previous_keys(get, "SECRET_KEY_PREVIOUS")?,
            data_key,
            generated_data_key_file,
            previous_data_keys: previous_keys(get, "DATA_ENCRYPTION_KEY_PREVIOUS")?,
            jwt_private_key: private_key(get)?,
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "taskql".into()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "taskql".into()),
        })
    }
}

/// A key that must be set in production: `var`, or in development the key file `file_name`
/// beside the database (made on first start), with that file's path.
fn required_key(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    file_name: &str,
    app_env: AppEnv,
    database_url: &str,
) -> Result<(SecretString, Option<PathBuf>), ConfigError> {
    match get(var) {
        Some(key) if key.len() >= MIN_SECRET_KEY_BYTES => Ok((SecretString::from(key), None)),
        Some(_) => Err(ConfigError::new(
            var,
            format!(
                "must be at least {MIN_SECRET_KEY_BYTES} bytes; `taskql gen-secret` prints one"
            ),
        )),
        None if app_env == AppEnv::Production => Err(ConfigError::new(
            var,
            "is required when APP_ENV=production; `taskql gen-secret` prints one",
        )),
        None => {
            let path = dev_key_path(database_url, file_name);
            let key = load_or_create_dev_key(&path).map_err(|err| ConfigError::new(var, err))?;
            Ok((key, Some(path)))
        }
    }
}

/// `var` (`SECRET_KEY_PREVIOUS`, `DATA_ENCRYPTION_KEY_PREVIOUS`): a comma-separated list,
/// each key as long as the current one must be.
fn previous_keys(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Vec<SecretString>, ConfigError> {
    get(var)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(|key| {
                    if key.len() >= MIN_SECRET_KEY_BYTES {
                        Ok(SecretString::from(key.to_owned()))
                    } else {
                        Err(ConfigError::new(
                            var,
                            format!("every key must be at least {MIN_SECRET_KEY_BYTES} bytes"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// `JWT_PRIVATE_KEY_FILE`: the PEM file's contents, read once at startup.
fn private_key(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretString>, ConfigError> {
    get("JWT_PRIVATE_KEY_FILE")
        .map(|path| {
            fs::read_to_string(path.trim())
                .map(SecretString::from)
                .map_err(|err| {
                    ConfigError::new("JWT_PRIVATE_KEY_FILE", format!("cannot read {path}: {err}"))
                })
        })
        .transpose()
}
