//! Sessions: `sessions`, `refreshToken`, `logout`, `logoutAll`, `revokeSession`.

use async_graphql::{Context, ID, Object, SimpleObject};
use uuid::Uuid;

use super::scalars::DateTime;
use super::users::AuthPayload;
use super::{client, state, viewer};
use crate::error::AppError;
use crate::store::sessions;

/// A signed-in device or browser: one login and the refresh tokens rotated from it.
/// Never carries a token or its hash.
#[derive(SimpleObject)]
pub struct Session {
    /// The session's id; access tokens name it, and `revokeSession` takes it.
    id: ID,
    /// When the login happened.
    created_at: DateTime,
    /// When the session last logged in or refreshed its tokens.
    last_used_at: DateTime,
    /// When the session ends unless its refresh token is used before then.
    expires_at: DateTime,
    /// The client's User-Agent header at login, if it sent one.
    user_agent: Option<String>,
    /// The client's IP address at login.
    ip: Option<String>,
    /// True for the session of the access token making this request.
    current: bool,
}

impl Session {
    fn new(session: sessions::Session, current: Uuid) -> Self {
        Self {
            id: ID(session.id.to_string()),
            created_at: session.created_at.into(),
            last_used_at: session.last_used_at.into(),
            expires_at: session.expires_at.into(),
            user_agent: session.user_agent,
            ip: session.ip,
            current: session.id == current,
        }
    }
}

/// Session queries.
#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The viewer's live sessions, most recently used first.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>, AppError> {
        let viewer = viewer(ctx)?;
        let sessions = state(ctx).sessions().list_sessions(viewer).await?;
        Ok(sessions
            .into_iter()
            .map(|session| Session::new(session, viewer.session_id()))
            .collect())
    }
}

/// Session mutations.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Exchanges a refresh token for a new access token and a new refresh token; the
    /// presented one stops working. Needs no access token. A refresh token presented again
    /// after it was rotated ends its whole session (UNAUTHENTICATED), except within a few
    /// seconds of its rotation, when it yields another pair (two tabs refreshing at once).
    /// Limited per address: past the limit, RATE_LIMITED with `extensions.retryAfter`.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token from `login` or the last `refreshToken`.")]
        refresh_token: String,
    ) -> Result<AuthPayload, AppError> {
        let signed_in = state(ctx)
            .sessions()
            .refresh(&refresh_token, client(ctx))
            .await?;
        Ok(signed_in.into())
    }

    /// Ends the session this refresh token belongs to, and with it every access token of
    /// that session. Needs no access token. False when the token names no live session.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's current refresh token.")] refresh_token: String,
    ) -> Result<bool, AppError> {
        state(ctx)
            .sessions()
            .logout(&refresh_token, client(ctx))
            .await
    }

    /// Ends every session of the viewer, this one included; every access token issued to
    /// the viewer stops working at once.
    async fn logout_all(&self, ctx: &Context<'_>) -> Result<bool, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .sessions()
            .logout_all(viewer, client(ctx))
            .await?;
        Ok(true)
    }

    /// Ends one of the viewer's sessions; NOT_FOUND when it is not the viewer's or not live.
    async fn revoke_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's id, from `sessions`.")] id: ID,
    ) -> Result<bool, AppError> {
        let viewer = viewer(ctx)?;
        let session_id = Uuid::try_parse(id.as_str())
            .map_err(|_| AppError::bad_input("`id` must be a session ID (a UUID)"))?;
        state(ctx)
            .sessions()
            .revoke_session(viewer, session_id, client(ctx))
            .await?;
        Ok(true)
    }
}
