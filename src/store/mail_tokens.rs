//! Tokens of the links sent by mail, stored as SHA-256 only. Issuing one retires every
//! earlier token of its account and purpose; taking one deletes it in the same
//! statement that finds it, so a token works once even when two requests race.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::entities::email_token::{self, Entity as MailTokens};
use crate::auth::MailToken;
use crate::error::AppError;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the address it was sent to.
    VerifyEmail,
    /// Set a new password.
    ResetPassword,
    /// Make the address it was sent to the account's address.
    ChangeEmail,
}

impl Purpose {
    const fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [
            Purpose::VerifyEmail,
            Purpose::ResetPassword,
            Purpose::ChangeEmail,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == raw)
    }
}

/// What a valid token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub user_id: Uuid,
    pub purpose: Purpose,
    /// The address the link was sent to.
    pub email: String,
}

impl TryFrom<email_token::Model> for Issued {
    type Error = AppError;

    fn try_from(row: email_token::Model) -> Result<Self, AppError> {
        let purpose = Purpose::parse(&row.purpose)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("mail token of unknown purpose")))?;
        Ok(Self {
            user_id: row.user_id,
            purpose,
            email: row.email,
        })
    }
}

/// Makes the token for a link to `email`, valid until `expires_at`, and retires the
/// account's earlier tokens of the same purpose.
pub async fn issue(
    db: &DatabaseConnection,
    user_id: Uuid,
    purpose: Purpose,
    email: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<MailToken, AppError> {
    let token = MailToken::generate();
    let txn = db.begin().await?;
    MailTokens::delete_many()
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.eq(purpose.as_str()))
        .exec(&txn)
        .await?;
    MailTokens::insert(email_token::ActiveModel {
        token_hash: Set(token.hash()),
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_owned()),
        email: Set(email.to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// What a presented token of one of `purposes` was issued for, if it is live; the token
/// stays usable.
pub async fn peek(
    db: &impl ConnectionTrait,
    purposes: &[Purpose],
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Issued>, AppError> {
    let Some(hash) = MailToken::hash_presented(presented.trim()) else {
        return Ok(None);
    };
    MailTokens::find_by_id(hash)
        .filter(live(purposes, now))
        .one(db)
        .await?
        .map(Issued::try_from)
        .transpose()
}

/// Uses up a presented token of one of `purposes`: what it was issued for, if it was live.
pub async fn take(
    db: &impl ConnectionTrait,
    purposes: &[Purpose],
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Issued>, AppError> {
    let Some(hash) = MailToken::hash_presented(presented.trim()) else {
        return Ok(None);
    };
    MailTokens::delete_many()
        .filter(email_token::Column::TokenHash.eq(hash))
        .filter(live(purposes, now))
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next()
        .map(Issued::try_from)
        .transpose()
}

/// Retires the account's tokens of `purposes`.
pub async fn retire(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    purposes: &[Purpose],
) -> Result<(), AppError> {
    MailTokens::delete_many()
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.is_in(purposes.iter().map(|purpose| purpose.as_str())))
        .exec(db)
        .await?;
    Ok(())
}

/// Retires every token of the account, whatever its purpose.
pub async fn retire_all(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(), AppError> {
    MailTokens::delete_many()
        .filter(email_token::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes tokens that expired before `now`; how many went.
pub async fn purge(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, AppError> {
    let purged = MailTokens::delete_many()
        .filter(email_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(purged.rows_affected)
}

fn live(purposes: &[Purpose], now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(email_token::Column::Purpose.is_in(purposes.iter().map(|purpose| purpose.as_str())))
        .add(email_token::Column::ExpiresAt.gt(now))
}
