//! The `audit_events` table: security events, each written in the transaction of its change.

use sqlx::any::AnyRow;
use sqlx::{AnyExecutor, Row};

use crate::dto::{AuditEvent, EventType};
use crate::ids::{SessionId, UserId};
use crate::time::rfc3339;
use crate::web::RequestMeta;

/// An event to record. Nothing secret goes in: no password, token, link or email.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub kind: EventType,
    pub user_id: Option<&'a UserId>,
    pub actor_id: Option<&'a UserId>,
    pub meta: &'a RequestMeta,
    pub session_id: Option<&'a SessionId>,
    pub detail: Option<String>,
}

impl<'a> NewEvent<'a> {
    /// The event happened in (or to) this session.
    #[must_use]
    pub fn in_session(mut self, sid: &'a SessionId) -> Self {
        self.session_id = Some(sid);
        self
    }

    /// Someone else did it: an admin (or `None`, the operator, who has no account).
    #[must_use]
    pub fn by(mut self, actor: Option<&'a UserId>) -> Self {
        self.actor_id = actor;
        self
    }

    /// A plain-words detail. Never a secret or an email.
    #[must_use]
    pub fn detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }
}

const MAX_USER_AGENT_CHARS: usize = 256;

pub async fn insert<'e>(db: impl AnyExecutor<'e>, event: &NewEvent<'_>, now: i64) -> Result<(), sqlx::Error> {
    let user_agent =
        event.meta.user_agent.as_deref().map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    sqlx::query(
        "INSERT INTO audit_events (id, at, user_id, actor_id, type, ip, user_agent, session_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now)
    .bind(event.user_id.map(UserId::as_str))
    .bind(event.actor_id.map(UserId::as_str))
    .bind(event.kind.as_str())
    .bind(event.meta.ip.map(|ip| ip.to_string()))
    .bind(user_agent)
    .bind(event.session_id.map(SessionId::as_str))
    .bind(event.detail.as_deref())
    .execute(db)
    .await?;
    Ok(())
}

/// Where a page of events starts: before this `(at, id)`.
pub type Cursor = (i64, String);

/// Which events a page holds.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub user_id: Option<&'a str>,
    pub kind: Option<EventType>,
    /// Leave out the events only admins see (`account_deleted`, `key_retired`).
    pub owner_view: bool,
}

/// Up to `limit` events newest first, before `before`, each with its cursor.
pub async fn page<'e>(
    db: impl AnyExecutor<'e>,
    filter: &Filter<'_>,
    before: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<(AuditEvent, Cursor)>, sqlx::Error> {
    let (before_at, before_id) = before.map_or((i64::MAX, String::new()), |(at, id)| (*at, id.clone()));
    let rows = sqlx::query(
        "SELECT id, at, user_id, actor_id, type, ip, user_agent, session_id, detail FROM audit_events \
         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR type = $2) \
         AND ($3 = 0 OR type NOT IN ('account_deleted', 'key_retired')) \
         AND (at < $4 OR (at = $4 AND ($5 = '' OR id < $5))) \
         ORDER BY at DESC, id DESC LIMIT $6",
    )
    .bind(filter.user_id)
    .bind(filter.kind.map(EventType::as_str))
    .bind(i64::from(filter.owner_view))
    .bind(before_at)
    .bind(before_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let cursor = (r.try_get("at")?, r.try_get("id")?);
            from_row(r).map(|event| (event, cursor))
        })
        .collect()
}

fn from_row(r: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let kind: String = r.try_get("type")?;
    Ok(AuditEvent {
        id: r.try_get("id")?,
        at: rfc3339(r.try_get("at")?),
        kind: EventType::parse(&kind).ok_or_else(|| sqlx::Error::Decode(format!("event type {kind:?}").into()))?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        session_id: r.try_get("session_id")?,
        detail: r.try_get("detail")?,
        user_id: r.try_get("user_id")?,
        actor_id: r.try_get("actor_id")?,
    })
}

/// How many events of `kind` the user has since `since` (to record a throttled login once per window).
pub async fn count_since<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    kind: EventType,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE user_id = $1 AND type = $2 AND at >= $3")
        .bind(user_id.as_str())
        .bind(kind.as_str())
        .bind(since)
        .fetch_one(db)
        .await?;
    row.try_get("n")
}

/// Delete events older than `before` (`AUTH_AUDIT_RETENTION_DAYS`).
pub async fn purge<'e>(db: impl AnyExecutor<'e>, before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(before).execute(db).await?;
    Ok(done.rows_affected())
}
