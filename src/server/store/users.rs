//! The `users` table.

use sqlx::any::AnyRow;
use sqlx::{AnyExecutor, Row};

use crate::dto::{Role, User};
use crate::ids::{Email, SessionId, UserId};
use crate::time::rfc3339;

/// A user as stored, with the password hash that must never leave the server.
// not Serialize: holds a secret.
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

// A macro, not a const: `concat!` keeps every query a `&'static str` (sqlx 0.9 wants SQL it can trust).
macro_rules! columns {
    () => {
        "id, email, name, role, created_at, password_hash, email_verified, disabled_at"
    };
}

fn from_row(row: &AnyRow) -> Result<UserRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        user: User {
            id: UserId::from_trusted(row.try_get::<String, _>("id")?),
            email: Email::from_trusted(row.try_get::<String, _>("email")?),
            name: row.try_get("name")?,
            role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("role {role:?}").into()))?,
            email_verified: row.try_get::<i64, _>("email_verified")? != 0,
            disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            created_at: rfc3339(row.try_get("created_at")?),
        },
        password_hash: row.try_get("password_hash")?,
    })
}

/// Insert a user; a taken email is the database's unique violation (see `is_unique_violation`).
/// `updated_at` stays 0: no instance has anything of a new user to forget.
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn insert<'e>(
    db: impl AnyExecutor<'e>,
    user: &User,
    password_hash: &str,
    created_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role, created_at, email_verified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id.as_str())
    .bind(user.email.as_str())
    .bind(user.name.as_deref())
    .bind(password_hash)
    .bind(user.role.as_str())
    .bind(created_at)
    .bind(i64::from(user.email_verified))
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn find_by_email<'e>(db: impl AnyExecutor<'e>, email: &Email) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE email = $1"))
        .bind(email.as_str())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn find_by_id<'e>(db: impl AnyExecutor<'e>, id: &UserId) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Where a page of users starts: after this `(created_at, id)`.
pub type Cursor = (i64, String);

/// Up to `limit` users whose email contains `q`, ordered by `created_at` then id, after
/// `after`. Each comes with its `(created_at, id)` for the next page's cursor.
pub async fn page<'e>(
    db: impl AnyExecutor<'e>,
    q: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<(User, Cursor)>, sqlx::Error> {
    let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let (after_at, after_id) = after.map_or((i64::MIN, String::new()), |(at, id)| (*at, id.clone()));
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE email LIKE $1 ESCAPE '\\' AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(pattern)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let cursor = (r.try_get("created_at")?, r.try_get("id")?);
            from_row(r).map(|rec| (rec.user, cursor))
        })
        .collect()
}

/// Take the user's row lock until the transaction ends (portable `SELECT … FOR UPDATE`):
/// what one sign-in decides about a user's sessions, the next one sees.
/// `false` when there is no such user.
pub async fn lock<'e>(db: impl AnyExecutor<'e>, id: &UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET role = role WHERE id = $1").bind(id.as_str()).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

/// Replace the password hash, but only if it is still `expected` (the one just verified) and
/// the session `sid` is still live: a compare-and-swap. `false` when either changed meanwhile.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn swap_password_hash<'e>(
    db: impl AnyExecutor<'e>,
    id: &UserId,
    expected: &str,
    password_hash: &str,
    sid: &SessionId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3 AND EXISTS ( \
         SELECT 1 FROM sessions WHERE sessions.id = $4 AND sessions.user_id = $2 \
         AND sessions.revoked_at IS NULL AND sessions.expires_at > $5)",
    )
    .bind(password_hash)
    .bind(id.as_str())
    .bind(expected)
    .bind(sid.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What an update changes; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub role: Option<Role>,
    /// `Some(true)` disables (from now), `Some(false)` enables.
    pub disabled: Option<bool>,
    pub email_verified: Option<bool>,
    pub password_hash: Option<&'a str>,
}

/// Apply `change` to the user and stamp `updated_at` (which tells other instances to forget
/// what they cached about the user); the user as it is now, or `None` for no such user.
pub async fn update<'e>(
    db: impl AnyExecutor<'e>,
    id: &UserId,
    change: &Change<'_>,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE users SET role = COALESCE($1, role), \
         disabled_at = CASE WHEN $2 = 1 THEN COALESCE(disabled_at, $5) WHEN $2 = 0 THEN NULL ELSE disabled_at END, \
         email_verified = COALESCE($3, email_verified), password_hash = COALESCE($4, password_hash), \
         updated_at = $5 WHERE id = $6 RETURNING ",
        columns!()
    ))
    .bind(change.role.map(Role::as_str))
    .bind(change.disabled.map(i64::from))
    .bind(change.email_verified.map(i64::from))
    .bind(change.password_hash)
    .bind(now)
    .bind(id.as_str())
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(|r| from_row(r).map(|rec| rec.user))
    .transpose()
}

/// Delete the account; its sessions, refresh tokens and links go with it (foreign keys).
pub async fn delete<'e>(db: impl AnyExecutor<'e>, id: &UserId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users WHERE id = $1").bind(id.as_str()).execute(db).await?;
    Ok(())
}

/// Take the row locks of every enabled admin, in one statement (so two transactions take them
/// in the same order), and count them: the last-admin rule then holds against parallel
/// demotions, which wait here for each other.
pub async fn lock_enabled_admins<'e>(db: impl AnyExecutor<'e>) -> Result<Vec<UserId>, sqlx::Error> {
    let rows = sqlx::query("UPDATE users SET role = role WHERE role = 'admin' AND disabled_at IS NULL RETURNING id")
        .fetch_all(db)
        .await?;
    rows.iter().map(|r| r.try_get::<String, _>("id").map(UserId::from_trusted)).collect()
}

/// Users changed at or after `since`, with when (see [`update`]).
pub async fn changed_since<'e>(db: impl AnyExecutor<'e>, since: i64) -> Result<Vec<(UserId, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, updated_at FROM users WHERE updated_at >= $1").bind(since).fetch_all(db).await?;
    rows.iter().map(|r| Ok((UserId::from_trusted(r.try_get::<String, _>("id")?), r.try_get("updated_at")?))).collect()
}
