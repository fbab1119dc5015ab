//! The `sessions` and `refresh_tokens` tables.

use sqlx::{AnyExecutor, Row};

/// What the token check needs to know about a session, read at most once per instance.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: Option<String>,
    pub revoked: bool,
}

#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn insert<'e>(
    db: impl AnyExecutor<'e>,
    id: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
    user_agent: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5)",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .bind(user_agent)
    .execute(db)
    .await?;
    Ok(())
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        user_agent: row.try_get("user_agent")?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}

#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn find<'e>(db: impl AnyExecutor<'e>, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query("SELECT id, user_id, created_at, last_used_at, user_agent, revoked_at FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The user's sessions that are neither revoked nor expired, newest first.
pub async fn list_live<'e>(db: impl AnyExecutor<'e>, user_id: &str, now: i64) -> Result<Vec<SessionRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, user_id, created_at, last_used_at, user_agent, revoked_at FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Extend a live session on refresh. `None` when it is revoked, expired or gone.
pub async fn touch<'e>(
    db: impl AnyExecutor<'e>,
    id: &str,
    now: i64,
    expires_at: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE sessions SET last_used_at = $1, expires_at = $2 \
         WHERE id = $3 AND revoked_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(expires_at)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get("user_id")).transpose()
}

/// Revoke one session of a user. `true` when that session exists (revoked now or before):
/// revoking is idempotent.
#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn revoke<'e>(db: impl AnyExecutor<'e>, id: &str, user_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3")
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Revoke every live session of a user but `keep`; returns the ids revoked.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn revoke_others<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &str,
    keep: &str,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL RETURNING id",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep)
    .fetch_all(db)
    .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Sessions revoked at or after `since`: what other instances may have revoked.
pub async fn revoked_since<'e>(db: impl AnyExecutor<'e>, since: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM sessions WHERE revoked_at >= $1").bind(since).fetch_all(db).await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn insert_refresh<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    session_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(session_id)
        .bind(now)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// Spend a live refresh token, atomically: of any number of concurrent calls with one token,
/// exactly one gets its session id; the conditional UPDATE is the lock.
pub async fn spend_refresh<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE refresh_tokens SET spent_at = $1 \
         WHERE token_hash = $2 AND spent_at IS NULL AND expires_at > $1 RETURNING session_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get("session_id")).transpose()
}

/// A refresh token that could not be spent: was it spent before (reuse)? `Some(session id)`
/// when it was.
pub async fn find_spent_refresh<'e>(db: impl AnyExecutor<'e>, token_hash: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND spent_at IS NOT NULL")
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    row.map(|r| r.try_get("session_id")).transpose()
}

/// The user id of a session, if any.
pub async fn user_of<'e>(db: impl AnyExecutor<'e>, session_id: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT user_id FROM sessions WHERE id = $1").bind(session_id).fetch_optional(db).await?;
    row.map(|r| r.try_get("user_id")).transpose()
}
