//! Accounts: `register`, `login` and `me`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::scalars::DateTime;
use super::{client, state, viewer};
use crate::auth::policy;
use crate::client::ClientMeta;
use crate::domain::Role;
use crate::error::AppError;
use crate::services::SignedIn;
use crate::store::users::{self, Account};

/// A taskql account. Never carries a password, a hash or a token.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct User {
    /// The account's id, a UUID.
    id: ID,
    /// The name chosen at sign-up, in the letter case it was typed.
    username: String,
    /// The account's email address, in lower case.
    email: String,
    /// What the account may do.
    role: Role,
    /// False once an operator has deactivated the account.
    is_active: bool,
    /// Whether the address has been confirmed.
    email_verified: bool,
    /// Whether logins and dangerous changes need a TOTP or recovery code.
    two_factor_enabled: bool,
    /// When the account was created.
    created_at: DateTime,
    #[graphql(skip)]
    account_id: Uuid,
    #[graphql(skip)]
    last_login: Option<DateTime>,
    /// Built for the account that asked (`login`'s payload, `me`), whatever the request's
    /// token says.
    #[graphql(skip)]
    own: bool,
}

impl User {
    /// The account of whoever the answer goes to: a login's or refresh's payload, `me`.
    pub fn own(account: Account) -> Self {
        Self {
            own: true,
            ..account.into()
        }
    }
}

#[ComplexObject]
impl User {
    /// When the account last logged in: shown to the account itself and to administrators
    /// allowed to use the admin API; null for anyone else, and before a first login.
    async fn last_login_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        let shown = self.own
            || viewer(ctx).is_ok_and(|viewer| viewer.user_id() == self.account_id)
            || super::admin::admin(ctx).is_ok();
        if shown { self.last_login } else { None }
    }
}

impl From<Account> for User {
    fn from(user: Account) -> Self {
        Self {
            id: ID(user.id.to_string()),
            username: user.username,
            email: user.email,
            role: user.role,
            is_active: user.is_active,
            email_verified: user.email_verified,
            two_factor_enabled: user.two_factor_enabled,
            created_at: user.created_at.into(),
            account_id: user.id,
            last_login: user.last_login_at.map(DateTime),
            own: false,
        }
    }
}

/// Loads the users a request refers to in one query per batch, so a page of tasks with
/// their owners costs a constant number of queries.
pub struct UserLoader {
    db: DatabaseConnection,
}

/// A [`UserLoader`] that remembers what it loaded. Loads that arrive after a batch has
/// left (a large page resolves for longer than the batching delay) are answered from the
/// cache, so a page costs one batch of users however many tasks it holds.
pub type CachingUserLoader = DataLoader<UserLoader, HashMapCache>;

impl UserLoader {
    /// A loader with a fresh cache; make one per request or subscription connection.
    pub fn caching(db: DatabaseConnection) -> CachingUserLoader {
        DataLoader::with_cache(Self { db }, tokio::spawn, HashMapCache::default())
    }
}

impl Loader<Uuid> for UserLoader {
    type Value = Account;
    type Error = Arc<AppError>;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Account>, Self::Error> {
        let users = users::find_many(&self.db, ids).await.map_err(Arc::new)?;
        Ok(users.into_iter().map(|user| (user.id, user)).collect())
    }
}

/// What `login` and `refreshToken` return: an access token to send as
/// `Authorization: Bearer <token>`, and a refresh token to get the next one.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// A signed JWT (RFC 9068 access token).
    access_token: String,
    /// Always "Bearer".
    token_type: String,
    /// Seconds until `accessToken` expires.
    expires_in: i32,
    /// An opaque token for `refreshToken` and `logout`. Shown once; keep it secret.
    refresh_token: String,
    /// Seconds until `refreshToken` expires if it is not used.
    refresh_expires_in: i32,
    /// The account that logged in.
    user: User,
}

impl From<SignedIn> for AuthPayload {
    fn from(signed_in: SignedIn) -> Self {
        let seconds =
            |duration: std::time::Duration| i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
        Self {
            access_token: signed_in.access.token,
            token_type: "Bearer".into(),
            expires_in: seconds(signed_in.access.expires_in),
            refresh_token: signed_in.refresh.expose().to_owned(),
            refresh_expires_in: seconds(signed_in.refresh_expires_in),
            user: User::own(signed_in.user),
        }
    }
}

