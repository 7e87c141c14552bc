//! The admin API: `users`, `user`, `auditLog`, `setUserRole`, `setUserActive`,
//! `revokeUserSessions` and `deleteUser`. Every field first makes the [`Admin`]
//! capability from the viewer (UNAUTHENTICATED without one, FORBIDDEN for anyone else).
//! The queries read through the [`AdminStore`] it opens, which has no way to tasks; the
//! mutations take it to the admin service (`services::admin`).

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};

use super::paging::{self, PageInfo, page_size};
use super::security::{SecurityEventConnection, event_cursor};
use super::users::User;
use super::{client, parse_id, state, viewer};
use crate::auth::Admin;
use crate::domain::{Role, SecurityEventKind};
use crate::error::AppError;
use crate::graphql::schema::STATEMENT_COST;
use crate::store::admin::{AccountCursor, AccountFilter, AccountPage, AccountSearch, AdminStore};
use crate::store::security_events::EventFilter;

/// The capability of the request's viewer, or the error that refuses it.
pub(super) fn admin(ctx: &Context<'_>) -> Result<Admin, AppError> {
    Admin::authorize(viewer(ctx)?, state(ctx).admin_policy)
}

/// Which accounts `users` lists. Every field given narrows the result.
#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Text found in the username or the email address, in any letter case; every
    /// character is literal (`%` and `_` are no wildcards). At most 254 characters.
    search: Option<String>,
    /// Only accounts with this role.
    role: Option<Role>,
    /// Only active (true) or deactivated (false) accounts.
    is_active: Option<bool>,
    /// Only accounts whose address is (true) or is not yet (false) verified.
    email_verified: Option<bool>,
}

impl UserFilter {
    fn parse(self) -> Result<AccountFilter, AppError> {
        Ok(AccountFilter {
            search: self
                .search
                .as_deref()
                .map(AccountSearch::parse)
                .transpose()?,
            role: self.role,
            is_active: self.is_active,
            email_verified: self.email_verified,
        })
    }
}

/// One account in a connection, with the cursor that points at it.
#[derive(SimpleObject)]
pub struct UserEdge {
    /// Pass as `after` to continue after this account.
    cursor: String,
    /// The account.
    node: User,
}

/// A page of accounts, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct UserConnection {
    /// The accounts of this page with their cursors.
    edges: Vec<UserEdge>,
    /// The accounts of this page, without cursors.
    nodes: Vec<User>,
    /// Where this page sits.
    page_info: PageInfo,
    #[graphql(skip)]
    filter: AccountFilter,
}

