//! How a message leaves: through SMTP, into a folder of `.eml` files, or not at all.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::MailTransport;

/// How long one SMTP exchange may take before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The configured transport, ready to send.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
    Off,
}

impl Transport {
    /// Builds the transport. The development folder is created readable by its owner
    /// only: its messages hold working links.
    pub fn new(configured: &MailTransport) -> anyhow::Result<Self> {
        Ok(match configured {
            MailTransport::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|_| anyhow::anyhow!("SMTP_URL: not a valid SMTP URL"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            MailTransport::Files(dir) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|err| {
                        anyhow::anyhow!("MAIL_DIR: cannot create {}: {err}", dir.display())
                    })?;
                Transport::Files(AsyncFileTransport::new(dir), dir.clone())
            }
            MailTransport::Off => Transport::Off,
        })
    }

    /// Sends one message. `Ok` names the file written, for development mail; `Err` is a
    /// reason fit for a log line (no credentials, no message content).
    pub async fn send(&self, message: Message) -> Result<Option<PathBuf>, String> {
        match self {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| None)
                .map_err(|err| smtp_reason(&err)),
            Transport::Files(files, dir) => files
                .send(message)
                .await
                .map(|id| Some(dir.join(format!("{id}.eml"))))
                .map_err(|err| format!("cannot write the message file: {err}")),
            Transport::Off => Err("mail is turned off".into()),
        }
    }
}

/// What went wrong, without the server's full reply (which may echo addresses).
fn smtp_reason(err: &lettre::transport::smtp::Error) -> String {
    if err.is_permanent() {
        format!(
            "the SMTP server refused the message for good ({})",
            err.status()
                .map_or_else(|| "no code".into(), |code| code.to_string())
        )
    } else if err.is_transient() {
        format!(
            "the SMTP server refused the message for now ({})",
            err.status()
                .map_or_else(|| "no code".into(), |code| code.to_string())
        )
    } else if err.is_timeout() {
        "the SMTP server did not answer in time".into()
    } else {
        "cannot talk to the SMTP server".into()
    }
}
