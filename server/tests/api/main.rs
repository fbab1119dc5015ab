#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)]
// A test binary: a failed assumption is a failed test.
//! The HTTP contract of API.md, walked against the real server on SQLite and PostgreSQL.
//! One test binary, so the server crate links once.

mod helpers;

mod accounts;
mod assets;
mod crash;
mod dpop;
mod errors;
mod factors;
mod flow;
mod forged;
mod indexes;
mod instances;
mod limits;
mod metrics;
mod oauth;
mod passkeys;
mod probe;
mod races;
mod resource_server;
mod rotation;
mod security;
mod surface;
