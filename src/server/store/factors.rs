//! Second factors and sign-in challenges: `totp_factors`, `recovery_codes`, `passkeys`,
//! `auth_challenges`. Every "use once" is one conditional statement, so of two parallel uses
//! exactly one succeeds.

use sqlx::{AnyExecutor, Row};

use crate::ids::{SessionId, UserId};

/// An account's authenticator app.
#[derive(Clone)]
pub struct TotpRow {
    /// Base32, or sealed (see the service).
    pub secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

/// Not the secret.
impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow").field("confirmed", &self.confirmed).finish_non_exhaustive()
    }
}

/// Store a new, unconfirmed secret; replaces an unconfirmed one, never a confirmed one.
/// Returns `false` when the account already has a confirmed app.
pub async fn put_pending_totp<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    secret: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0 \
         WHERE totp_factors.confirmed_at IS NULL",
    )
    .bind(user_id.as_str())
    .bind(secret)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find_totp<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<Option<TotpRow>, sqlx::Error> {
    let row = sqlx::query("SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = $1")
        .bind(user_id.as_str())
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(TotpRow {
            secret: r.try_get("secret")?,
            confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
            last_step: r.try_get("last_step")?,
        })
    })
    .transpose()
}

/// Replace a stored secret's text (sealing one stored in plaintext).
pub async fn reseal_totp<'e>(db: impl AnyExecutor<'e>, user_id: &UserId, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE totp_factors SET secret = $1 WHERE user_id = $2")
        .bind(secret)
        .bind(user_id.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Accept `step` of the account's app: only if it is newer than every step accepted before
/// (and, with `confirming`, only for a pending app, which this confirms; otherwise only for
/// a confirmed one). `false`: the step was taken meanwhile, or the app changed.
pub async fn accept_totp_step<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    step: i64,
    confirming: bool,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let query = if confirming {
        sqlx::query(
            "UPDATE totp_factors SET last_step = $1, confirmed_at = $3 \
             WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NULL",
        )
        .bind(step)
        .bind(user_id.as_str())
        .bind(now)
    } else {
        sqlx::query(
            "UPDATE totp_factors SET last_step = $1 WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user_id.as_str())
    };
    Ok(query.execute(db).await?.rows_affected() == 1)
}

/// Remove the account's app and its recovery codes. Returns whether there was an app.
pub async fn delete_totp<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1").bind(user_id.as_str()).execute(db).await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_recovery_codes<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id.as_str()).execute(db).await?;
    Ok(())
}

pub async fn insert_recovery_code<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    code_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
        .bind(user_id.as_str())
        .bind(code_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Spend a recovery code: `true` exactly once per unused code.
pub async fn use_recovery_code<'e>(
    db: impl AnyExecutor<'e>,
    user_id: &UserId,
    code_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now)
            .bind(user_id.as_str())
            .bind(code_hash)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn recovery_codes_left<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id.as_str())
        .fetch_one(db)
        .await?
        .try_get("n")
}

/// A stored passkey.
#[derive(Debug, Clone)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub credential: String,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn passkey_from_row(r: &sqlx::any::AnyRow) -> Result<PasskeyRow, sqlx::Error> {
    Ok(PasskeyRow {
        id: r.try_get("id")?,
        user_id: UserId::from_trusted(r.try_get::<String, _>("user_id")?),
        name: r.try_get("name")?,
        credential: r.try_get("credential")?,
        sign_count: r.try_get("sign_count")?,
        backup_eligible: r.try_get::<i64, _>("backup_eligible")? != 0,
        backed_up: r.try_get::<i64, _>("backed_up")? != 0,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

macro_rules! passkey_columns {
    () => {
        "id, user_id, name, credential, sign_count, backup_eligible, backed_up, created_at, last_used_at"
    };
}

/// Insert a passkey; a credential id registered before (to anyone) is a unique violation.
pub async fn insert_passkey<'e>(db: impl AnyExecutor<'e>, row: &PasskeyRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO passkeys (id, user_id, name, credential, sign_count, backup_eligible, backed_up, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(row.user_id.as_str())
    .bind(&row.name)
    .bind(&row.credential)
    .bind(row.sign_count)
    .bind(i64::from(row.backup_eligible))
    .bind(i64::from(row.backed_up))
    .bind(row.created_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn passkeys_of<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<Vec<PasskeyRow>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        passkey_columns!(),
        " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id.as_str())
    .fetch_all(db)
    .await?;
    rows.iter().map(passkey_from_row).collect()
}

pub async fn find_passkey<'e>(db: impl AnyExecutor<'e>, id: &str) -> Result<Option<PasskeyRow>, sqlx::Error> {
    let row = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(passkey_from_row).transpose()
}

/// After a use: the updated credential (counter, backup state), if the passkey still exists
/// and its counter did not move past `sign_count` meanwhile (a parallel use of a clone).
pub async fn passkey_used<'e>(
    db: impl AnyExecutor<'e>,
    row: &PasskeyRow,
    previous_count: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE passkeys SET credential = $1, sign_count = $2, backed_up = $3, last_used_at = $4 \
         WHERE id = $5 AND (sign_count = $6 OR sign_count = 0)",
    )
    .bind(&row.credential)
    .bind(row.sign_count)
    .bind(i64::from(row.backed_up))
    .bind(now)
    .bind(&row.id)
    .bind(previous_count)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_passkey<'e>(db: impl AnyExecutor<'e>, user_id: &UserId, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2")
        .bind(user_id.as_str())
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_passkeys<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1").bind(user_id.as_str()).execute(db).await?;
    Ok(done.rows_affected())
}

