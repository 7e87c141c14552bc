//! The audit trail: one structured log line per security-relevant account event.
//!
//! Every line has the target [`TARGET`] and the fields `event`, `user_id`, `session_id`
//! and `client_ip` (each only when known), so operators can route and query them apart
//! from diagnostics (`RUST_LOG=audit=info` keeps them alone). They name accounts and
//! sessions by id only: never a username typed at login (it may be a mistyped password),
//! a password, a token or a hash.

use uuid::Uuid;

use crate::client::ClientMeta;

/// The `target` of every audit line.
pub const TARGET: &str = "audit";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An account was created.
    Register,
    /// Credentials were accepted and a session started.
    LoginSuccess,
    /// Credentials were refused (unknown account, wrong password or deactivated account).
    LoginFailure,
    /// A refresh token was exchanged for a new pair.
    Refresh,
    /// A rotated refresh token came back after its grace period: its session was revoked.
    RefreshReuseDetected,
    /// A session ended by its refresh token.
    Logout,
    /// The viewer ended sessions of their own (`logoutAll`, `revokeSession`).
    SessionsRevoked,
    /// A login ended this session, the account's least recently used, to stay within
    /// `MAX_SESSIONS_PER_ACCOUNT`.
    SessionEvicted,
    /// The account was deactivated: its logins are refused and every session ended.
    AccountDeactivated,
    /// The account was activated again; no session from before came back.
    AccountActivated,
    /// The password was replaced; every other session ended.
    PasswordChanged,
    /// The account, its tasks and its sessions were deleted.
    AccountDeleted,
    /// A password reset link was asked for an address (whether or not it has an account).
    PasswordResetRequested,
    /// The password was set through a reset link; every session ended.
    PasswordReset,
    /// The account's address was confirmed.
    EmailVerified,
    /// A change to another address was asked for; it waits for that address's link.
    EmailChangeRequested,
    /// The account's address changed.
    EmailChanged,
}

impl Event {
    /// The value of the `event` field.
    pub fn name(self) -> &'static str {
        match self {
            Event::Register => "register",
            Event::LoginSuccess => "login.success",
            Event::LoginFailure => "login.failure",
            Event::Refresh => "refresh",
            Event::RefreshReuseDetected => "refresh.reuse_detected",
            Event::Logout => "logout",
            Event::SessionsRevoked => "sessions.revoked",
            Event::SessionEvicted => "session.evicted",
            Event::AccountDeactivated => "account.deactivated",
            Event::PasswordResetRequested => "password.reset_requested",
            Event::PasswordReset => "password.reset",
            Event::EmailVerified => "email.verified",
            Event::EmailChangeRequested => "email.change_requested",
            Event::EmailChanged => "email.changed",
            Event::AccountActivated => "account.activated",
            Event::PasswordChanged => "password.changed",
            Event::AccountDeleted => "account.deleted",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Event::Register => "account registered",
            Event::LoginSuccess => "login succeeded",
            Event::LoginFailure => "login failed",
            Event::Refresh => "tokens refreshed",
            Event::RefreshReuseDetected => "refresh token reused: session revoked",
            Event::Logout => "logged out",
            Event::SessionsRevoked => "sessions revoked",
            Event::SessionEvicted => "session ended: too many live sessions",
            Event::AccountDeactivated => "account deactivated",
            Event::AccountActivated => "account activated",
            Event::PasswordChanged => "password changed",
            Event::AccountDeleted => "account deleted",
            Event::PasswordResetRequested => "password reset asked for",
            Event::PasswordReset => "password reset through a mail link: every session ended",
            Event::EmailVerified => "email address verified",
            Event::EmailChangeRequested => "change of email address asked for",
            Event::EmailChanged => "email address changed",
        }
    }
}

/// Logs `event` about an account, if one is known, from the client `client` describes.
pub fn account(event: Event, user_id: Option<Uuid>, client: &ClientMeta) {
    record(event, user_id, None, client);
}

/// Logs `event` about one session of `user_id`, from the client `client` describes.
pub fn session(event: Event, user_id: Uuid, session_id: Uuid, client: &ClientMeta) {
    record(event, Some(user_id), Some(session_id), client);
}

/// Logs a request refused by the throttle `limit` (a [`Limit`](crate::throttle::Limit)
/// name), with the seconds the client was told to wait. A warning: repeated, it is an
/// attack.
pub fn throttled(limit: &str, client_ip: Option<&str>, user_id: Option<Uuid>, retry_after: u64) {
    let user_id = user_id.map(tracing::field::display);
    tracing::warn!(target: TARGET, event = "throttled", limit, user_id, client_ip, retry_after, "throttled");
}

/// Reuse of a refresh token is a warning (a token was probably stolen); the rest is info.
fn record(event: Event, user_id: Option<Uuid>, session_id: Option<Uuid>, client: &ClientMeta) {
    let user_id = user_id.map(tracing::field::display);
    let session_id = session_id.map(tracing::field::display);
    let client_ip = client.ip.as_deref();
    let message = event.message();
    if event == Event::RefreshReuseDetected {
        tracing::warn!(target: TARGET, event = event.name(), user_id, session_id, client_ip, "{message}");
    } else {
        tracing::info!(target: TARGET, event = event.name(), user_id, session_id, client_ip, "{message}");
    }
}
