//! Account and session operations: the rules that involve passwords, tokens and sessions
//! together. Resolvers parse input and call exactly one of these.

use std::time::Duration;

use uuid::Uuid;

use crate::audit::{self, Event};
use crate::auth::policy;
use crate::auth::refresh::{self, RefreshToken};
use crate::auth::{AccessToken, TokenSubject, Viewer};
use crate::domain::{Email, Password, Username};
use crate::error::AppError;
use crate::state::AppState;
use crate::store;
use crate::store::sessions::{self, ClientMeta, Rotation, Session};
use crate::store::users::{self, Account, Login, NewUser};
use crate::throttle::Throttle;

/// What a successful login or refresh hands to the client.
pub struct SignedIn {
    pub user: Account,
    pub session_id: Uuid,
    pub access: AccessToken,
    pub refresh: RefreshToken,
    pub refresh_expires_in: Duration,
}

/// Validates and stores a new account with its password hashed.
pub async fn register(
    state: &AppState,
    username: &str,
    email: &str,
    password: &str,
    client: &ClientMeta,
) -> Result<Account, AppError> {
    let username = Username::parse(username)?;
    let email = Email::parse(email)?;
    let password = acceptable_password(password, &username, &email)?;
    let password_hash = state.passwords.hash(&password).await?;
    let user = users::create(
        &state.db,
        NewUser {
            username,
            email,
            password_hash,
        },
    )
    .await?;
    audit::account(Event::Register, Some(user.id), client);
    Ok(user)
}

/// A password the policy accepts for this account, or BAD_USER_INPUT with every reason.
fn acceptable_password(
    raw: &str,
    username: &Username,
    email: &Email,
) -> Result<Password, AppError> {
    let password = Password::parse(raw)?;
    let strength = policy::assess(raw, Some(username.as_str()), Some(email.as_str()));
    if !strength.acceptable {
        return Err(AppError::bad_input(strength.reasons.join("; ")));
    }
    Ok(password)
}

/// Checks credentials and starts a session. Unknown account, wrong password, malformed
/// input and deactivated account fail alike, after the same hashing work. A hash made
/// with weaker parameters than configured is replaced on the way.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    meta: ClientMeta,
) -> Result<SignedIn, AppError> {
    let throttle = &state.throttle;
    let (account_key, address_key) = Throttle::login_keys(username, meta.ip.as_deref());
    let address_key = address_key.as_deref();
    // Counted as a failure from here on: only a success takes it back.
    let attempt = match throttle
        .begin_login(&account_key, address_key, store::now())
        .await
    {
        Ok(attempt) => attempt,
        Err((limit, wait)) => {
            // As long as any failed login, so a throttled answer reveals nothing by its
            // timing, yet without argon2 work: a throttled client cannot keep the hashing
            // pool busy.
            state.passwords.sleep_like_verify().await;
            audit::throttled(limit.name(), meta.ip.as_deref(), None, wait);
            return Err(AppError::RateLimited(wait));
        }
    };
    let (Some(login), Ok(password)) = (Login::parse(username), Password::parse(password)) else {
        state.passwords.verify_dummy().await?;
        audit::account(Event::LoginFailure, None, &meta);
        return Err(AppError::InvalidCredentials);
    };
    let credential = users::find_by_login(&state.db, &login).await?;
    let hash = credential.as_ref().map(|(_, hash)| hash);
    let matches = state.passwords.verify(&password, hash).await?;
    let user_id = credential.as_ref().map(|(user, _)| user.id);
    let Some((user, mut verified_hash)) = credential.filter(|(user, _)| matches && user.is_active)
    else {
        audit::account(Event::LoginFailure, user_id, &meta);
        return Err(AppError::InvalidCredentials);
    };
    throttle.login_succeeded(attempt, store::now()).await;
    if state.passwords.needs_rehash(&verified_hash) {
        let upgraded = state.passwords.hash(&password).await?;
        if users::upgrade_password_hash(&state.db, user.id, &verified_hash, upgraded.clone())
            .await?
        {
            verified_hash = upgraded;
            tracing::info!(user_id = %user.id, "password hash upgraded");
        }
    }
    let signed_in = start_session(state, user, meta.clone()).await?;
    // A password change that raced this login revokes sessions after storing its hash;
    // a session started after that revocation must not survive it.
    if !users::has_password_hash(&state.db, signed_in.user.id, &verified_hash).await? {
        sessions::revoke(
            &state.db,
            signed_in.user.id,
            signed_in.session_id,
            store::now(),
        )
        .await?;
        audit::account(Event::LoginFailure, Some(signed_in.user.id), &meta);
        return Err(AppError::InvalidCredentials);
    }
    audit::session(
        Event::LoginSuccess,
        signed_in.user.id,
        signed_in.session_id,
        &meta,
    );
    Ok(signed_in)
}

