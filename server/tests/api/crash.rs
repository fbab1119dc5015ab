//! `kill -9` during a burst of sign-ups loses no account the server confirmed, and leaves no
//! account without its audit event, verification link or mail (nor any of those without it).

use std::process::Stdio;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::*;

both_backends!(a_killed_server_loses_no_confirmed_signup);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn a_killed_server_loses_no_confirmed_signup(backend: Backend) {
    let db = TestDb::new(backend).await;
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("AUTH_RATE_LIMIT_PER_MIN", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server binary started");

    let mut burst: FuturesUnordered<_> = (0..60)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{base}/api/auth/signup"));
            async move {
                let email = format!("burst{i}@example.com");
                let body = serde_json::json!({"email": email, "password": PASSWORD});
                let confirmed =
                    client.post(url).json(&body).send().await.is_ok_and(|r| r.status() == StatusCode::CREATED);
                (email, confirmed)
            }
        })
        .collect();
    let mut confirmed = Vec::new();
    let mut killed = false;
    while let Some((email, ok)) = burst.next().await {
        if ok {
            confirmed.push(email);
        }
        if confirmed.len() == 10 && !killed {
            child.start_kill().unwrap(); // SIGKILL: no shutdown, no flush
            killed = true;
        }
    }
    assert!(killed && confirmed.len() >= 10, "the burst was cut short after {} confirmations", confirmed.len());
    let _ = child.wait().await;

    let pool = db.pool().await;
    for email in &confirmed {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE email = $1").bind(email).fetch_one(&pool).await.unwrap();
        assert_eq!(n, 1, "{email} was confirmed with 201 and must exist");
    }
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&pool).await.unwrap();
    assert!(total < 60, "the kill interrupted the burst ({total} of 60 stored)");
    for (what, sql) in [
        ("signup events", "SELECT COUNT(*) FROM audit_events WHERE type = 'signup'"),
        ("verification links", "SELECT COUNT(*) FROM links WHERE purpose = 'verify'"),
        ("queued mails", "SELECT COUNT(*) FROM mail"),
        ("sessions", "SELECT COUNT(*) FROM sessions"),
    ] {
        assert_eq!(count(&pool, sql).await, total, "{what}: one per stored account, written in its transaction");
    }
    let orphans = "SELECT COUNT(*) FROM users WHERE id NOT IN (SELECT user_id FROM audit_events WHERE type = 'signup')";
    assert_eq!(count(&pool, orphans).await, 0);
}
