//! Sessions and their refresh tokens. A session is one login; its refresh tokens rotate on
//! every use, and a rotated token presented again after the grace period revokes the whole
//! session. Tokens are stored as SHA-256 only.
//!
//! Each step that writes more than one row is one transaction, so that a failure part-way
//! (a database error, or the request's deadline) leaves everything as it was before.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::entities::refresh_token::{self, Entity as RefreshTokens};
use super::entities::session::{self, Entity as Sessions};
use super::entities::user::{self, Entity as Users};
use super::users::Account;
use crate::auth::Amr;
use crate::client::ClientMeta;
use crate::error::AppError;

plain_from_model! {
    /// One login as its owner may see it: when and from where, never a token.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Session from session::Model {
        /// The session's id; access tokens name it.
        pub id: Uuid,
        /// The account that logged in.
        pub user_id: Uuid,
        /// When the login happened.
        pub created_at: DateTime<Utc>,
        /// When it last logged in or refreshed.
        pub last_used_at: DateTime<Utc>,
        /// When it ends unless refreshed before.
        pub expires_at: DateTime<Utc>,
        /// The client's User-Agent at login.
        pub user_agent: Option<String>,
        /// The client's address at login.
        pub ip: Option<String>,
    }
}

/// The result of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// A new token was stored for the session.
    Rotated {
        session_id: Uuid,
        user: Box<Account>,
        amr: Amr,
    },
    /// The token had already been rotated and its grace period is over: the session is
    /// revoked now.
    Reused { session_id: Uuid, user_id: Uuid },
    /// Unknown, expired or revoked token, or an inactive account.
    Invalid,
}

fn after(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

/// A new session, and the sessions it ended to keep the account within its cap.
#[derive(Debug)]
pub struct Started {
    /// The new session.
    pub session: Session,
    /// The live sessions past `max_live`, least recently used first, revoked now.
    pub evicted: Vec<Uuid>,
}

/// Starts a session for `user_id`, established by `amr`, whose first refresh token hashes
/// to `token_hash`; records the login on the account, and revokes the least recently used
/// of the account's live sessions beyond `max_live`, the new one counted: one transaction.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    db: &DatabaseConnection,
    user_id: Uuid,
    amr: Amr,
    meta: ClientMeta,
    token_hash: String,
    now: DateTime<Utc>,
    ttl: Duration,
    max_live: u64,
) -> Result<Started, AppError> {
    let txn = db.begin().await?;
    let session = session::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(after(now, ttl)),
        user_agent: Set(meta.user_agent),
        ip: Set(meta.ip),
        revoked_at: Set(None),
        amr: Set(amr.as_str().to_owned()),
    }
    .insert(&txn)
    .await?;
    store_token(&txn, session.id, token_hash, now, ttl).await?;
    Users::update_many()
        .col_expr(user::Column::LastLoginAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(&txn)
        .await?;
    // The cap keeps this list short: at most a few sessions more than `max_live`.
    let live_ids: Vec<Uuid> = Sessions::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user_id))
        .filter(live(now))
        .order_by_desc(session::Column::LastUsedAt)
        .order_by_desc(session::Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    let keep = usize::try_from(max_live).unwrap_or(usize::MAX);
    let mut evicted: Vec<Uuid> = live_ids.into_iter().skip(keep).collect();
    if !evicted.is_empty() {
        Sessions::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::Id.is_in(evicted.iter().copied()))
            .exec(&txn)
            .await?;
        evicted.reverse();
    }
    txn.commit().await?;
    Ok(Started {
        session: session.into(),
        evicted,
    })
}

