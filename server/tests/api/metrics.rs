//! Prometheus metrics (`METRICS_ADDR`): what an operator alerts on is there and moves.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// The value of the series whose line starts with `series` (name and labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_logins_refreshes_token_checks_and_read_levels() {
    let handle = server::metrics::install().expect("the recorder installs");
    let db = TestDb::new(Backend::Sqlite).await;
    let app =
        TestApp::start(test_config(&db.url, &[("AUTH_INTROSPECTION_CLIENTS", "metrics:introspection secret 1")])).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(server::metrics::serve(listener, app.auth.clone(), handle));
    let scrape = async || app.client.get(&metrics_url).send().await.unwrap().text().await.unwrap();
    // The recorder is process-wide and other tests run beside this one: compare before and after.
    let before = scrape().await;
    let at = |text: &str, series: &str| value(text, series).unwrap_or(0.0);

    let tokens = app.signed_up("metered@example.com").await;
    assert_eq!(app.get_with("/api/me", &tokens.access).await.status(), StatusCode::OK);
    assert_eq!(app.get_with("/api/me", &tokens.access).await.status(), StatusCode::OK);
    assert_eq!(app.get_with("/api/me", "not-a-token").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("metered@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    let login = app.login("metered@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let fresh = Tokens::from(login.json::<serde_json::Value>().await.unwrap());
    assert_eq!(app.refresh(&fresh.refresh).await.status(), StatusCode::OK);
    let introspect = async |secret: &str| {
        let request = app.client.post(app.url("/api/oauth/introspect")).basic_auth("metrics", Some(secret));
        request.form(&[("token", tokens.access.as_str())]).send().await.unwrap().status()
    };
    assert_eq!(introspect("introspection secret 1").await, StatusCode::OK);
    assert_eq!(introspect("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.logout(&tokens.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(introspect("introspection secret 1").await, StatusCode::OK);
    let _ = app.post_json("/api/auth/refresh", &json!({"refresh_token": "made up"})).await;

    let after = scrape().await;
    let grew = |series: &str, by: f64| {
        let (was, is) = (at(&before, series), at(&after, series));
        assert!(is - was >= by, "{series}: {was} -> {is}, expected +{by}\n{after}");
    };
    grew(r#"tokenflow_http_requests_total{route="/api/me",method="GET",status="200"}"#, 2.0);
    grew(r#"tokenflow_http_requests_total{route="/api/me",method="GET",status="401"}"#, 1.0);
    grew(r#"tokenflow_http_request_duration_seconds_count{route="/api/auth/login",method="POST",status="200"}"#, 1.0);
    grew(r#"tokenflow_logins_total{outcome="success"}"#, 1.0);
    grew(r#"tokenflow_logins_total{outcome="invalid_credentials"}"#, 1.0);
    grew(r#"tokenflow_refreshes_total{outcome="success"}"#, 1.0);
    grew(r#"tokenflow_refreshes_total{outcome="invalid_grant"}"#, 1.0);
    grew(r#"tokenflow_token_checks_total{path="cache"}"#, 1.0);
    grew(r#"tokenflow_token_checks_total{path="verify"}"#, 1.0);
    grew(r#"tokenflow_token_checks_total{path="refused"}"#, 1.0);
    grew("tokenflow_revocations_total", 1.0);
    grew(r#"tokenflow_introspections_total{outcome="active"}"#, 1.0);
    grew(r#"tokenflow_introspections_total{outcome="inactive"}"#, 1.0);
    grew(r#"tokenflow_introspections_total{outcome="invalid_client"}"#, 1.0);
    grew("tokenflow_password_hash_seconds_count", 3.0);
    for level in [
        "tokenflow_password_hash_queue",
        "tokenflow_mail_queue",
        r#"tokenflow_db_connections{state="open"}"#,
        r#"tokenflow_cache_entries{cache="tokens"}"#,
        r#"tokenflow_cache_entries{cache="sessions"}"#,
    ] {
        assert!(value(&after, level).is_some(), "{level} missing\n{after}");
    }
    assert!(at(&after, r#"tokenflow_cache_entries{cache="sessions"}"#) >= 1.0);
    // Raw paths never become labels: ids would multiply the series.
    assert!(!after.contains("metered@example.com") && !after.contains(&tokens.sid()));
    app.stop().await;
}
