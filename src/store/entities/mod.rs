pub mod email_token;
pub mod outbox;
pub mod refresh_token;
pub mod session;
pub mod task;
pub mod user;
