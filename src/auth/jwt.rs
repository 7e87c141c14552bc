//! Access tokens in the RFC 9068 profile (`typ: at+jwt`), each naming its signing key in
//! `kid`. HS256 with `SECRET_KEY` by default; EdDSA when an Ed25519 key file is configured,
//! with the public key published as a JWK set. Earlier HS256 keys keep verifying, so keys
//! rotate without logging anyone out.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

/// The `typ` header of every access token (RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated between replicas and clients, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims taskql signs. `sub` is the user's id, never the username; `sid` the session.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// How the session was established (RFC 8176): `["pwd"]` or `["pwd", "otp"]`. Tokens
    /// signed before the claim existed carry none and count as `pwd`.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// How a session was established: the access token's `amr` and the session's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amr {
    /// A password alone.
    Password,
    /// A password, then a TOTP or a recovery code.
    PasswordAndOtp,
}

impl Amr {
    /// The methods, as RFC 8176 names them.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Amr::Password => &["pwd"],
            Amr::PasswordAndOtp => &["pwd", "otp"],
        }
    }

    /// The stored form: the methods separated by spaces.
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::PasswordAndOtp => "pwd otp",
        }
    }

    /// Reads the stored form or a token's claim; anything without `otp` is a password alone.
    pub fn from_methods<'a>(mut methods: impl Iterator<Item = &'a str>) -> Self {
        if methods.any(|method| method == "otp") {
            Amr::PasswordAndOtp
        } else {
            Amr::Password
        }
    }
}

/// A signed access token and its lifetime.
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

/// Whom a valid token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub amr: Amr,
}

/// Why a token was refused. Only logs see the difference; clients get one generic error.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    #[error("token names no known key")]
    UnknownKey,
    #[error("token has the wrong type header")]
    WrongType,
    #[error("token subject or session is not an id")]
    BadSubject,
}

/// The key material taskql is configured with.
pub struct KeyMaterial<'a> {
    /// `SECRET_KEY`: signs unless an Ed25519 key is given; always verifies.
    pub secret: &'a [u8],
    /// `SECRET_KEY_PREVIOUS`: verify only.
    pub previous_secrets: Vec<&'a [u8]>,
    /// `JWT_PRIVATE_KEY_FILE`'s contents: an Ed25519 private key in PKCS#8 PEM.
    pub ed25519_pem: Option<&'a str>,
}

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// Signing key, verification keys by `kid`, and the validation rules pinned per key.
#[derive(Clone)]
pub struct JwtKeys {
    inner: std::sync::Arc<Keys>,
}

