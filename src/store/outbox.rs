//! The outbox: messages written in the transaction of the change that needs them, then
//! claimed, delivered and retired by the mail worker. A claim is a lease: a worker that
//! dies holding one lets it lapse, and another worker (on any replica) takes the message.
//! On PostgreSQL the claim skips rows another worker is claiming at that instant, so two
//! workers never take the same message.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::entities::outbox::{self, Entity as Outbox};
use super::users::Account;
use crate::domain::Email;
use crate::error::AppError;

/// What a message is about; each kind has its own text and, for a link, its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A link that confirms the account's address.
    VerifyEmail,
    /// A link that sets a new password.
    ResetPassword,
    /// Tells the owner that the password was reset.
    PasswordWasReset,
    /// A link, sent to a new address, that makes it the account's address.
    ChangeEmail,
    /// Tells the old address that a change to another one was asked for.
    EmailChangeRequested,
    /// Tells the old address that the account moved to another one.
    EmailWasChanged,
    /// Tells the owner that the password was changed.
    PasswordWasChanged,
    /// Tells the owner that two-factor was turned on.
    TwoFactorWasEnabled,
    /// Tells the owner that two-factor was turned off.
    TwoFactorWasDisabled,
    /// Tells the owner that new recovery codes replaced the old ones.
    RecoveryCodesWereRegenerated,
    /// Tells the owner that a recovery code was spent.
    RecoveryCodeWasUsed,
}

impl MailKind {
    pub const ALL: [MailKind; 11] = [
        MailKind::VerifyEmail,
        MailKind::ResetPassword,
        MailKind::PasswordWasReset,
        MailKind::ChangeEmail,
        MailKind::EmailChangeRequested,
        MailKind::EmailWasChanged,
        MailKind::PasswordWasChanged,
        MailKind::TwoFactorWasEnabled,
        MailKind::TwoFactorWasDisabled,
        MailKind::RecoveryCodesWereRegenerated,
        MailKind::RecoveryCodeWasUsed,
    ];

    /// The value of the `kind` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::ResetPassword => "reset_password",
            MailKind::PasswordWasReset => "password_was_reset",
            MailKind::ChangeEmail => "change_email",
            MailKind::EmailChangeRequested => "email_change_requested",
            MailKind::EmailWasChanged => "email_was_changed",
            MailKind::PasswordWasChanged => "password_was_changed",
            MailKind::TwoFactorWasEnabled => "two_factor_was_enabled",
            MailKind::TwoFactorWasDisabled => "two_factor_was_disabled",
            MailKind::RecoveryCodesWereRegenerated => "recovery_codes_were_regenerated",
            MailKind::RecoveryCodeWasUsed => "recovery_code_was_used",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

const PENDING: &str = "pending";
const SENT: &str = "sent";
const FAILED: &str = "failed";

/// A message a worker has claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    /// `None` when the request named an address: the account is found as it leaves.
    pub user_id: Option<Uuid>,
    pub kind: MailKind,
    pub recipient: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// Queues a notice of `kind` to `account`'s own address.
pub async fn notify(
    db: &impl ConnectionTrait,
    account: &Account,
    kind: MailKind,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    enqueue(db, Some(account.id), kind, &account.email, now).await
}

/// Queues a message to `recipient`, for the account `user_id` or, without one, for
/// whichever active account has that address when the message leaves (maybe none: then
/// nothing is sent). Either way the request writes the same one row.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    kind: MailKind,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let row = outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        kind: Set(kind.as_str().to_owned()),
        recipient: Set(recipient.to_owned()),
        state: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        finished_at: Set(None),
    };
    Outbox::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Whose waiting messages [`supersede`] retires.
#[derive(Debug, Clone, Copy)]
pub enum Addressee<'a> {
    /// Messages to this address.
    Address(&'a Email),
    /// Messages for this account.
    Account(Uuid),
}

