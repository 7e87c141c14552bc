//! The development signing key: generated once into a private file beside the database,
//! so a developer needs no `SECRET_KEY` and tokens survive a restart.
//!
//! Whoever can write the key can sign tokens for any account, so the file is trusted only
//! when it is a regular file (not a symbolic link, which could point at another user's
//! file or be swapped between check and use), owned by the user taskql runs as and closed
//! to everyone else. The checks read the opened file, not its path again.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rustix::fs::OFlags;
use rustix::io::Errno;
use secrecy::{ExposeSecret, SecretString};

use super::keys::MIN_SECRET_KEY_BYTES;
use crate::store::sqlite_file;

/// File name of the development signing key kept beside the database.
pub const DEV_KEY_FILE: &str = "taskql-secret.key";
/// File name of the development data encryption key kept beside the database.
pub const DEV_DATA_KEY_FILE: &str = "taskql-data.key";

/// A fresh random 256-bit key, URL-safe base64 (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A development key lives beside the SQLite file, or in the working directory otherwise.
pub(super) fn dev_key_path(database_url: &str, file_name: &str) -> PathBuf {
    let dir = sqlite_file(database_url)
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(file_name)
}

/// The key in `path`, or a new one written there readable by its owner only. Processes
/// starting at once all end up with the key of the first to write it.
pub(super) fn load_or_create_dev_key(path: &Path) -> Result<SecretString, String> {
    match read_key(path)? {
        Some(key) => Ok(key),
        None => create_key(path),
    }
}

/// What decides whether a key file may be trusted, read from the opened file.
#[derive(Debug, Clone, Copy)]
struct KeyFile {
    regular: bool,
    owner: u32,
    mode: u32,
}

/// Why the key file at `path` may not be trusted by a process running as user `euid`.
fn refusal(path: &Path, file: KeyFile, euid: u32) -> Option<String> {
    let path = path.display();
    if !file.regular {
        Some(format!(
            "development key file {path} is not a regular file; remove it to generate a new one"
        ))
    } else if file.owner != euid {
        Some(format!(
            "development key file {path} belongs to user {}, not to the user taskql runs as ({euid}); remove it to generate a new one, or `chown` it to that user",
            file.owner
        ))
    } else if file.mode & 0o077 != 0 {
        Some(format!(
            "development key file {path} is open to other users (mode {:o}); run `chmod 600` on it",
            file.mode & 0o777
        ))
    } else {
        None
    }
}

/// The key in `path`, checked; `None` when there is no file.
fn read_key(path: &Path) -> Result<Option<SecretString>, String> {
    let opened = OpenOptions::new()
        .read(true)
        // O_NONBLOCK so that a FIFO in its place cannot hang startup; it is refused below.
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) if err.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
            return Err(format!(
                "development key file {} is a symbolic link; put the key file itself there, or set SECRET_KEY",
                path.display()
            ));
        }
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let metadata = file
        .metadata()
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let facts = KeyFile {
        regular: metadata.is_file(),
        owner: metadata.uid(),
        mode: metadata.mode(),
    };
    if let Some(refusal) = refusal(path, facts, rustix::process::geteuid().as_raw()) {
        return Err(refusal);
    }
    let mut key = String::new();
    file.read_to_string(&mut key)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let key = key.trim();
    if key.len() < MIN_SECRET_KEY_BYTES {
        return Err(format!(
            "development key file {} is too short; delete it to generate a new one",
            path.display()
        ));
    }
    Ok(Some(SecretString::from(key.to_owned())))
}

/// Writes a new key to a private temporary file beside `path`, then links it into place,
/// which fails if `path` exists: a reader never sees a partly written key, and of
/// processes racing to create it, all but the first read the first one's key.
fn create_key(path: &Path) -> Result<SecretString, String> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir
        .unwrap_or(Path::new(""))
        .join(format!(".{name}.{:016x}.tmp", rand::rng().next_u64()));
    let key = generate_secret();
    let written = write_private(&temporary, &key);
    let linked = written.and_then(|()| fs::hard_link(&temporary, path));
    // The temporary name was only a way in; a failed removal leaves a private file behind.
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(SecretString::from(key)),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => read_key(path)?.ok_or_else(|| {
            format!(
                "development key file {} appeared and vanished while taskql started; start it again",
                path.display()
            )
        }),
        Err(err) => Err(format!("cannot create {}: {err}", path.display())),
    }
}

