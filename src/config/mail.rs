//! The mail section: how messages leave (SMTP, files for development, or not at all),
//! who sends them, the base of their links, whether addresses must be verified, how long
//! links live, and how the outbox retries and forgets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use secrecy::SecretString;

use super::env::ranged;
use super::{AppEnv, ConfigError};
use crate::store::sqlite_file;

/// Folder for development mail when `MAIL_DIR` is unset: beside the SQLite file, or in the
/// working directory.
pub const DEV_MAIL_DIR: &str = "taskql-mail";

/// Where messages go.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// An SMTP server; the URL may hold credentials.
    Smtp(SecretString),
    /// One `.eml` file per message in this folder (development without `SMTP_URL`).
    Files(PathBuf),
    /// `SMTP_URL=off`: nothing is sent, and the flows that need mail are refused.
    Off,
}

/// Whether an account's address must be verified before it may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// No verification mail at sign-up; a user may still ask for one.
    Off,
    /// A verification mail at sign-up; logging in does not wait for it.
    Optional,
    /// A verification mail at sign-up, and `login` answers EMAIL_NOT_VERIFIED until then.
    Required,
}

/// Everything about mail, validated.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub from: Mailbox,
    /// The base of every link, without a trailing slash.
    pub public_url: String,
    pub verification: EmailVerification,
    pub verify_email_ttl: Duration,
    pub reset_password_ttl: Duration,
    pub change_email_ttl: Duration,
    /// The wait after a first failed delivery; each further failure doubles it, to an hour.
    pub retry_base: Duration,
    /// Attempts before a message is given up.
    pub max_attempts: u32,
    /// How long delivered and given-up messages are kept.
    pub retention: Duration,
}

impl MailSettings {
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
        database_url: &str,
        bind_addr: std::net::SocketAddr,
    ) -> Result<Self, ConfigError> {
        let transport = match get("SMTP_URL").map(|url| url.trim().to_owned()) {
            Some(url) if url == "off" => MailTransport::Off,
            Some(url) => {
                check_smtp_url(&url, app_env)?;
                MailTransport::Smtp(SecretString::from(url))
            }
            None if app_env == AppEnv::Production => {
                return Err(ConfigError::new(
                    "SMTP_URL",
                    "must be set in production (smtps://…, smtp://…?tls=required, or off)",
                ));
            }
            None => MailTransport::Files(match get("MAIL_DIR") {
                Some(dir) => PathBuf::from(dir.trim()),
                None => dev_mail_dir(database_url),
            }),
        };
        let from = get("MAIL_FROM")
            .unwrap_or_else(|| "taskql <no-reply@localhost>".into())
            .trim()
            .parse::<Mailbox>()
            .map_err(|_| {
                ConfigError::new(
                    "MAIL_FROM",
                    "must be an address such as `taskql <no-reply@example.com>`",
                )
            })?;
        let public_url = match get("PUBLIC_URL") {
            Some(url) => public_url(&url)?,
            None if app_env == AppEnv::Production && !matches!(transport, MailTransport::Off) => {
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    "must be set in production: the https:// address links in mail open",
                ));
            }
            None => format!("http://{bind_addr}"),
        };
        let verification = match get("EMAIL_VERIFICATION").as_deref().map(str::trim) {
            None | Some("optional") => EmailVerification::Optional,
            Some("off") => EmailVerification::Off,
            Some("required") => EmailVerification::Required,
            Some(_) => {
                return Err(ConfigError::new(
                    "EMAIL_VERIFICATION",
                    "must be `off`, `optional` or `required`",
                ));
            }
        };
        let minutes = |var, default, most| {
            ranged(get, var, default, 1..=most).map(|minutes| Duration::from_secs(minutes * 60))
        };
        Ok(Self {
            transport,
            from,
            public_url,
            verification,
            verify_email_ttl: minutes("EMAIL_VERIFICATION_TTL_MINUTES", 24 * 60, 30 * 24 * 60)?,
            reset_password_ttl: minutes("PASSWORD_RESET_TTL_MINUTES", 30, 24 * 60)?,
            change_email_ttl: minutes("EMAIL_CHANGE_TTL_MINUTES", 24 * 60, 30 * 24 * 60)?,
            retry_base: Duration::from_secs(ranged(get, "MAIL_RETRY_SECONDS", 30, 1..=3600)?),
            max_attempts: ranged(get, "MAIL_MAX_ATTEMPTS", 10, 1..=100)? as u32,
            retention: Duration::from_secs(
                ranged(get, "MAIL_RETENTION_DAYS", 7, 1..=365)? * 86_400,
            ),
        })
    }
}

/// Development mail lives beside the SQLite file, or in the working directory otherwise.
fn dev_mail_dir(database_url: &str) -> PathBuf {
    sqlite_file(database_url)
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .unwrap_or_default()
        .join(DEV_MAIL_DIR)
}

/// An SMTP URL lettre accepts. In production the connection must be encrypted, unless
/// the server is on this machine. The URL may hold a password: never echo it.
fn check_smtp_url(url: &str, app_env: AppEnv) -> Result<(), ConfigError> {
    let invalid = || {
        ConfigError::new(
            "SMTP_URL",
            "must be smtps://[user:pass@]host[:port] or smtp://[user:pass@]host[:port][?tls=required], or off",
        )
    };
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    if AsyncSmtpTransport::<Tokio1Executor>::from_url(url).is_err() {
        return Err(invalid());
    }
    let encrypted = parsed.scheme() == "smtps"
        || parsed
            .query_pairs()
            .any(|(key, value)| key == "tls" && value == "required");
    // `smtp` is no special scheme to the URL parser: its host comes back as text.
    let local = parsed.host_str().is_some_and(|host| {
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if app_env == AppEnv::Production && !encrypted && !local {
        return Err(ConfigError::new(
            "SMTP_URL",
            "must be encrypted in production (smtps://, or smtp://…?tls=required) unless the server is on this machine",
        ));
    }
    Ok(())
}

/// `PUBLIC_URL`: an http(s) base without query or fragment; the trailing slash goes.
fn public_url(raw: &str) -> Result<String, ConfigError> {
    let raw = raw.trim().trim_end_matches('/');
    let invalid = || {
        ConfigError::new(
            "PUBLIC_URL",
            "must be an http:// or https:// address without query or fragment, such as https://tasks.example.com",
        )
    };
    let parsed = url::Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || parsed.host().is_none()
    {
        return Err(invalid());
    }
    Ok(raw.to_owned())
}