async fn store_token(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    token_hash: String,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(), AppError> {
    refresh_token::ActiveModel {
        token_hash: Set(token_hash),
        session_id: Set(session_id),
        created_at: Set(now),
        expires_at: Set(after(now, ttl)),
        rotated_at: Set(None),
        regranted_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Rotates the token hashing to `presented` into one hashing to `replacement`.
///
/// Two requests racing with one token (two browser tabs refreshing at once) must not log
/// the user out, so a token rotated at most `grace` ago yields one more fresh token of the
/// same session (a third request within the grace is refused without revoking anything);
/// later, presenting it again is treated as theft and revokes the session.
pub async fn rotate(
    db: &DatabaseConnection,
    presented: &str,
    replacement: String,
    now: DateTime<Utc>,
    ttl: Duration,
    grace: Duration,
) -> Result<Rotation, AppError> {
    let Some((token, Some(session))) = RefreshTokens::find_by_id(presented)
        .find_also_related(Sessions)
        .one(db)
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    if session.revoked_at.is_some() || session.expires_at <= now || token.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    let Some(user) = Users::find_by_id(session.user_id).one(db).await? else {
        return Ok(Rotation::Invalid);
    };
    if !user.is_active {
        return Ok(Rotation::Invalid);
    }
    // Retiring the presented token and storing its successor are one transaction: when
    // anything fails in between, the presented token still works and its retry is no reuse.
    // Dropped uncommitted (an early return, an error, the deadline), it rolls back.
    let txn = db.begin().await?;
    let rotated_at = match token.rotated_at {
        // Claim the token; losing to a concurrent request means it was rotated just now.
        None => (!mark_once(&txn, presented, refresh_token::Column::RotatedAt, now).await?)
            .then_some(now),
        Some(at) => Some(at),
    };
    if let Some(at) = rotated_at {
        // Inclusive, so that with no grace period a concurrent presentation (rotated "just
        // now", by the request that won the claim) is reuse too, not a second successor.
        if now.signed_duration_since(at).to_std().unwrap_or_default() >= grace {
            revoke(&txn, session.user_id, session.id, now).await?;
            txn.commit().await?;
            return Ok(Rotation::Reused {
                session_id: session.id,
                user_id: session.user_id,
            });
        }
        // Within the grace period: one second successor (the other tab), never more, so a
        // replayed token cannot keep spawning branches of the session.
        if !mark_once(&txn, presented, refresh_token::Column::RegrantedAt, now).await? {
            return Ok(Rotation::Invalid);
        }
    }
    store_token(&txn, session.id, replacement, now, ttl).await?;
    Sessions::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::ExpiresAt, Expr::value(after(now, ttl)))
        .filter(session::Column::Id.eq(session.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Rotation::Rotated {
        session_id: session.id,
        user: Box::new(user.into()),
        amr: Amr::from_methods(session.amr.split(' ')),
    })
}

/// Sets the token's `column` to `now` if it is still null, in one conditional statement;
/// false when another request got there first.
async fn mark_once(
    db: &impl ConnectionTrait,
    token_hash: &str,
    column: refresh_token::Column,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let result = RefreshTokens::update_many()
        .col_expr(column, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(column.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The live session a refresh token belongs to, if any.
pub async fn find_by_token(
    db: &DatabaseConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, AppError> {
    let found = RefreshTokens::find_by_id(token_hash)
        .find_also_related(Sessions)
        .one(db)
        .await?;
    Ok(found
        .and_then(|(_, session)| session)
        .filter(|session| session.revoked_at.is_none() && session.expires_at > now)
        .map(Session::from))
}

/// Revokes one of `user_id`'s live sessions; false when there is no such session.
pub async fn revoke(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let result = Sessions::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(live(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Revokes every live session of `user_id` but `except`; returns the revoked ids.
pub async fn revoke_all(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    except: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    let mut update = Sessions::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::UserId.eq(user_id))
        .filter(live(now));
    if let Some(keep) = except {
        update = update.filter(session::Column::Id.ne(keep));
    }
    let revoked = update.exec_with_returning(db).await?;
    Ok(revoked.into_iter().map(|session| session.id).collect())
}

/// The ids of every session of `user_id`, live or not.
pub async fn ids_of(db: &DatabaseConnection, user_id: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(Sessions::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// `user_id`'s live sessions, most recently used first.
pub async fn list_live(
    db: &DatabaseConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, AppError> {
    let found = Sessions::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(live(now))
        .order_by_desc(session::Column::LastUsedAt)
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?;
    Ok(found.into_iter().map(Session::from).collect())
}

/// The request guard's check, in one primary-key lookup: the account behind an access
/// token, if its session is live and the account active.
pub async fn active_account(
    db: &DatabaseConnection,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Account>, AppError> {
    let found = Users::find()
        .inner_join(Sessions)
        .filter(session::Column::Id.eq(session_id))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::IsActive.eq(true))
        .filter(live(now))
        .one(db)
        .await?;
    Ok(found.map(Account::from))
}

/// Deletes revoked and expired sessions with their tokens, and expired tokens of live
/// sessions (no longer needed to recognise reuse); returns how many sessions went.
pub async fn purge(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, AppError> {
    let sessions = Sessions::delete_many()
        .filter(live(now).not())
        .exec(db)
        .await?;
    RefreshTokens::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(sessions.rows_affected)
}

fn live(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(session::Column::RevokedAt.is_null())
        .add(session::Column::ExpiresAt.gt(now))
}
