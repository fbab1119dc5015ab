//! Throttling: per email and per client IP, stored so that restarts reset nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(failed_logins_throttle_the_email_even_across_restarts, requests_per_client_ip_are_limited);

async fn failed_logins_throttle_the_email_even_across_restarts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = || test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_LOGIN_MAX_FAILURES", "5")]);
    let app = TestApp::start(config()).await;
    app.signed_up("tess@example.com").await;
    for _ in 0..5 {
        expect_error(app.login("tess@example.com", "guess").await, StatusCode::UNAUTHORIZED, "invalid_credentials")
            .await;
    }
    let throttled = app.login("tess@example.com", PASSWORD).await;
    let retry: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    expect_error(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Unknown emails are throttled the same way: no way to tell them apart.
    for _ in 0..5 {
        app.login("ghost@example.com", "guess").await;
    }
    expect_error(app.login("ghost@example.com", "guess").await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another email is unaffected.
    app.signed_up("other@example.com").await;
    assert_eq!(app.login("other@example.com", PASSWORD).await.status(), StatusCode::OK);
    app.stop().await;

    let restarted = TestApp::start(config()).await;
    expect_error(restarted.login("tess@example.com", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        .await;
    restarted.stop().await;
}

/// A failed login claiming to come from `forwarded`.
async fn login_forwarded_for(app: &TestApp, forwarded: &str) -> reqwest::Result<reqwest::Response> {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": "ip@example.com", "password": "guess-guess"}))
        .send()
        .await
}

async fn requests_per_client_ip_are_limited(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "3")])).await;
    let attempt = |forwarded: &'static str| login_forwarded_for(&app, forwarded);
    at_start_of_a_minute_window().await;
    for _ in 0..3 {
        assert_eq!(attempt("1.2.3.4").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    // A spoofed X-Forwarded-For from an untrusted peer changes nothing.
    let limited = attempt("5.6.7.8").await.unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    app.stop().await;

    // Behind a trusted proxy, each forwarded client has its own budget.
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(
        &db.url,
        &[("AUTH_RATE_LIMIT_PER_MIN", "3"), ("AUTH_TRUSTED_PROXIES", "127.0.0.1")],
    ))
    .await;
    let attempt = |forwarded: &'static str| login_forwarded_for(&app, forwarded);
    at_start_of_a_minute_window().await;
    for _ in 0..3 {
        assert_eq!(attempt("1.2.3.4").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    expect_error(attempt("1.2.3.4").await.unwrap(), StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(attempt("5.6.7.8").await.unwrap().status(), StatusCode::UNAUTHORIZED, "another client is not limited");
    app.stop().await;
}
