pub mod refresh_token;
pub mod session;
pub mod task;
pub mod user;
