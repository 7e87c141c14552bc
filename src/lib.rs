//! taskql: a multi-user task API served as one GraphQL schema.
//!
//! `main.rs` only parses the command line; everything it runs lives here so that the
//! integration tests build exactly the application the binary serves.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod throttle;
