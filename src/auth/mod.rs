//! Who is asking: passwords, tokens, sessions, and the viewer the request guard decides.

pub mod admin;
mod cache;
mod fair;
pub mod jwt;
mod opaque;
pub mod password;
pub mod policy;
pub mod recovery;
mod sealed;
pub mod totp;
mod viewer;

pub use admin::{Admin, AdminPolicy};
pub use cache::SessionCache;
pub use jwt::{AccessToken, Amr, JwtKeys, KeyMaterial, TokenSubject};
pub use opaque::{ChallengeToken, MailToken, RefreshToken, digest};
pub use password::{HashingWork, PasswordHasher};
pub use sealed::{DataKeys, Opened};
pub use viewer::Viewer;

use sea_orm::DatabaseConnection;

use crate::domain::Role;
use crate::store::{self, sessions};

/// The outcome of reading a request's credentials, decided once at the transport edge.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// No credentials were presented.
    Anonymous,
    /// A valid token of a live session of an active account.
    Viewer(Viewer),
    /// Credentials were presented but are not valid, whatever the reason.
    Invalid,
    /// The credentials could not be checked (the database failed); not the client's fault.
    Unavailable,
}

impl Authentication {
    /// True when the response should carry `WWW-Authenticate: Bearer error="invalid_token"`.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Authentication::Invalid)
    }
}

/// What deciding an [`Authentication`] reads: the keys that verify tokens, the session
/// cache and the connection that checks a session. Borrowed from the application state,
/// so the transport hands authentication these and nothing else.
#[derive(Clone, Copy)]
pub struct Authenticator<'a> {
    pub keys: &'a JwtKeys,
    pub session_cache: &'a SessionCache,
    pub db: &'a DatabaseConnection,
}

impl Authenticator<'_> {
    /// Decides the [`Authentication`] for the value of an `Authorization` header: the
    /// token's signature and claims, then one indexed lookup (or the session cache) for its
    /// session and account.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Authentication {
        let Some(header) = authorization else {
            return Authentication::Anonymous;
        };
        let Some(token) = bearer_token(header) else {
            return Authentication::Invalid;
        };
        let Ok(subject) = self.keys.verify(token) else {
            return Authentication::Invalid;
        };
        let viewer = match self.session_cache.get(subject.session_id) {
            Some(cached) => cached,
            None => {
                let now = store::now();
                match sessions::active_account(self.db, subject.user_id, subject.session_id, now)
                    .await
                {
                    Ok(account) => {
                        let viewer = account.map(|user| {
                            Viewer::new(
                                user.id,
                                subject.session_id,
                                user.role,
                                subject.amr,
                                user.two_factor_enabled,
                            )
                        });
                        // An administrator's role is read on every request, so a demotion
                        // holds on the next request on every replica, cache or not.
                        if viewer
                            .as_ref()
                            .is_none_or(|viewer| viewer.role() != Role::Admin)
                        {
                            self.session_cache
                                .insert(subject.session_id, viewer.clone());
                        }
                        viewer
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot check the session");
                        return Authentication::Unavailable;
                    }
                }
            }
        };
        match viewer {
            Some(viewer) if viewer.user_id() == subject.user_id => Authentication::Viewer(viewer),
            _ => Authentication::Invalid,
        }
    }
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 7235).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("abc.def.ghi"), None);
    }
}
