//! Several instances on one database: shared keys, shared revocations.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(a_logout_on_one_instance_is_refused_by_the_other_within_two_seconds);

async fn a_logout_on_one_instance_is_refused_by_the_other_within_two_seconds(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Two instances starting at once on an empty key table must agree on the signing key.
    let (a, b) = tokio::join!(TestApp::start(test_config(&db.url, &[])), TestApp::start(test_config(&db.url, &[])));
    let jwks = |app: &TestApp| {
        let url = app.url("/.well-known/jwks.json");
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let (jwks_a, jwks_b) = (jwks(&a).await, jwks(&b).await);
    assert_eq!(jwks_a, jwks_b);

    let tokens = a.signed_up("multi@example.com").await;
    assert_eq!(b.get_with("/api/me", &tokens.access).await.status(), StatusCode::OK, "B accepts A's token");
    let refreshed: Value = b.refresh(&tokens.refresh).await.json().await.unwrap();
    let access = refreshed["access_token"].as_str().unwrap().to_string();
    assert_eq!(a.get_with("/api/me", &access).await.status(), StatusCode::OK, "A accepts B's token");

    assert_eq!(a.logout(&access).await.status(), StatusCode::NO_CONTENT);
    expect_error(a.get_with("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let started = Instant::now();
    loop {
        let status = b.get_with("/api/me", &access).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(2), "B still accepts the token after 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}

/// Two instances sharing `db` whose revocation poll is slowed to a minute: within a test, only
/// NOTIFY can carry a revocation from one to the other.
async fn two_instances_polling_once_a_minute(db: &TestDb) -> (TestApp, TestApp) {
    let slow_poll = || {
        let mut config = test_config(&db.url, &[]);
        config.auth.revocation_poll = Duration::from_secs(60);
        config
    };
    tokio::join!(TestApp::start(slow_poll()), TestApp::start(slow_poll()))
}

/// With the poll slowed to a minute, only PostgreSQL's NOTIFY can carry a logout to the other
/// instance within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_logout_reaches_other_instances_by_notify() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, b) = two_instances_polling_once_a_minute(&db).await;
    let tokens = a.signed_up("notify@example.com").await;
    assert_eq!(b.get_with("/api/me", &tokens.access).await.status(), StatusCode::OK);
    assert_eq!(a.logout(&tokens.access).await.status(), StatusCode::NO_CONTENT);
    eventually(2, "B refuses the logged-out token", async || {
        b.get_with("/api/me", &tokens.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// The LISTEN connection dies (a restart of PostgreSQL, a proxy's idle cut): the listener
/// reconnects by itself, and logouts keep arriving by NOTIFY, with the poll slowed to a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_revocation_listener_reconnects_after_losing_its_connection() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, b) = two_instances_polling_once_a_minute(&db).await;
    let tokens = a.signed_up("reconnect@example.com").await;
    assert_eq!(b.get_with("/api/me", &tokens.access).await.status(), StatusCode::OK);

    let pool = db.pool().await;
    let listening =
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'";
    eventually(5, "both instances LISTEN", async || count(&pool, listening).await >= 2).await;
    // In the select list, so only the matching backends are terminated.
    let killed: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(killed.len() >= 2, "terminated {} listener connections", killed.len());
    // Back means new connections listening: a terminated backend may linger in the view.
    let pids = killed.iter().map(|(pid, _)| pid.to_string()).collect::<Vec<_>>().join(",");
    let new_listeners = format!("{listening} AND pid NOT IN ({pids})");
    eventually(5, "the listeners are back", async || {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(new_listeners.clone())).fetch_one(&pool).await.unwrap();
        n >= 2
    })
    .await;

    assert_eq!(a.logout(&tokens.access).await.status(), StatusCode::NO_CONTENT);
    eventually(2, "B refuses the logged-out token", async || {
        b.get_with("/api/me", &tokens.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    a.stop().await;
    b.stop().await;
}
