//! Throttling counters in the database, so a restart or another instance resets nothing.

use sqlx::{AnyExecutor, Row};

/// Write a login attempt for `email` before its password is checked (see `throttle`).
pub async fn insert_login_attempt<'e>(
    db: impl AnyExecutor<'e>,
    id: &str,
    email: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_failures (id, email, failed_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(email)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// Take back one attempt: it was refused before its password was checked, or never finished.
pub async fn delete_login_attempt<'e>(db: impl AnyExecutor<'e>, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// Ids and times of the newest `limit` attempts for `email` after `since`, newest first.
pub async fn recent_login_attempts<'e>(
    db: impl AnyExecutor<'e>,
    email: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, failed_at FROM login_failures WHERE email = $1 AND failed_at > $2 \
         ORDER BY failed_at DESC LIMIT $3",
    )
    .bind(email)
    .bind(since)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("failed_at")?))).collect()
}

pub async fn clear_login_failures<'e>(db: impl AnyExecutor<'e>, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1").bind(email).execute(db).await?;
    Ok(())
}

/// Count one hit in `bucket`'s window and return the window's total, atomically.
pub async fn hit<'e>(db: impl AnyExecutor<'e>, bucket: &str, window_start: i64) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits",
    )
    .bind(bucket)
    .bind(window_start)
    .fetch_one(db)
    .await?;
    row.try_get("hits")
}

/// Forget counters and failures older than `before`.
pub async fn prune(db: &sqlx::AnyPool, before: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rate_limits WHERE window_start < $1").bind(before).execute(db).await?;
    sqlx::query("DELETE FROM login_failures WHERE failed_at < $1").bind(before).execute(db).await?;
    Ok(())
}