/// Whether the account has a second factor: a confirmed app or a passkey.
pub async fn has_second_factor<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
         + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1) AS n",
    )
    .bind(user_id.as_str())
    .fetch_one(db)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// What a challenge is for; one of one purpose is never accepted for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// After the password, before the tokens.
    SecondFactor,
    /// A sign-in with a passkey alone.
    PasskeySignIn,
    /// Registering a passkey, for the session that asked.
    PasskeyRegistration,
    /// A passkey step-up, for the session that asked.
    StepUp,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "second_factor",
            Purpose::PasskeySignIn => "passkey_sign_in",
            Purpose::PasskeyRegistration => "passkey_registration",
            Purpose::StepUp => "step_up",
        }
    }
}

/// A challenge row.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub purpose: Purpose,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    /// Factors already proven (space-separated `amr`).
    pub amr: String,
    pub dpop_jkt: Option<String>,
    /// A WebAuthn ceremony's state, as JSON.
    pub state: Option<String>,
    pub expires_at: i64,
}

pub async fn insert_challenge<'e>(
    db: impl AnyExecutor<'e>,
    id_hash: &str,
    challenge: &Challenge,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO auth_challenges (id_hash, purpose, user_id, session_id, amr, dpop_jkt, state, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id_hash)
    .bind(challenge.purpose.as_str())
    .bind(challenge.user_id.as_ref().map(UserId::as_str))
    .bind(challenge.session_id.as_ref().map(SessionId::as_str))
    .bind(&challenge.amr)
    .bind(challenge.dpop_jkt.as_deref())
    .bind(challenge.state.as_deref())
    .bind(challenge.expires_at)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Count an attempt at a live challenge of `purpose` and return it; `None` when it is
/// unknown, of another purpose, expired or out of attempts. One conditional update: a
/// parallel burst gets at most `max_attempts` rows back between them.
pub async fn attempt_challenge<'e>(
    db: impl AnyExecutor<'e>,
    id_hash: &str,
    purpose: Purpose,
    max_attempts: i64,
    now: i64,
) -> Result<Option<Challenge>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE auth_challenges SET attempts = attempts + 1 \
         WHERE id_hash = $1 AND purpose = $2 AND attempts < $3 AND expires_at > $4 \
         RETURNING user_id, session_id, amr, dpop_jkt, state, expires_at",
    )
    .bind(id_hash)
    .bind(purpose.as_str())
    .bind(max_attempts)
    .bind(now)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Challenge {
            purpose,
            user_id: r.try_get::<Option<String>, _>("user_id")?.map(UserId::from_trusted),
            session_id: r.try_get::<Option<String>, _>("session_id")?.map(SessionId::from_trusted),
            amr: r.try_get("amr")?,
            dpop_jkt: r.try_get("dpop_jkt")?,
            state: r.try_get("state")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Use a challenge up: `true` for exactly one of any number of parallel callers.
pub async fn consume_challenge<'e>(db: impl AnyExecutor<'e>, id_hash: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM auth_challenges WHERE id_hash = $1").bind(id_hash).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

/// Every open challenge of an account (its factors were reset).
pub async fn delete_challenges_of<'e>(db: impl AnyExecutor<'e>, user_id: &UserId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_challenges WHERE user_id = $1").bind(user_id.as_str()).execute(db).await?;
    Ok(())
}

/// Remove dead challenges.
pub async fn purge_challenges(db: &sqlx::AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM auth_challenges WHERE expires_at <= $1").bind(now).execute(db).await?;
    Ok(done.rows_affected())
}
