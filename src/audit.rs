//! The audit trail: one structured log line per security-relevant account event.
//!
//! Every line has the target [`TARGET`] and the fields `event`, `user_id`, `session_id`,
//! `actor_id` (the administrator who acted) and `client_ip` (each only when known), so
//! operators can route and query them apart
//! from diagnostics (`RUST_LOG=audit=info` keeps them alone). They name accounts and
//! sessions by id only: never a username typed at login (it may be a mistyped password),
//! a password, a token or a hash.
//!
//! Events about a known account are also stored as the account's security history
//! ([`Event::kind`]), with the client's address and user agent, and the administrator who
//! acted: its owner reads it (while the account exists), administrators read every
//! account's. Most are stored once their change has committed, and a history that cannot
//! be written is logged as an error; a change of an account's role, activation or
//! existence stores its [`Entry`] in its own transaction instead, so that it never
//! happens unrecorded.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use uuid::Uuid;

use crate::client::ClientMeta;
use crate::domain::{Role, SecurityEventKind};
use crate::error::AppError;
use crate::store::security_events;

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
    /// The viewer ended one of their sessions (`revokeSession`).
    SessionsRevoked,
    /// The viewer ended every session of theirs (`logoutAll`).
    AllSessionsRevoked,
    /// Guesses at a known account's password or second factor were held back.
    LoginThrottled,
    /// A wrong TOTP or recovery code was given for a known account.
    SecondFactorFailed,
    /// Two-factor was turned on.
    TwoFactorEnabled,
    /// Two-factor was turned off.
    TwoFactorDisabled,
    /// A recovery code was spent.
    RecoveryCodeUsed,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
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
    /// The account was given this role.
    RoleChanged(Role),
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
    /// The account was activated (`true`) or deactivated.
    pub fn activation(active: bool) -> Self {
        if active {
            Event::AccountActivated
        } else {
            Event::AccountDeactivated
        }
    }

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
            Event::AllSessionsRevoked => "sessions.revoked_all",
            Event::LoginThrottled => "login.throttled",
            Event::SecondFactorFailed => "second_factor.failure",
            Event::TwoFactorEnabled => "two_factor.enabled",
            Event::TwoFactorDisabled => "two_factor.disabled",
            Event::RecoveryCodeUsed => "recovery_code.used",
            Event::RecoveryCodesRegenerated => "recovery_codes.regenerated",
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
            Event::RoleChanged(_) => "role.changed",
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
            Event::SessionsRevoked => "session revoked",
            Event::AllSessionsRevoked => "every session revoked",
            Event::LoginThrottled => "guesses held back",
            Event::SecondFactorFailed => "wrong second-factor code",
            Event::TwoFactorEnabled => "two-factor turned on",
            Event::TwoFactorDisabled => "two-factor turned off",
            Event::RecoveryCodeUsed => "recovery code used",
            Event::RecoveryCodesRegenerated => "recovery codes regenerated",
            Event::SessionEvicted => "session ended: too many live sessions",
            Event::AccountDeactivated => "account deactivated",
            Event::AccountActivated => "account activated",
            Event::PasswordChanged => "password changed",
            Event::AccountDeleted => "account deleted",
            Event::RoleChanged(Role::Admin) => "role changed: now an administrator",
            Event::RoleChanged(Role::User) => "role changed: now a user",
            Event::PasswordResetRequested => "password reset asked for",
            Event::PasswordReset => "password reset through a mail link: every session ended",
            Event::EmailVerified => "email address verified",
            Event::EmailChangeRequested => "change of email address asked for",
            Event::EmailChanged => "email address changed",
        }
    }
}

impl Event {
    /// What the account's security history calls it; `None` for a refresh, which is
    /// routine and kept in the log only.
    pub fn kind(self) -> Option<SecurityEventKind> {
        use SecurityEventKind as Kind;
        Some(match self {
            Event::Register => Kind::Registered,
            Event::LoginSuccess => Kind::LoginSucceeded,
            Event::LoginFailure => Kind::LoginFailed,
            Event::LoginThrottled => Kind::LoginThrottled,
            Event::SecondFactorFailed => Kind::SecondFactorFailed,
            Event::RefreshReuseDetected => Kind::RefreshReuseDetected,
            Event::Logout | Event::SessionsRevoked | Event::SessionEvicted => Kind::SessionRevoked,
            Event::AllSessionsRevoked => Kind::AllSessionsRevoked,
            Event::AccountDeactivated => Kind::AccountDeactivated,
            Event::AccountActivated => Kind::AccountActivated,
            Event::PasswordChanged => Kind::PasswordChanged,
            Event::PasswordResetRequested => Kind::PasswordResetRequested,
            Event::PasswordReset => Kind::PasswordReset,
            Event::EmailVerified => Kind::EmailVerified,
            Event::EmailChangeRequested => Kind::EmailChangeRequested,
            Event::EmailChanged => Kind::EmailChanged,
            Event::TwoFactorEnabled => Kind::TwoFactorEnabled,
            Event::TwoFactorDisabled => Kind::TwoFactorDisabled,
            Event::RecoveryCodeUsed => Kind::RecoveryCodeUsed,
            Event::RecoveryCodesRegenerated => Kind::RecoveryCodesRegenerated,
            Event::AccountDeleted => Kind::AccountDeleted,
            Event::RoleChanged(_) => Kind::RoleChanged,
            Event::Refresh => return None,
        })
    }
}

/// Logs `event` about an account, if one is known, from the client `client` describes,
/// and adds it to that account's history.
pub async fn account(
    db: &impl ConnectionTrait,
    event: Event,
    user_id: Option<Uuid>,
    client: &ClientMeta,
) {
    record(db, event, user_id, None, client).await;
}

