//! Opaque tokens: 256 random bits behind a prefix that makes a leaked one easy to recognise
//! (for example by secret scanners), shown once, stored only as SHA-256, never logged.
//! Refresh tokens, the tokens of mail links and login challenges are all made this way.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Characters after the prefix: 32 random bytes in base64url.
const RANDOM_LENGTH: usize = 43;

/// Declares an opaque token type with its prefix.
macro_rules! opaque_token {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        pub struct $name(String);

        impl $name {
            /// The prefix every token of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(random(Self::PREFIX))
            }

            /// The value handed out, once.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// What the database stores.
            pub fn hash(&self) -> String {
                digest(&self.0)
            }

            /// The stored hash of a presented token, or `None` when it cannot be one of
            /// this kind (so no query is made for arbitrary input).
            pub fn hash_presented(presented: &str) -> Option<String> {
                (presented.len() == Self::PREFIX.len() + RANDOM_LENGTH
                    && presented.starts_with(Self::PREFIX))
                .then(|| digest(presented))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

opaque_token!(
    /// A refresh token in the clear.
    RefreshToken,
    "tqr_"
);
opaque_token!(
    /// The token of a mail link, in the clear for the one message that carries it.
    MailToken,
    "tqe_"
);
opaque_token!(
    /// The challenge a correct password earns when two-factor is on, for `verifyLogin`.
    ChallengeToken,
    "tqc_"
);

/// `prefix` and 256 random bits in base64url.
fn random(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The hex SHA-256 of a token: what the database stores instead of it.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_redacted_and_stored_as_their_digest() {
        let (a, b) = (RefreshToken::generate(), RefreshToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 4 + RANDOM_LENGTH);
        assert_eq!(RefreshToken::hash_presented(a.expose()), Some(a.hash()));
        assert_eq!(a.hash().len(), 64);
        assert!(!a.hash().contains(a.expose()));
        assert_eq!(format!("{a:?}"), "RefreshToken(<redacted>)");
        let mail = MailToken::generate();
        assert_eq!(format!("{mail:?}"), "MailToken(<redacted>)");
        assert!(mail.expose().starts_with("tqe_"));
        assert!(ChallengeToken::generate().expose().starts_with("tqc_"));
    }

    #[test]
    fn foreign_strings_and_other_kinds_are_not_looked_up() {
        let refresh = RefreshToken::generate();
        let challenge = ChallengeToken::generate();
        for bad in [
            "",
            "tqr_",
            "tqr_short",
            &"x".repeat(47),
            &"é".repeat(47),
            &format!("tqr_{}", "a".repeat(500)),
            challenge.expose(),
        ] {
            assert_eq!(RefreshToken::hash_presented(bad), None, "{bad}");
        }
        assert_eq!(ChallengeToken::hash_presented(refresh.expose()), None);
        assert_eq!(MailToken::hash_presented(refresh.expose()), None);
    }
}
