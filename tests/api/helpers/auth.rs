//! What every refused credential looks like, and the probes that tell whether one works.

use serde_json::{Value, json};

use super::documents::{ME, REFRESH};
use super::{TestApp, code, message};

/// The one message every refused credential gets.
pub const GENERIC_UNAUTHENTICATED: &str = "Authentication required: send a valid access token.";
/// The one message every failed login gets.
pub const GENERIC_LOGIN_FAILURE: &str = "Invalid username or password.";

/// Asserts that `authorization` (a whole header value) is refused like any invalid token:
/// 200, no data, UNAUTHENTICATED with the generic message, and the RFC 6750 hint.
pub async fn assert_invalid_authorization(app: &TestApp, authorization: &str, case: &str) {
    let reply = app
        .request()
        .authorization(authorization)
        .operation(ME, json!({}))
        .send()
        .await;
    assert_eq!(reply.status, 200, "{case}");
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token""#),
        "{case}"
    );
    assert!(reply.body["data"].is_null(), "{case}: {}", reply.text);
    assert_eq!(reply.code(), "UNAUTHENTICATED", "{case}: {}", reply.text);
    assert_eq!(reply.message(), GENERIC_UNAUTHENTICATED, "{case}");
}

/// Asserts that `token`, sent as a bearer token, is refused like any invalid token.
pub async fn assert_invalid_token(app: &TestApp, token: &str, case: &str) {
    assert_invalid_authorization(app, &format!("Bearer {token}"), case).await;
}

/// True when `token` authenticates `{ me }`.
pub async fn works(app: &TestApp, token: &str) -> bool {
    app.gql(Some(token), ME, json!({})).await["data"]["me"]["id"].is_string()
}

/// The viewer's current session as `token` sees it, with `fields` (and `current`).
pub async fn current_session(app: &TestApp, token: &str, fields: &str) -> Value {
    let body = app
        .gql(
            Some(token),
            &format!("{{ sessions {{ {fields} current }} }}"),
            json!({}),
        )
        .await;
    body["data"]["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions in {body}"))
        .iter()
        .find(|session| session["current"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("no current session in {body}"))
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

/// The new (access, refresh) pair of a successful `refreshToken`.
pub fn refreshed(body: &Value) -> (String, String) {
    token_pair(body, "refreshToken")
}

/// The (access, refresh) pair under `data.<field>` of `body`, panicking with the body when
/// it is not there.
pub fn token_pair(body: &Value, field: &str) -> (String, String) {
    let payload = &body["data"][field];
    let text = |name: &str| {
        payload[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .to_owned()
    };
    (text("accessToken"), text("refreshToken"))
}
