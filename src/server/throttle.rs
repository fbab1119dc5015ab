//! Login throttling per email and request limits per client, stored in the database so that
//! neither a restart nor another instance resets them, and counted *before* the expensive
//! work so that a parallel burst is held to the same limit as a sequential one.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::AuthError;
use crate::store::{Db, limits};

/// A login attempt that was counted before its password is checked. Settle it with
/// [`LoginAttempt::failed`], [`LoginAttempt::succeeded`] or [`LoginAttempt::abandon`].
#[derive(Debug)]
#[must_use]
pub struct LoginAttempt {
    id: Option<String>,
    email: String,
}

/// Count an attempt for `email`, then refuse it if `max` attempts (its own included) lie
/// within the last `window` seconds. Insert-then-count: every parallel attempt sees the
/// others' rows, so at most `max` passwords are ever checked per window, however they arrive.
///
/// # Errors
/// [`AuthError::RateLimited`], with when the oldest counted attempt leaves the window.
pub async fn begin_login(db: &Db, email: &str, max: u32, window: u64, now: i64) -> Result<LoginAttempt, AuthError> {
    if max == 0 {
        return Ok(LoginAttempt { id: None, email: email.to_string() });
    }
    let id = uuid::Uuid::new_v4().to_string();
    limits::insert_login_attempt(&db.pool, &id, email, now).await?;
    let window = i64::try_from(window).unwrap_or(i64::MAX);
    let counted = limits::recent_login_attempts(&db.pool, email, now - window, i64::from(max) + 1).await;
    let counted = match counted {
        Ok(counted) => counted,
        Err(e) => {
            let _ = limits::delete_login_attempt(&db.pool, &id).await;
            return Err(e.into());
        }
    };
    if counted.len() > max as usize {
        limits::delete_login_attempt(&db.pool, &id).await?;
        let others = counted.iter().filter(|(other, _)| other.as_deref() != Some(id.as_str()));
        let oldest = others.take(max as usize).map(|(_, at)| *at).min().unwrap_or(now);
        let retry_after = u64::try_from(oldest + window - now).unwrap_or(0).max(1);
        return Err(AuthError::RateLimited { retry_after });
    }
    Ok(LoginAttempt { id: Some(id), email: email.to_string() })
}

impl LoginAttempt {
    /// A wrong password: the attempt's row stays, as a failure.
    pub fn failed(self) {}

    /// The right password: the email's failures are forgiven.
    ///
    /// # Errors
    /// The database's.
    pub async fn succeeded(self, db: &Db) -> Result<(), AuthError> {
        if self.id.is_some() {
            limits::clear_login_failures(&db.pool, &self.email).await?;
        }
        Ok(())
    }

    /// The password was never checked (hashing saturated, the database failed): take the
    /// attempt back.
    pub async fn abandon(self, db: &Db) {
        if let Some(id) = &self.id
            && let Err(e) = limits::delete_login_attempt(&db.pool, id).await
        {
            tracing::warn!(error = %e, "could not take back an unfinished login attempt");
        }
    }
}

/// Count a request in `bucket`'s current fixed window of `window` seconds.
///
/// # Errors
/// [`AuthError::RateLimited`] beyond `limit`.
pub async fn check_rate(db: &Db, bucket: &str, limit: u32, window: i64, now: i64) -> Result<(), AuthError> {
    if limit == 0 {
        return Ok(());
    }
    let window_start = now - now.rem_euclid(window);
    let hits = limits::hit(&db.pool, bucket, window_start).await?;
    if hits > i64::from(limit) {
        return Err(rate_limited(window_start, window, now));
    }
    Ok(())
}

fn rate_limited(window_start: i64, window: i64, now: i64) -> AuthError {
    AuthError::RateLimited { retry_after: u64::try_from(window_start + window - now).unwrap_or(1).max(1) }
}

/// The per-client limit's memory: buckets that the shared counter has already refused in
/// the current window. Counts only grow within a window, so such a bucket stays refused until
/// the window ends, and saying so needs no database write: a flood from one address costs
/// one write per window, not one per request.
#[derive(Default)]
pub struct RefusedBuckets {
    refused: Mutex<HashMap<String, i64>>,
}

/// Entries kept before the map forgets finished windows.
const REFUSED_BUCKETS_MAX: usize = 10_000;

impl RefusedBuckets {
    /// [`check_rate`] with one-minute windows, answering from memory for refused buckets.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] beyond `per_minute`.
    pub async fn check(&self, db: &Db, bucket: &str, per_minute: u32, now: i64) -> Result<(), AuthError> {
        if per_minute == 0 {
            return Ok(());
        }
        let window_start = now - now.rem_euclid(60);
        if let Ok(refused) = self.refused.lock()
            && refused.get(bucket) == Some(&window_start)
        {
            return Err(rate_limited(window_start, 60, now));
        }
        let result = check_rate(db, bucket, per_minute, 60, now).await;
        if matches!(result, Err(AuthError::RateLimited { .. }))
            && let Ok(mut refused) = self.refused.lock()
        {
            if refused.len() >= REFUSED_BUCKETS_MAX {
                refused.retain(|_, start| *start == window_start);
            }
            refused.insert(bucket.to_string(), window_start);
        }
        result
    }
}
