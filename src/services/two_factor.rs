//! The second factor: setting up a TOTP authenticator, the second step of a login, the
//! codes that dangerous changes need (step-up), and recovery codes.
//!
//! A code is judged the same way wherever it arrives ([`Accounts::check_code`]): six digits
//! are a TOTP, anything else may be a recovery code. Wrong codes back off per account as
//! failed logins do, and a held-back guess does the same reading work as a judged one, so
//! its answer costs the same.

use std::time::Duration;

use sea_orm::TransactionTrait;
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::Accounts;
use super::sessions::SignedIn;
use crate::audit::{self, Event};
use crate::auth::totp::{self, Setup};
use crate::auth::{Amr, ChallengeToken, DataKeys, Viewer, recovery};
use crate::client::ClientMeta;
use crate::error::{AppError, Challenge as ChallengeText};
use crate::store::outbox::{self, MailKind};
use crate::store::second_factor::{self, Challenge};
use crate::store::users::{self, Account, PasswordHash};
use crate::store::{self, sessions};
use crate::throttle::{LoginAttempt, second_factor_keys};

/// How long a login challenge lasts.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Guesses one challenge allows; the next one finds it dead.
pub const CHALLENGE_ATTEMPTS: i32 = 5;
/// How long a secret from `beginTwoFactorSetup` waits for its first code.
pub const SETUP_TTL: Duration = Duration::from_secs(15 * 60);

/// What the second factor needs beyond the account service's own parts.
#[derive(Clone, Debug)]
pub struct TwoFactorSettings {
    /// Seals TOTP secrets at rest.
    pub keys: DataKeys,
    /// The name authenticator apps list accounts under.
    pub issuer: String,
}

/// A code that checked out, before it is spent.
enum Accepted {
    Totp(i64),
    Recovery(String),
}

fn required() -> AppError {
    AppError::SecondFactorRequired { challenge: None }
}

