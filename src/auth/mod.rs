//! Who is asking: passwords, access tokens, and the viewer the request guard decides.

pub mod accounts;
pub mod jwt;
pub mod password;
mod viewer;

use sea_orm::DatabaseConnection;

pub use jwt::{AccessToken, JwtKeys};
pub use password::PasswordHasher;
pub use viewer::Viewer;

use crate::store::users;

/// The outcome of reading a request's credentials, decided once at the transport edge.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// No credentials were presented.
    Anonymous,
    /// A valid token of an existing, active account.
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

/// Decides the [`Authentication`] for the value of an `Authorization` header.
pub async fn authenticate(
    db: &DatabaseConnection,
    keys: &JwtKeys,
    authorization: Option<&str>,
) -> Authentication {
    let Some(header) = authorization else {
        return Authentication::Anonymous;
    };
    let Some(token) = bearer_token(header) else {
        return Authentication::Invalid;
    };
    let Ok(user_id) = keys.verify(token) else {
        return Authentication::Invalid;
    };
    match users::find(db, user_id).await {
        Ok(Some(user)) if user.is_active => Authentication::Viewer(Viewer::new(user.id, user.role)),
        Ok(_) => Authentication::Invalid,
        Err(err) => {
            tracing::error!(error = %err, "cannot load the viewer");
            Authentication::Unavailable
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
