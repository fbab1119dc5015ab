//! Email verification and password reset links: mailed, single use, expiring, cross-user safe.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::both_backends;

both_backends!(
    a_verification_link_verifies_once_and_the_next_tokens_say_so,
    a_reset_link_sets_the_password_once_and_ends_every_session_everywhere,
    links_are_refused_when_expired_of_the_wrong_kind_or_made_up,
    forgot_password_answers_alike_for_unknown_disabled_and_real_accounts,
    a_reset_leaves_no_session_of_the_old_password_however_logins_race_it,
);

async fn a_reset_leaves_no_session_of_the_old_password_however_logins_race_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    app.signed_up("raced@example.com").await;
    let token = link_token(users_cli(&db.url, &["reset-link", "raced@example.com"]).trim(), "reset-password");
    let body = json!({"token": token, "new_password": "the new passphrase"});
    // Logins with the old password, started before and during the reset.
    let logins = futures::future::join_all((0..30).map(|_| app.login("raced@example.com", PASSWORD)));
    let (responses, reset) = tokio::join!(logins, async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        app.post_json("/api/auth/password/reset", &body).await
    });
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let mut signed_in = 0;
    for response in responses {
        if response.status() == StatusCode::OK {
            signed_in += 1;
            let tokens = Tokens::from(response.json::<Value>().await.unwrap());
            let me = app.get_with("/api/me", &tokens.access).await;
            assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "a session of the old password outlived the reset");
        }
    }
    println!("{signed_in} of 30 logins with the old password answered 200, each revoked by the reset");
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL").await, 0);
    app.stop().await;
}

async fn a_verification_link_verifies_once_and_the_next_tokens_say_so(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_ADMIN_EMAILS", "chief@example.com")])).await;
    let chief = app.signed_up("Chief@Example.com").await;
    assert_eq!((chief.user["email_verified"].as_bool(), chief.user["role"].as_str()), (Some(false), Some("user")));
    assert_eq!(claims(&chief.access)["email_verified"], false, "an AUTH_ADMIN_EMAILS address is not admin unverified");

    let mail = &mails(&app, "chief@example.com", 1).await[0];
    assert_eq!(mail["to"], "chief@example.com");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("\n\nhttp://tokenflow.test/verify-email?token="), "the link starts with AUTH_ISSUER: {text}");
    let token = link_token(text, "verify-email");
    assert!(token.len() >= 43, "at least 256 bits of link: {token}");
    // Sending again within a minute is refused with how long to wait.
    let again =
        app.client.post(app.url("/api/auth/email/verify/send")).bearer_auth(&chief.access).send().await.unwrap();
    assert!(again.headers().get("retry-after").is_some());
    expect_error(again, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let verify = app.post_json("/api/auth/email/verify", &json!({"token": token})).await;
    assert_eq!(verify.status(), StatusCode::NO_CONTENT);
    let reused = app.post_json("/api/auth/email/verify", &json!({"token": token})).await;
    expect_error(reused, StatusCode::BAD_REQUEST, "invalid_link").await;

    // The token in hand still carries the old claims; the next refresh carries the new ones.
    assert_eq!(claims(&chief.access)["role"], "user");
    let me: Value = app.get_with("/api/me", &chief.access).await.json().await.unwrap();
    assert_eq!((me["email_verified"].as_bool(), me["role"].as_str()), (Some(true), Some("admin")), "{me}");
    let refreshed = Tokens::from(app.refresh(&chief.refresh).await.json::<Value>().await.unwrap());
    let c = claims(&refreshed.access);
    assert_eq!((c["email_verified"].as_bool(), c["role"].as_str()), (Some(true), Some("admin")));
    assert_eq!(app.get_with("/api/admin/users", &refreshed.access).await.status(), StatusCode::OK);

    // A verified account asking for a link gets 202 and no mail.
    let send =
        app.client.post(app.url("/api/auth/email/verify/send")).bearer_auth(&refreshed.access).send().await.unwrap();
    assert_eq!(send.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbox(&app, "chief@example.com").await.len(), 1);

    let activity: Value = app.get_with("/api/me/activity", &refreshed.access).await.json().await.unwrap();
    let kinds = types(&activity);
    assert_eq!(&kinds[..3], ["role_changed", "email_verified", "signup"], "{activity}");
    for event in activity["events"].as_array().unwrap() {
        assert!(event.get("user_id").is_none() && event.get("actor_id").is_none(), "{event}");
        assert!(!event.to_string().contains(&token), "no link in the audit log");
    }
    app.stop().await;
}

