//! Login throttling per email and request limits per client, stored in the database so that
//! neither a restart nor another instance resets them.

use crate::error::AuthError;
use crate::store::{Db, limits};

/// Refuse while `max` failures for `email` lie within the last `window` seconds; the answer
/// says when the oldest of them leaves the window. Otherwise returns how many failures there
/// are, so that a success only clears what exists.
///
/// # Errors
/// [`AuthError::RateLimited`] while throttled.
pub async fn check_login(db: &Db, email: &str, max: u32, window: u64, now: i64) -> Result<usize, AuthError> {
    if max == 0 {
        return Ok(0);
    }
    let window = i64::try_from(window).unwrap_or(i64::MAX);
    let failures = limits::recent_login_failures(&db.pool, email, now - window, i64::from(max)).await?;
    if failures.len() >= max as usize {
        let oldest = failures.last().copied().unwrap_or(now);
        let retry_after = u64::try_from(oldest + window - now).unwrap_or(0).max(1);
        return Err(AuthError::RateLimited { retry_after });
    }
    Ok(failures.len())
}

/// Count a request in `bucket`'s current one-minute window.
///
/// # Errors
/// [`AuthError::RateLimited`] beyond `per_minute`.
pub async fn check_rate(db: &Db, bucket: &str, per_minute: u32, now: i64) -> Result<(), AuthError> {
    if per_minute == 0 {
        return Ok(());
    }
    let window_start = now - now.rem_euclid(60);
    let hits = limits::hit(&db.pool, bucket, window_start).await?;
    if hits > i64::from(per_minute) {
        let retry_after = u64::try_from(window_start + 60 - now).unwrap_or(1).max(1);
        return Err(AuthError::RateLimited { retry_after });
    }
    Ok(())
}
