//! The black-box security suite: each `probe_*` test attacks the running server over HTTP
//! the way an outsider would and asserts the exact safe outcome.

mod access;
mod bombs;
mod brute_force;
mod enumeration;
mod injection;
mod leaks;
mod refresh;
mod socket;
mod tokens;
mod transport;

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, message};

/// The one message every refused credential gets.
pub const GENERIC_UNAUTHENTICATED: &str = "Authentication required: send a valid access token.";
/// The one message every failed login gets.
pub const GENERIC_LOGIN_FAILURE: &str = "Invalid username or password.";

pub const ME: &str = "{ me { id } }";
pub const REFRESH: &str =
    "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";
pub const TASK: &str = "query($id: ID!) { task(id: $id) { id title description status priority dueAt completedAt createdAt updatedAt } }";

/// Asserts that `authorization` (a whole header value) is refused like any invalid token:
/// no data, UNAUTHENTICATED with the generic message, and the RFC 6750 hint.
pub async fn assert_refused_header(app: &TestApp, authorization: &str, case: &str) {
    let response = app
        .client
        .post(app.graphql_url())
        .header("authorization", authorization)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{case}");
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "{case}"
    );
    let body: Value = response.json().await.expect("JSON body");
    assert!(body["data"].is_null(), "{case}: {body}");
    assert_eq!(code(&body), "UNAUTHENTICATED", "{case}: {body}");
    assert_eq!(message(&body), GENERIC_UNAUTHENTICATED, "{case}");
}

/// Asserts that `token`, sent as a bearer token, is refused like any invalid token.
pub async fn assert_refused(app: &TestApp, token: &str, case: &str) {
    assert_refused_header(app, &format!("Bearer {token}"), case).await;
}

/// True when `token` authenticates `{ me }`.
pub async fn works(app: &TestApp, token: &str) -> bool {
    app.gql(Some(token), ME, json!({})).await["data"]["me"]["id"].is_string()
}

/// Presents a refresh token and returns the body.
pub async fn refresh(app: &TestApp, token: &str) -> Value {
    app.gql(None, REFRESH, json!({ "t": token })).await
}

/// Asserts a refresh was refused with the generic answer.
pub fn assert_refresh_refused(body: &Value, case: &str) {
    assert!(body["data"].is_null(), "{case}: {body}");
    assert_eq!(code(body), "UNAUTHENTICATED", "{case}: {body}");
    assert_eq!(message(body), GENERIC_UNAUTHENTICATED, "{case}");
}

/// The task `id` as its owner sees it.
pub async fn task_as(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app.gql(Some(token), TASK, json!({ "id": id })).await;
    body["data"]["task"].clone()
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