struct Keys {
    signing_kid: String,
    signing_alg: Algorithm,
    signing_key: EncodingKey,
    verifiers: HashMap<String, Verifier>,
    published: JwkSet,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(
        material: KeyMaterial<'_>,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let validation = |alg: Algorithm| {
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[issuer]);
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECONDS;
            validation
        };
        let mut verifiers = HashMap::new();
        for secret in std::iter::once(material.secret).chain(material.previous_secrets) {
            verifiers.insert(
                hmac_kid(secret),
                Verifier {
                    key: DecodingKey::from_secret(secret),
                    validation: validation(Algorithm::HS256),
                },
            );
        }
        let mut published = JwkSet { keys: Vec::new() };
        let (signing_kid, signing_alg, signing_key) = match material.ed25519_pem {
            None => (
                hmac_kid(material.secret),
                Algorithm::HS256,
                EncodingKey::from_secret(material.secret),
            ),
            Some(pem) => {
                let signing = SigningKey::from_pkcs8_pem(pem).map_err(|_| {
                    anyhow::anyhow!(
                        "JWT_PRIVATE_KEY_FILE: not an Ed25519 private key in PKCS#8 PEM"
                    )
                })?;
                let mut jwk = public_jwk(&signing);
                let kid = jwk.thumbprint(ThumbprintHash::SHA256);
                jwk.common.key_id = Some(kid.clone());
                verifiers.insert(
                    kid.clone(),
                    Verifier {
                        key: DecodingKey::from_jwk(&jwk)?,
                        validation: validation(Algorithm::EdDSA),
                    },
                );
                published.keys.push(jwk);
                let der = signing
                    .to_pkcs8_der()
                    .map_err(|err| anyhow::anyhow!("JWT_PRIVATE_KEY_FILE: {err}"))?;
                (
                    kid,
                    Algorithm::EdDSA,
                    EncodingKey::from_ed_der(der.as_bytes()),
                )
            }
        };
        Ok(Self {
            inner: std::sync::Arc::new(Keys {
                signing_kid,
                signing_alg,
                signing_key,
                verifiers,
                published,
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
                ttl,
            }),
        })
    }

    /// Signs an access token for `subject`, valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        subject: TokenSubject,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, AppError> {
        let keys = &self.inner;
        let iat = now.timestamp();
        let claims = Claims {
            sub: subject.user_id.to_string(),
            sid: subject.session_id.to_string(),
            iat,
            nbf: iat,
            exp: iat + keys.ttl.as_secs() as i64,
            iss: keys.issuer.clone(),
            aud: keys.audience.clone(),
            jti: Uuid::now_v7().to_string(),
            amr: subject
                .amr
                .methods()
                .iter()
                .map(|method| (*method).to_owned())
                .collect(),
        };
        let mut header = Header::new(keys.signing_alg);
        header.typ = Some(TOKEN_TYPE.into());
        header.kid = Some(keys.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &keys.signing_key)
            .map_err(|err| AppError::Internal(err.into()))?;
        Ok(AccessToken {
            token,
            expires_in: keys.ttl,
        })
    }

    /// The user and session of a valid token.
    pub fn verify(&self, token: &str) -> Result<TokenSubject, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let verifier = header
            .kid
            .as_deref()
            .and_then(|kid| self.inner.verifiers.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation)?;
        if !data
            .header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(TOKEN_TYPE))
        {
            return Err(TokenError::WrongType);
        }
        Ok(TokenSubject {
            user_id: Uuid::try_parse(&data.claims.sub).map_err(|_| TokenError::BadSubject)?,
            session_id: Uuid::try_parse(&data.claims.sid).map_err(|_| TokenError::BadSubject)?,
            amr: Amr::from_methods(data.claims.amr.iter().map(String::as_str)),
        })
    }

    /// The public keys other services verify taskql tokens with (empty without EdDSA).
    pub fn published(&self) -> &JwkSet {
        &self.inner.published
    }
}

/// A key id for an HMAC secret that reveals nothing usable about it.
fn hmac_kid(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"taskql-kid:")
        .chain_update(secret)
        .finalize();
    format!("hs-{}", URL_SAFE_NO_PAD.encode(&digest[..12]))
}

