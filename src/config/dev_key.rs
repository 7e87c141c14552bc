//! The development signing key: generated once into a private file beside the database,
//! so a developer needs no `SECRET_KEY` and tokens survive a restart.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use super::keys::MIN_SECRET_KEY_BYTES;

/// File name of the development signing key kept beside the database.
pub const DEV_KEY_FILE: &str = "taskql-secret.key";

/// A fresh random 256-bit key, URL-safe base64 (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The development key lives beside the SQLite file, or in the working directory otherwise.
pub(super) fn dev_key_path(database_url: &str) -> PathBuf {
    let dir = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|file| !file.is_empty() && *file != ":memory:")
        .and_then(|file| Path::new(file).parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(DEV_KEY_FILE)
}

/// The key in `path`, or a new one written there readable by its owner only.
pub(super) fn load_or_create_dev_key(path: &Path) -> Result<SecretString, String> {
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
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use secrecy::ExposeSecret;

    use super::super::tests::load;
    use super::*;

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
