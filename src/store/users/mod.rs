//! Accounts: creation, look-up for login and for the request guard, addresses and
//! password hashes; their standing (activation, role, deletion) in [`standing`].
//!
//! Lookups return an [`Account`], which carries no password hash; only the two lookups
//! that check a credential ([`find_by_login`], [`find_credential`]) hand out a
//! [`PasswordHash`] beside it.

mod standing;

pub use standing::{
    Activation, RoleChange, Uncommitted, delete, ensure_not_last_admin, set_active, set_role,
};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set, SqlErr,
};
use uuid::Uuid;

use super::entities::user::{self, Entity as Users};
use super::now;
use crate::auth::password::Verifying;
use crate::domain::{Email, Role, Username};
use crate::error::AppError;

/// A taskql account as the rest of the application sees it: plain data, no password
/// hash, no second-factor secret, no way back to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id.
    pub id: Uuid,
    /// As typed at sign-up.
    pub username: String,
    /// In lower case.
    pub email: String,
    /// What the account may do.
    pub role: Role,
    /// False once an operator has deactivated it.
    pub is_active: bool,
    /// Whether the address has been confirmed.
    pub email_verified: bool,
    /// Whether logins and dangerous changes need a TOTP or recovery code.
    pub two_factor_enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a session of it last started.
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<user::Model> for Account {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            is_active: user.is_active,
            email_verified: user.email_verified,
            two_factor_enabled: user.totp_secret.is_some(),
            created_at: user.created_at,
            last_login_at: user.last_login_at,
        }
    }
}

/// A stored argon2 PHC string. Its text is for the password verifier alone: `Debug`
/// redacts it, and it has no `Display` and no serialisation, so it cannot reach a log
/// line or a response by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash the password hasher just made.
    pub(crate) fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for verifying a password against it and judging its parameters.
    /// Only the password verifier can make the [`Verifying`] it asks for.
    pub(crate) fn expose(&self, _: &Verifying) -> &str {
        &self.0
    }

    /// The SHA-256 of the PHC string: tells whether the stored hash changed, and is of no
    /// use for guessing the password beyond the hash itself.
    pub fn digest(&self) -> String {
        crate::auth::digest(&self.0)
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

fn with_hash(user: user::Model) -> (Account, PasswordHash) {
    let hash = PasswordHash(user.password_hash.clone());
    (user.into(), hash)
}

/// What `register` stores.
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: PasswordHash,
}

/// Inserts an account. The unique indexes decide duplicates (any letter case), so two
/// racing registrations cannot both succeed.
pub async fn create(db: &impl ConnectionTrait, new: NewUser) -> Result<Account, AppError> {
    let now = now();
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(new.username.as_str().to_owned()),
        email: Set(new.email.as_str().to_owned()),
        password_hash: Set(new.password_hash.0),
        role: Set(Role::User),
        is_active: Set(true),
        email_verified: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        totp_secret: Set(None),
        totp_pending: Set(None),
        totp_pending_at: Set(None),
        totp_last_step: Set(None),
        last_login_at: Set(None),
    };
    let inserted = row.insert(db).await.map_err(|err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("email") => {
            email_taken()
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict("This username is already taken.".into())
        }
        _ => err.into(),
    })?;
    Ok(inserted.into())
}

fn email_taken() -> AppError {
    AppError::Conflict("This email address is already registered.".into())
}

/// Whether an account other than `except` is registered with `email`.
pub async fn email_in_use(
    db: &DatabaseConnection,
    email: &Email,
    except: Uuid,
) -> Result<bool, AppError> {
    let found = Users::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .filter(user::Column::Id.ne(except))
        .count(db)
        .await?;
    Ok(found > 0)
}

/// Marks the address verified if it is still the account's `email`; whether it was.
pub async fn mark_verified(
    db: &impl ConnectionTrait,
    id: Uuid,
    email: &str,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::EmailVerified, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::IsActive.eq(true))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Makes `email` (just confirmed through its link) the account's verified address;
