//! Time-based one-time passwords (RFC 6238) through totp-rs: SHA-1, six digits, 30-second
//! steps, one step of drift either way, which is what every authenticator app speaks. The
//! caller keeps the last accepted step, so no code is accepted twice.

use chrono::{DateTime, Utc};
use qrcode::QrCode;
use qrcode::render::svg;
use rand::RngCore;
use totp_rs::{Algorithm, Builder, Totp};

use crate::error::AppError;

/// 160 random bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A fresh random secret.
pub fn generate_secret() -> [u8; SECRET_BYTES] {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// What an authenticator app needs to add the secret.
pub struct Setup {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<account>?secret=…&issuer=<issuer>`.
    pub uri: String,
    /// The URI as an SVG QR code.
    pub qr_code_svg: String,
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, AppError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|err| AppError::Internal(anyhow::anyhow!("TOTP parameters: {err}")))
}

/// The setup of `secret` for `account` (a username, which has no colon) at `issuer`.
pub fn setup(secret: &[u8], issuer: &str, account: &str) -> Result<Setup, AppError> {
    let totp = totp(secret, issuer, account)?;
    let uri = totp
        .to_url()
        .map_err(|err| AppError::Internal(anyhow::anyhow!("otpauth URI: {err}")))?;
    let qr_code_svg = QrCode::new(uri.as_bytes())
        .map_err(|err| AppError::Internal(anyhow::anyhow!("QR code: {err}")))?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(Setup {
        secret: totp.secret().to_base32(),
        uri,
        qr_code_svg,
    })
}

/// Whether `code` looks like a TOTP at all: six digits, spaces allowed between them.
pub fn looks_like_code(code: &str) -> bool {
    let digits: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.iter().all(char::is_ascii_digit)
}

/// The time step `code` belongs to, if it is the code of the step of `now` or of the one
/// before or after.
pub fn matching_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    if !looks_like_code(code) {
        return None;
    }
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let totp = totp(secret, "taskql", "account").ok()?;
    let time = u64::try_from(now.timestamp()).ok()?;
    totp.check(&code, time)
        .and_then(|step| i64::try_from(step).ok())
}

/// The code of `now`, as an authenticator app would show it.
#[cfg(test)]
pub fn code_at(secret: &[u8], now: DateTime<Utc>) -> String {
    totp(secret, "taskql", "account")
        .unwrap()
        .generate(now.timestamp() as u64)
        .to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret; its 8-digit vectors end in these six digits.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_follow_rfc_6238() {
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let at = Utc.timestamp_opt(time, 0).unwrap();
            assert_eq!(code_at(RFC_SECRET, at), code, "at {time}");
            assert_eq!(matching_step(RFC_SECRET, code, at), Some(time / 30));
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let secret = generate_secret();
        let now = Utc.timestamp_opt(1_800_000_015, 0).unwrap();
        let step = now.timestamp() / 30;
        for offset in [-1i64, 0, 1] {
            let code = code_at(&secret, now + chrono::Duration::seconds(30 * offset));
            assert_eq!(matching_step(&secret, &code, now), Some(step + offset));
        }
        for offset in [-2i64, 2] {
            let code = code_at(&secret, now + chrono::Duration::seconds(30 * offset));
            assert_eq!(matching_step(&secret, &code, now), None, "offset {offset}");
        }
        let spaced = code_at(&secret, now);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(matching_step(&secret, &spaced, now), Some(step));
        for junk in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "١٢٣٤٥٦",
            &"9".repeat(10_000),
        ] {
            assert_eq!(matching_step(&secret, junk, now), None, "{junk}");
        }
    }

    #[test]
    fn setup_gives_the_secret_its_uri_and_a_qr_code() {
        let setup = setup(RFC_SECRET, "taskql", "alice").unwrap();
        assert_eq!(setup.secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(
            setup
                .uri
                .starts_with("otpauth://totp/taskql:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{}",
            setup.uri
        );
        assert!(setup.uri.contains("issuer=taskql"), "{}", setup.uri);
        assert!(setup.qr_code_svg.contains("<svg"), "{}", setup.qr_code_svg);
    }
}
