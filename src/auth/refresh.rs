//! Opaque refresh tokens: 256 random bits, shown to the client once, stored as SHA-256.
//! Mail tokens ([`super::MailToken`]) are made the same way.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix that makes a leaked token easy to recognise (for example by secret scanners).
const PREFIX: &str = "tqr_";
/// Length of a token: the prefix and 43 base64url characters.
const LENGTH: usize = PREFIX.len() + 43;

/// A refresh token in the clear. Its `Debug` never shows it.
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn generate() -> Self {
        Self(random(PREFIX))
    }

    /// The value handed to the client, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores.
    pub fn hash(&self) -> String {
        digest(&self.0)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// The stored hash of a presented token, or `None` when it cannot be one of ours (so no
/// query is made for arbitrary input).
pub fn hash_presented(presented: &str) -> Option<String> {
    (presented.len() == LENGTH && presented.starts_with(PREFIX)).then(|| digest(presented))
}

/// `prefix` and 256 random bits in base64url: 43 characters after the prefix.
pub(crate) fn random(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The hex SHA-256 of a token: what the database stores instead of it.
pub(crate) fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_as_their_digest() {
        let (a, b) = (RefreshToken::generate(), RefreshToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), LENGTH);
        assert_eq!(hash_presented(a.expose()), Some(a.hash()));
        assert_eq!(a.hash().len(), 64);
        assert!(!a.hash().contains(a.expose()));
        assert_eq!(format!("{a:?}"), "RefreshToken(<redacted>)");
    }

    #[test]
    fn foreign_strings_are_not_looked_up() {
        for bad in [
            "",
            "tqr_",
            "tqr_short",
            &"x".repeat(LENGTH),
            &format!("tqr_{}", "a".repeat(500)),
        ] {
            assert_eq!(hash_presented(bad), None, "{bad}");
        }
    }
}