/// How a sign-up or change-password form should judge a password, exactly as `register`
/// and `changePassword` will.
#[derive(SimpleObject)]
pub struct PasswordStrength {
    /// Whether `register` and `changePassword` would accept it.
    acceptable: bool,
    /// 0 (trivially guessed) to 4 (very strong); 3 or more is required.
    score: i32,
    /// Why it is not acceptable, in plain words; empty when acceptable.
    reasons: Vec<String>,
    /// Hints for a stronger password.
    suggestions: Vec<String>,
}

/// Sign-up details.
#[derive(InputObject)]
pub struct RegisterInput {
    /// 3 to 32 characters: letters A-Z, digits, `_`, `.` and `-`. Unique in any letter case.
    username: String,
    /// A valid email address. Unique in any letter case.
    email: String,
    /// 8 to 128 characters; no composition rules.
    password: String,
}

/// Credentials for `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// The username, or the account's email address.
    username: String,
    /// The account's password.
    password: String,
}

/// Account queries.
#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The account the access token belongs to.
    async fn me(&self, ctx: &Context<'_>) -> Result<User, AppError> {
        let viewer = viewer(ctx)?;
        users::find(&state(ctx).db, viewer.user_id())
            .await?
            .map(User::own)
            .ok_or(AppError::Unauthenticated)
    }

    /// Judges a candidate password as `register` and `changePassword` would, for live
    /// feedback in a form. Needs no viewer. Limited per viewer, or per address when
    /// anonymous: past the limit, RATE_LIMITED with `extensions.retryAfter` in seconds.
    async fn password_strength(
        &self,
        #[graphql(desc = "The candidate password.")] password: String,
        #[graphql(desc = "The username it is for, so it may not contain it.")] username: Option<
            String,
        >,
        #[graphql(desc = "The email address it is for, so it may not contain it.")] email: Option<
            String,
        >,
    ) -> PasswordStrength {
        let strength = policy::assess(&password, username.as_deref(), email.as_deref());
        PasswordStrength {
            acceptable: strength.acceptable,
            score: i32::from(strength.score),
            reasons: strength.reasons,
            suggestions: strength.suggestions,
        }
    }
}

/// Account mutations.
#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates an account. CONFLICT when the username or email is already registered.
    /// Limited per address: past the limit, RATE_LIMITED with `extensions.retryAfter`.
    async fn register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account's details.")] input: RegisterInput,
    ) -> Result<User, AppError> {
        let user = state(ctx)
            .accounts()
            .register(&input.username, &input.email, &input.password, client(ctx))
            .await?;
        Ok(User::own(user))
    }

    /// Exchanges a username (or email) and password for an access token. Every failure
    /// gives the same UNAUTHENTICATED error; after repeated failures for one account or
    /// from one address, RATE_LIMITED with `extensions.retryAfter` in seconds. When the
    /// password is right and the account has two-factor on, SECOND_FACTOR_REQUIRED with
    /// `extensions.challenge`: pass it to `verifyLogin` with a code.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Username or email, and password.")] input: LoginInput,
    ) -> Result<AuthPayload, AppError> {
        let client = ctx.data_opt::<ClientMeta>().cloned().unwrap_or_default();
        let signed_in = state(ctx)
            .accounts()
            .login(&input.username, &input.password, client)
            .await?;
        Ok(signed_in.into())
    }

    /// Replaces the viewer's password. The current session stays; every other session ends,
    /// and the owner is told by mail. After repeated wrong current passwords (counted with
    /// `deleteAccount`'s), RATE_LIMITED with `extensions.retryAfter` in seconds. With
    /// two-factor on, SECOND_FACTOR_REQUIRED unless `code` is valid.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The password in use now.")] current_password: String,
        #[graphql(desc = "The new password; the same rules as at sign-up.")] new_password: String,
        #[graphql(desc = "A TOTP or recovery code; required when the account has two-factor on.")]
        code: Option<String>,
    ) -> Result<bool, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .accounts()
            .change_password(
                viewer,
                &current_password,
                &new_password,
                code.as_deref(),
                client(ctx),
            )
            .await?;
        Ok(true)
    }

    /// Deletes the viewer's account, its tasks and its sessions, for good. After repeated
    /// wrong passwords (counted with `changePassword`'s), RATE_LIMITED with
    /// `extensions.retryAfter` in seconds. With two-factor on, SECOND_FACTOR_REQUIRED
    /// unless `code` is valid.
    async fn delete_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's password, as confirmation.")] password: String,
        #[graphql(desc = "A TOTP or recovery code; required when the account has two-factor on.")]
        code: Option<String>,
    ) -> Result<bool, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .accounts()
            .delete_account(viewer, &password, code.as_deref(), client(ctx))
            .await?;
        Ok(true)
    }
}
