//! `DELETE /api/me` and the security activity page's data.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::both_backends;

both_backends!(
    deleting_an_account_takes_its_sessions_and_links_and_keeps_its_events,
    activity_is_the_callers_own_newest_first_and_paginated,
    a_refresh_token_reuse_shows_up_as_such,
    the_old_password_deletes_nothing_once_a_reset_has_won,
);

/// A deletion with the old password racing a reset: never both. Either the account is gone
/// (and the reset link with it) or the password changed and the deletion is refused.
async fn the_old_password_deletes_nothing_once_a_reset_has_won(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    for round in 0..6 {
        let email = format!("race{round}@example.com");
        let tokens = app.signed_up(&email).await;
        let token = link_token(users_cli(&db.url, &["reset-link", &email]).trim(), "reset-password");
        let body = json!({"token": token, "new_password": "the new passphrase"});
        let (deleted, reset) =
            tokio::join!(delete_me(&app, &tokens.access, PASSWORD), app.post_json("/api/auth/password/reset", &body));
        let (deleted, reset) = (deleted.status(), reset.status());
        assert!(
            !(deleted == StatusCode::NO_CONTENT && reset == StatusCode::NO_CONTENT),
            "round {round}: the account was deleted with the old password and reset as well"
        );
        assert!(
            deleted == StatusCode::NO_CONTENT || reset == StatusCode::NO_CONTENT,
            "round {round}: {deleted} {reset}"
        );
    }
    app.stop().await;
}

async fn a_refresh_token_reuse_shows_up_as_such(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_REFRESH_GRACE_SECS", "0")])).await;
    let first = app.signed_up("reused@example.com").await;
    let second = Tokens::from(app.refresh(&first.refresh).await.json::<Value>().await.unwrap());
    expect_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    expect_error(app.get_with("/api/me", &second.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let fresh = app.logged_in("reused@example.com").await;
    let activity: Value = fresh.get("/api/me/activity").await.json().await.unwrap();
    let events = activity["events"].as_array().unwrap();
    let reuse = events.iter().find(|e| e["type"] == "refresh_reuse").expect("the reuse is recorded");
    assert_eq!(reuse["session_id"], first.sid().as_str());
    // Once: presented again, it finds the session already revoked and records nothing new.
    expect_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM audit_events WHERE type = 'refresh_reuse'").await, 1);
    app.stop().await;
}

async fn delete_me(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.client.delete(app.url("/api/me")).bearer_auth(token).json(&json!({"password": password})).send().await.unwrap()
}

async fn deleting_an_account_takes_its_sessions_and_links_and_keeps_its_events(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (a, b) = tokio::join!(TestApp::start(test_config(&db.url, &[])), TestApp::start(test_config(&db.url, &[])));
    let admin = a.admin(&db.url, "root@example.com").await;
    let leaving = a.signed_up("leaving@example.com").await;
    let id = leaving.user["id"].as_str().unwrap().to_string();
    let there = b.logged_in("leaving@example.com").await.tokens.unwrap();
    assert_eq!(b.get_with("/api/me", &there.access).await.status(), StatusCode::OK, "cached on the other instance");

    expect_error(
        delete_me(&a, &leaving.access, "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        a.get_with("/api/me", &leaving.access).await.status(),
        StatusCode::OK,
        "a wrong password deletes nothing"
    );
    assert_eq!(delete_me(&a, &leaving.access, PASSWORD).await.status(), StatusCode::NO_CONTENT);

    expect_error(a.get_with("/api/me", &leaving.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    refused_within_two_seconds(&b, &there.access, "a deleted account's token on the other instance").await;
    expect_error(a.refresh(&there.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    expect_error(a.login("leaving@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let pool = db.pool().await;
    for table in ["sessions", "links"] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&id).fetch_one(&pool).await.unwrap();
        assert_eq!(n, 0, "{table} of the deleted account");
    }
    let (pending,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM mail WHERE recipient = 'leaving@example.com' AND sent_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(pending, 0);

    // Its events stay for admins, without the email; the address is free again.
    let audit: Value = admin.get(&format!("/api/admin/audit?user_id={id}")).await.json().await.unwrap();
    assert_eq!(types(&audit)[0], "account_deleted");
    assert!(!audit.to_string().contains("leaving@example.com"), "{audit}");
    assert_eq!(a.signup("leaving@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    a.stop().await;
    b.stop().await;
}

async fn activity_is_the_callers_own_newest_first_and_paginated(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let me = app.signed_up("busy@example.com").await;
    let other = app.signed_up("other@example.com").await;
    for _ in 0..4 {
        app.logged_in("busy@example.com").await;
    }
    expect_error(
        app.login("busy@example.com", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    app.logged_in("other@example.com").await;

    // The failed login is recorded off the request path.
    eventually(2, "the failed login recorded", async || {
        let page: Value = app.get_with("/api/me/activity", &me.access).await.json().await.unwrap();
        types(&page).first().map(String::as_str) == Some("login_failed")
    })
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/me/activity?limit=2&cursor={c}"),
            None => "/api/me/activity?limit=2".to_string(),
        };
        let page: Value = app.get_with(&path, &me.access).await.json().await.unwrap();
        assert!(page["events"].as_array().unwrap().len() <= 2);
        seen.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["login_failed", "login", "login", "login", "login", "signup"]);
    let times: Vec<&str> = seen.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let other_sid = other.sid();
    assert!(seen.iter().all(|e| e["session_id"] != other_sid.as_str()), "nobody else's events");
    assert_eq!(seen[5]["session_id"], me.sid().as_str());
    assert!(seen.iter().all(|e| e["ip"] == "127.0.0.1" && e["user_agent"].is_string() || e["user_agent"].is_null()));
    for bad in ["limit=0", "limit=201", "limit=x", "cursor=nonsense"] {
        let response = app.get_with(&format!("/api/me/activity?{bad}"), &me.access).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    expect_error(app.anon().get("/api/me/activity").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    app.stop().await;
}
