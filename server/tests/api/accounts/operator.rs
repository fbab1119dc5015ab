//! The operator's command line, run as the real binary: each command goes through the core
//! and is recorded.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::both_backends;

both_backends!(operator_commands_manage_accounts_and_are_recorded, a_retired_key_is_refused_everywhere_at_once);

fn tokenflow(db_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("AUTH_ISSUER", "http://tokenflow.test")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

async fn operator_commands_manage_accounts_and_are_recorded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let created =
        tokenflow(&db.url, &["users", "create", "ops@example.com", "--admin"], Some("an operator's passphrase\n"));
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let line = String::from_utf8(created.stdout).unwrap();
    assert!(line.contains("ops@example.com") && line.contains("admin") && line.contains(" verified"), "{line}");
    let ops: Value = app.login("ops@example.com", "an operator's passphrase").await.json().await.unwrap();
    assert_eq!((ops["user"]["role"].as_str(), ops["user"]["email_verified"].as_bool()), (Some("admin"), Some(true)));
    let weak = tokenflow(&db.url, &["users", "create", "weak@example.com"], Some("short\n"));
    assert!(!weak.status.success(), "a weak password is refused");

    let member = app.signed_up("member@example.com").await;
    let run = |args: &[&str]| {
        let out = tokenflow(&db.url, args, None);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["users", "promote", "member@example.com"]).contains(" admin "));
    assert!(run(&["users", "demote", "Member@Example.com"]).contains(" user "));
    assert!(run(&["users", "disable", "member@example.com"]).contains("disabled"));
    refused_within_two_seconds(&app, &member.access, "disabled by the operator").await;
    expect_error(app.login("member@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "account_disabled").await;
    assert!(run(&["users", "enable", "member@example.com"]).contains("enabled"));
    let listed = run(&["users", "list"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(run(&["users", "list", "--q", "memb"]).lines().all(|l| l.contains("member@example.com")));

    let link = run(&["users", "reset-link", "member@example.com"]);
    let token = link_token(link.trim(), "reset-password");
    assert!(
        outbox(&app, "member@example.com").await.iter().all(|m| m["subject"] != "Reset your Tokenflow password"),
        "printed, not mailed"
    );
    let reset = app
        .post_json("/api/auth/password/reset", &json!({"token": token, "new_password": "chosen by the member"}))
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login("member@example.com", "chosen by the member").await.status(), StatusCode::OK);
    let missing = tokenflow(&db.url, &["users", "promote", "nobody@example.com"], None);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no account"));

    let pool = db.pool().await;
    let (operator_events,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE actor_id IS NULL AND user_agent = 'tokenflow (operator command line)'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // create, promote, demote, disable, enable, reset-link.
    assert_eq!(operator_events, 6);
    app.stop().await;
}

async fn a_retired_key_is_refused_everywhere_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut slow_reload = test_config(&db.url, &[]);
    // Only the withdrawal itself may tell the running instance, not its routine reload.
    slow_reload.auth.key_reload = std::time::Duration::from_secs(600);
    let app = TestApp::start(slow_reload).await;
    let user = app.signed_up("holder@example.com").await;
    // A thumbprint is base64url: it may begin with '-', which must not read as a flag.
    let old_kid = kid_of(&user.access);
    let out = tokenflow(&db.url, &["keys", "retire", &old_kid], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    refused_within_two_seconds(&app, &user.access, "a token signed by the withdrawn key").await;
    let message =
        expect_error(app.get_with("/api/me", &user.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(message, "unknown key id");
    let jwks = app.jwks().await;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(!kids.contains(&old_kid.as_str()) && !kids.is_empty(), "{kids:?}");
    // A fresh key signs, and the session itself lives on.
    let refreshed = Tokens::from(app.refresh(&user.refresh).await.json::<Value>().await.unwrap());
    assert_ne!(kid_of(&refreshed.access), old_kid);
    assert!(kids.contains(&kid_of(&refreshed.access).as_str()));
    assert_eq!(app.get_with("/api/me", &refreshed.access).await.status(), StatusCode::OK);
    let again = tokenflow(&db.url, &["keys", "retire", &old_kid], None);
    assert!(!again.status.success(), "a withdrawn key is gone");
    // A kid that begins with '-' is a kid, not a flag.
    let dash = tokenflow(&db.url, &["keys", "retire", "-cXYZ"], None);
    assert!(String::from_utf8_lossy(&dash.stderr).contains(r#"no usable key "-cXYZ""#), "{dash:?}");
    let pool = db.pool().await;
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM audit_events WHERE type = 'key_retired' AND user_id IS NULL").await,
        1
    );
    app.stop().await;
}
