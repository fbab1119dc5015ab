//! Storage on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Why `Any` and runtime queries rather than `query!` and a trait with two implementations:
//! the schema and every query are plain SQL that both databases accept (`$n` placeholders,
//! `RETURNING`, `ON CONFLICT`), so one set of small named functions serves both and there is
//! nothing to keep in sync. The price: `Any` decodes only integers, floats, text and bytes,
//! so times are Unix seconds, and there is no compile-time checking of queries; the
//! integration suite runs every query on both databases instead.

pub mod audit;
pub mod factors;
pub mod keys;
pub mod limits;
pub mod links;
pub mod mail;
pub mod sessions;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// # Errors
    /// When the URL names neither SQLite nor PostgreSQL.
    pub fn from_url(url: &str) -> Result<Backend, crate::error::InvalidSetting> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(crate::error::InvalidSetting::new("DATABASE_URL must start with sqlite: or postgres://"))
        }
    }
}

/// The connection pool and what it talks to.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// For the PostgreSQL listener's own connection. A secret: it may hold a password.
    url: String,
}

/// No URL: it may hold a password.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// The PostgreSQL channel on which instances announce revoked sessions to each other.
const REVOCATION_CHANNEL: &str = "tokenflow_revocations";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connect, switch SQLite to WAL, and run the embedded migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails: the server must not start.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        if backend == Backend::Sqlite {
            prepare_sqlite_files(url).map_err(sqlx::Error::Io)?;
        }
        let options = AnyConnectOptions::from_str(url)?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let max = match backend {
            // SQLite has one writer at a time; more connections only add lock waits.
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // Persistent in the file: readers never block the writer and vice versa.
            sqlite_retry(|| async { sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await.map(drop) }).await?;
            sqlite_retry(|| MIGRATOR.run(&pool)).await?;
        } else {
            // PostgreSQL serialises concurrent migrators with an advisory lock.
            MIGRATOR.run(&pool).await?;
            if let Err(e) = postgres_search_index(&pool).await {
                tracing::warn!(error = %e, "no trigram index on users.email (pg_trgm): admin searches read every account");
            }
        }
        Ok(Db { pool, backend, url: url.to_string() })
    }

    /// Tell every instance sharing a PostgreSQL database, at once, that these sessions are
    /// revoked (NOTIFY). On SQLite there is one instance and nothing to tell.
    ///
    /// # Errors
    /// The database's; the caller may ignore it, since every instance also polls.
    pub async fn notify_revoked(&self, sids: &[crate::ids::SessionId]) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        // Payloads are limited to 8000 bytes; 100 ids of 36 characters fit.
        for chunk in sids.chunks(100) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(REVOCATION_CHANNEL)
                .bind(chunk.iter().map(crate::ids::SessionId::as_str).collect::<Vec<_>>().join(","))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A listener for [`Db::notify_revoked`], on PostgreSQL; `None` on SQLite.
    ///
    /// # Errors
    /// When the listener's connection cannot be made.
    pub async fn revocation_listener(&self) -> Result<Option<sqlx::postgres::PgListener>, sqlx::Error> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(REVOCATION_CHANNEL).await?;
        Ok(Some(listener))
    }

    /// `true` when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// On PostgreSQL, the admin's "email contains" search is served by a trigram index (`pg_trgm`,
/// shipped with PostgreSQL; a database owner may create it). It is not a migration because
/// SQLite has no such thing, so it is made here, idempotently, by one instance at a time.
/// Without the extension (a managed server that refuses it) the search still works, reading
/// every account.
async fn postgres_search_index(pool: &sqlx::AnyPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7163029412)").execute(&mut *tx).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute(&mut *tx).await?;
    sqlx::query("CREATE INDEX IF NOT EXISTS users_email_trgm ON users USING gin (email gin_trgm_ops)")
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Retry a start-up step that processes opening one SQLite file together can collide on:
/// switching to WAL needs a lock that SQLite's busy timeout does not wait for, and sqlx's SQLite
/// migrator takes no lock (each migration runs in a transaction, so a loser changed nothing
/// and its retry sees the winner's work as applied).
async fn sqlite_retry<E, F, Fut>(mut step: F) -> Result<(), sqlx::Error>
where
    E: Into<sqlx::Error> + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut attempt: u64 = 0;
    loop {
        match step().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 10 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "SQLite start-up step collided with another process; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The database file of a SQLite URL, if it names one.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(':')).then(|| std::path::PathBuf::from(path))
}

/// The database holds password hashes and (unless encrypted) private keys: its folder is
/// created 0700 and the file 0600 before SQLite opens it. SQLite gives its `-wal` and `-shm`
/// files the main file's mode; any left from before are tightened too. An existing folder is
/// not ours to change (it may be `/tmp`): a loose one gets a warning.
fn prepare_sqlite_files(url: &str) -> std::io::Result<()> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if parent.exists() {
                let mode = std::fs::metadata(parent)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(folder = %parent.display(), "the database folder is open to group or others (mode {:o}); chmod 700 it", mode & 0o777);
                }
            } else {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
            }
        }
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&path)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// `true` when the error is the database refusing a duplicate (SQLite and PostgreSQL alike).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}
