//! The `users` table.

use sqlx::any::AnyRow;
use sqlx::{AnyExecutor, Row};

use crate::dto::{Role, User};
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
            id: row.try_get("id")?,
            email: row.try_get("email")?,
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
    id: &str,
    email: &str,
    name: Option<&str>,
    password_hash: &str,
    role: Role,
    created_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(created_at)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn find_by_email<'e>(db: impl AnyExecutor<'e>, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE email = $1"))
        .bind(email)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn find_by_id<'e>(db: impl AnyExecutor<'e>, id: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Every user, oldest first.
pub async fn list<'e>(db: impl AnyExecutor<'e>) -> Result<Vec<User>, sqlx::Error> {
    let rows =
        sqlx::query(concat!("SELECT ", columns!(), " FROM users ORDER BY created_at, email")).fetch_all(db).await?;
    rows.iter().map(|r| from_row(r).map(|rec| rec.user)).collect()
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn set_password_hash<'e>(
    db: impl AnyExecutor<'e>,
    id: &str,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
