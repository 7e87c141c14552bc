//! The second factor's rows: the account's sealed TOTP secret (confirmed, or waiting for
//! its first code) and the last step accepted, its recovery codes, and the challenges of
//! logins waiting for a code. Secrets arrive and leave sealed; codes and challenges by
//! their hashes only.
//!
//! Every acceptance is one conditional statement, so two requests racing with the same
//! code, recovery code or challenge guess cannot both win.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::entities::login_challenge::{self, Entity as Challenges};
use super::entities::recovery_code::{self, Entity as RecoveryCodes};
use super::entities::user::{self, Entity as Users};
use crate::error::AppError;

/// An account's second factor as stored: sealed secrets, never their plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredFactor {
    /// The confirmed secret; `None` while two-factor is off.
    pub secret: Option<String>,
    /// A secret waiting for its first code, and when it was handed out.
    pub pending: Option<(String, DateTime<Utc>)>,
}

impl std::fmt::Debug for StoredFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredFactor")
            .field("enabled", &self.secret.is_some())
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

/// The account's second factor, if the account exists.
pub async fn find(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<StoredFactor>, AppError> {
    Ok(Users::find_by_id(user_id)
        .one(db)
        .await?
        .map(|user| StoredFactor {
            secret: user.totp_secret,
            pending: user.totp_pending.zip(user.totp_pending_at),
        }))
}

/// Keeps `sealed` as the secret waiting for its first code, replacing any earlier one;
/// false when two-factor is on already (a confirmed secret is never replaced this way).
pub async fn set_pending(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    sealed: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::TotpPending, Expr::value(sealed))
        .col_expr(user::Column::TotpPendingAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TotpSecret.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Turns two-factor on with the pending secret `sealed`, accepting `step` (the first code)
/// and storing `code_hashes` as the only recovery codes; false when that secret is no
/// longer the one waiting. Run it in a transaction with nothing else.
pub async fn enable(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    sealed: &str,
    step: i64,
    code_hashes: &[String],
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::TotpSecret, Expr::value(sealed))
        .col_expr(
            user::Column::TotpPending,
            Expr::value(Option::<String>::None),
        )
        .col_expr(user::Column::TotpLastStep, Expr::value(step))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TotpSecret.is_null())
        .filter(user::Column::TotpPending.eq(sealed))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    replace_recovery_codes(db, user_id, code_hashes, now).await?;
    Ok(true)
}

/// Forgets a secret waiting for its first code: whoever was handed it may no longer be
/// the owner (the password changed, or was reset).
pub async fn forget_pending(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(), AppError> {
    Users::update_many()
        .col_expr(
            user::Column::TotpPending,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            user::Column::TotpPendingAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Turns two-factor off: the secret, its recovery codes and waiting challenges go.
pub async fn disable(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    Users::update_many()
        .col_expr(
            user::Column::TotpSecret,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            user::Column::TotpPending,
            Expr::value(Option::<String>::None),
        )
        .col_expr(user::Column::TotpLastStep, Expr::value(Option::<i64>::None))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    RecoveryCodes::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    retire_challenges(db, user_id).await
}

/// Accepts a code of time step `step` if no code of it or a later step was accepted
/// before; whether it was.
pub async fn accept_step(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    step: i64,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::TotpLastStep, Expr::value(step))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TotpSecret.is_not_null())
        .filter(
            Condition::any()
                .add(user::Column::TotpLastStep.is_null())
                .add(user::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Replaces the sealed secret `old` by `new` (the same secret under the current key).
pub async fn reseal(
    db: &DatabaseConnection,
    user_id: Uuid,
    old: &str,
    new: &str,
) -> Result<(), AppError> {
    Users::update_many()
        .col_expr(user::Column::TotpSecret, Expr::value(new))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TotpSecret.eq(old))
        .exec(db)
        .await?;
    Ok(())
}

/// Makes `code_hashes` the account's only recovery codes.
pub async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    code_hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    RecoveryCodes::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let rows = code_hashes.iter().map(|hash| recovery_code::ActiveModel {
        code_hash: Set(hash.clone()),
        user_id: Set(user_id),
        created_at: Set(now),
    });
    RecoveryCodes::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Whether the account holds the unused recovery code hashing to `code_hash`.
pub async fn holds_recovery_code(
    db: &DatabaseConnection,
    user_id: Uuid,
    code_hash: &str,
) -> Result<bool, AppError> {
    let found = RecoveryCodes::find()
        .filter(recovery_code::Column::CodeHash.eq(code_hash))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .count(db)
        .await?;
    Ok(found > 0)
}

/// Spends the recovery code hashing to `code_hash`; false when it was not the account's
/// or was spent already.
pub async fn spend_recovery_code(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    code_hash: &str,
) -> Result<bool, AppError> {
    let result = RecoveryCodes::delete_many()
        .filter(recovery_code::Column::CodeHash.eq(code_hash))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A login waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Whose password checked out.
    pub user_id: Uuid,
    /// The SHA-256 of the password hash it checked out against.
    pub password_digest: String,
}

/// Stores a challenge by its hash, valid for `ttl`.
pub async fn create_challenge(
    db: &DatabaseConnection,
    token_hash: String,
    challenge: &Challenge,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(), AppError> {
    Challenges::insert(login_challenge::ActiveModel {
        token_hash: Set(token_hash),
        user_id: Set(challenge.user_id),
        password_digest: Set(challenge.password_digest.clone()),
        attempts: Set(0),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Spends one of the challenge's `max_attempts` guesses: the challenge, if it is live and
/// had a guess left.
pub async fn spend_attempt(
    db: &DatabaseConnection,
    token_hash: &str,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>, AppError> {
    Ok(Challenges::update_many()
        .col_expr(
            login_challenge::Column::Attempts,
            Expr::col(login_challenge::Column::Attempts).add(1),
        )
        .filter(login_challenge::Column::TokenHash.eq(token_hash))
        .filter(login_challenge::Column::ExpiresAt.gt(now))
        .filter(login_challenge::Column::Attempts.lt(max_attempts))
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next()
        .map(|row| Challenge {
            user_id: row.user_id,
            password_digest: row.password_digest,
        }))
}

/// Uses the challenge up; false when another request did first.
pub async fn take_challenge(db: &impl ConnectionTrait, token_hash: &str) -> Result<bool, AppError> {
    let result = Challenges::delete_many()
        .filter(login_challenge::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Ends every challenge of the account (its password or second factor changed).
pub async fn retire_challenges(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(), AppError> {
    Challenges::delete_many()
        .filter(login_challenge::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes expired challenges; how many went.
pub async fn purge_challenges(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let result = Challenges::delete_many()
        .filter(login_challenge::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