fn public_jwk(signing: &SigningKey) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as ChronoDuration;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OLD_SECRET: &[u8] = b"an-older-secret-an-older-secret-x";

    fn keys_with(material: KeyMaterial<'_>) -> JwtKeys {
        JwtKeys::new(material, "taskql", "taskql", Duration::from_secs(1800)).unwrap()
    }

    fn keys() -> JwtKeys {
        keys_with(KeyMaterial {
            secret: SECRET,
            previous_secrets: vec![],
            ed25519_pem: None,
        })
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            amr: Amr::Password,
        }
    }

    #[test]
    fn issued_tokens_verify_and_carry_type_and_key_id() {
        let subject = subject();
        let token = keys().issue(subject, Utc::now()).unwrap();
        assert_eq!(token.expires_in, Duration::from_secs(1800));
        let header = jsonwebtoken::decode_header(&token.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::HS256);
        assert!(header.kid.unwrap().starts_with("hs-"));
        assert_eq!(keys().verify(&token.token).unwrap(), subject);
    }

    #[test]
    fn expiry_allows_the_leeway_and_no_more() {
        let ttl = 1800;
        let just_expired = Utc::now() - ChronoDuration::seconds(ttl + 10);
        assert!(
            keys()
                .verify(&keys().issue(subject(), just_expired).unwrap().token)
                .is_ok()
        );
        let long_expired = Utc::now() - ChronoDuration::seconds(ttl + 60);
        assert!(
            keys()
                .verify(&keys().issue(subject(), long_expired).unwrap().token)
                .is_err()
        );
        let future = Utc::now() + ChronoDuration::seconds(120);
        assert!(
            keys()
                .verify(&keys().issue(subject(), future).unwrap().token)
                .is_err()
        );
    }

    #[test]
    fn other_issuers_audiences_and_keys_are_refused() {
        let token = keys().issue(subject(), Utc::now()).unwrap().token;
        let other = |iss: &str, aud: &str, secret: &[u8]| {
            JwtKeys::new(
                KeyMaterial {
                    secret,
                    previous_secrets: vec![],
                    ed25519_pem: None,
                },
                iss,
                aud,
                Duration::from_secs(60),
            )
            .unwrap()
        };
        assert!(other("elsewhere", "taskql", SECRET).verify(&token).is_err());
        assert!(other("taskql", "elsewhere", SECRET).verify(&token).is_err());
        assert!(matches!(
            other("taskql", "taskql", OLD_SECRET).verify(&token),
            Err(TokenError::UnknownKey)
        ));
    }

    #[test]
    fn previous_secrets_verify_but_never_sign() {
        let old = keys_with(KeyMaterial {
            secret: OLD_SECRET,
            previous_secrets: vec![],
            ed25519_pem: None,
        });
        let rotated = keys_with(KeyMaterial {
            secret: SECRET,
            previous_secrets: vec![OLD_SECRET],
            ed25519_pem: None,
        });
        let subject = subject();
        let old_token = old.issue(subject, Utc::now()).unwrap().token;
        assert_eq!(rotated.verify(&old_token).unwrap(), subject);
        let new_token = rotated.issue(subject, Utc::now()).unwrap().token;
        assert!(old.verify(&new_token).is_err());
        assert_ne!(hmac_kid(SECRET), hmac_kid(OLD_SECRET));
    }

    #[test]
    fn ed25519_keys_sign_eddsa_and_publish_their_public_half() {
        let pem = SigningKey::from_bytes(&[7u8; 32])
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        let keys = keys_with(KeyMaterial {
            secret: SECRET,
            previous_secrets: vec![],
            ed25519_pem: Some(&pem),
        });
        let subject = subject();
        let token = keys.issue(subject, Utc::now()).unwrap().token;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(keys.verify(&token).unwrap(), subject);
        let jwks = keys.published();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].common.key_id, header.kid);
        let published = serde_json::to_string(jwks).unwrap();
        assert!(!published.contains("\"d\""), "no private part: {published}");
        // HS256 tokens from before the switch still verify.
        let hs = keys_with(KeyMaterial {
            secret: SECRET,
            previous_secrets: vec![],
            ed25519_pem: None,
        });
        let old = hs.issue(subject, Utc::now()).unwrap().token;
        assert_eq!(keys.verify(&old).unwrap(), subject);
        assert!(
            JwtKeys::new(
                KeyMaterial {
                    secret: SECRET,
                    previous_secrets: vec![],
                    ed25519_pem: Some("not a key"),
                },
                "taskql",
                "taskql",
                Duration::from_secs(60),
            )
            .is_err()
        );
    }

    #[test]
    fn tokens_carry_how_their_session_was_established() {
        let keys = keys();
        let with_otp = TokenSubject {
            amr: Amr::PasswordAndOtp,
            ..subject()
        };
        let token = keys.issue(with_otp, Utc::now()).unwrap().token;
        assert_eq!(keys.verify(&token).unwrap().amr, Amr::PasswordAndOtp);
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
        let password_only = keys.issue(subject(), Utc::now()).unwrap().token;
        assert_eq!(keys.verify(&password_only).unwrap().amr, Amr::Password);
        assert_eq!(Amr::from_methods("pwd otp".split(' ')), Amr::PasswordAndOtp);
        assert_eq!(Amr::from_methods("pwd".split(' ')), Amr::Password);
        assert_eq!(Amr::from_methods(std::iter::empty()), Amr::Password);
    }
}
