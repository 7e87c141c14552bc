//! One integration-test binary: every test spawns the real server on a fresh database.

mod accounts;
mod cli;
mod guard;
mod helpers;
mod http;
mod paging;
mod queries;
mod schema;
mod sessions;
mod subscriptions;
mod tasks;
mod throttle;
mod timing;
mod transport;
