//! The black-box security suite: each `probe_*` test attacks the running server over HTTP
//! the way an outsider would and asserts the exact safe outcome.

mod access;
mod bombs;
mod brute_force;
mod enumeration;
mod injection;
mod leaks;
mod races;
mod refresh;
mod socket;
mod tokens;
mod transport;