#[ComplexObject]
impl UserConnection {
    /// How many accounts match the filter, on all pages together. Counted only when
    /// asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32, AppError> {
        let admin = admin(ctx)?;
        let count = AdminStore::new(&state(ctx).db, &admin)
            .count(&self.filter)
            .await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

impl UserConnection {
    fn new(page: AccountPage, filter: AccountFilter, after: bool) -> Self {
        let (edges, nodes, page_info) = paging::forward_page(
            page.accounts,
            page.has_next_page,
            after,
            |account| AccountCursor::of(account).encode(),
            |cursor, node| UserEdge { cursor, node },
        );
        Self {
            edges,
            nodes,
            page_info,
            filter,
        }
    }
}

/// Most kinds one `auditLog` may name (there are fewer kinds than this).
const MAX_KINDS: usize = 32;

/// The admin queries.
#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// Every account, newest first (GraphQL Cursor Connections). ADMIN only: FORBIDDEN
    /// for anyone else. Administrators never see anyone's tasks: nothing here leads there.
    #[graphql(complexity = "page_size(first) as usize * child_complexity + 2 * STATEMENT_COST")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first accounts after `after`: 20 by default, at most 100.")]
        first: Option<i32>,
        #[graphql(desc = "An `endCursor` or edge cursor of an earlier page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Which accounts to list; every account when absent.")] filter: Option<
            UserFilter,
        >,
    ) -> Result<UserConnection, AppError> {
        let admin = admin(ctx)?;
        let size = paging::first(first)?;
        let cursor = after
            .as_deref()
            .map(|raw| {
                AccountCursor::decode(raw)
                    .ok_or_else(|| AppError::bad_input("`after` is not a cursor of this list"))
            })
            .transpose()?;
        let filter = filter.unwrap_or_default().parse()?;
        let page = AdminStore::new(&state(ctx).db, &admin)
            .accounts(&filter, size, cursor)
            .await?;
        Ok(UserConnection::new(page, filter, cursor.is_some()))
    }

    /// The account with this id; null when there is none. ADMIN only.
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
    ) -> Result<Option<User>, AppError> {
        let admin = admin(ctx)?;
        let id = parse_id(&id, "id", "user")?;
        let account = AdminStore::new(&state(ctx).db, &admin).account(id).await?;
        Ok(account.map(User::from))
    }

    /// Every account's security events, newest first, with `actor` set where an
    /// administrator acted. ADMIN only. Events are kept for
    /// `SECURITY_EVENT_RETENTION_DAYS` (90 by default), also after their account is deleted.
    #[graphql(complexity = "page_size(first) as usize * child_complexity + STATEMENT_COST")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first events after `after`: 20 by default, at most 100.")]
        first: Option<i32>,
        #[graphql(desc = "An `endCursor` or edge cursor of an earlier page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only this account's events.")] user_id: Option<ID>,
        #[graphql(desc = "Only events of these kinds (an empty list matches nothing).")]
        kinds: Option<Vec<SecurityEventKind>>,
    ) -> Result<SecurityEventConnection, AppError> {
        let admin = admin(ctx)?;
        let size = paging::first(first)?;
        let cursor = event_cursor(after.as_deref())?;
        if kinds.as_ref().is_some_and(|kinds| kinds.len() > MAX_KINDS) {
            return Err(AppError::bad_input(format!(
                "`kinds` takes at most {MAX_KINDS} values"
            )));
        }
        let filter = EventFilter {
            user_id: user_id
                .map(|id| parse_id(&id, "userId", "user"))
                .transpose()?,
            kinds,
        };
        let page = AdminStore::new(&state(ctx).db, &admin)
            .events(&filter, size, cursor)
            .await?;
        Ok(SecurityEventConnection::new(page, cursor.is_some()))
    }
}

/// The admin mutations. None of them acts on the administrator's own account (FORBIDDEN:
/// the self-service mutations serve it), and none leaves taskql without an active
/// administrator (CONFLICT).
#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Gives the account a role. ADMIN only. CONFLICT for the last active administrator.
    async fn set_user_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
        #[graphql(desc = "Its new role.")] role: Role,
    ) -> Result<User, AppError> {
        let admin = admin(ctx)?;
        let id = parse_id(&id, "id", "user")?;
        let account = state(ctx)
            .administration()
            .set_role(&admin, id, role, client(ctx))
            .await?;
        Ok(account.into())
    }

    /// Activates or deactivates the account. Deactivating refuses its logins and ends
    /// every session of it, for good; activating brings none back. ADMIN only. CONFLICT
    /// for deactivating the last active administrator.
    async fn set_user_active(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
        #[graphql(desc = "True to activate, false to deactivate.")] active: bool,
    ) -> Result<User, AppError> {
        let admin = admin(ctx)?;
        let id = parse_id(&id, "id", "user")?;
        let account = state(ctx)
            .administration()
            .set_active(&admin, id, active, client(ctx))
            .await?;
        Ok(account.into())
    }

    /// Ends every live session of the account; how many ended. ADMIN only.
    async fn revoke_user_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
    ) -> Result<i32, AppError> {
        let admin = admin(ctx)?;
        let id = parse_id(&id, "id", "user")?;
        let ended = state(ctx)
            .administration()
            .revoke_sessions(&admin, id, client(ctx))
            .await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Deletes the account with its tasks and sessions, for good. ADMIN only. CONFLICT
    /// for the last active administrator.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
    ) -> Result<bool, AppError> {
        let admin = admin(ctx)?;
        let id = parse_id(&id, "id", "user")?;
        state(ctx)
            .administration()
            .delete(&admin, id, client(ctx))
            .await?;
        Ok(true)
    }
}
