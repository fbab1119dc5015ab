//! The key ring (loaded from the database or the operator's key file, created on first
//! start, rotated by `tokenflow keys rotate`) and the background task that keeps each
//! instance's view of keys and revocations fresh.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::keys::{KeyMaterial, KeyRing};
use crate::settings::AuthSettings;
use crate::store::keys::Origin;
use crate::store::{self, Db, limits, sessions};
use crate::time::now;

use super::{Inner, KeySource};

/// How far back each poll looks for revocations: generous, so that late commits and modest
/// clock differences between instances are still seen.
const REVOCATION_LOOKBACK_SECS: i64 = 60;

/// The key ring: the operator's key, or the database's keys (creating the first one).
pub(super) async fn load_ring(db: &Db, settings: &AuthSettings, source: &KeySource) -> Result<KeyRing, String> {
    if let KeySource::Pem(pem) = source {
        return Ok(KeyRing::new(KeyMaterial::from_pem(pem)?, Vec::new()));
    }
    // A retired key verifies until every token it signed has expired.
    let horizon = now() - i64::try_from(settings.retired_key_lifetime_secs()).unwrap_or(0);
    let mut rows = store::keys::list_usable(&db.pool, horizon).await.map_err(|e| format!("loading keys: {e}"))?;
    if !rows.iter().any(|k| k.retired_at.is_none()) {
        let key = KeyMaterial::generate()?;
        // An empty ring gets its one bootstrap key: whoever wins the race, every instance then
        // reads the same keys. If a bootstrap key existed but every key has been retired, the
        // new key joins as a rotation would.
        for origin in [Origin::Bootstrap, Origin::Rotation] {
            let stored = store::keys::insert(&db.pool, &key.kid, &key.private_pem, &key.x, origin, now())
                .await
                .map_err(|e| format!("storing a new key: {e}"))?;
            if stored {
                tracing::info!(kid = %key.kid, "generated a signing key");
            }
            rows = store::keys::list_usable(&db.pool, horizon).await.map_err(|e| format!("loading keys: {e}"))?;
            if rows.iter().any(|k| k.retired_at.is_none()) {
                break;
            }
        }
    }
    let signer_index = rows
        .iter()
        .enumerate()
        .filter(|(_, k)| k.retired_at.is_none())
        .max_by(|(_, a), (_, b)| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
        .map(|(i, _)| i)
        .ok_or("no signing key")?;
    let signer = KeyMaterial::from_pem(&rows.swap_remove(signer_index).private_pem)?;
    let others = rows.iter().map(|k| KeyMaterial::from_pem(&k.private_pem)).collect::<Result<Vec<_>, _>>()?;
    Ok(KeyRing::new(signer, others))
}

/// Keep this instance's view fresh: revocations made elsewhere, rotated keys, old counters.
pub(super) async fn background(inner: Weak<Inner>) {
    const PRUNE_EVERY: Duration = Duration::from_secs(60);
    let (mut keys_reloaded, mut pruned) = (Instant::now(), Instant::now());
    loop {
        let Some(poll) = inner.upgrade().map(|i| i.settings.revocation_poll) else { return };
        tokio::time::sleep(poll).await;
        let Some(inner) = inner.upgrade() else { return };
        match sessions::revoked_since(&inner.db.pool, now() - REVOCATION_LOOKBACK_SECS).await {
            Ok(revoked) => inner.sessions.mark_revoked(revoked.iter().map(String::as_str)),
            Err(e) => tracing::warn!(error = %e, "polling revocations failed"),
        }
        if keys_reloaded.elapsed() >= inner.settings.key_reload {
            keys_reloaded = Instant::now();
            if let Err(e) = inner.reload_keys().await {
                tracing::warn!(error = %e, "reloading keys failed");
            }
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            let keep = i64::try_from(inner.settings.login_window_secs.max(120)).unwrap_or(i64::MAX);
            if let Err(e) = limits::prune(&inner.db.pool, now() - keep).await {
                tracing::warn!(error = %e, "pruning throttling counters failed");
            }
        }
    }
}

/// Follow revocations announced by other instances (PostgreSQL LISTEN), so they take effect
/// here within milliseconds instead of at the next poll. Reconnects by itself; what it misses
/// while disconnected, the poll catches.
pub(super) async fn listen_for_revocations(inner: Weak<Inner>) {
    let Some(db) = inner.upgrade().map(|i| i.db.clone()) else { return };
    let mut listener = match db.revocation_listener().await {
        Ok(Some(listener)) => listener,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot LISTEN for revocations; relying on the poll");
            return;
        }
    };
    loop {
        match listener.recv().await {
            Ok(notification) => {
                let Some(inner) = inner.upgrade() else { return };
                inner.sessions.mark_revoked(notification.payload().split(','));
            }
            Err(e) => {
                tracing::warn!(error = %e, "revocation listener lost its connection; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Add a new signing key and retire the others, in one transaction. Retired keys keep
/// verifying (and stay in the JWKS) until every token they signed has expired; every instance
/// starts signing with the new key at its next key reload. Nobody is logged out.
///
/// # Errors
/// A database error, with its reason.
pub async fn rotate_keys(db: &Db) -> Result<String, String> {
    let key = KeyMaterial::generate()?;
    let now = now();
    let run = async {
        let mut tx = db.pool.begin().await?;
        store::keys::insert(&mut *tx, &key.kid, &key.private_pem, &key.x, Origin::Rotation, now).await?;
        let retired = store::keys::retire_all_but(&mut *tx, &key.kid, now).await?;
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(retired)
    };
    let retired = run.await.map_err(|e| format!("rotating keys: {e}"))?;
    tracing::info!(kid = %key.kid, retired, "rotated the signing key");
    Ok(key.kid)
}
