//! The HTTP contract of API.md, walked against the real server on SQLite and PostgreSQL.
//! One test binary, so the server crate links once.

mod helpers;

mod crash;
mod flow;
mod forged;
mod instances;
mod limits;
mod races;
mod resource_server;
mod rotation;
mod security;
mod surface;
