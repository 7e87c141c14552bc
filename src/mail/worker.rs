//! The outbox worker: claims what is due, makes the token of a link as it sends (so a
//! token exists only in its message and, hashed, in the database), delivers, and retries
//! with a doubling wait. Every replica runs one; claims keep them from sending a message
//! twice. It also forgets finished messages and expired tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use super::{Mail, Transport, messages};
use crate::audit::{self, Event};
use crate::client::ClientMeta;
use crate::error::AppError;
use crate::store::mail_tokens::{self, Purpose};
use crate::store::outbox::{self, Claimed, MailKind};
use crate::store::{self, users};

/// How often the worker looks for due messages when nothing woke it: what a replica
/// waits for a message another replica queued.
const POLL: Duration = Duration::from_secs(2);
/// The longest wait between two attempts.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);
/// How often finished messages and expired tokens are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What the worker needs.
pub struct Worker {
    pub db: DatabaseConnection,
    pub transport: Transport,
    pub mail: Mail,
}

/// The running worker; dropping it stops it.
pub struct WorkerHandle(JoinHandle<()>);

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Worker {
    /// Starts delivering in the background.
    pub fn spawn(self) -> WorkerHandle {
        WorkerHandle(tokio::spawn(self.run()))
    }

    async fn run(self) {
        let mut next_purge = store::now();
        loop {
            loop {
                match self.deliver_one().await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot work through the outbox");
                        break;
                    }
                }
            }
            let now = store::now();
            if now >= next_purge {
                self.purge(now).await;
                next_purge = now + PURGE_EVERY;
            }
            tokio::select! {
                () = self.mail.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Delivers the message due longest, if any: whether there was one. Whatever fails
    /// after the claim counts as a failed attempt of that message.
    async fn deliver_one(&self) -> Result<bool, AppError> {
        let now = store::now();
        let lease = chrono::Duration::from_std(self.mail.settings().claim).unwrap_or_default();
        let Some(claimed) = outbox::claim(&self.db, now, lease).await? else {
            return Ok(false);
        };
        if let Err(failure) = self.attempt(&claimed, now).await {
            self.failed(&claimed, &failure).await?;
        }
        Ok(true)
    }

    /// One attempt at a claimed message.
    async fn attempt(&self, claimed: &Claimed, now: DateTime<Utc>) -> Result<(), Failure> {
        let kind = claimed.kind.as_str();
        let Some(message) = self.compose(claimed, now).await.map_err(Failure::retry)? else {
            outbox::given_up(&self.db, claimed.id, "no longer needed", now)
                .await
                .map_err(Failure::retry)?;
            return Ok(());
        };
        // Well inside the claim, so that no other worker takes a message still being sent
        // (replicas' clocks must agree to within the difference, as NTP keeps them).
        let send_timeout = self.mail.settings().claim / 2;
        let sent = tokio::time::timeout(send_timeout, self.transport.send(message))
            .await
            .map_err(|_| Failure::Retry("the SMTP server did not finish in time".into()))??;
        outbox::delivered(&self.db, claimed.id, store::now())
            .await
            .map_err(Failure::retry)?;
        match sent {
            Some(file) => tracing::info!(
                kind,
                file = %file.display(),
                "development mail written instead of sent"
            ),
            None => tracing::info!(kind, message_id = %claimed.id, "mail delivered"),
        }
        Ok(())
    }

    /// The message to send, with a fresh token in its link; `None` when it is moot: no
    /// active account has it (any more), a link would go to an address that is no longer
    /// the account's, or the address to confirm is verified already.
    async fn compose(
        &self,
        claimed: &Claimed,
        now: DateTime<Utc>,
    ) -> Result<Option<lettre::Message>, AppError> {
        let account = match claimed.user_id {
            Some(id) => users::find(&self.db, id).await?,
            None => users::find_by_email(&self.db, &claimed.recipient).await?,
        };
        let Some(account) = account.filter(|account| account.is_active) else {
            return Ok(None);
        };
        let current = account.email == claimed.recipient;
        let moot = match claimed.kind {
            MailKind::VerifyEmail => !current || account.email_verified,
            MailKind::ResetPassword => !current,
            MailKind::ChangeEmail
            | MailKind::PasswordWasReset
            | MailKind::EmailChangeRequested
            | MailKind::EmailWasChanged
            | MailKind::PasswordWasChanged
            | MailKind::TwoFactorWasEnabled
            | MailKind::TwoFactorWasDisabled
            | MailKind::RecoveryCodesWereRegenerated
            | MailKind::RecoveryCodeWasUsed => false,
        };
        let Ok(to) = claimed.recipient.parse::<Mailbox>() else {
            return Ok(None);
        };
        if moot {
            return Ok(None);
        }
        if claimed.kind == MailKind::ResetPassword && claimed.attempts == 1 {
            // Only here is it known that the address asked for has an account: the
            // request wrote the same row either way. Once, however many attempts it takes.
            let unknown = ClientMeta::default();
            audit::account(
                &self.db,
                Event::PasswordResetRequested,
                Some(account.id),
                &unknown,
            )
            .await;
        }
        let settings = self.mail.settings();
        let link = match link_of(claimed.kind) {
            Some((purpose, path)) => {
                let ttl = ttl_of(settings, purpose);
                let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
                let token = mail_tokens::issue(
                    &self.db,
                    account.id,
                    purpose,
                    &claimed.recipient,
                    now,
                    expires,
                )
                .await?;
                Some((
                    format!("{}/{path}#token={}", settings.public_url, token.expose()),
                    ttl,
                ))
            }
            None => None,
        };
        let (href, ttl) = match &link {
            Some((href, ttl)) => (Some(href.as_str()), *ttl),
            None => (None, Duration::ZERO),
        };
        messages::compose(
            &settings.from,
            to,
            claimed.kind,
            &account.username,
            href,
            ttl,
        )
        .map(Some)
        .map_err(|err| AppError::Internal(anyhow::anyhow!("cannot build a message: {err}")))
    }

    /// Schedules the next attempt, or gives up after the last one or a permanent refusal.
    async fn failed(&self, claimed: &Claimed, failure: &Failure) -> Result<(), AppError> {
        let settings = self.mail.settings();
        let kind = claimed.kind.as_str();
        let now = store::now();
        let (reason, permanent) = match failure {
            Failure::Retry(reason) => (reason.as_str(), false),
            Failure::Permanent(reason) => (reason.as_str(), true),
        };
        if permanent || claimed.attempts >= settings.max_attempts {
            tracing::error!(kind, message_id = %claimed.id, attempts = claimed.attempts, reason, "mail given up");
            return outbox::given_up(&self.db, claimed.id, reason, now).await;
        }
        let wait = retry_wait(settings.retry_base, claimed.attempts);
        tracing::warn!(kind, message_id = %claimed.id, attempts = claimed.attempts, retry_in_seconds = wait.as_secs(), reason, "mail not delivered yet");
        let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
        outbox::retry_at(&self.db, claimed.id, reason, at).await
    }

    async fn purge(&self, now: DateTime<Utc>) {
        let retention =
            chrono::Duration::from_std(self.mail.settings().retention).unwrap_or_default();
        match outbox::purge(&self.db, now - retention).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged finished mail"),
            Err(err) => tracing::warn!(error = %err, "cannot purge finished mail"),
        }
        if let Err(err) = mail_tokens::purge(&self.db, now).await {
            tracing::warn!(error = %err, "cannot purge expired mail tokens");
        }
    }
}

