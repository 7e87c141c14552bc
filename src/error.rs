//! The one error type of taskql and the one place where it meets the wire.
//!
//! Domain and store code return [`AppError`]. async-graphql is built with
//! `custom-error-conversion`, so nothing but [`AppError`] (through the `From` impl below)
//! can become a GraphQL error: a database error cannot slip to a client through `?`.

use async_graphql::{ErrorExtensionValues, Response, ServerError};

/// Message for every failure to present valid credentials, whatever the cause.
pub const UNAUTHENTICATED_MESSAGE: &str = "Authentication required: send a valid access token.";
/// Message for every failed login, whatever the cause.
pub const INVALID_CREDENTIALS_MESSAGE: &str = "Invalid username or password.";
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
    /// Too many attempts; the client should wait this many whole seconds.
    #[error("Too many attempts: try again in {0} seconds.")]
    RateLimited(u64),
    /// Anything else. The cause is logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// The `extensions.code` this error carries.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated | AppError::InvalidCredentials => "UNAUTHENTICATED",
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::RateLimited(_) => "RATE_LIMITED",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
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
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", err.code());
        if let AppError::RateLimited(seconds) = err {
            extensions.set("retryAfter", seconds);
        }
        async_graphql::Error {
            message,
            source: None,
            extensions: Some(extensions),
        }
    }
}

/// Gives every error of a response a code. Errors the engine raises itself (a document
/// that fails validation, an argument of the wrong type) are the client's: BAD_USER_INPUT.
pub fn ensure_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}

/// A request-level error, for failures before any operation runs.
pub fn request_error(message: impl Into<String>, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
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
        "INTERNAL_SERVER_ERROR",
    )
}
