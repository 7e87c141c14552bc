//! Token parsing: access tokens as the guard verifies them and refresh tokens as
//! `refreshToken` and `logout` read them. None may panic.
//!
//! Input starting with byte 1 is `header JSON \0 claims JSON`, signed with the server's
//! key, so the fuzzer reaches claim decoding and validation behind the signature check;
//! anything else is presented as it is.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use taskql::auth::RefreshToken;
use taskql::auth::{JwtKeys, KeyMaterial};

const SECRET: &[u8] = b"fuzzing-secret-0123456789abcdef-0123456789";

static KEYS: LazyLock<JwtKeys> = LazyLock::new(|| {
    JwtKeys::new(
        KeyMaterial {
            secret: SECRET,
            previous_secrets: vec![b"previous-fuzzing-secret-0123456789abcdef"],
            ed25519_pem: None,
        },
        "taskql",
        "taskql",
        Duration::from_secs(900),
    )
    .expect("keys")
});

fuzz_target!(|data: &[u8]| {
    let token = match data.split_first() {
        Some((1, rest)) => {
            let mut parts = rest.splitn(2, |&b| b == 0);
            let header = URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
            let claims = URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
            let message = format!("{header}.{claims}");
            let key = EncodingKey::from_secret(SECRET);
            let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
                .expect("HMAC signs anything");
            format!("{message}.{signature}")
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    let _ = KEYS.verify(&token);
    if let Some(hash) = RefreshToken::hash_presented(&token) {
        assert_eq!(hash.len(), 64, "a SHA-256 in hex");
    }
});
