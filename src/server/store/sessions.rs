//! The `sessions` and `refresh_tokens` tables.

use sqlx::{AnyExecutor, Row};

use crate::ids::{SessionId, UserId};

/// What the token check needs to know about a session, read at most once per instance.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub revoked: bool,
    /// The thumbprint of the DPoP key the session is bound to, if it is.
    pub dpop_jkt: Option<String>,
    /// How and when its user last authenticated (space-separated `amr`; NULL: a password).
    pub amr: Option<String>,
    pub auth_time: i64,
}

/// How a session was opened: from which user agent, bound to which DPoP key, with which
/// factors (space-separated `amr`).
#[derive(Debug, Clone, Copy)]
pub struct Opened<'a> {
    pub user_agent: Option<&'a str>,
    pub dpop_jkt: Option<&'a str>,
    pub amr: &'a str,
}

#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn insert<'e>(
    db: impl AnyExecutor<'e>,
    id: &SessionId,
    user_id: &UserId,
    now: i64,
    expires_at: i64,
    how: &Opened<'_>,
) -> Result<(), sqlx::Error> {
    let Opened { user_agent, dpop_jkt, amr } = *how;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, dpop_jkt, amr, auth_time) \
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $3)",
    )
    .bind(id.as_str())
    .bind(user_id.as_str())
    .bind(now)
    .bind(expires_at)
    .bind(user_agent)
    .bind(dpop_jkt)
    .bind(amr)
    .execute(db)
    .await?;
    Ok(())
}

macro_rules! columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, user_agent, revoked_at, dpop_jkt, amr, auth_time"
    };
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: SessionId::from_trusted(row.try_get::<String, _>("id")?),
        user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        user_agent: row.try_get("user_agent")?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        dpop_jkt: row.try_get("dpop_jkt")?,
        amr: row.try_get("amr")?,
        auth_time: row.try_get::<Option<i64>, _>("auth_time")?.unwrap_or(row.try_get("created_at")?),
    })
}

#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn find<'e>(db: impl AnyExecutor<'e>, id: &SessionId) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM sessions WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The user's sessions that are neither revoked nor expired, newest first, at most `limit`.
pub async fn list_live<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    now: i64,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id LIMIT $3"
    ))
    .bind(user_id.as_str())
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A live session as a refresh extended it.
#[derive(Debug)]
pub struct Touched {
    pub user_id: UserId,
    pub expires_at: i64,
    pub dpop_jkt: Option<String>,
    /// How and when the user last authenticated in this session (space-separated `amr`).
    pub amr: Option<String>,
    pub auth_time: i64,
}

/// Extend a live session on refresh by `ttl`, never past `created_at + max_life`. Returns the
/// user, the new expiry and the key binding; `None` when the session is revoked, expired or
/// gone.
pub async fn touch<'e>(
    db: impl AnyExecutor<'e>,
    id: &SessionId,
    now: i64,
    ttl: i64,
    max_life: i64,
) -> Result<Option<Touched>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE sessions SET last_used_at = $1, \
         expires_at = CASE WHEN $1 + $2 < created_at + $3 THEN $1 + $2 ELSE created_at + $3 END \
         WHERE id = $4 AND revoked_at IS NULL AND expires_at > $1 \
         RETURNING user_id, expires_at, dpop_jkt, amr, COALESCE(auth_time, created_at) AS auth_time",
    )
    .bind(now)
    .bind(ttl)
    .bind(max_life)
    .bind(id.as_str())
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Touched {
            user_id: UserId::from_trusted(r.try_get::<String, _>("user_id")?),
            expires_at: r.try_get("expires_at")?,
            dpop_jkt: r.try_get("dpop_jkt")?,
            amr: r.try_get("amr")?,
            auth_time: r.try_get("auth_time")?,
        })
    })
    .transpose()
}

