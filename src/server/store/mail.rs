//! The `mail` table: the delivery queue, and the built-in outbox when there is no SMTP relay.

use sqlx::any::AnyRow;
use sqlx::{AnyExecutor, Row};

/// A mail as queued. Holds a live link until delivered: never logged.
pub struct MailRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub attempts: i64,
}

fn from_row(r: &AnyRow) -> Result<MailRow, sqlx::Error> {
    Ok(MailRow {
        id: r.try_get("id")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        attempts: r.try_get("attempts")?,
    })
}

/// Queue a mail (in the transaction that made its link); due at once, pointless after
/// `not_after`. Mail into the built-in outbox is `delivered` as it is written.
pub async fn enqueue<'e>(
    db: impl AnyExecutor<'e>,
    mail: &MailRow,
    not_after: i64,
    delivered: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail (id, recipient, subject, body, created_at, not_after, next_attempt_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $5, $7)",
    )
    .bind(&mail.id)
    .bind(&mail.recipient)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(mail.created_at)
    .bind(not_after)
    .bind(delivered.then_some(mail.created_at))
    .execute(db)
    .await?;
    Ok(())
}

/// Claim the oldest due mail for `lease` seconds: one conditional update, so two instances
/// never claim the same mail at once. A claim whose sender dies is due again when the lease ends.
pub async fn claim_due<'e, E: AnyExecutor<'e> + Copy>(
    db: E,
    now: i64,
    lease: i64,
) -> Result<Option<MailRow>, sqlx::Error> {
    let candidate = sqlx::query(
        "SELECT id FROM mail WHERE sent_at IS NULL AND next_attempt_at <= $1 AND not_after > $1 \
         ORDER BY next_attempt_at, created_at LIMIT 1",
    )
    .bind(now)
    .fetch_optional(db)
    .await?;
    let Some(candidate) = candidate else { return Ok(None) };
    let id: String = candidate.try_get("id")?;
    sqlx::query(
        "UPDATE mail SET next_attempt_at = $2, attempts = attempts + 1 \
         WHERE id = $1 AND sent_at IS NULL AND next_attempt_at <= $3 \
         RETURNING id, recipient, subject, body, created_at, attempts",
    )
    .bind(id)
    .bind(now + lease)
    .bind(now)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Mail not yet delivered (and not past its use).
pub async fn waiting<'e>(db: impl AnyExecutor<'e>) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM mail WHERE sent_at IS NULL AND body <> ''").fetch_one(db).await?;
    row.try_get("n")
}

/// Delivered: the body (and its link) is dropped.
pub async fn delivered<'e>(db: impl AnyExecutor<'e>, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mail SET sent_at = $2, body = '', last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// Not delivered: try again at `retry_at`, and remember why (the relay's words, no secret).
pub async fn failed<'e>(db: impl AnyExecutor<'e>, id: &str, retry_at: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mail SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND sent_at IS NULL")
        .bind(id)
        .bind(retry_at)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// The outbox, newest first (at most `limit`), optionally only to `recipient`.
pub async fn outbox<'e>(
    db: impl AnyExecutor<'e>,
    recipient: Option<&str>,
    limit: i64,
) -> Result<Vec<MailRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, recipient, subject, body, created_at, attempts FROM mail \
         WHERE ($1 IS NULL OR recipient = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(recipient)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Drop the bodies of undelivered mail past its use, and delete mail older than `before`.
pub async fn purge<'e, E: AnyExecutor<'e> + Copy>(db: E, now: i64, before: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE mail SET body = '', last_error = 'expired before delivery' WHERE sent_at IS NULL AND not_after < $1 AND body <> ''")
        .bind(now)
        .execute(db)
        .await?;
    let done = sqlx::query("DELETE FROM mail WHERE created_at < $1").bind(before).execute(db).await?;
    Ok(done.rows_affected())
}

/// Forget undelivered mail to an address (its account is gone, and so are its links).
pub async fn drop_pending_to<'e>(db: impl AnyExecutor<'e>, recipient: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM mail WHERE recipient = $1 AND sent_at IS NULL").bind(recipient).execute(db).await?;
    Ok(())
}
