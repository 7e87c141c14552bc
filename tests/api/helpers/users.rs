//! Accounts for tests: through the real sign-up path for the tests about it, and straight
//! into the database for the rest, so that a test pays one argon2 verification per user
//! (its login) instead of a hash and a verification.

use std::sync::OnceLock;

use chrono::SubsecRound;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Value as SqlValue};
use serde_json::{Value, json};
use taskql::domain::{Email, Username};
use uuid::Uuid;

use super::TestApp;
use super::auth::token_pair;
use super::documents::{CHANGE_PASSWORD, LOGIN_FULL, REGISTER_FULL};

/// A password the policy accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// How a hash made with the server's default argon2id parameters begins.
pub const DEFAULT_ARGON2ID: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// A logged-in user.
pub struct TestUser {
    pub id: String,
    pub token: String,
    pub refresh: String,
}

/// [`PASSWORD`]'s hash with the server's default parameters, computed once per test
/// process: the default cost means a login verifies it without storing a stronger one.
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT);
        let salt = SaltString::encode_b64(Uuid::now_v7().as_bytes()).expect("salt");
        argon2
            .hash_password(PASSWORD.as_bytes(), &salt)
            .expect("hash")
            .to_string()
    })
}

impl TestApp {
    /// Registers over the API and returns the body.
    pub async fn register(&self, username: &str, email: &str, password: &str) -> Value {
        self.gql(
            None,
            REGISTER_FULL,
            json!({ "input": { "username": username, "email": email, "password": password } }),
        )
        .await
    }

    /// Registers `username` (email `<username>@example.com`) over the API without signing
    /// in, so no client is known to the account yet.
    pub async fn registered(&self, username: &str) {
        let body = self
            .register(username, &format!("{username}@example.com"), PASSWORD)
            .await;
        assert!(body["data"]["register"]["id"].is_string(), "{body}");
    }

    /// Changes the viewer's password from `current` to `new` and returns the body.
    pub async fn change_password(&self, token: Option<&str>, current: &str, new: &str) -> Value {
        self.gql(token, CHANGE_PASSWORD, json!({ "c": current, "n": new }))
            .await
    }

    /// Logs in and returns the body, whatever the status (a throttled login is a 429).
    pub async fn login(&self, username: &str, password: &str) -> Value {
        self.post(
            None,
            LOGIN_FULL,
            json!({ "input": { "username": username, "password": password } }),
        )
        .await
        .json()
    }

    /// Logs in with [`PASSWORD`] and asserts it worked.
    pub async fn logged_in(&self, username: &str) -> TestUser {
        let login = self.login(username, PASSWORD).await;
        let (token, refresh) = token_pair(&login, "login");
        let id = login["data"]["login"]["user"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {login}"))
            .to_owned();
        TestUser { id, token, refresh }
    }

    /// Registers `username` over the API and logs in: for tests about sign-up and hashing.
    pub async fn signed_up(&self, username: &str) -> TestUser {
        self.registered(username).await;
        self.logged_in(username).await
    }

    /// An account `username` (email `<username>@example.com`, password [`PASSWORD`])
    /// written straight into the database as sign-up would write it, then logged in over
    /// the API.
    pub async fn user(&self, username: &str) -> TestUser {
        self.insert_user(username).await;
        self.logged_in(username).await
    }

    /// Writes the row `register` would write, without hashing: the same parsed username
    /// and address, and times at the precision the server stores.
    pub async fn insert_user(&self, username: &str) {
        let now = chrono::Utc::now().trunc_subsecs(6);
        let email = Email::parse(&format!("{username}@example.com")).expect("a valid email");
        let username = Username::parse(username).expect("a valid username");
        let insert = Query::insert()
            .into_table(Alias::new("users"))
            .columns(
                [
                    "id",
                    "username",
                    "email",
                    "password_hash",
                    "role",
                    "is_active",
                    "email_verified",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                SqlValue::from(Uuid::now_v7()).into(),
                username.as_str().into(),
                email.as_str().into(),
                password_hash().into(),
                "user".into(),
                true.into(),
                false.into(),
                SqlValue::from(now).into(),
                SqlValue::from(now).into(),
            ])
            .to_owned();
        let db = self.db().await;
        let statement = db.get_database_backend().build(&insert);
        db.execute_raw(statement).await.expect("insert a user");
    }

    /// The password hash stored for `username`.
    pub async fn stored_hash(&self, username: &str) -> String {
        let select = Query::select()
            .column(Alias::new("password_hash"))
            .from(Alias::new("users"))
            .and_where(Expr::col(Alias::new("username")).eq(username))
            .to_owned();
        let db = self.db().await;
        let statement = db.get_database_backend().build(&select);
        db.query_one_raw(statement)
            .await
            .expect("select a hash")
            .unwrap_or_else(|| panic!("no user {username}"))
            .try_get("", "password_hash")
            .expect("a hash")
    }

    /// Stores `hash` as `username`'s password hash, as an older server would have.
    pub async fn set_stored_hash(&self, username: &str, hash: &str) {
        let update = Query::update()
            .table(Alias::new("users"))
            .value(Alias::new("password_hash"), hash)
            .and_where(Expr::col(Alias::new("username")).eq(username))
            .to_owned();
        let db = self.db().await;
        let statement = db.get_database_backend().build(&update);
        db.execute_raw(statement).await.expect("update a hash");
    }
}
