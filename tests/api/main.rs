//! One integration-test binary: every test spawns the real server on a fresh database.

mod accounts;
mod admin;
mod cli;
mod deadline;
mod email;
mod graphiql;
mod guard;
mod helpers;
mod http;
mod paging;
mod queries;
mod schema;
mod security;
mod sessions;
mod shared_limits;
mod socket_errors;
mod socket_protocol;
mod subscriptions;
mod tasks;
mod throttle;
mod timing;
mod transport;
mod two_factor;
