//! Logins from chosen client addresses and what a throttled answer must look like.

use serde_json::{Value, json};

use super::documents::LOGIN;
use super::{PASSWORD, Reply, TestApp, code, spawn_app_with};

/// An app whose logins back off after `account` failures on one account and after
/// `address` failures from one client address.
pub async fn spawn_login_limited(account: &str, address: &str) -> TestApp {
    spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", account),
        ("LOGIN_ADDRESS_FREE_FAILURES", address),
    ])
    .await
}

/// An app whose accounts wait after a single failed login: a second at first, growing to at
/// most `max_seconds`.
pub async fn spawn_backing_off(max_seconds: &str) -> TestApp {
    spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1"),
        ("LOGIN_BACKOFF_BASE_SECONDS", "1"),
        ("LOGIN_BACKOFF_MAX_SECONDS", max_seconds),
    ])
    .await
}

impl TestApp {
    /// One operation with an optional bearer token and an optional `X-Forwarded-For`.
    pub async fn post_via(
        &self,
        token: Option<&str>,
        forwarded_for: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Reply {
        let mut request = self.request().operation(query, variables);
        if let Some(token) = token {
            request = request.token(token);
        }
        if let Some(addresses) = forwarded_for {
            request = request.forwarded_for(addresses);
        }
        request.send().await
    }

    /// A login, from `forwarded_for` (as `X-Forwarded-For`) when given.
    pub async fn login_from(
        &self,
        forwarded_for: Option<&str>,
        username: &str,
        password: &str,
    ) -> Reply {
        let input = json!({ "input": { "username": username, "password": password } });
        self.post_via(None, forwarded_for, LOGIN, input).await
    }
}

impl TestApp {
    /// A wrong guess at `username`'s password from `forwarded_for`, asserted to be an
    /// ordinary failed login (not yet throttled).
    pub async fn wrong_guess(&self, forwarded_for: Option<&str>, username: &str) {
        assert_wrong_login(
            &self
                .login_from(forwarded_for, username, "guess one two")
                .await,
        );
    }
}

/// Asserts a whole-request RATE_LIMITED refusal: 429, no data, and a `retryAfter` of at
/// least a second that `Retry-After` repeats; returns those seconds.
pub fn assert_rate_limited(reply: &Reply) -> u64 {
    let body = &reply.body;
    assert_eq!(reply.status, 429, "{body}");
    assert_eq!(code(body), "RATE_LIMITED", "{body}");
    assert!(body["data"].is_null(), "{body}");
    let seconds = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("retryAfter in {body}"));
    assert!(seconds >= 1, "{body}");
    assert_eq!(
        reply.retry_after.as_deref(),
        Some(seconds.to_string().as_str())
    );
    seconds
}

/// Asserts an ordinary failed login: 200, no `Retry-After`, UNAUTHENTICATED, no token.
pub fn assert_wrong_login(reply: &Reply) {
    let body = &reply.body;
    assert_eq!(reply.status, 200, "{body}");
    assert_eq!(reply.retry_after, None);
    assert_eq!(code(body), "UNAUTHENTICATED", "{body}");
    assert!(body["data"].is_null(), "{body}");
}

/// Asserts a successful login: 200 with an access token.
pub fn assert_signed_in(reply: &Reply) {
    let body = &reply.body;
    assert_eq!(reply.status, 200, "{body}");
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

/// `count` wrong logins at once, spread over `apps`, at the accounts `username` names;
/// how many were verified (an ordinary failure) and how many refused as rate limited.
pub async fn parallel_guesses(
    apps: &[&TestApp],
    count: usize,
    username: impl Fn(usize) -> String,
) -> (usize, usize) {
    let guesses = (0..count).map(|i| {
        let (app, username) = (apps[i % apps.len()], username(i));
        async move {
            app.login_from(None, &username, &format!("guess {i} of many"))
                .await
        }
    });
    let outcomes = futures::future::join_all(guesses).await;
    let verified = outcomes
        .iter()
        .filter(|reply| reply.status == 200 && reply.code() == "UNAUTHENTICATED")
        .count();
    let refused = outcomes
        .iter()
        .filter(|reply| reply.status == 429 && assert_rate_limited(reply) >= 1)
        .count();
    (verified, refused)
}

/// The `$input` of a `register` for `username` with [`PASSWORD`].
pub fn register_input(username: &str) -> Value {
    json!({ "input": {
        "username": username,
        "email": format!("{username}@example.com"),
        "password": PASSWORD,
    } })
}
