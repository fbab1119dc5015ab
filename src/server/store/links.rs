//! The `links` table: email verification and password reset links, stored as SHA-256 hashes.

use sqlx::{AnyExecutor, Row};

use crate::ids::UserId;

/// What a link is for; a link of one purpose never does the other's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
        }
    }
}

pub async fn insert<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    user_id: &UserId,
    purpose: Purpose,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO links (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(purpose.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// The user of a usable link (unused, unexpired, of this purpose), without using it.
pub async fn peek<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<UserId>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT user_id FROM links WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await?;
    user_of(row)
}

/// Use a link: one conditional update, so of two parallel uses exactly one gets the user.
pub async fn consume<'e>(
    db: impl AnyExecutor<'e>,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<UserId>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE links SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING user_id",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await?;
    user_of(row)
}

fn user_of(row: Option<sqlx::any::AnyRow>) -> Result<Option<UserId>, sqlx::Error> {
    row.map(|r| r.try_get::<String, _>("user_id").map(UserId::from_trusted)).transpose()
}

/// Spend every other link of the user for `purpose` (a reset ends the older reset links).
pub async fn spend_all<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    purpose: Purpose,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE links SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user_id.as_str())
        .bind(purpose.as_str())
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// When the user's newest link for `purpose` was made, if any.
pub async fn newest<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    purpose: Purpose,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT MAX(created_at) AS newest FROM links WHERE user_id = $1 AND purpose = $2")
        .bind(user_id.as_str())
        .bind(purpose.as_str())
        .fetch_one(db)
        .await?;
    row.try_get("newest")
}

/// Delete links expired before `before`.
pub async fn purge<'e>(db: impl AnyExecutor<'e>, before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM links WHERE expires_at < $1").bind(before).execute(db).await?;
    Ok(done.rows_affected())
}
