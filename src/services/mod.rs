//! Account services: operations above `auth` and `store` that combine passwords, tokens,
//! sessions and throttles. Resolvers parse input and call exactly one of these.

pub mod accounts;
