//! Tokenflow's authentication core.
//!
//! Always compiled (also for the browser): the wire types in [`dto`], the access-token
//! [`claims`], public keys ([`jwk`]), [`inspect`], which decodes and verifies tokens in the
//! browser to show what the server does with them, and [`forge`], the attacks every verifier
//! must refuse (the tamper lab's and `tokenflow probe`'s). Behind feature `server`: the Ed25519 key ring, strict token verification,
//! argon2id hashing, storage on SQLite or PostgreSQL, and the [`AuthService`] that every
//! adapter (REST handlers, server functions, CLI) calls for every auth decision.

pub mod claims;
pub mod dto;
pub mod forge;
pub mod ids;
pub mod inspect;
pub mod jwk;

#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub use server::*;