/// A step-up in a live session: how and when its user just authenticated. Returns the
/// session's end and key binding; `None` when it is revoked, expired or gone.
pub async fn reauthenticated<'e>(
    db: impl AnyExecutor<'e>,
    id: &SessionId,
    amr: &str,
    now: i64,
) -> Result<Option<(i64, Option<String>)>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE sessions SET amr = $1, auth_time = $2 WHERE id = $3 AND revoked_at IS NULL AND expires_at > $2 \
         RETURNING expires_at, dpop_jkt",
    )
    .bind(amr)
    .bind(now)
    .bind(id.as_str())
    .fetch_optional(db)
    .await?;
    row.map(|r| Ok((r.try_get("expires_at")?, r.try_get("dpop_jkt")?))).transpose()
}

/// What revoking one session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// It was live and is revoked now: worth announcing.
    Revoked,
    /// It was revoked before: nothing changed.
    AlreadyRevoked,
    /// No such session of this user: nothing changed, for anyone.
    NotFound,
}

/// Revoke one session of a user. Only a session of `user_id` is touched.
#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn revoke(
    db: &mut sqlx::AnyConnection,
    id: &SessionId,
    user_id: &UserId,
    now: i64,
) -> Result<Revocation, sqlx::Error> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *db)
        .await?;
    if done.rows_affected() > 0 {
        return Ok(Revocation::Revoked);
    }
    let exists = sqlx::query("SELECT 1 AS one FROM sessions WHERE id = $1 AND user_id = $2")
        .bind(id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(db)
        .await?;
    Ok(if exists.is_some() { Revocation::AlreadyRevoked } else { Revocation::NotFound })
}

/// Revoke every live session of a user but `keep`; returns the ids revoked.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn revoke_others<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    keep: &SessionId,
    now: i64,
) -> Result<Vec<SessionId>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL RETURNING id",
    )
    .bind(now)
    .bind(user_id.as_str())
    .bind(keep.as_str())
    .fetch_all(db)
    .await?;
    session_ids(&rows)
}

/// Revoke the user's oldest live sessions beyond the newest `keep_others` besides `newest`;
/// returns the ids revoked. The caller holds the user's row lock, so parallel sign-ins of one
/// user trim one after the other.
pub async fn revoke_beyond<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    newest: &SessionId,
    keep_others: i64,
    now: i64,
) -> Result<Vec<SessionId>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL AND expires_at > $1 AND id NOT IN ( \
             SELECT id FROM sessions WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL AND expires_at > $1 \
             ORDER BY created_at DESC, id DESC LIMIT $4) \
         RETURNING id",
    )
    .bind(now)
    .bind(user_id.as_str())
    .bind(newest.as_str())
    .bind(keep_others)
    .fetch_all(db)
    .await?;
    session_ids(&rows)
}

/// Sessions revoked at or after `since`: what other instances may have revoked (including the
/// sessions of deleted accounts, through their tombstones).
pub async fn revoked_since<'e>(db: impl AnyExecutor<'e>, since: i64) -> Result<Vec<SessionId>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id FROM sessions WHERE revoked_at >= $1 \
         UNION ALL SELECT session_id AS id FROM session_tombstones WHERE revoked_at >= $1",
    )
    .bind(since)
    .fetch_all(db)
    .await?;
    session_ids(&rows)
}

/// Revoke every live session of a user; returns the ids revoked.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn revoke_all<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    now: i64,
) -> Result<Vec<SessionId>, sqlx::Error> {
    let rows =
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL RETURNING id")
            .bind(now)
            .bind(user_id.as_str())
            .fetch_all(db)
            .await?;
    session_ids(&rows)
}

/// Before an account is deleted: a tombstone for each of its sessions, so that the revocation
/// poll of every instance still sees them once the rows are gone.
pub async fn bury_all<'e>(db: impl AnyExecutor<'e>, user_id: &UserId, now: i64) -> Result<Vec<SessionId>, sqlx::Error> {
    let rows = sqlx::query(
        "INSERT INTO session_tombstones (session_id, revoked_at) SELECT id, $1 FROM sessions WHERE user_id = $2 \
         ON CONFLICT DO NOTHING RETURNING session_id AS id",
    )
    .bind(now)
    .bind(user_id.as_str())
    .fetch_all(db)
    .await?;
    session_ids(&rows)
}

