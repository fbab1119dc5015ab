//! What arrives on the wire: other sites, doubled headers, slow and idle clients.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

#[tokio::test]
async fn server_functions_refuse_other_sites_and_are_never_cached() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    app.signed_up("site@example.com").await;
    let form = format!("email=site%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let login = |headers: &[(&str, &str)]| {
        let mut request = app
            .client
            .post(app.url("/fn/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    for attack in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "http://tokenflow.test"), ("sec-fetch-site", "cross-site")],
    ] {
        let response = login(&attack).await.unwrap();
        expect_error(response, StatusCode::FORBIDDEN, "cross_site").await;
    }
    let own = app.base.clone();
    for fine in [vec![], vec![("origin", "http://tokenflow.test")], vec![("origin", own.as_str())]] {
        let response = login(&fine).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{fine:?}");
        assert_eq!(response.headers()["cache-control"], "no-store", "a token response");
    }
    app.stop().await;
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let tokens = app.signed_up("twice@example.com").await;
    let bearer = format!("Bearer {}", tokens.access);
    let twice = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", &bearer)
        .header("authorization", "Bearer somebody-elses")
        .send()
        .await
        .unwrap();
    expect_error(twice, StatusCode::BAD_REQUEST, "invalid_request").await;
    let by_fn = app
        .client
        .post(app.url("/fn/whoami"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &bearer)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(by_fn.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn https_issuers_get_hsts_and_http_ones_do_not() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_ISSUER", "https://auth.example")])).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    app.stop().await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(!response.headers().contains_key("strict-transport-security"));
    app.stop().await;
}

/// Bytes until the server closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

fn slow_config(db_url: &str) -> server::Config {
    let mut config = test_config(db_url, &[]);
    config.connections.head_timeout = Duration::from_secs(1);
    config.connections.idle_timeout = Duration::from_secs(2);
    config.connections.max_connections = 4;
    config
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_cut_off() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(slow_config(&db.url)).await;
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let started = Instant::now();
    // One byte every 200 ms: always active, never done.
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = false;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let closed = cut || read_until_closed(&mut stream, Duration::from_secs(1)).await.is_some();
    assert!(closed, "the connection is still open after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(slow_config(&db.url)).await;
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then left idle: closed within the limits, not held forever.
    let closed = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "an idle connection stayed open");
    app.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = slow_config(&db.url);
    config.connections.head_timeout = Duration::from_secs(30);
    config.connections.idle_timeout = Duration::from_secs(30);
    config.connections.max_connections = 2;
    let app = TestApp::start(config).await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut held = vec![TcpStream::connect(&address).await.unwrap(), TcpStream::connect(&address).await.unwrap()];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(800)).build().unwrap();
    assert!(client.get(app.url("/healthz")).send().await.is_err(), "a third connection was served");
    drop(held.pop());
    let response = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "served once a slot is free");
    drop(held);
    app.stop().await;
}
