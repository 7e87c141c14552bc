//! The one error type of taskql and the one place where it meets the wire.
//!
//! Domain and store code return [`AppError`]. async-graphql is built with
//! `custom-error-conversion`, so nothing but [`AppError`] (through the `From` impl below)
//! can become a GraphQL error: a database error cannot slip to a client through `?`.

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, Response, ServerError};

/// Message for every failure to present valid credentials, whatever the cause.
pub const UNAUTHENTICATED_MESSAGE: &str = "Authentication required: send a valid access token.";
/// Message for every failed login, whatever the cause.
pub const INVALID_CREDENTIALS_MESSAGE: &str = "Invalid username or password.";
/// Message for a login refused until the account's address is verified.
pub const EMAIL_NOT_VERIFIED_MESSAGE: &str =
    "Verify your email address first: follow the link we sent, or ask for a new one.";
/// Message for an operation that needs a TOTP or recovery code it was not given.
pub const SECOND_FACTOR_MESSAGE: &str =
    "Enter the code your authenticator app shows, or one of your recovery codes.";
const INTERNAL_MESSAGE: &str = "Internal server error.";

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No viewer, or the presented token is not valid.
    #[error("{UNAUTHENTICATED_MESSAGE}")]
    Unauthenticated,
    /// A login failed: unknown account, wrong password or deactivated account alike.
    #[error("{INVALID_CREDENTIALS_MESSAGE}")]
    InvalidCredentials,
    /// An argument breaks a rule; the message states the rule.
    #[error("{0}")]
    BadUserInput(String),
    /// Absent, or not the viewer's.
    #[error("{0} not found.")]
    NotFound(&'static str),
    /// A unique value is already taken.
    #[error("{0}")]
    Conflict(String),
    /// Not allowed for this viewer, or here for anyone; the message says why.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The password checked out, but the account's address must be verified first.
    #[error("{EMAIL_NOT_VERIFIED_MESSAGE}")]
    EmailNotVerified,
    /// Two-factor is on and no valid code came with the request. From `login`, with the
    /// challenge that `verifyLogin` completes.
    #[error("{SECOND_FACTOR_MESSAGE}")]
    SecondFactorRequired { challenge: Option<Challenge> },
    /// Too many attempts; the client should wait this many whole seconds.
    #[error("Too many attempts: try again in {0} seconds.")]
    RateLimited(u64),
    /// Anything else. The cause is logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// A login challenge on its way to the client in `extensions.challenge`, and nowhere
/// else: its `Debug` never shows it.
pub struct Challenge(pub String);

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenge(<redacted>)")
    }
}

impl AppError {
    /// The `extensions.code` this error carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated | AppError::InvalidCredentials => ErrorCode::Unauthenticated,
            AppError::BadUserInput(_) => ErrorCode::BadUserInput,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::EmailNotVerified => ErrorCode::EmailNotVerified,
            AppError::SecondFactorRequired { .. } => ErrorCode::SecondFactorRequired,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::Internal(_) => ErrorCode::InternalServerError,
        }
    }

    /// Shorthand for a rule violation.
    pub fn bad_input(message: impl Into<String>) -> Self {
        AppError::BadUserInput(message.into())
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::Internal(err.into())
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let message = match &err {
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                INTERNAL_MESSAGE.to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match err {
            AppError::RateLimited(seconds) => Some(seconds),
            _ => None,
        };
        let fault = Fault {
            code: err.code(),
            retry_after,
        };
        let mut extensions = fault.extensions();
        if let AppError::SecondFactorRequired {
            challenge: Some(Challenge(challenge)),
        } = err
        {
            extensions.set("challenge", challenge);
        }
        async_graphql::Error {
            message,
            extensions: Some(extensions),
            source: Some(Arc::new(fault)),
        }
    }
}

/// The codes of the error contract that taskql answers with, and their wire strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid credentials.
    Unauthenticated,
    /// Not allowed: an admin field for anyone but an administrator, introspection when
    /// the server has it off, or a flow that needs mail when mail is off.
    Forbidden,
    /// The request or an argument breaks a rule: the client's to fix.
    BadUserInput,
    /// Absent, or not the viewer's.
    NotFound,
    /// A unique value is already taken.
    Conflict,
    /// Throttled; `extensions.retryAfter` says for how long.
    RateLimited,
    /// `EMAIL_VERIFICATION=required` and the account's address is not verified yet.
    EmailNotVerified,
    /// Two-factor is on and the operation needs a TOTP or recovery code; from `login`,
    /// `extensions.challenge` is what `verifyLogin` takes.
    SecondFactorRequired,
    /// The server failed; nothing of the cause is sent.
    InternalServerError,
}

impl ErrorCode {
    /// The value of `extensions.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            ErrorCode::SecondFactorRequired => "SECOND_FACTOR_REQUIRED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// What an error of taskql means, kept as the error's `source` so that a transport reads
/// it back typed ([`ServerError::source`]) instead of parsing `extensions` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The error's code.
    pub code: ErrorCode,
    /// Whole seconds to wait, for RATE_LIMITED.
    pub retry_after: Option<u64>,
}

impl Fault {
    fn extensions(self) -> ErrorExtensionValues {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", self.code.as_str());
        if let Some(seconds) = self.retry_after {
            extensions.set("retryAfter", seconds);
        }
        extensions
    }
}

/// The wire form of a response, over HTTP and WebSocket alike, single or batched: every
/// error carries a code. Errors the engine raises itself (a document that fails
/// validation, an argument of the wrong type) have none of taskql's and are the client's:
/// BAD_USER_INPUT.
pub fn to_wire(mut response: Response) -> Response {
    for error in &mut response.errors {
        if error.source::<Fault>().is_none() {
            let code = ErrorCode::BadUserInput;
            let extensions = error.extensions.get_or_insert_with(Default::default);
            extensions.set("code", code.as_str());
            error.source = Some(Arc::new(Fault {
                code,
                retry_after: None,
            }));
        }
    }
    response
}

/// A request-level error, for failures before any operation runs.
pub fn request_error(message: impl Into<String>, code: ErrorCode) -> ServerError {
    let fault = Fault {
        code,
        retry_after: None,
    };
    let mut error = ServerError::new(message, None);
    error.extensions = Some(fault.extensions());
    error.source = Some(Arc::new(fault));
    error
}

/// The error of an operation cancelled at its deadline. It is not the client's fault and
/// none of the contract's specific codes fits, so INTERNAL_SERVER_ERROR; over HTTP the
/// status (503) tells clients and proxies that the service, not the request, failed.
pub fn deadline_exceeded(timeout: std::time::Duration) -> ServerError {
    request_error(
        format!(
            "The request did not complete within {} seconds and was cancelled.",
            timeout.as_secs_f64()
        ),
        ErrorCode::InternalServerError,
    )
}
