//! HS256 access tokens in the RFC 9068 profile (`typ: at+jwt`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// The `typ` header of every access token (RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated between replicas and clients, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims taskql signs. `sub` is the user's id, never the username.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

/// A signed access token and its lifetime.
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

/// Why a token was refused. Only logs see the difference; clients get one generic error.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    #[error("token has the wrong type header")]
    WrongType,
    #[error("token subject is not a user id")]
    BadSubject,
}

/// Signing and verification keys with the validation rules pinned.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// Signs an access token for `user_id`, valid from `now` for the configured lifetime.
    pub fn issue(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<AccessToken, AppError> {
        let iat = now.timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iat,
            nbf: iat,
            exp: iat + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.into());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|err| AppError::Internal(err.into()))?;
        Ok(AccessToken {
            token,
            expires_in: self.ttl,
        })
    }

    /// The user id of a valid token.
    pub fn verify(&self, token: &str) -> Result<Uuid, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        if !data
            .header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(TOKEN_TYPE))
        {
            return Err(TokenError::WrongType);
        }
        Uuid::try_parse(&data.claims.sub).map_err(|_| TokenError::BadSubject)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as ChronoDuration;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::new(SECRET, "taskql", "taskql", Duration::from_secs(1800))
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_rfc9068_header() {
        let user = Uuid::now_v7();
        let token = keys().issue(user, Utc::now()).unwrap();
        assert_eq!(token.expires_in, Duration::from_secs(1800));
        let header = jsonwebtoken::decode_header(&token.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(keys().verify(&token.token).unwrap(), user);
    }

    #[test]
    fn expiry_allows_the_leeway_and_no_more() {
        let user = Uuid::now_v7();
        let ttl = 1800;
        let just_expired = Utc::now() - ChronoDuration::seconds(ttl + 10);
        assert!(
            keys()
                .verify(&keys().issue(user, just_expired).unwrap().token)
                .is_ok()
        );
        let long_expired = Utc::now() - ChronoDuration::seconds(ttl + 60);
        assert!(
            keys()
                .verify(&keys().issue(user, long_expired).unwrap().token)
                .is_err()
        );
        let future = Utc::now() + ChronoDuration::seconds(120);
        assert!(
            keys()
                .verify(&keys().issue(user, future).unwrap().token)
                .is_err()
        );
    }

    #[test]
    fn other_issuers_audiences_and_keys_are_refused() {
        let user = Uuid::now_v7();
        let token = keys().issue(user, Utc::now()).unwrap().token;
        let other = |iss: &str, aud: &str, secret: &[u8]| {
            JwtKeys::new(secret, iss, aud, Duration::from_secs(60))
        };
        assert!(other("elsewhere", "taskql", SECRET).verify(&token).is_err());
        assert!(other("taskql", "elsewhere", SECRET).verify(&token).is_err());
        assert!(
            other("taskql", "taskql", b"another-secret-another-secret-xx")
                .verify(&token)
                .is_err()
        );
    }
}
