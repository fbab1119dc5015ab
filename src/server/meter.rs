//! What the core counts, under one set of names: the server exports them as Prometheus text
//! at `METRICS_ADDR`. Until a recorder is installed every call is a no-op (an atomic load).

use std::time::Duration;

use crate::error::AuthError;

/// A login's outcome: `success`, `invalid_credentials`, `throttled`, `disabled`, `error`.
pub fn login<T>(result: &Result<T, AuthError>) {
    let outcome = match result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(AuthError::RateLimited { .. }) => "throttled",
        Err(AuthError::AccountDisabled) => "disabled",
        Err(_) => "error",
    };
    metrics::counter!("tokenflow_logins_total", "outcome" => outcome).increment(1);
}

/// A refresh's outcome: `success`, `invalid_grant`, `error`.
pub fn refresh<T>(result: &Result<T, AuthError>) {
    let outcome = match result {
        Ok(_) => "success",
        Err(AuthError::InvalidGrant) => "invalid_grant",
        Err(_) => "error",
    };
    metrics::counter!("tokenflow_refreshes_total", "outcome" => outcome).increment(1);
}

/// A spent refresh token presented again (its session is revoked).
pub fn refresh_reuse() {
    metrics::counter!("tokenflow_refresh_reuse_total").increment(1);
}

/// An introspection request: `active`, `inactive`, or `invalid_client` (refused credentials).
pub fn introspection(outcome: &'static str) {
    metrics::counter!("tokenflow_introspections_total", "outcome" => outcome).increment(1);
}

/// Sessions revoked by this instance.
pub fn revocations(sessions: usize) {
    metrics::counter!("tokenflow_revocations_total").increment(sessions as u64);
}

/// How a bearer token was checked: `cache` (verified before), `verify` (signature checked now),
/// or `refused`.
pub fn token_check(path: &'static str) {
    metrics::counter!("tokenflow_token_checks_total", "path" => path).increment(1);
}

/// One argon2id computation on a hashing thread.
pub fn password_hash(took: Duration) {
    metrics::histogram!("tokenflow_password_hash_seconds").record(took.as_secs_f64());
}

/// A delivery attempt of queued mail: `delivered` or `failed`.
pub fn mail(outcome: &'static str) {
    metrics::counter!("tokenflow_mail_deliveries_total", "outcome" => outcome).increment(1);
}

/// Levels read when metrics are scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Levels {
    pub hash_jobs_waiting: usize,
    pub mail_waiting: i64,
    pub db_connections: u32,
    pub db_connections_idle: usize,
    pub token_cache_entries: usize,
    pub session_cache_entries: usize,
}

impl Levels {
    /// Publish as gauges.
    pub fn record(&self) {
        metrics::gauge!("tokenflow_password_hash_queue").set(self.hash_jobs_waiting as f64);
        metrics::gauge!("tokenflow_mail_queue").set(self.mail_waiting as f64);
        metrics::gauge!("tokenflow_db_connections", "state" => "open").set(f64::from(self.db_connections));
        metrics::gauge!("tokenflow_db_connections", "state" => "idle").set(self.db_connections_idle as f64);
        metrics::gauge!("tokenflow_cache_entries", "cache" => "tokens").set(self.token_cache_entries as f64);
        metrics::gauge!("tokenflow_cache_entries", "cache" => "sessions").set(self.session_cache_entries as f64);
    }
}
