//! The flows that go through mail: verifying an address, resetting a forgotten password
//! and moving an account to another address. Each writes its message to the outbox in
//! the transaction of its change; tokens are made as the messages leave and arrive back
//! through the links. Every misuse of a link (wrong, used, expired, replaced, or made for
//! another flow) gets the one error [`INVALID_LINK`].

use sea_orm::{ConnectionTrait, TransactionTrait};
use uuid::Uuid;

use super::Accounts;
use super::accounts::acceptable_password;
use crate::audit::{self, Event};
use crate::auth::Viewer;
use crate::client::ClientMeta;
use crate::domain::{Email, Username};
use crate::error::AppError;
use crate::store::mail_tokens::{self, Purpose};
use crate::store::outbox::{self, Addressee, MailKind};
use crate::store::{self, second_factor, sessions, users};
use crate::throttle::{Limit, login_keys};

/// The answer to every link that cannot be used, whatever the reason.
pub const INVALID_LINK: &str = "This link is not valid: it may have expired, been used already or been replaced by a newer one. Ask for a new one.";

fn invalid_link() -> AppError {
    AppError::bad_input(INVALID_LINK)
}

impl Accounts<'_> {
    /// Queues a new verification message: to the viewer's address when signed in, else to
    /// `email`, where the worker sends it only if an active account with an unverified
    /// address has it. The request writes the same rows, and answers the same, either way.
    pub async fn request_email_verification(
        &self,
        viewer: Option<&Viewer>,
        email: Option<&str>,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        self.mail.require_on()?;
        let (user_id, email) = match viewer {
            Some(viewer) => {
                let account = users::find(self.db, viewer.user_id())
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                (Some(account.id), Email::parse(&account.email)?)
            }
            None => {
                let email = email
                    .ok_or_else(|| AppError::bad_input("`email` is required when not signed in"))?;
                (None, parse_email(email, "email")?)
            }
        };
        self.recipient_budget(email.as_str(), client).await?;
        self.queue_replacing(user_id, MailKind::VerifyEmail, &email)
            .await
    }

    /// Queues a message of `kind` to `email` in place of any still waiting.
    async fn queue_replacing(
        &self,
        user_id: Option<Uuid>,
        kind: MailKind,
        email: &Email,
    ) -> Result<(), AppError> {
        let now = store::now();
        let txn = self.db.begin().await?;
        outbox::supersede(&txn, kind, Addressee::Address(email), now).await?;
        outbox::enqueue(&txn, user_id, kind, email.as_str(), now).await?;
        txn.commit().await?;
        self.mail.wake();
        Ok(())
    }

    /// Uses a verification or change-of-address link: the address it was sent to becomes
    /// the account's verified address. CONFLICT when another account took that address
    /// since the change was asked for.
    pub async fn verify_email(&self, token: &str, client: &ClientMeta) -> Result<(), AppError> {
        let now = store::now();
        let txn = self.db.begin().await?;
        let issued = mail_tokens::take(
            &txn,
            &[Purpose::VerifyEmail, Purpose::ChangeEmail],
            token,
            now,
        )
        .await?
        .ok_or_else(invalid_link)?;
        let (done, event) = match issued.purpose {
            Purpose::ChangeEmail => {
                let before = users::find(&txn, issued.user_id).await?;
                let changed = users::change_email(&txn, issued.user_id, &issued.email).await?;
                // Links sent to the old address must not act on the account any more.
                mail_tokens::retire_all(&txn, issued.user_id).await?;
                if let Some(before) = before.filter(|_| changed) {
                    outbox::notify(&txn, &before, MailKind::EmailWasChanged, now).await?;
                }
                (changed, Event::EmailChanged)
            }
            _ => (
                users::mark_verified(&txn, issued.user_id, &issued.email).await?,
                Event::EmailVerified,
            ),
        };
        if !done {
            return Err(invalid_link());
        }
        txn.commit().await?;
        self.mail.wake();
        audit::account(self.db, event, Some(issued.user_id), client).await;
        Ok(())
    }

    /// Queues a reset link to `email`, which the worker sends only if an active account
    /// has the address. The request writes the same rows, and answers the same, either
    /// way; only the worker, later and elsewhere, tells them apart.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        self.mail.require_on()?;
        let email = parse_email(email, "email")?;
        self.recipient_budget(email.as_str(), client).await?;
        self.queue_replacing(None, MailKind::ResetPassword, &email)
            .await?;
        audit::account(self.db, Event::PasswordResetRequested, None, client).await;
        Ok(())
    }

    /// Sets a new password through a reset link: every session ends, the account's login
    /// backoff is cleared, and the owner is told by mail. With two-factor on, `code` must
    /// be a valid TOTP or recovery code, so a mailbox alone does not take the account over.
    /// A password the policy refuses, or a missing or wrong code, leaves the link usable.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        code: Option<&str>,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        let issued = mail_tokens::peek(self.db, &[Purpose::ResetPassword], token, store::now())
            .await?
            .ok_or_else(invalid_link)?;
        // A link sent to an address the account has left since is void.
        let account = users::find(self.db, issued.user_id)
            .await?
            .filter(|account| account.is_active && account.email == issued.email)
            .ok_or_else(invalid_link)?;
        let username = Username::parse(&account.username)?;
        let email = Email::parse(&account.email)?;
        let password = acceptable_password(new_password, &username, &email)?;
        self.require_second_factor(&account, code, client).await?;
        let hash = self.passwords.hash(&password, client).await?;
        let now = store::now();
        let txn = self.db.begin().await?;
        mail_tokens::take(&txn, &[Purpose::ResetPassword], token, now)
            .await?
            .filter(|taken| taken.user_id == account.id)
            .ok_or_else(invalid_link)?;
        users::set_password_hash(&txn, account.id, hash).await?;
        let ended = sessions::revoke_all(&txn, account.id, None, now).await?;
        second_factor::forget_pending(&txn, account.id).await?;
        outbox::notify(&txn, &account, MailKind::PasswordWasReset, now).await?;
        txn.commit().await?;
        self.sessions.session_cache.forget(&ended);
        let keys = [
            login_keys(&account.username, None).0,
            login_keys(&account.email, None).0,
            format!("login:user:{}", account.id),
        ];
        self.throttle.forgive_logins(&keys, now).await;
        self.mail.wake();
        audit::account(self.db, Event::PasswordReset, Some(account.id), client).await;
        Ok(())
    }

    /// Asks to move the viewer's account to `new_email`, after checking the password (and
    /// a code, with two-factor on): a link goes to the new address, a notice to the old
    /// one, and nothing changes until the link is used.
    pub async fn change_email(
        &self,
        viewer: &Viewer,
        new_email: &str,
        password: &str,
        code: Option<&str>,
        client: &ClientMeta,
    ) -> Result<(), AppError> {
        self.mail.require_on()?;
        let new_email = parse_email(new_email, "newEmail")?;
        let account = self
            .confirm_password(viewer, password, "password", client)
            .await?;
        self.require_second_factor(&account, code, client).await?;
        if account.email == new_email.as_str() {
            return Err(AppError::bad_input(
                "`newEmail` is the account's address already",
            ));
        }
        if users::email_in_use(self.db, &new_email, account.id).await? {
            return Err(AppError::Conflict(
                "This email address is already registered.".into(),
            ));
        }
        self.recipient_budget(new_email.as_str(), client).await?;
        let now = store::now();
        let txn = self.db.begin().await?;
        outbox::enqueue(
            &txn,
            Some(account.id),
            MailKind::ChangeEmail,
            new_email.as_str(),
            now,
        )
        .await?;
        outbox::notify(&txn, &account, MailKind::EmailChangeRequested, now).await?;
        txn.commit().await?;
        self.mail.wake();
        audit::session(
            self.db,
            Event::EmailChangeRequested,
            account.id,
            viewer.session_id(),
            client,
        )
        .await;
        Ok(())
    }

    /// Counts a request for mail against the address it is for, whoever asks.
    async fn recipient_budget(&self, recipient: &str, client: &ClientMeta) -> Result<(), AppError> {
        self.throttle
            .hit(Limit::MailPerRecipient, recipient, store::now())
            .await
            .map_err(|wait| {
                audit::throttled(
                    Limit::MailPerRecipient.name(),
                    client.ip.as_deref(),
                    None,
                    wait,
                );
                AppError::RateLimited(wait)
            })
    }
}

/// Ends a pending change of address, as a new password does: its link stops working and
/// a message still waiting is not sent.
pub(super) async fn abandon_change_of_address(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    mail_tokens::retire(db, user_id, &[Purpose::ChangeEmail]).await?;
    outbox::supersede(db, MailKind::ChangeEmail, Addressee::Account(user_id), now).await
}

/// An address argument, BAD_USER_INPUT naming `argument` when it is not one.
fn parse_email(raw: &str, argument: &str) -> Result<Email, AppError> {
    Email::parse(raw).map_err(|err| match err {
        AppError::BadUserInput(rule) => AppError::BadUserInput(rule.replacen("email", argument, 1)),
        other => other,
    })
}
