//! Adversarial tests: what another user's id, a parallel burst, a replay, a partition, a slow
//! client or a stolen database file does. Each was written to fail before its fix.

mod authorization;
mod concurrency;
mod lifecycle;
mod storage;
mod transport;
