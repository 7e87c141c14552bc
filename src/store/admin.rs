//! What administrators read: every account, a page at a time, and every account's
//! security history. An [`AdminStore`] exists only for an [`Admin`], and nothing in this
//! module reaches tasks: administrators manage accounts, they never read anyone's tasks.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::user::{self, Entity as Users};
use super::security_events::{self, EventCursor, EventFilter, EventPage};
use super::users::Account;
use crate::auth::Admin;
use crate::domain::Role;
use crate::error::AppError;

/// Text to find in usernames and email addresses, in any letter case; every character is
/// data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSearch(String);

impl AccountSearch {
    /// Longest search accepted, in characters (an email address is at most 254).
    pub const MAX_CHARS: usize = 254;

    /// Any text up to [`Self::MAX_CHARS`] characters, except NUL (PostgreSQL cannot store
    /// it).
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(AppError::bad_input(format!(
                "`filter.search` must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if raw.contains('\0') {
            return Err(AppError::bad_input(
                "`filter.search` must not contain the NUL character",
            ));
        }
        Ok(Self(raw.to_lowercase()))
    }

    /// Both sides in lower case: usernames are lowered (they are ASCII), addresses are
    /// stored lowered, so a plain LIKE matches in any letter case on both databases.
    fn condition(&self) -> Condition {
        let like = || LikeExpr::new(super::containing(&self.0)).escape('\\');
        let username = Expr::expr(Func::lower(Expr::col((Users, user::Column::Username))));
        Condition::any()
            .add(username.like(like()))
            .add(Expr::col((Users, user::Column::Email)).like(like()))
    }
}

/// Which accounts a listing includes. Every field given narrows it.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub search: Option<AccountSearch>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub email_verified: Option<bool>,
}

impl AccountFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(search) = &self.search {
            condition = condition.add(search.condition());
        }
        if let Some(role) = self.role {
            condition = condition.add(user::Column::Role.eq(role));
        }
        if let Some(active) = self.is_active {
            condition = condition.add(user::Column::IsActive.eq(active));
        }
        if let Some(verified) = self.email_verified {
            condition = condition.add(user::Column::EmailVerified.eq(verified));
        }
        condition
    }
}

/// Where a page of accounts continues: after the account with this id. Ids are UUIDv7,
/// so their order is the order of sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountCursor(Uuid);

impl AccountCursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("account:{}", self.0))
    }

    /// Reads a cursor [`encode`](Self::encode) made; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 128 {
            return None;
        }
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let id = text.strip_prefix("account:")?;
        Uuid::try_parse(id).ok().map(Self)
    }

    /// The cursor of `account`.
    pub fn of(account: &Account) -> Self {
        Self(account.id)
    }
}

/// A page of accounts, newest first.
pub struct AccountPage {
    pub accounts: Vec<Account>,
    pub has_next_page: bool,
}

/// The store as an administrator sees it: accounts and their histories, never tasks.
#[derive(Clone, Copy)]
pub struct AdminStore<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> AdminStore<'a> {
    /// The store for `admin`: only an administrator's capability opens it.
    pub fn new(db: &'a DatabaseConnection, _admin: &Admin) -> Self {
        Self { db }
    }

    /// Up to `size` of the accounts `filter` keeps after `after`, newest first.
    pub async fn accounts(
        &self,
        filter: &AccountFilter,
        size: u64,
        after: Option<AccountCursor>,
    ) -> Result<AccountPage, AppError> {
        let mut query = Users::find().filter(filter.condition());
        if let Some(AccountCursor(after)) = after {
            query = query.filter(user::Column::Id.lt(after));
        }
        let mut accounts: Vec<Account> = query
            .order_by_desc(user::Column::Id)
            .limit(size + 1)
            .all(self.db)
            .await?
            .into_iter()
            .map(Account::from)
            .collect();
        let has_next_page = accounts.len() as u64 > size;
        accounts.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        Ok(AccountPage {
            accounts,
            has_next_page,
        })
    }

    /// How many accounts `filter` keeps.
    pub async fn count(&self, filter: &AccountFilter) -> Result<u64, AppError> {
        Ok(Users::find()
            .filter(filter.condition())
            .count(self.db)
            .await?)
    }

    /// The account with this id, if any.
    pub async fn account(&self, id: Uuid) -> Result<Option<Account>, AppError> {
        super::users::find(self.db, id).await
    }

    /// Up to `size` of the security events `filter` keeps after `after`, of every account,
    /// newest first.
    pub async fn events(
        &self,
        filter: &EventFilter,
        size: u64,
        after: Option<EventCursor>,
    ) -> Result<EventPage, AppError> {
        security_events::page(self.db, filter, size, after).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = AccountCursor(Uuid::now_v7());
        assert_eq!(AccountCursor::decode(&cursor.encode()), Some(cursor));
        for junk in [
            "",
            "x",
            &URL_SAFE_NO_PAD.encode(Uuid::now_v7().to_string()),
            &URL_SAFE_NO_PAD.encode("account:nope"),
            &"a".repeat(10_000),
        ] {
            assert_eq!(AccountCursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn searches_have_limits_and_ignore_letter_case() {
        assert!(AccountSearch::parse(&"x".repeat(AccountSearch::MAX_CHARS)).is_ok());
        assert!(AccountSearch::parse(&"é".repeat(AccountSearch::MAX_CHARS + 1)).is_err());
        assert!(AccountSearch::parse("a\0b").is_err());
        assert_eq!(AccountSearch::parse("AlIcE").unwrap().0, "alice");
    }
}
