//! Account operations: sign-up, login, and the changes that need the password again. They
//! need the connection, the hashing pool and the throttles, and start sessions through
//! the session service.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::sessions::{Sessions, SignedIn};
use super::two_factor::TwoFactorSettings;
use crate::audit::{self, Entry, Event};
use crate::auth::policy;
use crate::auth::{Amr, PasswordHasher, Viewer};
use crate::client::{ClientMeta, client_network};
use crate::domain::{Email, Password, Username};
use crate::error::AppError;
use crate::mail::Mail;
use crate::store;
use crate::store::outbox::{self, MailKind};
use crate::store::users::{self, Account, Login, NewUser};
use crate::store::{second_factor, sessions};
use crate::throttle::{Limit, LoginAttempt, Throttle, login_keys};

/// The account service: what account operations read, borrowed from the state.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub db: &'a DatabaseConnection,
    pub passwords: &'a PasswordHasher,
    pub throttle: &'a Throttle,
    pub sessions: Sessions<'a>,
    pub mail: &'a Mail,
    pub two_factor: &'a TwoFactorSettings,
    /// A pool of its own for work that must not cost the request time.
    pub background: &'a DatabaseConnection,
}

impl Accounts<'_> {
    /// Validates and stores a new account with its password hashed, and queues the mail
    /// that verifies its address in the same transaction.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
        client: &ClientMeta,
    ) -> Result<Account, AppError> {
        let username = Username::parse(username)?;
        let email = Email::parse(email)?;
        let password = acceptable_password(password, &username, &email)?;
        let password_hash = self.passwords.hash(&password, client).await?;
        let txn = self.db.begin().await?;
        let user = users::create(
            &txn,
            NewUser {
                username,
                email,
                password_hash,
            },
        )
        .await?;
        if self.mail.verifies_at_sign_up() {
            outbox::enqueue(
                &txn,
                Some(user.id),
                MailKind::VerifyEmail,
                &user.email,
                store::now(),
            )
            .await?;
        }
        txn.commit().await?;
        self.mail.wake();
        audit::account(self.db, Event::Register, Some(user.id), client).await;
        Ok(user)
    }

    /// Checks credentials and starts a session. Unknown account, wrong password, malformed
    /// input and deactivated account fail alike, after the same hashing work. A hash made
    /// with weaker parameters than configured is replaced on the way.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        meta: ClientMeta,
    ) -> Result<SignedIn, AppError> {
        let throttle = self.throttle;
        let (account_key, address_key) = login_keys(username, meta.ip.as_deref());
        let address_key = address_key.as_deref();
        let network = client_network(meta.ip.as_deref().unwrap_or("unknown"));
        let attempt = match self
            .begin(&account_key, address_key, &network, store::now())
            .await
        {
            Ok(attempt) => attempt,
            Err((limit, wait)) => {
                // As long as any failed login, so a throttled answer reveals nothing by its
                // timing, yet without argon2 work: a throttled client cannot keep the hashing
                // pool busy.
                self.passwords.sleep_like_verify().await;
                audit::throttled(limit.name(), meta.ip.as_deref(), None, wait);
                return Err(AppError::RateLimited(wait));
            }
        };
        let (Some(login), Ok(password)) = (Login::parse(username), Password::parse(password))
        else {
            self.passwords.verify_dummy(&meta).await?;
            audit::account_later(self.background, Event::LoginFailure, None, &meta);
            return Err(AppError::InvalidCredentials);
        };
        let credential = users::find_by_login(self.db, &login).await?;
        let hash = credential.as_ref().map(|(_, hash)| hash);
        let matches = self.passwords.verify(&password, hash, &meta).await?;
        let user_id = credential.as_ref().map(|(user, _)| user.id);
        let Some((user, mut verified_hash)) =
            credential.filter(|(user, _)| matches && user.is_active)
        else {
            audit::account_later(self.background, Event::LoginFailure, user_id, &meta);
            return Err(AppError::InvalidCredentials);
        };
        throttle.login_succeeded(attempt, store::now()).await;
        // Only someone who knows the password learns that the address waits for its link.
        if self.mail.verification_required() && !user.email_verified {
            audit::account(self.db, Event::LoginFailure, Some(user.id), &meta).await;
            return Err(AppError::EmailNotVerified);
        }
        // Spends the account's budget of successes that `begin` checked. Logins racing it
        // may pass it by as many as run at once; the next ones are held.
        let _ = throttle
            .hit(Limit::LoginsPerAccount, &account_key, store::now())
            .await;
        if self.passwords.needs_rehash(&verified_hash) {
            let upgraded = self.passwords.hash(&password, &meta).await?;
            if users::upgrade_password_hash(self.db, user.id, &verified_hash, upgraded.clone())
                .await?
            {
                verified_hash = upgraded;
                tracing::info!(user_id = %user.id, "password hash upgraded");
            }
        }
        // Only someone who knows the password learns that a second step follows.
        if user.two_factor_enabled {
            return Err(self.challenge(&user, &verified_hash).await?);
        }
        let signed_in = self
            .sessions
            .start(user, Amr::Password, meta.clone())
            .await?;
        // A password change that raced this login revokes sessions after storing its hash;
        // a session started after that revocation must not survive it. The stored hash may
        // also have changed for a harmless reason (another login, here or on a replica,
        // upgraded it first): then the password still verifies against what is stored.
        if !users::has_password_hash(self.db, signed_in.user.id, &verified_hash).await?
            && !self
                .still_verifies(signed_in.user.id, &password, &meta)
                .await?
        {
            sessions::revoke(
                self.db,
                signed_in.user.id,
                signed_in.session_id,
                store::now(),
            )
            .await?;
            audit::account(self.db, Event::LoginFailure, Some(signed_in.user.id), &meta).await;
            return Err(AppError::InvalidCredentials);
        }
        audit::session(
            self.db,
            Event::LoginSuccess,
            signed_in.user.id,
            signed_in.session_id,
            &meta,
        )
        .await;
        Ok(signed_in)
    }

    /// The throttles a login meets before its password is checked, in order: every
    /// attempt counts against the address, right or wrong; an account whose budget of
    /// successful logins is spent is held whatever the password (so the answer says
    /// nothing about it; only successes spend it, so nobody without the password can);
    /// then the attempt is counted as a failure of the backoff, which only a success
    /// takes back.
    async fn begin(
        &self,
        account_key: &str,
        address_key: Option<&str>,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<LoginAttempt, (Limit, u64)> {
        let throttle = self.throttle;
        throttle
            .hit(Limit::LoginsPerAddress, network, now)
            .await
            .map_err(|wait| (Limit::LoginsPerAddress, wait))?;
        throttle
            .check(Limit::LoginsPerAccount, account_key, now)
            .await
            .map_err(|wait| (Limit::LoginsPerAccount, wait))?;
        throttle.begin_login(account_key, address_key, now).await
    }

    /// Whether `password` verifies against the account's stored hash as it is now.
    async fn still_verifies(
        &self,
        user_id: Uuid,
        password: &Password,
        client: &ClientMeta,
    ) -> Result<bool, AppError> {
        match users::find_credential(self.db, user_id).await? {
            Some((_, stored)) => self.passwords.verify(password, Some(&stored), client).await,
            None => Ok(false),
        }
    }

    /// Replaces the password after checking the current one (and a code, with two-factor
    /// on); every other session ends and the owner is told.
    pub async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
        code: Option<&str>,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        let user = self
            .confirm_password(viewer, current, "currentPassword", client)
            .await?;
        let username = Username::parse(&user.username)?;
        let email = Email::parse(&user.email)?;
        let password = acceptable_password(new, &username, &email)?;
        if Password::parse(current).is_ok_and(|current| current.expose() == password.expose()) {
            return Err(AppError::bad_input(
                "newPassword must differ from the current password",
            ));
        }
        self.require_second_factor(&user, code, client).await?;
        let hash = self.passwords.hash(&password, client).await?;
        let now = store::now();
        let txn = self.db.begin().await?;
        users::set_password_hash(&txn, user.id, hash).await?;
        let revoked = sessions::revoke_all(&txn, user.id, Some(viewer.session_id()), now).await?;
        super::email::abandon_change_of_address(&txn, user.id, now).await?;
        second_factor::forget_pending(&txn, user.id).await?;
        outbox::notify(&txn, &user, MailKind::PasswordWasChanged, now).await?;
        txn.commit().await?;
        self.mail.wake();
        self.sessions.session_cache.forget(&revoked);
        audit::session(
            self.db,
            Event::PasswordChanged,
            user.id,
            viewer.session_id(),
            client,
        )
        .await;
        Ok(())
    }

    /// Deletes the viewer's account with its tasks and sessions, after checking the
    /// password (and a code, with two-factor on).
    pub async fn delete_account(
        &self,
        viewer: &Viewer,
        password: &str,
        code: Option<&str>,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        let user = self
            .confirm_password(viewer, password, "password", client)
            .await?;
        // Before a code is spent on a deletion that would be refused.
        users::ensure_not_last_admin(self.db, user.id).await?;
        self.require_second_factor(&user, code, client).await?;
        let ended = sessions::ids_of(self.db, user.id).await?;
        // None: a deletion that raced this one went first, and did what was asked.
        if let Some(deletion) = users::delete(self.db, user.id).await? {
            let entry = Entry::by_owner(Event::AccountDeleted, user.id, viewer.session_id());
            audit::commit_with(deletion.txn, Some(entry), client).await?;
        }
        self.sessions.session_cache.forget(&ended);
        Ok(())
    }

    /// The viewer's account, if `password` is its password; BAD_USER_INPUT naming `argument`
    /// otherwise. Wrong passwords back off per user as failed logins do per account, so a
    /// stolen access token does not buy a guess per mutation the rate limit allows.
    pub(super) async fn confirm_password(
        &self,
        viewer: &Viewer,
        password: &str,
        argument: &str,
        client: &ClientMeta,
    ) -> Result<Account, AppError> {
        let throttle = self.throttle;
        let key = format!("login:user:{}", viewer.user_id());
        // Counted as a failure from here on, so parallel guesses cannot pass the backoff
        // together: only a right password takes it back.
        let attempt = match throttle.begin_login(&key, None, store::now()).await {
            Ok(attempt) => attempt,
            Err((limit, wait)) => {
                audit::throttled(
                    limit.name(),
                    client.ip.as_deref(),
                    Some(viewer.user_id()),
                    wait,
                );
                audit::account(
                    self.db,
                    Event::LoginThrottled,
                    Some(viewer.user_id()),
                    client,
                )
                .await;
                return Err(AppError::RateLimited(wait));
            }
        };
        let (user, hash) = users::find_credential(self.db, viewer.user_id())
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let matches = match Password::parse(password) {
            Ok(password) => {
                self.passwords
                    .verify(&password, Some(&hash), client)
                    .await?
            }
            Err(_) => {
                self.passwords.verify_dummy(client).await?;
                false
            }
        };
        if !matches {
            audit::account(self.db, Event::LoginFailure, Some(user.id), client).await;
            return Err(AppError::bad_input(format!("`{argument}` is incorrect")));
        }
        throttle.login_succeeded(attempt, store::now()).await;
        Ok(user)
    }
}

/// A password the policy accepts for this account, or BAD_USER_INPUT with every reason.
pub(super) fn acceptable_password(
    raw: &str,
    username: &Username,
    email: &Email,
) -> Result<Password, AppError> {
    let password = Password::parse(raw)?;
    let strength = policy::assess(raw, Some(username.as_str()), Some(email.as_str()));
    if !strength.acceptable {
        return Err(AppError::bad_input(strength.reasons.join("; ")));
    }
    Ok(password)
}
