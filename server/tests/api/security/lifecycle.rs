//! Lifecycle: rotate, retry, expire, revoke, partition, purge, in every order that matters.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_lost_refresh_response_can_be_retried_while_its_successor_is_unused,
    a_retry_after_the_grace_is_reuse,
    sessions_end_at_their_absolute_life_however_often_they_refresh,
    a_partitioned_instance_stops_trusting_its_cache_and_catches_up,
    dead_sessions_tokens_retired_keys_and_old_events_are_purged,
);

async fn a_lost_refresh_response_can_be_retried_while_its_successor_is_unused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let first = app.signed_up("retry@example.com").await;
    let second = Tokens::from(app.refresh(&first.refresh).await.json::<Value>().await.unwrap());
    // The response was lost: the client retries with the token it still has.
    let retried = app.refresh(&first.refresh).await;
    assert_eq!(retried.status(), StatusCode::OK);
    let retried = Tokens::from(retried.json::<Value>().await.unwrap());
    assert_eq!(retried.refresh, second.refresh, "the same successor, not a second one");
    assert_eq!(app.get_with("/api/me", &retried.access).await.status(), StatusCode::OK);

    // The database alone never yields the successor: it is sealed under the spent token.
    let pool = db.pool().await;
    let (sealed,): (String,) =
        sqlx::query_as("SELECT sealed_successor FROM refresh_tokens WHERE sealed_successor IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!sealed.contains(&second.refresh));
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM refresh_tokens WHERE spent_at IS NULL").await, 1);

    // Once the successor is used, the old token is reuse: the session dies.
    let third = Tokens::from(app.refresh(&second.refresh).await.json::<Value>().await.unwrap());
    expect_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    expect_error(app.get_with("/api/me", &third.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    app.stop().await;
}

async fn a_retry_after_the_grace_is_reuse(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vars = [("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_REFRESH_GRACE_SECS", "1")];
    let app = TestApp::start(test_config(&db.url, &vars)).await;
    let first = app.signed_up("late@example.com").await;
    let second = Tokens::from(app.refresh(&first.refresh).await.json::<Value>().await.unwrap());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    expect_error(app.refresh(&second.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    app.stop().await;
}

async fn sessions_end_at_their_absolute_life_however_often_they_refresh(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vars = [("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_ACCESS_TTL_SECS", "3"), ("AUTH_SESSION_MAX_SECS", "3")];
    let app = TestApp::start(test_config(&db.url, &vars)).await;
    let response = app.signup("mortal@example.com", PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_in"].as_u64().is_some_and(|s| s <= 3));
    let mut tokens = Tokens::from(body);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refreshed: Value = app.refresh(&tokens.refresh).await.json().await.unwrap();
    let expires_in = refreshed["expires_in"].as_u64().unwrap();
    assert!(expires_in <= 2, "no access token outlives its session: expires_in {expires_in}");
    tokens = Tokens::from(refreshed);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    expect_error(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    app.stop().await;
}

/// Instance B loses its view of revocations (no poll, no notification) while A revokes two
/// sessions. Past its look-back, B must not keep trusting its cached "live": it re-reads.
async fn a_partitioned_instance_stops_trusting_its_cache_and_catches_up(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = || {
        let mut config = test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")]);
        config.auth.revocation_lookback = Duration::from_secs(1);
        config
    };
    let (a, b) = (TestApp::start(config()).await, TestApp::start(config()).await);
    let one = a.signed_up("one@example.com").await;
    let two = a.signed_up("two@example.com").await;
    for tokens in [&one, &two] {
        assert_eq!(b.get_with("/api/me", &tokens.access).await.status(), StatusCode::OK, "cached as live on B");
    }
    b.auth.simulate_partition(true);
    assert_eq!(a.logout(&one.access).await.status(), StatusCode::NO_CONTENT);
    // Still partitioned, but past the look-back: B has forgotten what it cannot confirm.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    expect_error(b.get_with("/api/me", &one.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // Revoked during the partition, cached again by B meanwhile: the first poll after the
    // partition looks back to the last poll that succeeded, not one look-back from now.
    assert_eq!(b.get_with("/api/me", &two.access).await.status(), StatusCode::OK);
    assert_eq!(a.logout(&two.access).await.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.auth.simulate_partition(false);
    eventually(2, "B refuses the session revoked while it was cut off", async || {
        b.get_with("/api/me", &two.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    a.stop().await;
    b.stop().await;
}

async fn dead_sessions_tokens_retired_keys_and_old_events_are_purged(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vars = [
        ("AUTH_RATE_LIMIT_PER_MIN", "0"),
        ("AUTH_ACCESS_TTL_SECS", "1"),
        ("AUTH_SESSION_MAX_SECS", "1"),
        ("AUTH_LEEWAY_SECS", "0"),
    ];
    // First an instance that purges only every minute leaves the rows behind…
    let app = TestApp::start(test_config(&db.url, &vars)).await;
    let tokens = app.signed_up("brief@example.com").await;
    app.refresh(&tokens.refresh).await;
    rotate_keys_cli(&db.url);
    app.stop().await;
    let pool = db.pool().await;
    assert!(count(&pool, "SELECT COUNT(*) FROM refresh_tokens").await >= 1);
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM signing_keys").await, 2);
    // Rows from long ago: an audit event past the 90-day retention and one within it, a link
    // that expired two days ago, a mail from eight days ago.
    let day = 86_400;
    let now = tokenflow::time::now();
    let user_id = tokens.user["id"].as_str().unwrap().to_string();
    for (id, at) in [("old-event", now - 91 * day), ("kept-event", now - 89 * day)] {
        sqlx::query("INSERT INTO audit_events (id, at, user_id, type) VALUES ($1, $2, $3, 'login')")
            .bind(id)
            .bind(at)
            .bind(&user_id)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO links (token_hash, user_id, purpose, created_at, expires_at) VALUES ('old', $1, 'reset', $2, $3)",
    )
    .bind(&user_id)
    .bind(now - 3 * day)
    .bind(now - 2 * day)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO mail (id, recipient, subject, body, created_at, not_after, next_attempt_at, sent_at) \
         VALUES ('old-mail', 'brief@example.com', 's', 'b', $1, $1, $1, $1)",
    )
    .bind(now - 8 * day)
    .execute(&pool)
    .await
    .unwrap();
    // …then one that purges every 300 ms clears what can no longer matter.
    let mut config = test_config(&db.url, &vars);
    config.auth.purge_interval = Duration::from_millis(300);
    let app = TestApp::start(config).await;
    eventually(8, "expired sessions, their refresh tokens and the retired key are gone", async || {
        count(&pool, "SELECT COUNT(*) FROM sessions").await == 0
            && count(&pool, "SELECT COUNT(*) FROM refresh_tokens").await == 0
            && count(&pool, "SELECT COUNT(*) FROM signing_keys").await == 1
            && count(&pool, "SELECT COUNT(*) FROM audit_events WHERE id = 'old-event'").await == 0
            && count(&pool, "SELECT COUNT(*) FROM links WHERE token_hash = 'old'").await == 0
            && count(&pool, "SELECT COUNT(*) FROM mail WHERE id = 'old-mail'").await == 0
    })
    .await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM audit_events WHERE id = 'kept-event'").await, 1, "within retention");
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM links WHERE purpose = 'verify'").await, 1, "a live link stays");
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM mail").await, 1, "this week's mail stays");
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM users").await, 1, "accounts stay");
    app.stop().await;
}
