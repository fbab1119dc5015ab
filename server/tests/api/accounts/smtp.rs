//! Mail through a real SMTP relay (aiosmtpd, installed by `scripts/test`): links arrive and
//! work; a relay that is down delays mail, never a request, and the queue outlives a restart.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::both_backends;

both_backends!(
    verification_and_reset_complete_from_mails_a_real_relay_delivered,
    mail_waits_for_a_relay_that_is_down_even_across_a_restart
);

/// A running SMTP sink, killed on drop.
struct Relay {
    _child: tokio::process::Child,
    folder: PathBuf,
}

fn python() -> PathBuf {
    std::env::var_os("TOKENFLOW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools-venv/bin/python"))
}

impl Relay {
    async fn start(port: u16, folder: PathBuf) -> Relay {
        let support = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support");
        let child = tokio::process::Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "smtp_sink.Sink"])
            .arg(&folder)
            .env("PYTHONPATH", support)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting aiosmtpd with {:?} ({e}): run scripts/test, which installs it", python())
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Relay { _child: child, folder }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The mails the relay received, as `(recipients, subject, text)`, waiting for `n` of them.
async fn delivered(folder: &PathBuf, n: usize, within: u64) -> Vec<String> {
    let read = || -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    };
    eventually(within, &format!("{n} mail(s) delivered"), async || read().len() >= n).await;
    read()
}

fn temp_folder() -> PathBuf {
    std::env::temp_dir().join(format!("tokenflow-mail-{}", uuid::Uuid::new_v4()))
}

async fn verification_and_reset_complete_from_mails_a_real_relay_delivered(backend: Backend) {
    let db = TestDb::new(backend).await;
    let port = free_port();
    let relay = Relay::start(port, temp_folder()).await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app =
        TestApp::start(test_config(&db.url, &[("SMTP_URL", &smtp), ("MAIL_FROM", "Tokenflow <auth@example.com>")]))
            .await;
    let response = app.client.get(app.url("/api/outbox")).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;

    let user = app.signed_up("real@example.com").await;
    let mails = delivered(&relay.folder, 1, 10).await;
    assert!(
        mails[0].starts_with("To: real@example.com\nSubject: Confirm your email for Tokenflow\nHTML: True\n"),
        "{}",
        mails[0]
    );
    let verify = link_token(&mails[0], "verify-email");
    assert_eq!(
        app.post_json("/api/auth/email/verify", &json!({"token": verify})).await.status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(
        app.post_json("/api/auth/password/forgot", &json!({"email": "real@example.com"})).await.status(),
        StatusCode::ACCEPTED
    );
    let mails = delivered(&relay.folder, 2, 10).await;
    let reset_mail = mails.iter().find(|m| m.contains("reset-password?token=")).unwrap();
    let token = link_token(reset_mail, "reset-password");
    let reset =
        app.post_json("/api/auth/password/reset", &json!({"token": token, "new_password": "from the real mail"})).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    expect_error(app.get_with("/api/me", &user.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(app.login("real@example.com", "from the real mail").await.status(), StatusCode::OK);

    // Delivered mail keeps no link in the database.
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM mail WHERE body <> '' OR sent_at IS NULL").await, 0);
    app.stop().await;
}

async fn mail_waits_for_a_relay_that_is_down_even_across_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let port = free_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let config = || test_config(&db.url, &[("SMTP_URL", &smtp)]);
    let first = TestApp::start(config()).await;
    let started = Instant::now();
    let response = first.signup("patient@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(started.elapsed() < Duration::from_secs(2), "a dead relay does not slow a sign-up");
    let pool = db.pool().await;
    eventually(5, "a failed delivery attempt recorded", async || {
        count(&pool, "SELECT COUNT(*) FROM mail WHERE sent_at IS NULL AND attempts >= 1 AND last_error IS NOT NULL")
            .await
            == 1
    })
    .await;
    first.stop().await;

    let relay = Relay::start(port, temp_folder()).await;
    let second = TestApp::start(config()).await;
    let mails = delivered(&relay.folder, 1, 40).await;
    assert!(mails[0].contains("verify-email?token="));
    eventually(5, "the mail marked delivered", async || {
        count(&pool, "SELECT COUNT(*) FROM mail WHERE sent_at IS NOT NULL").await == 1
    })
    .await;
    second.stop().await;
}