/// Gives up the messages of `kind` still waiting for an [`Addressee`]: a newer request
/// replaces them, or a change made them moot. A message being sent right now still goes,
/// and its link still works until a newer one is made.
pub async fn supersede(
    db: &impl ConnectionTrait,
    kind: MailKind,
    addressee: Addressee<'_>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let whose = match addressee {
        Addressee::Address(email) => outbox::Column::Recipient.eq(email.as_str()),
        Addressee::Account(id) => outbox::Column::UserId.eq(id),
    };
    Outbox::update_many()
        .col_expr(outbox::Column::State, Expr::value(FAILED))
        .col_expr(outbox::Column::FinishedAt, Expr::value(now))
        .col_expr(
            outbox::Column::LastError,
            Expr::value("replaced or made moot"),
        )
        .filter(outbox::Column::Kind.eq(kind.as_str()))
        .filter(outbox::Column::State.eq(PENDING))
        .filter(
            outbox::Column::ClaimedUntil
                .is_null()
                .or(outbox::Column::ClaimedUntil.lte(now)),
        )
        .filter(whose)
        .exec(db)
        .await?;
    Ok(())
}

/// Claims the message due longest, for `lease`; `None` when nothing is due.
pub async fn claim(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Option<Claimed>, AppError> {
    let claimable = || {
        outbox::Column::State
            .eq(PENDING)
            .and(outbox::Column::NextAttemptAt.lte(now))
            .and(
                outbox::Column::ClaimedUntil
                    .is_null()
                    .or(outbox::Column::ClaimedUntil.lte(now)),
            )
    };
    let due = Query::select()
        .column(outbox::Column::Id)
        .from(Outbox)
        .and_where(claimable())
        .order_by(outbox::Column::NextAttemptAt, Order::Asc)
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let claimed = Outbox::update_many()
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(now + lease))
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        // `=` and not `IN`: PostgreSQL runs a scalar subquery once, while it may rescan an
        // `IN` subquery and claim a row per scan despite its LIMIT.
        .filter(Expr::col(outbox::Column::Id).eq(Expr::SubQuery(None, Box::new(due.into()))))
        .filter(claimable())
        .exec_with_returning(db)
        .await?;
    let Some(row) = claimed.into_iter().next() else {
        return Ok(None);
    };
    let kind = MailKind::parse(&row.kind).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("outbox row of unknown kind {}", row.kind))
    })?;
    Ok(Some(Claimed {
        id: row.id,
        user_id: row.user_id,
        kind,
        recipient: row.recipient,
        attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
    }))
}

/// The message reached the mail server.
pub async fn delivered(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    finish(db, id, SENT, None, now).await
}

/// The message failed for good (too many attempts, or its account is gone).
pub async fn given_up(
    db: &impl ConnectionTrait,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    finish(db, id, FAILED, Some(error), now).await
}

async fn finish(
    db: &impl ConnectionTrait,
    id: Uuid,
    state: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    Outbox::update_many()
        .col_expr(outbox::Column::State, Expr::value(state))
        .col_expr(
            outbox::Column::ClaimedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(outbox::Column::FinishedAt, Expr::value(now))
        .col_expr(outbox::Column::LastError, Expr::value(error.map(clip)))
        .filter(outbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The attempt failed; the message is due again at `at`.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    id: Uuid,
    error: &str,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    Outbox::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(at))
        .col_expr(
            outbox::Column::ClaimedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(outbox::Column::LastError, Expr::value(clip(error)))
        .filter(outbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes delivered and given-up messages finished before `before`; how many went.
pub async fn purge(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, AppError> {
    let purged = Outbox::delete_many()
        .filter(outbox::Column::State.is_in([SENT, FAILED]))
        .filter(outbox::Column::FinishedAt.lt(before))
        .exec(db)
        .await?;
    Ok(purged.rows_affected)
}

/// An error text short enough for its column.
fn clip(error: &str) -> String {
    error.chars().take(500).collect()
}
