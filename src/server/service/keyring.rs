//! The key ring: loaded from the database (private keys sealed at rest when a key-encryption
//! key is set) or the operator's key file, created on first start, rotated by
//! `tokenflow keys rotate`.

use crate::error::KeyError;
use crate::ids::Kid;
use crate::keys::{KeyMaterial, KeyRing, VerifyingKey};
use crate::seal::SealKey;
use crate::settings::AuthSettings;
use crate::store::keys::{KeyRow, Origin};
use crate::store::{self, Db};
use crate::time::now;

use super::KeySource;

/// How a private key is marked when it is stored encrypted.
const SEALED_PREFIX: &str = "sealed:v1:";

/// The key ring: the operator's key, or the database's keys (creating the first one).
pub(super) async fn load_ring(db: &Db, settings: &AuthSettings, source: &KeySource) -> Result<KeyRing, KeyError> {
    if let KeySource::Pem(pem) = source {
        return Ok(KeyRing::new(KeyMaterial::from_pem(pem)?, Vec::new()));
    }
    let kek = settings.key_encryption.as_ref();
    // A retired key verifies until every token it signed has expired.
    let horizon = now() - i64::try_from(settings.retired_key_lifetime_secs()).unwrap_or(0);
    let mut rows = store::keys::list_usable(&db.pool, horizon).await?;
    if !rows.iter().any(|k| k.retired_at.is_none()) {
        let key = KeyMaterial::generate()?;
        let stored_private = store_private(&key, kek)?;
        // An empty ring gets its one bootstrap key: whoever wins the race, every instance then
        // reads the same keys. If a bootstrap key existed but every key has been retired, the
        // new key joins as a rotation would.
        for origin in [Origin::Bootstrap, Origin::Rotation] {
            let stored = store::keys::insert(&db.pool, &key.kid, &stored_private, &key.x, origin, now()).await?;
            if stored {
                tracing::info!(kid = %key.kid, "generated a signing key");
            }
            rows = store::keys::list_usable(&db.pool, horizon).await?;
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
        .ok_or(KeyError::NoSigningKey)?;
    let signer_row = rows.swap_remove(signer_index);
    let signer = open_private(db, &signer_row, kek).await?;
    let others = rows.iter().map(|k| VerifyingKey::from_x(&k.public_x)).collect::<Result<Vec<_>, _>>()?;
    Ok(KeyRing::new(signer, others))
}

/// The private part as it is stored: sealed under the key-encryption key when there is one.
fn store_private(key: &KeyMaterial, kek: Option<&SealKey>) -> Result<String, KeyError> {
    match kek {
        Some(kek) => {
            let sealed =
                kek.seal(key.private_pem.as_bytes(), key.kid.as_str().as_bytes()).map_err(|_| KeyError::Seal)?;
            Ok(format!("{SEALED_PREFIX}{sealed}"))
        }
        None => Ok(key.private_pem.to_string()),
    }
}

/// The signing key of a row. A plaintext key found while a key-encryption key is set is
/// encrypted in place, so turning encryption on protects the keys already stored.
async fn open_private(db: &Db, row: &KeyRow, kek: Option<&SealKey>) -> Result<KeyMaterial, KeyError> {
    let stored = row.private_pem.as_deref().ok_or(KeyError::NoPrivatePart)?;
    let key = match (stored.strip_prefix(SEALED_PREFIX), kek) {
        (Some(sealed), Some(kek)) => {
            let pem = kek.open(sealed, row.kid.as_str().as_bytes()).ok_or(KeyError::EncryptionKeyWrong)?;
            KeyMaterial::from_pem(std::str::from_utf8(&pem).map_err(|_| KeyError::NotEd25519Pem)?)?
        }
        (Some(_), None) => return Err(KeyError::EncryptionKeyMissing),
        (None, kek) => {
            let key = KeyMaterial::from_pem(stored)?;
            if kek.is_some() {
                store::keys::set_private(&db.pool, &key.kid, &store_private(&key, kek)?).await?;
                tracing::info!(kid = %key.kid, "encrypted a stored signing key at rest");
            }
            key
        }
    };
    if key.kid != row.kid {
        return Err(KeyError::KidMismatch(row.kid.to_string()));
    }
    Ok(key)
}

/// Add a new signing key and retire the others, in one transaction; the retired keys' private
/// parts are deleted. Retired keys keep verifying (and stay in the JWKS) until every token they
/// signed has expired; every instance starts signing with the new key at its next key reload.
/// Nobody is logged out.
///
/// # Errors
/// A database error, or no randomness.
pub async fn rotate_keys(db: &Db, key_encryption: Option<&SealKey>) -> Result<Kid, KeyError> {
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
    let retired = run.await?;
    tracing::info!(kid = %key.kid, retired, "rotated the signing key");
    Ok(key.kid)
}
