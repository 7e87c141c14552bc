//! Session operations: starting a session, rotating its refresh token, and ending one or
//! all of them. They need the connection, the signing keys, the session cache and the
//! session rules, and nothing about passwords.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::audit::{self, Event};
use crate::auth::{AccessToken, Amr, JwtKeys, RefreshToken, SessionCache, TokenSubject, Viewer};
use crate::client::ClientMeta;
use crate::error::AppError;
use crate::store;
use crate::store::sessions::Session;
use crate::store::sessions::{self, Rotation};
use crate::store::users::Account;

/// What a successful login or refresh hands to the client.
pub struct SignedIn {
    pub user: Account,
    pub session_id: Uuid,
    pub access: AccessToken,
    pub refresh: RefreshToken,
    pub refresh_expires_in: Duration,
}

/// How refresh tokens behave.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Lifetime of a refresh token; each rotation extends the session by this much.
    pub refresh_ttl: Duration,
    /// How long a rotated refresh token still yields a new one.
    pub reuse_grace: Duration,
    /// Most live sessions per account; a new one ends the least recently used beyond it.
    pub max_live: u64,
}

/// The session service: what session operations read, borrowed from the state.
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    pub db: &'a DatabaseConnection,
    pub keys: &'a JwtKeys,
    pub session_cache: &'a SessionCache,
    pub settings: SessionSettings,
}

impl Sessions<'_> {
    /// Starts a session for `user`, who has just proven who they are by `amr`.
    pub(super) async fn start(
        &self,
        user: Account,
        amr: Amr,
        meta: ClientMeta,
    ) -> Result<SignedIn, AppError> {
        let now = store::now();
        let refresh = RefreshToken::generate();
        let ttl = self.settings.refresh_ttl;
        let started = sessions::start(
            self.db,
            user.id,
            amr,
            meta.clone(),
            refresh.hash(),
            now,
            ttl,
            self.settings.max_live,
        )
        .await?;
        self.session_cache.forget(&started.evicted);
        for evicted in &started.evicted {
            audit::session(self.db, Event::SessionEvicted, user.id, *evicted, &meta).await;
        }
        let session = started.session;
        let access = self.keys.issue(
            TokenSubject {
                user_id: user.id,
                session_id: session.id,
                amr,
            },
            now,
        )?;
        Ok(SignedIn {
            // As the session's start recorded it.
            user: Account {
                last_login_at: Some(now),
                ..user
            },
            session_id: session.id,
            access,
            refresh,
            refresh_expires_in: ttl,
        })
    }

    /// Exchanges a refresh token for a new pair. A token rotated more than the grace
    /// period ago is taken as stolen: its whole session is revoked and the request fails.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientMeta,
    ) -> Result<SignedIn, AppError> {
        let Some(hash) = RefreshToken::hash_presented(presented) else {
            return Err(AppError::Unauthenticated);
        };
        let now = store::now();
        let replacement = RefreshToken::generate();
        let ttl = self.settings.refresh_ttl;
        let rotation = sessions::rotate(
            self.db,
            &hash,
            replacement.hash(),
            now,
            ttl,
            self.settings.reuse_grace,
        )
        .await?;
        match rotation {
            Rotation::Rotated {
                session_id,
                user,
                amr,
            } => {
                let access = self.keys.issue(
                    TokenSubject {
                        user_id: user.id,
                        session_id,
                        amr,
                    },
                    now,
                )?;
                audit::session(self.db, Event::Refresh, user.id, session_id, client).await;
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
                self.session_cache.forget(&[session_id]);
                audit::session(
                    self.db,
                    Event::RefreshReuseDetected,
                    user_id,
                    session_id,
                    client,
                )
                .await;
                Err(AppError::Unauthenticated)
            }
            Rotation::Invalid => Err(AppError::Unauthenticated),
        }
    }

    /// Ends the session a refresh token belongs to; false when it names no live session.
    pub async fn logout(&self, presented: &str, client: &ClientMeta) -> Result<bool, AppError> {
        let Some(hash) = RefreshToken::hash_presented(presented) else {
            return Ok(false);
        };
        let now = store::now();
        let Some(session) = sessions::find_by_token(self.db, &hash, now).await? else {
            return Ok(false);
        };
        let ended = sessions::revoke(self.db, session.user_id, session.id, now).await?;
        self.session_cache.forget(&[session.id]);
        audit::session(self.db, Event::Logout, session.user_id, session.id, client).await;
        Ok(ended)
    }

    /// Ends every session of the viewer, this one included.
    pub async fn logout_all(&self, viewer: &Viewer, client: &ClientMeta) -> Result<(), AppError> {
        let revoked = sessions::revoke_all(self.db, viewer.user_id(), None, store::now()).await?;
        self.session_cache.forget(&revoked);
        audit::session(
            self.db,
            Event::AllSessionsRevoked,
            viewer.user_id(),
            viewer.session_id(),
            client,
        )
        .await;
        Ok(())
    }

    /// Ends one of the viewer's sessions; NOT_FOUND for anyone else's.
    pub async fn revoke_session(
        &self,
        viewer: &Viewer,
        session_id: Uuid,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        if !sessions::revoke(self.db, viewer.user_id(), session_id, store::now()).await? {
            return Err(AppError::NotFound("Session"));
        }
        self.session_cache.forget(&[session_id]);
        audit::session(
            self.db,
            Event::SessionsRevoked,
            viewer.user_id(),
            session_id,
            client,
        )
        .await;
        Ok(())
    }

    /// The viewer's live sessions.
    pub async fn list_sessions(&self, viewer: &Viewer) -> Result<Vec<Session>, AppError> {
        sessions::list_live(self.db, viewer.user_id(), store::now()).await
    }
}