/// CONFLICT when another account registered it meanwhile, `false` when the account is
/// gone or inactive.
pub async fn change_email(
    db: &impl ConnectionTrait,
    id: Uuid,
    email: &str,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::Email, Expr::value(email))
        .col_expr(user::Column::EmailVerified, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::IsActive.eq(true))
        .exec(db)
        .await
        .map_err(|err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => email_taken(),
            _ => err.into(),
        })?;
    Ok(result.rows_affected > 0)
}

/// The account with this id, if any.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Account>, AppError> {
    Ok(Users::find_by_id(id).one(db).await?.map(Account::from))
}

/// The account registered with this (lower-case) address, if any.
pub async fn find_by_email(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<Account>, AppError> {
    Ok(Users::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?
        .map(Account::from))
}

/// The account with this id and its password hash, for confirming its password.
pub async fn find_credential(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Option<(Account, PasswordHash)>, AppError> {
    Ok(Users::find_by_id(id).one(db).await?.map(with_hash))
}

/// The accounts with these ids; missing ids are simply absent.
pub async fn find_many(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<Account>, AppError> {
    let found = Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(found.into_iter().map(Account::from).collect())
}

/// The account a login identifier names (an email address or a username, any letter
/// case) and its password hash.
pub async fn find_by_login(
    db: &DatabaseConnection,
    login: &Login,
) -> Result<Option<(Account, PasswordHash)>, AppError> {
    let query = match login {
        Login::Email(email) => Users::find().filter(user::Column::Email.eq(email.as_str())),
        Login::Username(username) => Users::find().filter(username_matches(username)),
    };
    Ok(query.one(db).await?.map(with_hash))
}

/// How a person identifies themselves at login.
pub enum Login {
    Email(Email),
    Username(Username),
}

impl Login {
    /// `None` when the identifier can name no account, so no query is needed to say no.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.contains('@') {
            Email::parse(raw).ok().map(Login::Email)
        } else {
            Username::parse(raw).ok().map(Login::Username)
        }
    }
}

/// The account with this username (any letter case), if any.
pub async fn find_by_username(
    db: &DatabaseConnection,
    username: &Username,
) -> Result<Option<Account>, AppError> {
    Ok(Users::find()
        .filter(username_matches(username))
        .one(db)
        .await?
        .map(Account::from))
}

/// `lower(username) = lower(?)`: served by the case-insensitive unique index.
fn username_matches(username: &Username) -> SimpleExpr {
    Expr::expr(Func::lower(Expr::col(user::Column::Username))).eq(username.as_str().to_lowercase())
}

/// Replaces the account's password hash.
pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: PasswordHash,
) -> Result<(), AppError> {
    Users::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash.0))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the password hash only if it is still `old`, so a hash upgraded at login
/// cannot undo a password change that happened meanwhile; returns whether it did.
pub async fn upgrade_password_hash(
    db: &DatabaseConnection,
    id: Uuid,
    old: &PasswordHash,
    new: PasswordHash,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new.0))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::PasswordHash.eq(old.0.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Whether the account still exists with this password hash, so a login can tell that a
/// password change raced it without reading the hash again.
pub async fn has_password_hash(
    db: &DatabaseConnection,
    id: Uuid,
    hash: &PasswordHash,
) -> Result<bool, AppError> {
    let found = Users::find()
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::PasswordHash.eq(hash.0.as_str()))
        .count(db)
        .await?;
    Ok(found > 0)
}

#[cfg(test)]
mod tests {
    use super::PasswordHash;

    #[test]
    fn debug_output_leaves_the_password_hash_out() {
        let hash = PasswordHash::new("$argon2id$v=19$secret".into());
        let printed = format!("{hash:?}");
        assert!(!printed.contains("argon2"), "{printed}");
    }
}
