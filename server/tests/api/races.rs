//! Concurrency: uniqueness and rotation hold under parallel requests.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    parallel_signups_with_one_email_create_one_account,
    parallel_refreshes_yield_at_most_one_successor,
    a_saturated_hashing_pool_answers_503_and_stores_nothing,
);

async fn parallel_signups_with_one_email_create_one_account(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let attempts = (0..20).map(|i| {
        // Same address, spelled differently: equal after normalisation.
        let email = if i % 2 == 0 { "Twin@Example.com".to_string() } else { " twin@example.com ".to_string() };
        let app = &app;
        async move { app.signup(&email, PASSWORD).await.status() }
    });
    let statuses = join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 19, "{statuses:?}");
    let pool = db.pool().await;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&pool).await.unwrap();
    let (sessions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions").fetch_one(&pool).await.unwrap();
    assert_eq!((users, sessions), (1, 1), "the losers' transactions left nothing behind");
    app.stop().await;
}

async fn parallel_refreshes_yield_at_most_one_successor(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vars = [("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_REFRESH_GRACE_SECS", "0")];
    let app = TestApp::start(test_config(&db.url, &vars)).await;
    let tokens = app.signed_up("racer@example.com").await;
    let attempts = (0..20).map(|_| {
        let (app, refresh) = (&app, tokens.refresh.clone());
        async move { app.refresh(&refresh).await.status() }
    });
    let statuses = join_all(attempts).await;
    let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(winners <= 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    let pool = db.pool().await;
    let (unspent,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM refresh_tokens WHERE spent_at IS NULL").fetch_one(&pool).await.unwrap();
    assert!(unspent <= 1, "at most one live successor, found {unspent}");
    app.stop().await;
}

async fn a_saturated_hashing_pool_answers_503_and_stores_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")]);
    config.auth.hash_workers = 1;
    config.auth.hash_queue = 1;
    let app = TestApp::start(config).await;
    let attempts = (0..12).map(|i| {
        let app = &app;
        async move {
            let response = app.signup(&format!("crowd{i}@example.com"), PASSWORD).await;
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (response.status(), retry)
        }
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(created >= 1 && !refused.is_empty(), "{results:?}");
    assert_eq!(created + refused.len(), 12, "{results:?}");
    assert!(refused.iter().all(|(_, retry)| retry.is_some()), "503 carries Retry-After");
    let pool = db.pool().await;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&pool).await.unwrap();
    assert_eq!(users as usize, created, "a refused sign-up stores nothing");
    app.stop().await;
}
