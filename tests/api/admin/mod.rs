//! The admin API over HTTP: who may use it, what it does to accounts, the rails that keep
//! an active administrator, listings and the audit log, and the operator's CLI.

mod access;
mod actions;
mod cli;
mod listing;
mod rails;