/// Why an attempt failed, fit for a log line and the outbox row.
#[derive(Debug)]
pub enum Failure {
    /// Worth another attempt later.
    Retry(String),
    /// The SMTP server refused the message for good.
    Permanent(String),
}

impl Failure {
    fn retry(err: AppError) -> Self {
        Failure::Retry(format!("{err}"))
    }
}

/// The token purpose and page of the link a kind of message carries.
fn link_of(kind: MailKind) -> Option<(Purpose, &'static str)> {
    match kind {
        MailKind::VerifyEmail => Some((Purpose::VerifyEmail, "verify-email")),
        MailKind::ChangeEmail => Some((Purpose::ChangeEmail, "verify-email")),
        MailKind::ResetPassword => Some((Purpose::ResetPassword, "reset-password")),
        MailKind::PasswordWasReset
        | MailKind::EmailChangeRequested
        | MailKind::EmailWasChanged
        | MailKind::PasswordWasChanged
        | MailKind::TwoFactorWasEnabled
        | MailKind::TwoFactorWasDisabled
        | MailKind::RecoveryCodesWereRegenerated
        | MailKind::RecoveryCodeWasUsed => None,
    }
}

fn ttl_of(settings: &crate::config::MailSettings, purpose: Purpose) -> Duration {
    match purpose {
        Purpose::VerifyEmail => settings.verify_email_ttl,
        Purpose::ResetPassword => settings.reset_password_ttl,
        Purpose::ChangeEmail => settings.change_email_ttl,
    }
}

/// The wait after the `attempts`-th failure: `base`, doubling, at most an hour.
fn retry_wait(base: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    base.saturating_mul(1 << doublings).min(MAX_RETRY_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(retry_wait(base, 1), Duration::from_secs(30));
        assert_eq!(retry_wait(base, 2), Duration::from_secs(60));
        assert_eq!(retry_wait(base, 4), Duration::from_secs(240));
        assert_eq!(retry_wait(base, 9), MAX_RETRY_WAIT);
        assert_eq!(retry_wait(base, u32::MAX), MAX_RETRY_WAIT);
    }
}