impl Accounts<'_> {
    /// Hands out a fresh secret for an authenticator app, after checking the password.
    /// Nothing changes until [`enable_two_factor`](Self::enable_two_factor) confirms it;
    /// a second call replaces the first secret. CONFLICT when two-factor is on already.
    pub async fn begin_two_factor_setup(
        &self,
        viewer: &Viewer,
        password: &str,
        client: &ClientMeta,
    ) -> Result<Setup, AppError> {
        let account = self
            .confirm_password(viewer, password, "password", client)
            .await?;
        let secret = totp::generate_secret();
        let sealed = self.two_factor.keys.seal(&secret, account.id.as_bytes());
        if account.two_factor_enabled
            || !second_factor::set_pending(self.db, account.id, &sealed, store::now()).await?
        {
            return Err(AppError::Conflict(
                "Two-factor authentication is on already; turn it off first to move to another authenticator.".into(),
            ));
        }
        totp::setup(&secret, &self.two_factor.issuer, &account.username)
    }

    /// Turns two-factor on with the secret [`begin_two_factor_setup`] handed out (within
    /// [`SETUP_TTL`]), once `code` shows the authenticator has it; returns the recovery
    /// codes, shown this once. The owner is told by mail.
    pub async fn enable_two_factor(
        &self,
        viewer: &Viewer,
        code: &str,
        client: &ClientMeta,
    ) -> Result<Vec<String>, AppError> {
        let user_id = viewer.user_id();
        let factor = second_factor::find(self.db, user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if factor.secret.is_some() {
            return Err(AppError::Conflict(
                "Two-factor authentication is on already.".into(),
            ));
        }
        let now = store::now();
        let setup_ttl = chrono::Duration::from_std(SETUP_TTL).unwrap_or_default();
        let pending = factor
            .pending
            .filter(|(_, at)| now - *at < setup_ttl)
            .map(|(sealed, _)| sealed)
            .ok_or_else(|| {
                AppError::bad_input(
                    "There is no setup to confirm, or it is more than 15 minutes old: call beginTwoFactorSetup again.",
                )
            })?;
        let attempt = self.code_attempt(user_id, client).await?;
        let step = self
            .two_factor
            .keys
            .open(&pending, user_id.as_bytes())
            .and_then(|opened| totp::matching_step(opened.plaintext.expose_secret(), code, now));
        let Some(step) = step else {
            audit::session(
                self.db,
                Event::SecondFactorFailed,
                user_id,
                viewer.session_id(),
                client,
            )
            .await;
            return Err(AppError::bad_input(
                "`code` is not the code the authenticator shows now: check that its clock is right and that it holds the secret just set up.",
            ));
        };
        let (codes, hashes) = recovery::generate_for(user_id);
        let account = users::find(self.db, user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let txn = self.db.begin().await?;
        if !second_factor::enable(&txn, user_id, &pending, step, &hashes, now).await? {
            return Err(AppError::Conflict(
                "The setup changed meanwhile: call beginTwoFactorSetup again.".into(),
            ));
        }
        outbox::notify(&txn, &account, MailKind::TwoFactorWasEnabled, now).await?;
        txn.commit().await?;
        self.mail.wake();
        self.throttle.login_succeeded(attempt, now).await;
        audit::session(
            self.db,
            Event::TwoFactorEnabled,
            user_id,
            viewer.session_id(),
            client,
        )
        .await;
        Ok(codes)
    }

    /// Turns two-factor off, after checking the password and a code. The owner is told.
    pub async fn disable_two_factor(
        &self,
        viewer: &Viewer,
        password: &str,
        code: &str,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        let account = self
            .confirm_with_code(viewer, password, code, client)
            .await?;
        let now = store::now();
        let txn = self.db.begin().await?;
        second_factor::disable(&txn, account.id, now).await?;
        outbox::notify(&txn, &account, MailKind::TwoFactorWasDisabled, now).await?;
        txn.commit().await?;
        self.mail.wake();
        audit::session(
            self.db,
            Event::TwoFactorDisabled,
            account.id,
            viewer.session_id(),
            client,
        )
        .await;
        Ok(())
    }

    /// Replaces the recovery codes with fresh ones, after checking the password and a code;
    /// returns them, shown this once. The owner is told.
    pub async fn regenerate_recovery_codes(
        &self,
        viewer: &Viewer,
        password: &str,
        code: &str,
        client: &ClientMeta,
    ) -> Result<Vec<String>, AppError> {
        let account = self
            .confirm_with_code(viewer, password, code, client)
            .await?;
        let (codes, hashes) = recovery::generate_for(account.id);
        let now = store::now();
        let txn = self.db.begin().await?;
        second_factor::replace_recovery_codes(&txn, account.id, &hashes, now).await?;
        outbox::notify(&txn, &account, MailKind::RecoveryCodesWereRegenerated, now).await?;
        txn.commit().await?;
        self.mail.wake();
        audit::session(
            self.db,
            Event::RecoveryCodesRegenerated,
            account.id,
            viewer.session_id(),
            client,
        )
        .await;
        Ok(codes)
    }

    /// The second step of a login whose password checked out: the challenge it earned and
    /// a TOTP or recovery code. A challenge is used up by success, by its fifth wrong code,
    /// after five minutes, or when the password changes.
    pub async fn verify_login(
        &self,
        challenge: &str,
        code: &str,
        meta: ClientMeta,
    ) -> Result<SignedIn, AppError> {
        let hash = ChallengeToken::hash_presented(challenge).ok_or(AppError::Unauthenticated)?;
        let now = store::now();
        let live = second_factor::spend_attempt(self.db, &hash, CHALLENGE_ATTEMPTS, now)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let (account, password_hash) = users::find_credential(self.db, live.user_id)
            .await?
            .filter(|(account, stored)| {
                account.is_active
                    && account.two_factor_enabled
                    && stored.digest() == live.password_digest
            })
            .ok_or(AppError::Unauthenticated)?;
        self.check_code(&account, code, &meta).await?;
        if !second_factor::take_challenge(self.db, &hash).await? {
            return Err(AppError::Unauthenticated);
        }
        let signed_in = self
            .sessions
            .start(account, Amr::PasswordAndOtp, meta.clone())
            .await?;
        // As in `login`: a password change that raced this step must not leave a session
        // started with the old password.
        if !users::has_password_hash(self.db, signed_in.user.id, &password_hash).await? {
            sessions::revoke(
                self.db,
                signed_in.user.id,
                signed_in.session_id,
                store::now(),
            )
            .await?;
            return Err(AppError::Unauthenticated);
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

    /// The error `login` answers when the password checked out and two-factor is on: a
    /// fresh challenge bound to the password hash it checked against.
    pub(super) async fn challenge(
        &self,
        account: &Account,
        verified: &PasswordHash,
    ) -> Result<AppError, AppError> {
        let token = ChallengeToken::generate();
        second_factor::create_challenge(
            self.db,
            token.hash(),
            &Challenge {
                user_id: account.id,
                password_digest: verified.digest(),
            },
            store::now(),
            CHALLENGE_TTL,
        )
        .await?;
        Ok(AppError::SecondFactorRequired {
            challenge: Some(ChallengeText(token.expose().to_owned())),
        })
    }

    /// The viewer's account, once `password` and `code` check out; BAD_USER_INPUT when
    /// two-factor is off.
    async fn confirm_with_code(
        &self,
        viewer: &Viewer,
        password: &str,
        code: &str,
        client: &ClientMeta,
    ) -> Result<Account, AppError> {
        let account = self
            .confirm_password(viewer, password, "password", client)
            .await?;
        if !account.two_factor_enabled {
            return Err(AppError::bad_input(
                "Two-factor authentication is not on for this account.",
            ));
        }
        self.require_second_factor(&account, Some(code), client)
            .await?;
        Ok(account)
    }

    /// Step-up: nothing when two-factor is off; otherwise `code` must be a valid TOTP or
    /// recovery code (SECOND_FACTOR_REQUIRED when it is missing or wrong).
    pub(super) async fn require_second_factor(
        &self,
        account: &Account,
        code: Option<&str>,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        if !account.two_factor_enabled {
            return Ok(());
        }
        match code.filter(|code| !code.trim().is_empty()) {
            Some(code) => self.check_code(account, code, client).await,
            None => Err(required()),
        }
    }

    /// Judges and spends `code` for `account`, whose two-factor is on.
    async fn check_code(
        &self,
        account: &Account,
        code: &str,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        let held = self.code_attempt(account.id, client).await;
        let now = store::now();
        let candidate = self.candidate(account.id, code, now).await?;
        let attempt = held?;
        let accepted = match &candidate {
            Some(Accepted::Totp(step)) => {
                second_factor::accept_step(self.db, account.id, *step).await?
            }
            Some(Accepted::Recovery(hash)) => self.spend_recovery_code(account, hash, now).await?,
            None => false,
        };
        if !accepted {
            audit::account(self.db, Event::SecondFactorFailed, Some(account.id), client).await;
            return Err(required());
        }
        self.throttle.login_succeeded(attempt, now).await;
        if matches!(candidate, Some(Accepted::Recovery(_))) {
            audit::account(self.db, Event::RecoveryCodeUsed, Some(account.id), client).await;
        }
        Ok(())
    }

    /// Counts a guess at the account's codes against its backoff; RATE_LIMITED when the
    /// backoff holds it.
    async fn code_attempt(
        &self,
        user_id: Uuid,
        client: &ClientMeta,
    ) -> Result<LoginAttempt, AppError> {
        let (account, address) = second_factor_keys(user_id, client.ip.as_deref());
        match self
            .throttle
            .begin_login(&account, address.as_deref(), store::now())
            .await
        {
            Ok(attempt) => Ok(attempt),
            Err((limit, wait)) => {
                audit::throttled(limit.name(), client.ip.as_deref(), Some(user_id), wait);
                audit::account(self.db, Event::LoginThrottled, Some(user_id), client).await;
                Err(AppError::RateLimited(wait))
            }
        }
    }

    /// What `code` would be accepted as, read without spending anything: a TOTP of a step
    /// not used yet is checked when spent, a recovery code the account holds.
    async fn candidate(
        &self,
        user_id: Uuid,
        code: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Accepted>, AppError> {
        if totp::looks_like_code(code) {
            let Some(sealed) = second_factor::find(self.db, user_id)
                .await?
                .and_then(|factor| factor.secret)
            else {
                return Ok(None);
            };
            let keys = &self.two_factor.keys;
            let Some(opened) = keys.open(&sealed, user_id.as_bytes()) else {
                tracing::error!(%user_id, "a TOTP secret opens with no configured DATA_ENCRYPTION_KEY");
                return Ok(None);
            };
            let secret = opened.plaintext.expose_secret();
            if opened.stale {
                let resealed = keys.seal(secret, user_id.as_bytes());
                second_factor::reseal(self.db, user_id, &sealed, &resealed).await?;
            }
            return Ok(totp::matching_step(secret, code, now).map(Accepted::Totp));
        }
        let Some(hash) = recovery::hash(user_id, code) else {
            return Ok(None);
        };
        Ok(second_factor::holds_recovery_code(self.db, user_id, &hash)
            .await?
            .then_some(Accepted::Recovery(hash)))
    }

    /// Spends a recovery code and tells the owner, in one transaction.
    async fn spend_recovery_code(
        &self,
        account: &Account,
        hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, AppError> {
        let txn = self.db.begin().await?;
        if !second_factor::spend_recovery_code(&txn, account.id, hash).await? {
            return Ok(false);
        }
        outbox::notify(&txn, account, MailKind::RecoveryCodeWasUsed, now).await?;
        txn.commit().await?;
        self.mail.wake();
        Ok(true)
    }
}
