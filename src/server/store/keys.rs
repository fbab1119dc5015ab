//! The `signing_keys` table: the key ring every instance shares.

use sqlx::{AnyExecutor, Row};

use crate::ids::Kid;

/// A stored key.
// Not Serialize: holds the private key.
pub struct KeyRow {
    pub kid: Kid,
    /// PKCS#8 PEM or `sealed:v1:…`; `None` once the key stopped signing.
    pub private_pem: Option<String>,
    pub public_x: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// Keys that still sign, or retired after `retired_after` (so they still verify); never a
/// withdrawn one.
pub async fn list_usable<'e>(db: impl AnyExecutor<'e>, retired_after: i64) -> Result<Vec<KeyRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kid, private_pem, public_x, created_at, retired_at FROM signing_keys \
         WHERE withdrawn_at IS NULL AND (retired_at IS NULL OR retired_at > $1) ORDER BY created_at, kid",
    )
    .bind(retired_after)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                kid: Kid::from_trusted(r.try_get::<String, _>("kid")?),
                private_pem: r.try_get("private_pem")?,
                public_x: r.try_get("public_x")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
            })
        })
        .collect()
}

/// Why a key is added.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// The first key of an empty ring; at most one ever exists.
    Bootstrap,
    Rotation,
}

/// Add a key; `false` when another instance's bootstrap key won the race.
pub async fn insert<'e>(
    db: impl AnyExecutor<'e>,
    kid: &Kid,
    private_pem: &str,
    public_x: &str,
    origin: Origin,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let origin = match origin {
        Origin::Bootstrap => "bootstrap",
        Origin::Rotation => "rotation",
    };
    let done = sqlx::query(
        "INSERT INTO signing_keys (kid, private_pem, public_x, origin, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(kid.as_str())
    .bind(private_pem)
    .bind(public_x)
    .bind(origin)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stop every key but `keep` from signing, and delete their private parts: a retired key
/// only verifies, and an instance still signing with it until its next reload holds it in
/// memory already.
pub async fn retire_all_but<'e>(db: impl AnyExecutor<'e>, keep: &Kid, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE signing_keys SET retired_at = $1, private_pem = NULL WHERE kid <> $2 AND retired_at IS NULL",
    )
    .bind(now)
    .bind(keep.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Replace a key's stored private part (to encrypt a plaintext one at rest).
pub async fn set_private<'e>(db: impl AnyExecutor<'e>, kid: &Kid, private_pem: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE signing_keys SET private_pem = $1 WHERE kid = $2 AND private_pem IS NOT NULL")
        .bind(private_pem)
        .bind(kid.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Delete keys retired before `retired_before`: no live token can carry their `kid`.
pub async fn delete_retired<'e>(db: impl AnyExecutor<'e>, retired_before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM signing_keys WHERE retired_at < $1 AND withdrawn_at IS NULL")
        .bind(retired_before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Withdraw a key (compromised): it stops signing and verifying at once, leaves the JWKS, and
/// its private part is deleted. `Some(was_signing)`, or `None` for no such key. (A key retired
/// in this very second also reads as signing: the caller then rotates once more than needed.)
pub async fn withdraw<'e>(db: impl AnyExecutor<'e>, kid: &Kid, now: i64) -> Result<Option<bool>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE signing_keys SET withdrawn_at = $2, retired_at = COALESCE(retired_at, $2), private_pem = NULL \
         WHERE kid = $1 AND withdrawn_at IS NULL RETURNING retired_at",
    )
    .bind(kid.as_str())
    .bind(now)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get::<i64, _>("retired_at").map(|at| at == now)).transpose()
}

/// `true` when a key was withdrawn at or after `since` (every instance then reloads its ring).
pub async fn withdrawn_since<'e>(db: impl AnyExecutor<'e>, since: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM signing_keys WHERE withdrawn_at >= $1")
        .bind(since)
        .fetch_one(db)
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
