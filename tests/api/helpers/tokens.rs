//! Reading the tokens the server issues and forging others, as an attacker or a test would.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

use tempfile::TempDir;

use super::{SECRET, TestApp, TestUser, spawn_app_with};

/// An app signing with a fresh Ed25519 key (EdDSA) and the key file's folder, which must
/// live as long as the app.
pub async fn spawn_eddsa_app() -> (TestApp, TempDir) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("signing.pem");
    let pem = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>())
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PEM");
    std::fs::write(&key_file, pem.as_bytes()).expect("key file");
    let path = key_file.to_str().expect("utf-8 temp path");
    let app = spawn_app_with(&[("JWT_PRIVATE_KEY_FILE", path)]).await;
    (app, dir)
}

/// Signs `claims` with `header` and `secret`.
pub fn sign(header: &Header, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("sign")
}

/// The claims of a token the server issued (signature checked with [`SECRET`]).
pub fn claims_of(token: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&["taskql"]);
    validation.set_issuer(&["taskql"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("a token this server issued")
    .claims
}

/// Claims the server would accept for `user`'s session, valid now.
pub fn valid_claims(user: &TestUser) -> Value {
    let issued = claims_of(&user.token);
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": issued["sub"], "sid": issued["sid"], "iat": now, "nbf": now, "exp": now + 600,
        "iss": "taskql", "aud": "taskql", "jti": Uuid::now_v7().to_string(),
    })
}

/// The header the server signs `user`'s tokens with (`typ` and `kid` included).
pub fn at_jwt_header(user: &TestUser) -> Header {
    let issued = jsonwebtoken::decode_header(&user.token).expect("header");
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = issued.kid;
    header
}

/// `claims` signed as the server signs `user`'s tokens: its header and [`SECRET`].
pub fn forge(user: &TestUser, claims: &Value) -> String {
    sign(&at_jwt_header(user), claims, SECRET)
}

/// `claims` with `name` set to `value`.
pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// `claims` without `name`.
pub fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().expect("claims").remove(name);
    claims
}

/// Base64url (no padding) of `value`'s JSON text, as in a JWT or a cursor.
pub fn b64_json(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The JSON inside a base64url string (a JWT part or a cursor).
pub fn unb64_json(text: &str) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// `token` with its last character changed: the same shape, no longer the same secret.
pub fn with_last_char_flipped(token: &str) -> String {
    let last = if token.ends_with('A') { 'B' } else { 'A' };
    format!("{}{last}", &token[..token.len() - 1])
}
