//! The background tasks that keep each instance's view fresh and the tables small: the
//! revocation poll, the LISTEN for other instances' revocations, and the maintenance loop
//! (key reloads, purges).

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::ids::{SessionId, UserId};
use crate::store::{self, audit, limits, links, mail, sessions, users};
use crate::time::now;

use super::{Inner, KeySource};

/// Revoked sessions stay this long before they are purged; far beyond any look-back.
const REVOKED_SESSION_RETENTION_SECS: i64 = 86_400;
/// Mail (the outbox, and delivered mail without its body) is kept a week.
const MAIL_RETENTION_SECS: i64 = 7 * 86_400;

/// Follow revocations made by other instances. Each poll looks back from the start of the
/// last *successful* poll (minus the look-back, for late commits and clock skew): a poll that
/// fails widens the next one instead of losing what happened meanwhile. An instance that
/// could not poll for longer than the look-back forgets every cached session: it re-reads
/// each on next use rather than trust entries that may be stale.
pub(super) async fn poll_revocations(inner: Weak<Inner>) {
    let mut last_success = Instant::now();
    let mut watermark = now();
    loop {
        let Some(poll) = inner.upgrade().map(|i| i.settings.revocation_poll) else { return };
        tokio::time::sleep(poll).await;
        let Some(inner) = inner.upgrade() else { return };
        let lookback = inner.settings.revocation_lookback;
        let started = now();
        let polled = if inner.partitioned() {
            Err("simulated partition".to_string())
        } else {
            let since = watermark - i64::try_from(lookback.as_secs()).unwrap_or(0).max(1);
            poll_changes(&inner, since).await.map_err(|e| e.to_string())
        };
        match polled {
            Ok(changes) => {
                inner.sessions.mark_revoked(&changes.revoked);
                inner.sessions.forget_users(&changes.users);
                if changes.key_withdrawn
                    && let Err(e) = inner.reload_keys().await
                {
                    tracing::warn!(error = %e, "reloading keys after a withdrawal failed");
                }
                watermark = started;
                last_success = Instant::now();
            }
            Err(e) => {
                tracing::warn!(error = %e, "polling revocations failed");
                if last_success.elapsed() > lookback {
                    tracing::warn!("no revocation poll for longer than the look-back: forgetting cached sessions");
                    inner.sessions.clear();
                }
            }
        }
    }
}

/// What other instances changed since a time.
struct Changes {
    revoked: Vec<SessionId>,
    /// Users changed, and when.
    users: Vec<(UserId, i64)>,
    key_withdrawn: bool,
}

async fn poll_changes(inner: &Inner, since: i64) -> Result<Changes, sqlx::Error> {
    let pool = &inner.db.pool;
    Ok(Changes {
        revoked: sessions::revoked_since(pool, since).await?,
        users: users::changed_since(pool, since).await?,
        key_withdrawn: store::keys::withdrawn_since(pool, since).await?,
    })
}

/// Reload keys (to follow a rotation made elsewhere) and purge what can no longer matter:
/// throttle rows past their windows, dead sessions and refresh tokens, keys past their horizon.
pub(super) async fn maintain(inner: Weak<Inner>) {
    let (mut keys_reloaded, mut purged) = (Instant::now(), Instant::now());
    loop {
        let Some(tick) = inner.upgrade().map(|i| i.settings.key_reload.min(i.settings.purge_interval)) else {
            return;
        };
        tokio::time::sleep(tick.min(Duration::from_secs(1))).await;
        let Some(inner) = inner.upgrade() else { return };
        if keys_reloaded.elapsed() >= inner.settings.key_reload {
            keys_reloaded = Instant::now();
            if let Err(e) = inner.reload_keys().await {
                tracing::warn!(error = %e, "reloading keys failed");
            }
        }
        if purged.elapsed() >= inner.settings.purge_interval {
            purged = Instant::now();
            if let Err(e) = purge(&inner).await {
                tracing::warn!(error = %e, "purging old rows failed");
            }
        }
    }
}

async fn purge(inner: &Inner) -> Result<(), sqlx::Error> {
    let s = &inner.settings;
    let now = now();
    // Counters: the longest window is the password-change hour or the login window.
    let keep = i64::try_from(s.login_window_secs.max(3600)).unwrap_or(i64::MAX);
    limits::prune(&inner.db.pool, now - keep).await?;
    let pool = &inner.db.pool;
    let rows = sessions::purge(pool, now, now - REVOKED_SESSION_RETENTION_SECS).await?
        + links::purge(pool, now - REVOKED_SESSION_RETENTION_SECS).await?
        + mail::purge(pool, now, now - MAIL_RETENTION_SECS).await?
        + store::factors::purge_challenges(pool, now).await?
        + audit::purge(pool, now - i64::try_from(s.audit_retention_days.saturating_mul(86_400)).unwrap_or(i64::MAX))
            .await?;
    let keys = if matches!(inner.key_source, KeySource::Database) {
        let horizon = now - i64::try_from(s.retired_key_lifetime_secs()).unwrap_or(0);
        store::keys::delete_retired(&inner.db.pool, horizon).await?
    } else {
        0
    };
    if rows + keys > 0 {
        tracing::info!(rows, keys, "purged expired and revoked rows");
    }
    Ok(())
}

/// Follow revocations announced by other instances (PostgreSQL LISTEN), so they take effect
/// here within milliseconds instead of at the next poll. Reconnects with backoff; what it
/// misses meanwhile, the poll catches. Payloads that are not session ids are ignored.
pub(super) async fn listen_for_revocations(inner: Weak<Inner>) {
    const MAX_BACKOFF: Duration = Duration::from_secs(30);
    let mut backoff = Duration::from_millis(500);
    loop {
        let Some(db) = inner.upgrade().map(|i| i.db.clone()) else { return };
        let mut listener = match db.revocation_listener().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for revocations; relying on the poll, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(inner) = inner.upgrade() else { return };
                    if inner.partitioned() {
                        continue;
                    }
                    let sids: Vec<SessionId> = notification.payload().split(',').filter_map(SessionId::parse).collect();
                    inner.sessions.mark_revoked(&sids);
                }
                // The connection dropped and sqlx has already reconnected and listens again
                // (what was announced meanwhile, the poll catches): keep going.
                Ok(None) => tracing::warn!("revocation listener lost its connection; reconnected"),
                // Reconnecting failed: back off, then start over.
                Err(e) => {
                    tracing::warn!(error = %e, "revocation listener failed; reconnecting");
                    break;
                }
            }
        }
        if inner.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
