//! Every query on a hot path uses an index, on a PostgreSQL database big enough for the planner
//! to mean it (`bench/seed.sql`: thousands of accounts, sessions, refresh tokens and audit
//! events, analysed). The proof is PostgreSQL's own: the sequential scans it counts per table
//! (`pg_stat_user_tables`) do not grow while the real server serves a sign-up, logins, token
//! checks, refreshes, session lists and revocations, the admin's searches and audit pages,
//! and its revocation polls.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::*;

const SEEDED: usize = 20_000;

/// The big tables, whose full scans would grow with the number of accounts.
const BIG: &[&str] = &["users", "sessions", "refresh_tokens", "audit_events", "login_failures", "links", "mail"];

/// Sequential and index scans per table, as PostgreSQL counts them. Other connections to the
/// database are ended first: a backend reports its counts when it exits (otherwise up to ten
/// seconds later), so the numbers are complete.
async fn scans(url: &str) -> HashMap<String, (i64, i64)> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("SELECT pg_sleep(0.2)").execute(&mut conn).await.unwrap();
    let rows: Vec<(String, i64, Option<i64>)> =
        sqlx::query_as("SELECT relname::text, seq_scan, idx_scan FROM pg_stat_user_tables")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter().map(|(table, seq, idx)| (table, (seq, idx.unwrap_or(0)))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_path_queries_use_indexes_on_a_big_postgres_database() {
    let db = TestDb::new(Backend::Postgres).await;
    // The schema, then the rows, then statistics; connections closed so their counts are in.
    TestApp::start(test_config(&db.url, &[])).await.stop().await;
    {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let seed = include_str!("../../../bench/seed.sql").replace("USERS", &SEEDED.to_string());
        sqlx::raw_sql(sqlx::AssertSqlSafe(seed)).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let before = scans(&db.url).await;

    let app = TestApp::start(test_config(&db.url, &[])).await;
    let admin = app.admin(&db.url, "ops@scale.example").await;
    let user = app.user("ada@scale.example").await;
    let other = app.logged_in("ada@scale.example").await;
    for _ in 0..3 {
        assert_eq!(user.get("/api/me").await.status(), StatusCode::OK);
    }
    assert_eq!(app.login("ada@scale.example", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&other.tokens.as_ref().unwrap().refresh).await.status(), StatusCode::OK);
    let sessions: serde_json::Value = user.get("/api/sessions").await.json().await.unwrap();
    assert!(sessions["sessions"].as_array().is_some_and(|s| s.len() == 2), "{sessions}");
    assert_eq!(user.get("/api/me/activity").await.status(), StatusCode::OK);
    for path in [
        "/api/admin/users",
        "/api/admin/users?q=seed123",
        "/api/admin/users?q=ada@scale",
        "/api/admin/audit",
        "/api/admin/audit?type=login",
    ] {
        assert_eq!(admin.get(path).await.status(), StatusCode::OK, "{path}");
    }
    let ada_id =
        user.get("/api/me").await.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let audit = admin.get(&format!("/api/admin/audit?user_id={ada_id}")).await;
    assert_eq!(audit.status(), StatusCode::OK);
    let forgot = app.post_json("/api/auth/password/forgot", &json!({"email": "ada@scale.example"})).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    assert_eq!(app.logout(other.access()).await.status(), StatusCode::NO_CONTENT);
    // A few revocation polls (every 200 ms in tests) and the mail sender's rounds.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    app.stop().await;

    let after = scans(&db.url).await;
    let mut report = Vec::new();
    let mut full = Vec::new();
    for table in BIG {
        let (seq0, idx0) = before.get(*table).copied().unwrap_or_default();
        let (seq1, idx1) = after.get(*table).copied().unwrap_or_default();
        report.push(format!("{table}: {} sequential, {} index scans", seq1 - seq0, idx1 - idx0));
        if seq1 > seq0 {
            full.push(*table);
        }
    }
    println!("{}", report.join("\n"));
    assert!(full.is_empty(), "full scans of {full:?} on a hot path:\n{}", report.join("\n"));
    let used = |table: &str| after[table].1 > before[table].1;
    assert!(used("users") && used("sessions") && used("refresh_tokens") && used("audit_events"), "{report:?}");
}
