//! Tokens sent by mail in links: 256 random bits, stored only as SHA-256, never logged.

use std::fmt;

use super::refresh::{digest, random};

/// Prefix that makes a leaked mail token easy to recognise.
const PREFIX: &str = "tqe_";
/// Length of a token: the prefix and 43 base64url characters.
const LENGTH: usize = PREFIX.len() + 43;

/// A mail token in the clear, for the one message that carries it. Its `Debug` never
/// shows it.
pub struct MailToken(String);

impl MailToken {
    pub fn generate() -> Self {
        Self(random(PREFIX))
    }

    /// The value written into the link, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores.
    pub fn hash(&self) -> String {
        digest(&self.0)
    }

    /// The stored hash of a presented token, or `None` when it cannot be one of ours (so
    /// no query is made for arbitrary input).
    pub fn hash_presented(presented: &str) -> Option<String> {
        let presented = presented.trim();
        (presented.len() == LENGTH && presented.starts_with(PREFIX)).then(|| digest(presented))
    }
}

impl fmt::Debug for MailToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MailToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_tokens_are_random_redacted_and_stored_as_their_digest() {
        let (a, b) = (MailToken::generate(), MailToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), LENGTH);
        assert_eq!(MailToken::hash_presented(a.expose()), Some(a.hash()));
        assert_eq!(format!("{a:?}"), "MailToken(<redacted>)");
        for bad in [
            "",
            "tqe_",
            "tqr_x",
            &"é".repeat(LENGTH),
            &"tqe_".repeat(100),
        ] {
            assert_eq!(MailToken::hash_presented(bad), None, "{bad}");
        }
    }
}