async fn start_session(
    state: &AppState,
    user: Account,
    meta: ClientMeta,
) -> Result<SignedIn, AppError> {
    let now = store::now();
    let refresh = RefreshToken::generate();
    let ttl = state.sessions.refresh_ttl;
    let session = sessions::start(&state.db, user.id, meta, refresh.hash(), now, ttl).await?;
    let access = state.keys.issue(
        TokenSubject {
            user_id: user.id,
            session_id: session.id,
        },
        now,
    )?;
    Ok(SignedIn {
        user,
        session_id: session.id,
        access,
        refresh,
        refresh_expires_in: ttl,
    })
}

/// Exchanges a refresh token for a new pair. A token rotated more than the grace period
/// ago is taken as stolen: its whole session is revoked and the request fails.
pub async fn refresh(
    state: &AppState,
    presented: &str,
    client: &ClientMeta,
) -> Result<SignedIn, AppError> {
    let Some(hash) = refresh::hash_presented(presented) else {
        return Err(AppError::Unauthenticated);
    };
    let now = store::now();
    let replacement = RefreshToken::generate();
    let ttl = state.sessions.refresh_ttl;
    let rotation = sessions::rotate(
        &state.db,
        &hash,
        replacement.hash(),
        now,
        ttl,
        state.sessions.reuse_grace,
    )
    .await?;
    match rotation {
        Rotation::Rotated { session_id, user } => {
            let access = state.keys.issue(
                TokenSubject {
                    user_id: user.id,
                    session_id,
                },
                now,
            )?;
            audit::session(Event::Refresh, user.id, session_id, client);
            Ok(SignedIn {
                user: *user,
                session_id,
                access,
                refresh: replacement,
                refresh_expires_in: ttl,
            })
        }
        Rotation::Reused {
            session_id,
            user_id,
        } => {
            state.session_cache.forget(&[session_id]);
            audit::session(Event::RefreshReuseDetected, user_id, session_id, client);
            Err(AppError::Unauthenticated)
        }
        Rotation::Invalid => Err(AppError::Unauthenticated),
    }
}

/// Ends the session a refresh token belongs to; false when it names no live session.
pub async fn logout(
    state: &AppState,
    presented: &str,
    client: &ClientMeta,
) -> Result<bool, AppError> {
    let Some(hash) = refresh::hash_presented(presented) else {
        return Ok(false);
    };
    let now = store::now();
    let Some(session) = sessions::find_by_token(&state.db, &hash, now).await? else {
        return Ok(false);
    };
    let ended = sessions::revoke(&state.db, session.user_id, session.id, now).await?;
    state.session_cache.forget(&[session.id]);
    audit::session(Event::Logout, session.user_id, session.id, client);
    Ok(ended)
}

/// Ends every session of the viewer, this one included.
pub async fn logout_all(
    state: &AppState,
    viewer: &Viewer,
    client: &ClientMeta,
) -> Result<(), AppError> {
    let revoked = sessions::revoke_all(&state.db, viewer.user_id(), None, store::now()).await?;
    state.session_cache.forget(&revoked);
    audit::session(
        Event::SessionsRevoked,
        viewer.user_id(),
        viewer.session_id(),
        client,
    );
    Ok(())
}

