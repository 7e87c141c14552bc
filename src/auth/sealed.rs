//! Secrets at rest: sealed with XChaCha20-Poly1305 under `DATA_ENCRYPTION_KEY`, a key of
//! their own that never signs a token, so a database dump alone opens none of them.
//!
//! A sealed value reads `<key id>.<base64url(nonce ‖ ciphertext)>`. The key id picks the key
//! that opens it, so keys rotate: the current key seals, the previous ones still open, and a
//! value opened with a previous key says so, for its owner to seal it again. The caller's
//! context (an account id) is bound in as associated data: a value copied onto another
//! account's row does not open.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::SecretSlice;
use sha2::{Digest, Sha256};

const NONCE_BYTES: usize = 24;

/// The keys that seal and open secrets at rest.
#[derive(Clone)]
pub struct DataKeys {
    inner: Arc<Keys>,
}

struct Keys {
    current: Key,
    previous: Vec<Key>,
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    /// Derives the cipher key from the configured key text, so a key of any length (at least
    /// 32 bytes, as configuration checks) becomes 256 bits; the id reveals nothing of it.
    fn new(material: &[u8]) -> Self {
        let derive = |label: &[u8]| {
            let mut hasher = Sha256::new();
            hasher.update(label);
            hasher.update(material);
            hasher.finalize()
        };
        let cipher_key = derive(b"taskql data encryption key\0");
        let id = derive(b"taskql data key id\0")[..6]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            id,
            cipher: XChaCha20Poly1305::new(&cipher_key),
        }
    }
}

/// A secret opened, and whether a previous key sealed it.
pub struct Opened {
    pub plaintext: SecretSlice<u8>,
    pub stale: bool,
}

impl DataKeys {
    pub fn new(current: &[u8], previous: &[&[u8]]) -> Self {
        Self {
            inner: Arc::new(Keys {
                current: Key::new(current),
                previous: previous.iter().map(|key| Key::new(key)).collect(),
            }),
        }
    }

    /// Seals `plaintext` for `context` with the current key and a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> String {
        let key = &self.inner.current;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = key
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("XChaCha20-Poly1305 seals any message shorter than 256 GiB");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{}.{}", key.id, URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a value [`seal`](Self::seal) made for `context`; `None` when no configured key
    /// made it, or it was altered or made for another context.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Option<Opened> {
        let (id, body) = sealed.split_once('.')?;
        let keys = &self.inner;
        let (key, stale) = if keys.current.id == id {
            (&keys.current, false)
        } else {
            (keys.previous.iter().find(|key| key.id == id)?, true)
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce = XNonce::from(<[u8; NONCE_BYTES]>::try_from(nonce).ok()?);
        let plaintext = key
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .ok()?;
        Some(Opened {
            plaintext: plaintext.into(),
            stale,
        })
    }
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OLD: &[u8] = b"an-older-data-key-an-older-data-k";

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let keys = DataKeys::new(KEY, &[]);
        let sealed = keys.seal(b"JBSWY3DPEHPK3PXP", b"account-1");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(
            sealed,
            keys.seal(b"JBSWY3DPEHPK3PXP", b"account-1"),
            "fresh nonce"
        );
        let opened = keys.open(&sealed, b"account-1").unwrap();
        assert_eq!(opened.plaintext.expose_secret(), b"JBSWY3DPEHPK3PXP");
        assert!(!opened.stale);
        assert!(
            keys.open(&sealed, b"account-2").is_none(),
            "bound to its context"
        );
        assert!(
            DataKeys::new(OLD, &[])
                .open(&sealed, b"account-1")
                .is_none()
        );
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.open(&altered, b"account-1").is_none());
        for junk in [
            "",
            ".",
            "x",
            "abc.",
            "abc.!!!",
            &format!("{}.AAAA", &sealed[..12]),
        ] {
            assert!(keys.open(junk, b"account-1").is_none(), "{junk}");
        }
    }

    #[test]
    fn a_previous_key_still_opens_and_says_it_is_stale() {
        let old = DataKeys::new(OLD, &[]).seal(b"secret", b"account");
        let rotated = DataKeys::new(KEY, &[OLD]);
        let opened = rotated.open(&old, b"account").unwrap();
        assert_eq!(opened.plaintext.expose_secret(), b"secret");
        assert!(opened.stale);
        assert!(
            !rotated
                .open(&rotated.seal(b"secret", b"account"), b"account")
                .unwrap()
                .stale
        );
        assert_eq!(format!("{rotated:?}"), "DataKeys(<redacted>)");
    }
}
