//! Mail: the transport messages leave by, what each message says, and the worker that
//! delivers the outbox. Flows never send mail themselves: they write to the outbox in
//! the transaction of their change and [`Mail::wake`] the worker.

mod messages;
mod transport;
mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

pub use transport::Transport;
pub use worker::{Worker, WorkerHandle};

use crate::config::{EmailVerification, MailSettings, MailTransport};
use crate::error::AppError;

/// The mail service as flows see it: whether mail is on, the rules of the flows, and a
/// way to tell the worker that something is waiting.
#[derive(Clone)]
pub struct Mail {
    settings: Arc<MailSettings>,
    wake: Arc<Notify>,
}

impl Mail {
    pub fn new(settings: MailSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The configured settings.
    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// FORBIDDEN when the server has mail turned off: the flows that need it cannot work.
    pub fn require_on(&self) -> Result<(), AppError> {
        match self.settings.transport {
            MailTransport::Off => Err(AppError::Forbidden(
                "Email is turned off on this server, so this cannot be done by email.",
            )),
            _ => Ok(()),
        }
    }

    /// Whether `register` queues a verification message.
    pub fn verifies_at_sign_up(&self) -> bool {
        !matches!(self.settings.transport, MailTransport::Off)
            && self.settings.verification != EmailVerification::Off
    }

    /// Whether `login` refuses accounts whose address is not verified.
    pub fn verification_required(&self) -> bool {
        self.settings.verification == EmailVerification::Required
    }

    /// Tells the worker of this process that a message is waiting; other replicas find
    /// it when they next look.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
