//! The one helper layer every feature file uses: spawning the app, the request builder
//! and its typed reply, the socket client, the SMTP server, the shared documents, users
//! and tokens.

mod admin;
mod auth;
mod binary;
pub mod documents;
mod mail;
mod request;
mod socket;
mod spawn;
mod tasks;
mod throttling;
mod tokens;
mod two_factor;
mod users;

pub use auth::*;
pub use binary::*;
pub use mail::*;
pub use request::{JSON, Reply, code, message, request_to, texts_of};
pub use socket::*;
pub use spawn::*;
pub use throttling::*;
pub use tokens::*;
pub use two_factor::*;
pub use users::*;
