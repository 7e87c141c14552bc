//! Recovery codes: ten single-use codes of 80 random bits each, shown once when two-factor
//! is turned on (or the codes are regenerated) and stored only as SHA-256 salted with the
//! account's id, so the same code could never match on another account.

use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Codes handed out at once.
pub const COUNT: usize = 10;
/// Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper survives.
const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters of a code, without its hyphens: 16 × 5 bits.
const LENGTH: usize = 16;

/// Fresh codes for account `user_id`, formatted `xxxx-xxxx-xxxx-xxxx`, and what the
/// database stores for them.
pub fn generate_for(user_id: Uuid) -> (Vec<String>, Vec<String>) {
    let codes = generate();
    let hashes = codes
        .iter()
        .map(|code| hash(user_id, code).expect("a generated code is well-formed"))
        .collect();
    (codes, hashes)
}

fn generate() -> Vec<String> {
    let mut rng = rand::rng();
    (0..COUNT)
        .map(|_| {
            let chars: Vec<char> = (0..LENGTH)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            chars
                .chunks(4)
                .map(|group| group.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// What the database stores for `code` on account `user_id`, or `None` when `code` cannot
/// be a recovery code (so no query is made for arbitrary input). Letter case, hyphens and
/// spaces do not matter.
pub fn hash(user_id: Uuid, code: &str) -> Option<String> {
    let normalized: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if normalized.len() != LENGTH || !normalized.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(user_id.as_bytes());
    hasher.update(normalized.as_bytes());
    Some(
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_hash_per_account_whatever_their_formatting() {
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let (codes, hashes) = generate_for(alice);
        assert_eq!(codes.len(), COUNT);
        assert_eq!(hashes.len(), COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        for (code, stored) in codes.iter().zip(&hashes) {
            assert_eq!(hash(alice, code).as_ref(), Some(stored));
            assert_eq!(code.len(), 19, "{code}");
            let hashed = hash(alice, code).unwrap();
            assert_eq!(hash(alice, &code.to_uppercase()), Some(hashed.clone()));
            assert_eq!(hash(alice, &code.replace('-', " ")), Some(hashed.clone()));
            assert_ne!(hash(bob, code), Some(hashed.clone()));
            assert!(!hashed.contains(&code.replace('-', "")));
        }
        for junk in [
            "",
            "123456",
            "iiii-llll-oooo-uuuu",
            &"a".repeat(17),
            "ååååå",
        ] {
            assert_eq!(hash(alice, junk), None, "{junk}");
        }
    }
}
