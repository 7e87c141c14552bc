//! Account services: operations above `auth` and `store` that combine passwords, tokens,
//! sessions and throttles. Resolvers parse input and call exactly one of these.

pub mod accounts;
pub mod admin;
pub mod email;
pub mod sessions;
pub mod two_factor;

pub use accounts::Accounts;
pub use admin::Administration;
pub use sessions::{SessionSettings, Sessions, SignedIn};
pub use two_factor::TwoFactorSettings;
