//! The key ring (loaded from the database or the operator's key file, created on first
//! start, rotated by `tokenflow keys rotate`) and the background tasks that keep each
//! instance's view of keys and revocations fresh and the tables small.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::keys::{KeyMaterial, KeyRing, VerifyingKey};
use crate::seal::SealKey;
use crate::settings::AuthSettings;
use crate::store::keys::{KeyRow, Origin};
use crate::store::{self, Db, limits, sessions};
use crate::time::now;

use super::{Inner, KeySource};

/// How a private key is marked when it is stored encrypted.
const SEALED_PREFIX: &str = "sealed:v1:";
/// Revoked sessions stay this long before they are purged; far beyond any look-back.
const REVOKED_SESSION_RETENTION_SECS: i64 = 86_400;

/// The key ring: the operator's key, or the database's keys (creating the first one).
pub(super) async fn load_ring(db: &Db, settings: &AuthSettings, source: &KeySource) -> Result<KeyRing, String> {
    if let KeySource::Pem(pem) = source {
        return Ok(KeyRing::new(KeyMaterial::from_pem(pem)?, Vec::new()));
    }
    let kek = settings.key_encryption.as_ref();
    // A retired key verifies until every token it signed has expired.
    let horizon = now() - i64::try_from(settings.retired_key_lifetime_secs()).unwrap_or(0);
    let mut rows = store::keys::list_usable(&db.pool, horizon).await.map_err(|e| format!("loading keys: {e}"))?;
    if !rows.iter().any(|k| k.retired_at.is_none()) {
        let key = KeyMaterial::generate()?;
        let stored_private = store_private(&key, kek)?;
        // An empty ring gets its one bootstrap key: whoever wins the race, every instance then
        // reads the same keys. If a bootstrap key existed but every key has been retired, the
        // new key joins as a rotation would.
        for origin in [Origin::Bootstrap, Origin::Rotation] {
            let stored = store::keys::insert(&db.pool, &key.kid, &stored_private, &key.x, origin, now())
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
    let signer_row = rows.swap_remove(signer_index);
    let signer = open_private(db, &signer_row, kek).await?;
    let others = rows.iter().map(|k| VerifyingKey::from_x(&k.public_x)).collect::<Result<Vec<_>, _>>()?;
    Ok(KeyRing::new(signer, others))
}

/// The private part as it is stored: sealed under the key-encryption key when there is one.
fn store_private(key: &KeyMaterial, kek: Option<&SealKey>) -> Result<String, String> {
    match kek {
        Some(kek) => {
            let sealed = kek.seal(key.private_pem.as_bytes(), key.kid.as_bytes()).map_err(|e| e.to_string())?;
            Ok(format!("{SEALED_PREFIX}{sealed}"))
        }
        None => Ok(key.private_pem.to_string()),
    }
}

/// The signing key of a row. A plaintext key found while a key-encryption key is set is
/// encrypted in place, so turning encryption on protects the keys already stored.
async fn open_private(db: &Db, row: &KeyRow, kek: Option<&SealKey>) -> Result<KeyMaterial, String> {
    let stored = row.private_pem.as_deref().ok_or("the signing key has no private part")?;
    let key = match (stored.strip_prefix(SEALED_PREFIX), kek) {
        (Some(sealed), Some(kek)) => {
            let pem = kek.open(sealed, row.kid.as_bytes()).ok_or(
                "AUTH_KEY_ENCRYPTION_KEY_FILE does not open the stored signing key (wrong key-encryption key?)",
            )?;
            KeyMaterial::from_pem(std::str::from_utf8(&pem).map_err(|_| "sealed key is not PEM")?)?
        }
        (Some(_), None) => {
            return Err("the signing keys are encrypted at rest: set AUTH_KEY_ENCRYPTION_KEY_FILE".into());
        }
        (None, kek) => {
            let key = KeyMaterial::from_pem(stored)?;
            if kek.is_some() {
                store::keys::set_private(&db.pool, &key.kid, &store_private(&key, kek)?)
                    .await
                    .map_err(|e| format!("encrypting a stored key: {e}"))?;
                tracing::info!(kid = %key.kid, "encrypted a stored signing key at rest");
            }
            key
        }
    };
    if key.kid != row.kid {
        return Err(format!("stored key {} does not match its kid", row.kid));
    }
    Ok(key)
}

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
            sessions::revoked_since(&inner.db.pool, since).await.map_err(|e| e.to_string())
        };
        match polled {
            Ok(revoked) => {
                inner.sessions.mark_revoked(revoked.iter().map(String::as_str));
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
    let rows = sessions::purge(&inner.db.pool, now, now - REVOKED_SESSION_RETENTION_SECS).await?;
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
                    let sids = notification.payload().split(',').filter(|sid| uuid::Uuid::parse_str(sid).is_ok());
                    inner.sessions.mark_revoked(sids);
                }
                // The connection dropped: the poll covers the gap; reconnect.
                Ok(None) => {
                    tracing::warn!("revocation listener lost its connection; reconnecting");
                    break;
                }
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

/// Add a new signing key and retire the others, in one transaction; the retired keys' private
/// parts are deleted. Retired keys keep verifying (and stay in the JWKS) until every token they
/// signed has expired; every instance starts signing with the new key at its next key reload.
/// Nobody is logged out.
///
/// # Errors
/// A database error, with its reason.
pub async fn rotate_keys(db: &Db, key_encryption: Option<&SealKey>) -> Result<String, String> {
    let key = KeyMaterial::generate()?;
    let stored_private = store_private(&key, key_encryption)?;
    let now = now();
    let run = async {
        let mut tx = db.pool.begin().await?;
        store::keys::insert(&mut *tx, &key.kid, &stored_private, &key.x, Origin::Rotation, now).await?;
        let retired = store::keys::retire_all_but(&mut *tx, &key.kid, now).await?;
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(retired)
    };
    let retired = run.await.map_err(|e| format!("rotating keys: {e}"))?;
    tracing::info!(kid = %key.kid, retired, "rotated the signing key");
    Ok(key.kid)
}
