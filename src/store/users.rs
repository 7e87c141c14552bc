//! Accounts: creation, look-up for login and for the request guard, activation.

use sea_orm::sea_query::{Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, SqlErr,
};
use uuid::Uuid;

use super::entities::user::{self, Entity as Users};
use super::{UserRecord, now};
use crate::domain::{Email, Role, Username};
use crate::error::AppError;

/// What `register` stores.
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
}

/// Inserts an account. The unique indexes decide duplicates (any letter case), so two
/// racing registrations cannot both succeed.
pub async fn create(db: &DatabaseConnection, new: NewUser) -> Result<UserRecord, AppError> {
    let now = now();
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(new.username.as_str().to_owned()),
        email: Set(new.email.as_str().to_owned()),
        password_hash: Set(new.password_hash),
        role: Set(Role::User),
        is_active: Set(true),
        email_verified: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    };
    row.insert(db).await.map_err(|err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("email") => {
            AppError::Conflict("This email address is already registered.".into())
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict("This username is already taken.".into())
        }
        _ => err.into(),
    })
}

/// The account with this id, if any.
pub async fn find(db: &DatabaseConnection, id: Uuid) -> Result<Option<UserRecord>, AppError> {
    Ok(Users::find_by_id(id).one(db).await?)
}

/// The accounts with these ids; missing ids are simply absent.
pub async fn find_many(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<UserRecord>, AppError> {
    Ok(Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// The account a login identifier names: an email address or a username, any letter case.
pub async fn find_by_login(
    db: &DatabaseConnection,
    login: &Login,
) -> Result<Option<UserRecord>, AppError> {
    let query = match login {
        Login::Email(email) => Users::find().filter(user::Column::Email.eq(email.as_str())),
        Login::Username(username) => Users::find().filter(username_matches(username)),
    };
    Ok(query.one(db).await?)
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

/// Activates or deactivates an account; returns false when no account has that username.
pub async fn set_active(
    db: &DatabaseConnection,
    username: &Username,
    active: bool,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::IsActive, Expr::value(active))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(username_matches(username))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// `lower(username) = lower(?)`: served by the case-insensitive unique index.
fn username_matches(username: &Username) -> SimpleExpr {
    Expr::expr(Func::lower(Expr::col(user::Column::Username))).eq(username.as_str().to_lowercase())
}

/// Replaces the account's password hash.
pub async fn set_password_hash(
    db: &DatabaseConnection,
    id: Uuid,
    password_hash: String,
) -> Result<(), AppError> {
    Users::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
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
    old: &str,
    new: String,
) -> Result<bool, AppError> {
    let result = Users::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::PasswordHash.eq(old))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Deletes the account; its tasks and sessions go with it (ON DELETE CASCADE).
pub async fn delete(db: &DatabaseConnection, id: Uuid) -> Result<(), AppError> {
    Users::delete_by_id(id).exec(db).await?;
    Ok(())
}
