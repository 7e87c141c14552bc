//! Sign-up and login: the rules that involve passwords and tokens together.

use crate::auth::AccessToken;
use crate::domain::{Email, Password, Username};
use crate::error::AppError;
use crate::startup::AppState;
use crate::store::users::{self, Login, NewUser};
use crate::store::{self, UserRecord};

/// Validates and stores a new account with its password hashed.
pub async fn register(
    state: &AppState,
    username: &str,
    email: &str,
    password: &str,
) -> Result<UserRecord, AppError> {
    let username = Username::parse(username)?;
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let password_hash = state.passwords.hash(&password).await?;
    users::create(
        &state.db,
        NewUser {
            username,
            email,
            password_hash,
        },
    )
    .await
}

/// Checks credentials and issues an access token. Unknown account, wrong password,
/// malformed input and deactivated account fail alike, after the same hashing work.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<(UserRecord, AccessToken), AppError> {
    let (Some(login), Ok(password)) = (Login::parse(username), Password::parse(password)) else {
        state.passwords.verify_dummy().await?;
        return Err(AppError::InvalidCredentials);
    };
    let user = users::find_by_login(&state.db, &login).await?;
    let hash = user.as_ref().map(|user| user.password_hash.as_str());
    let matches = state.passwords.verify(&password, hash).await?;
    match user {
        Some(user) if matches && user.is_active => {
            let token = state.keys.issue(user.id, store::now())?;
            tracing::info!(user_id = %user.id, "login succeeded");
            Ok((user, token))
        }
        _ => {
            tracing::info!("login failed");
            Err(AppError::InvalidCredentials)
        }
    }
}
