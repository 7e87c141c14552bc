//! An account's standing: whether it is active, its role, whether it exists; and the
//! rail that keeps taskql an active administrator through every change of them.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    IsolationLevel, PaginatorTrait, QueryFilter, QuerySelect, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use super::{Account, find};
use crate::domain::Role;
use crate::error::AppError;
use crate::store::entities::user::{self, Entity as Users};
use crate::store::now;

/// A change made in a transaction still open: committing `txn` makes it, dropping it
/// undoes it. What reports the change is stored in `txn` first, to commit with it.
#[must_use = "the change is undone unless its transaction is committed"]
pub struct Uncommitted<T> {
    pub txn: DatabaseTransaction,
    pub change: T,
}

/// What [`set_active`] changed.
#[derive(Debug)]
pub struct Activation {
    /// The account as it is now.
    pub account: Account,
    /// Whether the account was in the other state before.
    pub changed: bool,
    /// The sessions that ended with the change.
    pub ended: Vec<Uuid>,
}

/// Why the last active administrator cannot stop being one.
const LAST_ADMIN_MESSAGE: &str = "This is the last active administrator account: make another account an administrator first, so that someone can still administer taskql.";

/// Activates or deactivates account `id`; `None` when there is none. A change of state
/// also ends every live session of the account and every login waiting for its second
/// factor, in the same transaction: deactivating ends them for good, and activating ends
/// any that began while it was inactive (a login that was checking its password as the
/// account was deactivated), so neither a token issued before nor a login whose password
/// was checked before comes back. CONFLICT for deactivating the last active administrator.
pub async fn set_active(
    db: &DatabaseConnection,
    id: Uuid,
    active: bool,
) -> Result<Option<Uncommitted<Activation>>, AppError> {
    let now = now();
    let txn = begin_account_change(db).await?;
    if !active {
        keep_an_active_admin(&txn, id).await?;
    }
    let changed = Users::update_many()
        .col_expr(user::Column::IsActive, Expr::value(active))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::IsActive.ne(active))
        .exec_with_returning(&txn)
        .await?;
    let Some(user) = changed.into_iter().next() else {
        let unchanged = Users::find_by_id(id).one(&txn).await?;
        return Ok(unchanged.map(|user| Uncommitted {
            txn,
            change: Activation {
                account: user.into(),
                changed: false,
                ended: Vec::new(),
            },
        }));
    };
    let ended = crate::store::sessions::revoke_all(&txn, user.id, None, now).await?;
    crate::store::second_factor::retire_challenges(&txn, user.id).await?;
    Ok(Some(Uncommitted {
        txn,
        change: Activation {
            account: user.into(),
            changed: true,
            ended,
        },
    }))
}

/// What [`set_role`] changed.
#[derive(Debug)]
pub struct RoleChange {
    /// The account as it is now.
    pub account: Account,
    /// Whether the account had another role before.
    pub changed: bool,
}

/// Gives account `id` the role `role`; `None` when there is no such account. CONFLICT
/// for taking the role from the last active administrator.
pub async fn set_role(
    db: &DatabaseConnection,
    id: Uuid,
    role: Role,
) -> Result<Option<Uncommitted<RoleChange>>, AppError> {
    let txn = begin_account_change(db).await?;
    if role != Role::Admin {
        keep_an_active_admin(&txn, id).await?;
    }
    let changed = Users::update_many()
        .col_expr(user::Column::Role, Expr::value(role))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Role.ne(role))
        .exec_with_returning(&txn)
        .await?;
    let change = match changed.into_iter().next() {
        Some(user) => RoleChange {
            account: user.into(),
            changed: true,
        },
        None => match Users::find_by_id(id).one(&txn).await? {
            Some(user) => RoleChange {
                account: user.into(),
                changed: false,
            },
            None => return Ok(None),
        },
    };
    Ok(Some(Uncommitted { txn, change }))
}

/// The transaction of a change of an account's activation, role or existence, as the
/// last-administrator rail needs it: on SQLite a write transaction from its `BEGIN`
/// (`IMMEDIATE`), so no other writer comes between its reads and its writes; on
/// PostgreSQL READ COMMITTED whatever the server's default, so that each statement sees
/// what committed before it began.
async fn begin_account_change(db: &DatabaseConnection) -> Result<DatabaseTransaction, AppError> {
    let options = match db.get_database_backend() {
        DbBackend::Postgres => TransactionOptions {
            isolation_level: Some(IsolationLevel::ReadCommitted),
            ..TransactionOptions::default()
        },
        _ => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        },
    };
    Ok(db.begin_with_options(options).await?)
}

/// Refuses with CONFLICT when account `target`, about to stop being an active
/// administrator, is the only one; in a transaction from [`begin_account_change`]. It
/// first locks the target's row (`FOR UPDATE` on PostgreSQL, where a concurrent insert
/// that references the account waits for it rather than deadlocking with a deletion).
/// When the target is an active administrator, PostgreSQL then takes one advisory lock,
/// held to commit, before counting the others: removals of administrators take turns,
/// each counting after the one before has committed, so two administrators removing each
/// other at once cannot both succeed. Removals of other accounts never wait for it.
async fn keep_an_active_admin(txn: &DatabaseTransaction, target: Uuid) -> Result<(), AppError> {
    let Some(user) = Users::find_by_id(target).lock_exclusive().one(txn).await? else {
        return Ok(());
    };
    if user.role != Role::Admin || !user.is_active {
        return Ok(());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [ADMIN_REMOVAL_LOCK.into()],
        ))
        .await?;
    }
    if other_active_admins(txn, target).await? == 0 {
        return Err(AppError::Conflict(LAST_ADMIN_MESSAGE.into()));
    }
    Ok(())
}

/// The PostgreSQL advisory lock the removals of administrators take in turn.
const ADMIN_REMOVAL_LOCK: i64 = 0x7461_736b_716c_0001;

/// How many active administrators there are besides account `id`.
async fn other_active_admins(db: &impl ConnectionTrait, id: Uuid) -> Result<u64, AppError> {
    Ok(Users::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .filter(user::Column::IsActive.eq(true))
        .filter(user::Column::Id.ne(id))
        .count(db)
        .await?)
}

/// CONFLICT when account `id` is the last active administrator: for asking before work
/// that cannot be undone (spending a second-factor code), ahead of the change that checks
/// again under its lock.
pub async fn ensure_not_last_admin(db: &DatabaseConnection, id: Uuid) -> Result<(), AppError> {
    let Some(account) = find(db, id).await? else {
        return Ok(());
    };
    if account.role == Role::Admin && account.is_active && other_active_admins(db, id).await? == 0 {
        return Err(AppError::Conflict(LAST_ADMIN_MESSAGE.into()));
    }
    Ok(())
}

/// Deletes the account; its tasks and sessions go with it (ON DELETE CASCADE). `None`
/// when there was none; CONFLICT for the last active administrator.
pub async fn delete(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Option<Uncommitted<()>>, AppError> {
    let txn = begin_account_change(db).await?;
    keep_an_active_admin(&txn, id).await?;
    let deleted = Users::delete_by_id(id).exec(&txn).await?;
    Ok((deleted.rows_affected > 0).then_some(Uncommitted { txn, change: () }))
}
