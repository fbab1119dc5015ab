//! Concurrency: uniqueness and rotation hold under parallel requests.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::*;

both_backends!(parallel_signups_with_one_email_create_one_account, parallel_refreshes_yield_at_most_one_successor);

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
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
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
    let (unspent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refresh_tokens WHERE spent_at IS NULL").fetch_one(&pool).await.unwrap();
    assert!(unspent <= 1, "at most one live successor, found {unspent}");
    app.stop().await;
}