fn session_ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<SessionId>, sqlx::Error> {
    rows.iter().map(|r| r.try_get::<String, _>("id").map(SessionId::from_trusted)).collect()
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn insert_refresh<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    session_id: &SessionId,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(session_id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// Spend a live refresh token, atomically, recording its successor (by hash, and sealed for
/// the retry grace): of any number of concurrent calls with one token, exactly one gets its
/// session id; the conditional UPDATE is the lock.
pub async fn spend_refresh<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    successor_hash: &str,
    sealed_successor: Option<&str>,
    now: i64,
) -> Result<Option<SessionId>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE refresh_tokens SET spent_at = $1, successor_hash = $3, sealed_successor = $4 \
         WHERE token_hash = $2 AND spent_at IS NULL AND expires_at > $1 RETURNING session_id",
    )
    .bind(now)
    .bind(token_hash)
    .bind(successor_hash)
    .bind(sealed_successor)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get::<String, _>("session_id").map(SessionId::from_trusted)).transpose()
}

/// A refresh token spent before.
#[derive(Debug, Clone)]
pub struct SpentRefresh {
    pub session_id: SessionId,
    pub spent_at: i64,
    pub successor_hash: Option<String>,
    pub sealed_successor: Option<String>,
    /// `true` while the successor itself has not been spent.
    pub successor_unused: bool,
}

/// A refresh token that could not be spent: was it spent before (a retry or reuse)?
pub async fn find_spent_refresh<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
) -> Result<Option<SpentRefresh>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT r.session_id, r.spent_at, r.successor_hash, r.sealed_successor, s.spent_at AS successor_spent_at, \
         s.token_hash AS successor_found \
         FROM refresh_tokens r LEFT JOIN refresh_tokens s ON s.token_hash = r.successor_hash \
         WHERE r.token_hash = $1 AND r.spent_at IS NOT NULL",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        let found: Option<String> = r.try_get("successor_found")?;
        let successor_spent: Option<i64> = r.try_get("successor_spent_at")?;
        Ok(SpentRefresh {
            session_id: SessionId::from_trusted(r.try_get::<String, _>("session_id")?),
            spent_at: r.try_get("spent_at")?,
            successor_hash: r.try_get("successor_hash")?,
            sealed_successor: r.try_get("sealed_successor")?,
            successor_unused: found.is_some() && successor_spent.is_none(),
        })
    })
    .transpose()
}

/// The session of a refresh token, spent or not (RFC 7009 revocation); `None` for a token
/// that was never issued or whose row was purged.
pub async fn session_of_refresh<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
) -> Result<Option<SessionId>, sqlx::Error> {
    let row = sqlx::query("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    row.map(|r| r.try_get::<String, _>("session_id").map(SessionId::from_trusted)).transpose()
}

/// The user id of a session, if any.
pub async fn user_of<'e>(db: impl AnyExecutor<'e>, session_id: &SessionId) -> Result<Option<UserId>, sqlx::Error> {
    let row =
        sqlx::query("SELECT user_id FROM sessions WHERE id = $1").bind(session_id.as_str()).fetch_optional(db).await?;
    row.map(|r| r.try_get::<String, _>("user_id").map(UserId::from_trusted)).transpose()
}

/// Delete what can no longer matter: sessions past their expiry (no token of theirs can
/// verify: access tokens never outlive their session), sessions revoked before
/// `revoked_before`, and refresh tokens past their expiry. Returns rows deleted.
pub async fn purge(db: &sqlx::AnyPool, now: i64, revoked_before: i64) -> Result<u64, sqlx::Error> {
    let tokens = sqlx::query(
        "DELETE FROM refresh_tokens WHERE expires_at < $1 OR session_id IN \
         (SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $2)",
    )
    .bind(now)
    .bind(revoked_before)
    .execute(db)
    .await?;
    let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $2")
        .bind(now)
        .bind(revoked_before)
        .execute(db)
        .await?;
    let tombstones =
        sqlx::query("DELETE FROM session_tombstones WHERE revoked_at < $1").bind(revoked_before).execute(db).await?;
    Ok(tokens.rows_affected() + sessions.rows_affected() + tombstones.rows_affected())
}