/// Creates `path`, which must not exist, with mode 0600, and writes `key` to disk.
fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(key.as_bytes())?;
    file.sync_all()
}

/// The bytes of a configured key.
pub fn key_bytes(key: &SecretString) -> &[u8] {
    key.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Barrier};

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
    fn the_key_lives_beside_the_sqlite_file_or_in_the_working_directory() {
        for (url, path) in [
            ("sqlite://data/taskql.db?mode=rwc", "data/taskql-secret.key"),
            ("sqlite:/srv/taskql/app.db", "/srv/taskql/taskql-secret.key"),
            ("sqlite://taskql.db?mode=rwc", "taskql-secret.key"),
            ("sqlite::memory:", "taskql-secret.key"),
            ("postgres://db.example.com/taskql", "taskql-secret.key"),
        ] {
            assert_eq!(dev_key_path(url, DEV_KEY_FILE), Path::new(path), "{url}");
        }
    }

    #[test]
    fn a_key_file_is_trusted_only_when_regular_owned_by_the_process_user_and_private() {
        let path = Path::new("/srv/taskql-secret.key");
        let mine = KeyFile {
            regular: true,
            owner: 1000,
            mode: 0o100600,
        };
        assert_eq!(refusal(path, mine, 1000), None);
        let theirs = KeyFile { owner: 0, ..mine };
        let message = refusal(path, theirs, 1000).unwrap();
        assert!(message.contains("/srv/taskql-secret.key"), "{message}");
        assert!(message.contains("belongs to user 0"), "{message}");
        assert!(message.contains("runs as (1000)"), "{message}");
        // Not even root trusts a key another user could have written.
        assert!(
            refusal(
                path,
                KeyFile {
                    owner: 1000,
                    ..mine
                },
                0
            )
            .is_some()
        );
        for mode in [0o100640, 0o100604, 0o100660, 0o100610] {
            let message = refusal(path, KeyFile { mode, ..mine }, 1000).unwrap();
            assert!(message.contains("chmod 600"), "{mode:o}: {message}");
        }
        let directory = KeyFile {
            regular: false,
            ..mine
        };
        assert!(
            refusal(path, directory, 1000)
                .unwrap()
                .contains("not a regular file")
        );
    }

    #[test]
    fn a_key_file_reached_through_a_symbolic_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("elsewhere.key");
        fs::write(&real, generate_secret()).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join(DEV_KEY_FILE);
        std::os::unix::fs::symlink(&real, &path).unwrap();
        let err = load_or_create_dev_key(&path).unwrap_err();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        // A link to nowhere is refused too, rather than created through.
        fs::remove_file(&real).unwrap();
        let err = load_or_create_dev_key(&path).unwrap_err();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(!real.exists());
    }

    #[test]
    fn a_key_file_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEV_KEY_FILE);
        load_or_create_dev_key(&path).unwrap();
        // Giving a file away takes root; any other user has no file of another to test with.
        if !rustix::process::geteuid().is_root() {
            eprintln!("not root: the owner check is covered by the refusal rules alone");
            return;
        }
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let err = load_or_create_dev_key(&path).unwrap_err();
        assert!(err.contains("belongs to user 65534"), "{err}");
    }

    #[test]
    fn a_fifo_in_place_of_the_key_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEV_KEY_FILE);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(load_or_create_dev_key(&path).map(drop)));
        let answer = rx.recv_timeout(std::time::Duration::from_secs(10));
        let err = answer.expect("answered without a writer").unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn processes_starting_at_once_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("nested").join(DEV_KEY_FILE));
        let starts = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (path, starts) = (Arc::clone(&path), Arc::clone(&starts));
                std::thread::spawn(move || {
                    starts.wait();
                    load_or_create_dev_key(&path).map(|key| key.expose_secret().to_owned())
                })
            })
            .collect();
        let keys: Vec<String> = threads
            .into_iter()
            .map(|thread| thread.join().unwrap().unwrap())
            .collect();
        assert!(keys.iter().all(|key| *key == keys[0]), "{keys:?}");
        assert_eq!(fs::read_to_string(path.as_path()).unwrap(), keys[0]);
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, [DEV_KEY_FILE]);
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
