//! What administrators do to other accounts: change their role, activate or deactivate
//! them, end their sessions, delete them. Each action takes the [`Admin`] capability, is
//! refused on the administrator's own account (the self-service mutations serve it), and
//! lands on the audit trail with the administrator as its actor, in the transaction of
//! the change: an action whose event cannot be stored does not happen.

use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use crate::audit::{self, Entry, Event};
use crate::auth::{Admin, SessionCache};
use crate::client::ClientMeta;
use crate::domain::Role;
use crate::error::AppError;
use crate::store::users::{self, Account, Uncommitted};
use crate::store::{self, sessions};

/// Why the admin API refuses the administrator's own account.
pub const OWN_ACCOUNT_MESSAGE: &str = "This is your own account: use the self-service mutations (`changePassword`, `logoutAll`, `deleteAccount`) instead.";

/// The admin service: what administrators' actions read, borrowed from the state.
#[derive(Clone, Copy)]
pub struct Administration<'a> {
    pub db: &'a DatabaseConnection,
    pub session_cache: &'a SessionCache,
}

impl Administration<'_> {
    /// Gives account `id` the role `role`; nothing changes when it has it already. A
    /// demotion holds from the account's next request on every replica (the guard never
    /// keeps an administrator's session); a promotion within `SESSION_CACHE_SECONDS`.
    pub async fn set_role(
        &self,
        admin: &Admin,
        id: Uuid,
        role: Role,
        client: &ClientMeta,
    ) -> Result<Account, AppError> {
        not_own(admin, id)?;
        let Uncommitted { txn, change } = users::set_role(self.db, id, role)
            .await?
            .ok_or(AppError::NotFound("User"))?;
        let entry = change
            .changed
            .then(|| Entry::by_admin(Event::RoleChanged(role), id, admin.user_id()));
        audit::commit_with(txn, entry, client).await?;
        Ok(change.account)
    }

    /// Activates or deactivates account `id`. Deactivating ends every session of it for
    /// good; activating brings none back.
    pub async fn set_active(
        &self,
        admin: &Admin,
        id: Uuid,
        active: bool,
        client: &ClientMeta,
    ) -> Result<Account, AppError> {
        not_own(admin, id)?;
        let Uncommitted { txn, change } = users::set_active(self.db, id, active)
            .await?
            .ok_or(AppError::NotFound("User"))?;
        let entry = change
            .changed
            .then(|| Entry::by_admin(Event::activation(active), id, admin.user_id()));
        audit::commit_with(txn, entry, client).await?;
        self.session_cache.forget(&change.ended);
        Ok(change.account)
    }

    /// Ends every live session of account `id`; how many ended.
    pub async fn revoke_sessions(
        &self,
        admin: &Admin,
        id: Uuid,
        client: &ClientMeta,
    ) -> Result<u64, AppError> {
        not_own(admin, id)?;
        let txn = self.db.begin().await?;
        if users::find(&txn, id).await?.is_none() {
            return Err(AppError::NotFound("User"));
        }
        let ended = sessions::revoke_all(&txn, id, None, store::now()).await?;
        let entry = Entry::by_admin(Event::AllSessionsRevoked, id, admin.user_id());
        audit::commit_with(txn, Some(entry), client).await?;
        self.session_cache.forget(&ended);
        Ok(ended.len() as u64)
    }

    /// Deletes account `id` with its tasks and sessions, for good.
    pub async fn delete(
        &self,
        admin: &Admin,
        id: Uuid,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        not_own(admin, id)?;
        let ended = sessions::ids_of(self.db, id).await?;
        let Uncommitted { txn, .. } = users::delete(self.db, id)
            .await?
            .ok_or(AppError::NotFound("User"))?;
        let entry = Entry::by_admin(Event::AccountDeleted, id, admin.user_id());
        audit::commit_with(txn, Some(entry), client).await?;
        self.session_cache.forget(&ended);
        Ok(())
    }
}

/// FORBIDDEN when `id` is the administrator's own account.
fn not_own(admin: &Admin, id: Uuid) -> Result<(), AppError> {
    if admin.user_id() == id {
        Err(AppError::Forbidden(OWN_ACCOUNT_MESSAGE))
    } else {
        Ok(())
    }
}