/// An event that is stored in the transaction of the change it reports, so that the change
/// and its event commit together or not at all: what a change of an account's role,
/// activation or existence leaves, whoever makes it.
pub struct Entry {
    event: Event,
    actor: Actor,
    user_id: Uuid,
}

impl Entry {
    /// `event`, done by the administrator `admin_id` to account `user_id`.
    pub fn by_admin(event: Event, user_id: Uuid, admin_id: Uuid) -> Self {
        Self {
            event,
            actor: Actor {
                user: Some(user_id),
                session: None,
                admin: Some(admin_id),
            },
            user_id,
        }
    }

    /// `event`, done by account `user_id`'s owner in session `session_id`.
    pub fn by_owner(event: Event, user_id: Uuid, session_id: Uuid) -> Self {
        Self {
            event,
            actor: Actor::owner(Some(user_id), Some(session_id)),
            user_id,
        }
    }

    /// `event`, done to account `user_id` on the machine (`taskql user …`): no actor.
    pub fn on_the_machine(event: Event, user_id: Uuid) -> Self {
        Self {
            event,
            actor: Actor::owner(Some(user_id), None),
            user_id,
        }
    }
}

/// Stores `entry` from the client `client` describes in `txn`, commits it with the change
/// it reports, then logs it. A history that cannot be written fails the change.
pub async fn commit_with(
    txn: DatabaseTransaction,
    entry: Option<Entry>,
    client: &ClientMeta,
) -> Result<(), AppError> {
    if let Some(entry) = &entry
        && let Some(event) = new_event(entry.event, entry.actor, entry.user_id, client)
    {
        security_events::record(&txn, event).await?;
    }
    txn.commit().await?;
    if let Some(entry) = entry {
        entry.actor.log(entry.event, client);
    }
    Ok(())
}

/// Logs `event` about one session of `user_id`, from the client `client` describes, and
/// adds it to the account's history.
pub async fn session(
    db: &impl ConnectionTrait,
    event: Event,
    user_id: Uuid,
    session_id: Uuid,
    client: &ClientMeta,
) {
    record(db, event, Some(user_id), Some(session_id), client).await;
}

/// Logs a request refused by the throttle `limit` (a [`Limit`](crate::throttle::Limit)
/// name), with the seconds the client was told to wait. A warning: repeated, it is an
/// attack.
pub fn throttled(limit: &str, client_ip: Option<&str>, user_id: Option<Uuid>, retry_after: u64) {
    let user_id = user_id.map(tracing::field::display);
    tracing::warn!(target: TARGET, event = "throttled", limit, user_id, client_ip, retry_after, "throttled");
}

/// Logs `event` now and adds it to the account's history from a task of its own, on
/// `background` (a pool the request does not use): for a failed login, whose answer
/// must cost the same whether or not the name it gave has an account to write to.
pub fn account_later(
    background: &DatabaseConnection,
    event: Event,
    user_id: Option<Uuid>,
    client: &ClientMeta,
) {
    let actor = Actor::owner(user_id, None);
    actor.log(event, client);
    if let Some(user_id) = user_id {
        let (background, client) = (background.clone(), client.clone());
        tokio::spawn(async move { store(&background, event, actor, user_id, &client).await });
    }
}

/// Who an event is about and who did it.
#[derive(Clone, Copy)]
struct Actor {
    user: Option<Uuid>,
    session: Option<Uuid>,
    /// The administrator who acted, when not the account's owner.
    admin: Option<Uuid>,
}

impl Actor {
    fn owner(user: Option<Uuid>, session: Option<Uuid>) -> Self {
        Self {
            user,
            session,
            admin: None,
        }
    }

    /// Reuse of a refresh token is a warning (a token was probably stolen); the rest is
    /// info.
    fn log(self, event: Event, client: &ClientMeta) {
        let user_id = self.user.map(tracing::field::display);
        let session_id = self.session.map(tracing::field::display);
        let actor_id = self.admin.map(tracing::field::display);
        let client_ip = client.ip.as_deref();
        let message = event.message();
        if event == Event::RefreshReuseDetected {
            tracing::warn!(target: TARGET, event = event.name(), user_id, session_id, actor_id, client_ip, "{message}");
        } else {
            tracing::info!(target: TARGET, event = event.name(), user_id, session_id, actor_id, client_ip, "{message}");
        }
    }
}

async fn record(
    db: &impl ConnectionTrait,
    event: Event,
    user: Option<Uuid>,
    session: Option<Uuid>,
    client: &ClientMeta,
) {
    let actor = Actor::owner(user, session);
    actor.log(event, client);
    if let Some(user_id) = user {
        store(db, event, actor, user_id, client).await;
    }
}

/// Adds `event` to the account's history. The change the event reports has happened
/// already, so a history that cannot be written is an error in the log, not a failed
/// request.
async fn store(
    db: &impl ConnectionTrait,
    event: Event,
    actor: Actor,
    user_id: Uuid,
    client: &ClientMeta,
) {
    let Some(new) = new_event(event, actor, user_id, client) else {
        return;
    };
    if let Err(err) = security_events::record(db, new).await {
        tracing::error!(error = %err, event = event.name(), "cannot store a security event");
    }
}

/// The row `event` adds to account `user_id`'s history; `None` for an event the history
/// leaves out.
fn new_event(
    event: Event,
    actor: Actor,
    user_id: Uuid,
    client: &ClientMeta,
) -> Option<security_events::NewEvent<'_>> {
    Some(security_events::NewEvent {
        user_id,
        actor_id: actor.admin,
        session_id: actor.session,
        kind: event.kind()?,
        role: match event {
            Event::RoleChanged(role) => Some(role),
            _ => None,
        },
        client,
        at: crate::store::now(),
    })
}