async fn a_reset_link_sets_the_password_once_and_ends_every_session_everywhere(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (a, b) = tokio::join!(TestApp::start(test_config(&db.url, &[])), TestApp::start(test_config(&db.url, &[])));
    let here = a.signed_up("forgetful@example.com").await;
    let there = b.logged_in("forgetful@example.com").await.tokens.unwrap();
    let bystander = a.signed_up("bystander@example.com").await;

    let asked = a.post_json("/api/auth/password/forgot", &json!({"email": "forgetful@example.com"})).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let reset_mail = mails(&a, "forgetful@example.com", 2).await.remove(0);
    assert_eq!(reset_mail["subject"], "Reset your Tokenflow password");
    let token = link_token(reset_mail["text"].as_str().unwrap(), "reset-password");

    let weak = a.post_json("/api/auth/password/reset", &json!({"token": token, "new_password": "short"})).await;
    expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let new_password = "a brand new passphrase";
    let reset = a.post_json("/api/auth/password/reset", &json!({"token": token, "new_password": new_password})).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let again =
        a.post_json("/api/auth/password/reset", &json!({"token": token, "new_password": "yet another one"})).await;
    expect_error(again, StatusCode::BAD_REQUEST, "invalid_link").await;

    expect_error(a.get_with("/api/me", &here.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    refused_within_two_seconds(&b, &there.access, "the other instance refuses the old session").await;
    for refresh in [&here.refresh, &there.refresh] {
        expect_error(a.refresh(refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    }
    expect_error(a.login("forgetful@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
    let back: Value = a.login("forgetful@example.com", new_password).await.json().await.unwrap();
    assert_eq!(back["user"]["email_verified"], true, "a reset link proves the mailbox");
    assert_eq!(a.get_with("/api/me", &bystander.access).await.status(), StatusCode::OK, "nobody else is touched");

    // Within a minute of the last link, a second request mails nothing (and says the same).
    let asked = a.post_json("/api/auth/password/forgot", &json!({"email": "forgetful@example.com"})).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(outbox(&a, "forgetful@example.com").await.len(), 2);

    let access = back["access_token"].as_str().unwrap();
    let kinds = types(&a.get_with("/api/me/activity", access).await.json::<Value>().await.unwrap());
    for kind in ["login", "password_reset", "email_verified", "password_reset_requested", "signup"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    a.stop().await;
    b.stop().await;
}

async fn links_are_refused_when_expired_of_the_wrong_kind_or_made_up(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let owner = app.signed_up("owner@example.com").await;
    let verify_token =
        link_token(mails(&app, "owner@example.com", 1).await[0]["text"].as_str().unwrap(), "verify-email");
    // A verification link is no reset link.
    let wrong_kind = app
        .post_json("/api/auth/password/reset", &json!({"token": verify_token, "new_password": "new passphrase"}))
        .await;
    expect_error(wrong_kind, StatusCode::BAD_REQUEST, "invalid_link").await;
    for made_up in ["", "x", &"A".repeat(43)] {
        let response = app.post_json("/api/auth/email/verify", &json!({"token": made_up})).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_link").await;
    }
    expect_error(
        app.post_json("/api/auth/email/verify", &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;

    // An expired link (its clock moved back) does nothing.
    let reset_link = users_cli(&db.url, &["reset-link", "owner@example.com"]);
    let reset_token = link_token(reset_link.trim(), "reset-password");
    let pool = db.pool().await;
    sqlx::query("UPDATE links SET expires_at = 1 WHERE purpose = 'reset'").execute(&pool).await.unwrap();
    let expired = app
        .post_json("/api/auth/password/reset", &json!({"token": reset_token, "new_password": "new passphrase"}))
        .await;
    expect_error(expired, StatusCode::BAD_REQUEST, "invalid_link").await;
    assert_eq!(
        app.get_with("/api/me", &owner.access).await.status(),
        StatusCode::OK,
        "an expired link revokes nothing"
    );
    assert_eq!(app.login("owner@example.com", PASSWORD).await.status(), StatusCode::OK, "nor changes the password");
    app.stop().await;
}

async fn forgot_password_answers_alike_for_unknown_disabled_and_real_accounts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let admin = app.admin(&db.url, "root@example.com").await;
    const N: usize = 9;
    let mut real = Vec::new();
    let mut disabled = Vec::new();
    for i in 0..N {
        real.push(format!("real{i}@example.com"));
        let off = format!("off{i}@example.com");
        let id = app.signed_up(&off).await.user["id"].as_str().unwrap().to_string();
        let patched = app
            .client
            .patch(app.url(&format!("/api/admin/users/{id}")))
            .bearer_auth(admin.access())
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), StatusCode::OK);
        disabled.push(off);
    }
    for email in &real {
        app.signed_up(email).await;
    }
    let unknown: Vec<String> = (0..N).map(|i| format!("nobody{i}@example.com")).collect();
    // Interleaved, so that drift in the machine's load touches each kind alike.
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut bodies = std::collections::HashSet::new();
    for i in 0..N {
        for (kind, email) in [&real[i], &unknown[i], &disabled[i]].into_iter().enumerate() {
            let started = Instant::now();
            let response = app.post_json("/api/auth/password/forgot", &json!({"email": email})).await;
            times[kind].push(started.elapsed());
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            bodies.insert(response.text().await.unwrap());
        }
    }
    assert_eq!(bodies.len(), 1, "one answer for every email: {bodies:?}");
    let median = |t: &mut Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let [r, u, d] = times.each_mut().map(median);
    println!("forgot-password medians: real {r:?}, unknown {u:?}, disabled {d:?}");
    let spread = r.max(u).max(d) - r.min(u).min(d);
    assert!(
        spread < Duration::from_millis(15),
        "medians differ by {spread:?}: real {r:?}, unknown {u:?}, disabled {d:?}"
    );
    // Only the real, enabled accounts get mail.
    mails(&app, &real[N - 1], 2).await;
    for email in disabled.iter().chain(&unknown) {
        assert!(outbox(&app, email).await.iter().all(|m| m["subject"] != "Reset your Tokenflow password"), "{email}");
    }
    app.stop().await;
}
