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
        "id, email, name, role, created_at, password_hash"
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
            created_at: rfc3339(row.try_get("created_at")?),
        },
        password_hash: row.try_get("password_hash")?,
    })
}

/// Insert a user; a taken email is the database's unique violation (see `is_unique_violation`).
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn insert<'e>(
    db: impl AnyExecutor<'e>,
    id: &UserId,
    email: &Email,
    name: Option<&str>,
    password_hash: &str,
    role: Role,
    created_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id.as_str())
        .bind(email.as_str())
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(created_at)
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
pub async fn lock<'e>(db: impl AnyExecutor<'e>, id: &UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET role = role WHERE id = $1").bind(id.as_str()).execute(db).await?;
    Ok(())
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

/// Set the role of the account with this (normalised) email; the user, or `None`.
pub async fn set_role_by_email<'e>(
    db: impl AnyExecutor<'e>,
    email: &Email,
    role: Role,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(concat!("UPDATE users SET role = $1 WHERE email = $2 RETURNING ", columns!()))
        .bind(role.as_str())
        .bind(email.as_str())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(|r| from_row(r).map(|rec| rec.user))
        .transpose()
}