/// Ends one of the viewer's sessions; NOT_FOUND for anyone else's.
pub async fn revoke_session(
    state: &AppState,
    viewer: &Viewer,
    session_id: Uuid,
    client: &ClientMeta,
) -> Result<(), AppError> {
    if !sessions::revoke(&state.db, viewer.user_id(), session_id, store::now()).await? {
        return Err(AppError::NotFound("Session"));
    }
    state.session_cache.forget(&[session_id]);
    audit::session(Event::SessionsRevoked, viewer.user_id(), session_id, client);
    Ok(())
}

/// The viewer's live sessions.
pub async fn list_sessions(state: &AppState, viewer: &Viewer) -> Result<Vec<Session>, AppError> {
    sessions::list_live(&state.db, viewer.user_id(), store::now()).await
}

/// Replaces the password after checking the current one; every other session ends.
pub async fn change_password(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    new: &str,
    client: &ClientMeta,
) -> Result<(), AppError> {
    let user = confirm_password(state, viewer, current, "currentPassword", client).await?;
    let username = Username::parse(&user.username)?;
    let email = Email::parse(&user.email)?;
    let password = acceptable_password(new, &username, &email)?;
    if Password::parse(current).is_ok_and(|current| current.expose() == password.expose()) {
        return Err(AppError::bad_input(
            "newPassword must differ from the current password",
        ));
    }
    let hash = state.passwords.hash(&password).await?;
    users::set_password_hash(&state.db, user.id, hash).await?;
    let revoked =
        sessions::revoke_all(&state.db, user.id, Some(viewer.session_id()), store::now()).await?;
    state.session_cache.forget(&revoked);
    audit::session(Event::PasswordChanged, user.id, viewer.session_id(), client);
    Ok(())
}

/// Deletes the viewer's account with its tasks and sessions, after checking the password.
pub async fn delete_account(
    state: &AppState,
    viewer: &Viewer,
    password: &str,
    client: &ClientMeta,
) -> Result<(), AppError> {
    let user = confirm_password(state, viewer, password, "password", client).await?;
    let ended = sessions::ids_of(&state.db, user.id).await?;
    users::delete(&state.db, user.id).await?;
    state.session_cache.forget(&ended);
    audit::session(Event::AccountDeleted, user.id, viewer.session_id(), client);
    Ok(())
}

/// The viewer's account, if `password` is its password; BAD_USER_INPUT naming `argument`
/// otherwise. Wrong passwords back off per user as failed logins do per account, so a
/// stolen access token does not buy a guess per mutation the rate limit allows.
async fn confirm_password(
    state: &AppState,
    viewer: &Viewer,
    password: &str,
    argument: &str,
    client: &ClientMeta,
) -> Result<Account, AppError> {
    let throttle = &state.throttle;
    let key = format!("login:user:{}", viewer.user_id());
    // Counted as a failure from here on, so parallel guesses cannot pass the backoff
    // together: only a right password takes it back.
    let attempt = match throttle.begin_login(&key, None, store::now()).await {
        Ok(attempt) => attempt,
        Err((limit, wait)) => {
            audit::throttled(
                limit.name(),
                client.ip.as_deref(),
                Some(viewer.user_id()),
                wait,
            );
            return Err(AppError::RateLimited(wait));
        }
    };
    let (user, hash) = users::find_credential(&state.db, viewer.user_id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let matches = match Password::parse(password) {
        Ok(password) => state.passwords.verify(&password, Some(&hash)).await?,
        Err(_) => {
            state.passwords.verify_dummy().await?;
            false
        }
    };
    if !matches {
        return Err(AppError::bad_input(format!("`{argument}` is incorrect")));
    }
    throttle.login_succeeded(attempt, store::now()).await;
    Ok(user)
}
