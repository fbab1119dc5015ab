//! What a copy of the database (or of its folder) gives away, and database trouble.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    private_keys_are_encrypted_at_rest_and_retired_ones_deleted,
    totp_secrets_are_sealed_at_rest_and_still_check_codes,
    database_trouble_is_503_not_500
);

async fn totp_secrets_are_sealed_at_rest_and_still_check_codes(backend: Backend) {
    use crate::factors::{challenged, code, early_in_a_step, enrol_totp};
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let kek = KekFile::new();
    let app = TestApp::start(test_config(&db.url, &[("AUTH_KEY_ENCRYPTION_KEY_FILE", kek.as_str())])).await;
    let ada = app.user("ada@example.com").await;
    let (secret, _) = enrol_totp(&ada).await;
    let (stored,): (String,) =
        sqlx::query_as("SELECT secret FROM totp_factors").fetch_one(&db.pool().await).await.unwrap();
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
    assert!(!stored.contains(secret.base32().as_str()), "the database alone yields no secret");
    // Codes still check against the sealed secret.
    let challenge = challenged(&app, "ada@example.com").await;
    let body = serde_json::json!({"challenge": challenge["challenge"], "code": code(&secret, 0)});
    assert_eq!(app.post_json("/api/auth/second-factor", &body).await.status(), StatusCode::OK);
    app.stop().await;
    // And after a restart with the same key-encryption key.
    let app = TestApp::start(test_config(&db.url, &[("AUTH_KEY_ENCRYPTION_KEY_FILE", kek.as_str())])).await;
    let challenge = challenged(&app, "ada@example.com").await;
    let body = serde_json::json!({"challenge": challenge["challenge"], "code": code(&secret, 1)});
    assert_eq!(app.post_json("/api/auth/second-factor", &body).await.status(), StatusCode::OK);
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_and_their_folder_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("tokenflow-perm-{}", uuid::Uuid::new_v4().simple()));
    let folder = dir.join("data");
    let file = folder.join("tokenflow.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let app = TestApp::start(test_config(&url, &[])).await;
    app.signed_up("private@example.com").await;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&folder), 0o700, "folder");
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    app.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn private_keys_are_encrypted_at_rest_and_retired_ones_deleted(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Started once without encryption: the key is stored as plain PEM…
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let before = app.signed_up("kek@example.com").await;
    app.stop().await;
    let pool = db.pool().await;
    let stored = || async {
        let (pem,): (String,) = sqlx::query_as("SELECT private_pem FROM signing_keys WHERE retired_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
        pem
    };
    assert!(stored().await.contains("PRIVATE KEY"));

    // …and encrypted in place at the first start with a key-encryption key.
    let kek = KekFile::new();
    let with_kek = || test_config(&db.url, &[("AUTH_KEY_ENCRYPTION_KEY_FILE", kek.as_str())]);
    let app = TestApp::start(with_kek()).await;
    let sealed = stored().await;
    assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("PRIVATE KEY"), "{sealed}");
    assert_eq!(app.get_with("/api/me", &before.access).await.status(), StatusCode::OK, "tokens stay valid");
    let issued = Tokens::from(app.login("kek@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    app.stop().await;

    let refused = server::build_state(&test_config(&db.url, &[])).await.err().map(|e| format!("{e:#}"));
    assert!(refused.is_some_and(|e| e.contains("AUTH_KEY_ENCRYPTION_KEY_FILE")), "starts without the KEK");
    let wrong = KekFile::new();
    let config = test_config(&db.url, &[("AUTH_KEY_ENCRYPTION_KEY_FILE", wrong.as_str())]);
    assert!(server::build_state(&config).await.is_err(), "starts with the wrong KEK");

    // A rotation stores the new key sealed and deletes the old one's private part.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &db.url)
        .env("AUTH_KEY_ENCRYPTION_KEY_FILE", kek.as_str())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stored().await.starts_with("sealed:v1:"));
    let retired =
        count(&pool, "SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NOT NULL AND private_pem IS NULL");
    assert_eq!(retired.await, 1);
    let app = TestApp::start(with_kek()).await;
    assert_eq!(app.get_with("/api/me", &issued.access).await.status(), StatusCode::OK, "the retired key verifies");
    app.stop().await;
}

/// A file of 32 random bytes in base64, as the README says to make it; removed on drop.
struct KekFile(std::path::PathBuf);

impl KekFile {
    fn new() -> KekFile {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("tokenflow-kek-{}", uuid::Uuid::new_v4()));
        let key: [u8; 32] = std::array::from_fn(|_| rand_byte());
        std::fs::write(&path, base64::engine::general_purpose::STANDARD.encode(key)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        KekFile(path)
    }

    fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for KekFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn rand_byte() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

/// Real errors from real databases: a read-only SQLite file, and PostgreSQL raising the
/// SQLSTATEs of a full disk, a connection failure and an administrator's shutdown.
async fn database_trouble_is_503_not_500(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.stop().await;
    sqlx::any::install_default_drivers();
    let failures: Vec<sqlx::Error> = match backend {
        Backend::Sqlite => {
            let url = db.url.replace("mode=rwc", "mode=ro");
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let insert = sqlx::query("INSERT INTO rate_limits (bucket, window_start, hits) VALUES ('x', 0, 1)");
            vec![insert.execute(&pool).await.unwrap_err()]
        }
        Backend::Postgres => {
            let pool = db.pool().await;
            let mut errors = Vec::new();
            for state in ["53100", "08006", "57P01"] {
                let raise = format!("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '{state}'; END $$");
                errors.push(sqlx::query(sqlx::AssertSqlSafe(raise)).execute(&pool).await.unwrap_err());
            }
            errors
        }
    };
    for failure in failures {
        let shown = failure.to_string();
        let e = tokenflow::AuthError::from(failure);
        assert_eq!((e.status(), e.code()), (503, tokenflow::dto::ErrorCode::Unavailable), "{shown}");
        assert!(e.retry_after().is_some());
    }
    // A bug stays a 500.
    let bug = tokenflow::AuthError::from(sqlx::Error::ColumnNotFound("nope".into()));
    assert_eq!(bug.status(), 500);
}
