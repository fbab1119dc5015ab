//! Admin actions: each effective on every instance within 2 s, each recorded, and never
//! leaving the system without an enabled admin.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::both_backends;

both_backends!(
    admin_actions_reach_every_instance_and_are_recorded,
    the_last_enabled_admin_cannot_be_demoted_disabled_or_deleted,
    admin_endpoints_refuse_users_and_unknown_ids,
);

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.client.patch(app.url(&format!("/api/admin/users/{id}"))).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn admin_actions_reach_every_instance_and_are_recorded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (a, b) = tokio::join!(TestApp::start(test_config(&db.url, &[])), TestApp::start(test_config(&db.url, &[])));
    let admin = a.admin(&db.url, "root@example.com").await;
    let admin_id = admin.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    let user = a.signed_up("member@example.com").await;
    let id = user.user["id"].as_str().unwrap().to_string();
    let there = b.logged_in("member@example.com").await.tokens.unwrap();

    // Disable: every session ends everywhere; the right password gets 403, a wrong one 401.
    let disabled: Value = patch(&a, admin.access(), &id, json!({"disabled": true})).await.json().await.unwrap();
    assert_eq!((disabled["disabled"].as_bool(), disabled["id"].as_str()), (Some(true), Some(id.as_str())));
    expect_error(a.get_with("/api/me", &user.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    refused_within_two_seconds(&b, &there.access, "a disabled account's token on the other instance").await;
    expect_error(b.login("member@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "account_disabled").await;
    expect_error(
        b.login("member@example.com", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(b.refresh(&there.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let listed: Value = admin.get("/api/admin/users?q=member").await.json().await.unwrap();
    assert_eq!(listed["users"][0]["disabled"], true);

    let enabled: Value = patch(&a, admin.access(), &id, json!({"disabled": false})).await.json().await.unwrap();
    assert_eq!(enabled["disabled"], false, "{enabled}");
    let back = b.logged_in("member@example.com").await.tokens.unwrap();

    // A role change reaches the token at its next refresh; log out everywhere makes it now.
    let promoted: Value = patch(&a, admin.access(), &id, json!({"role": "admin"})).await.json().await.unwrap();
    assert_eq!(promoted["role"], "admin");
    expect_error(b.get_with("/api/admin/users", &back.access).await, StatusCode::FORBIDDEN, "insufficient_role").await;
    let refreshed = Tokens::from(b.refresh(&back.refresh).await.json::<Value>().await.unwrap());
    assert_eq!(b.get_with("/api/admin/users", &refreshed.access).await.status(), StatusCode::OK);
    let demoted: Value = patch(&a, admin.access(), &id, json!({"role": "user"})).await.json().await.unwrap();
    assert_eq!(demoted["role"], "user");
    assert_eq!(
        b.get_with("/api/admin/users", &refreshed.access).await.status(),
        StatusCode::OK,
        "the old claim lives on"
    );
    let out = a
        .client
        .delete(a.url(&format!("/api/admin/users/{id}/sessions")))
        .bearer_auth(admin.access())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    refused_within_two_seconds(&b, &refreshed.access, "logged out everywhere by an admin").await;
    expect_error(b.refresh(&refreshed.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;

    // A reset link, mailed by the admin.
    let sent = a
        .client
        .post(a.url(&format!("/api/admin/users/{id}/password-reset")))
        .bearer_auth(admin.access())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let newest = mails(&a, "member@example.com", 2).await.remove(0);
    assert_eq!(newest["subject"], "Reset your Tokenflow password");

    // Every action is in the log, with the acting admin; the member sees them without ids.
    let audit: Value = admin.get(&format!("/api/admin/audit?user_id={id}")).await.json().await.unwrap();
    let by_admin: Vec<&Value> =
        audit["events"].as_array().unwrap().iter().filter(|e| e["actor_id"] == admin_id.as_str()).collect();
    let kinds: Vec<&str> = by_admin.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "password_reset_requested",
            "sessions_revoked_by_admin",
            "role_changed",
            "role_changed",
            "account_enabled",
            "account_disabled"
        ],
        "{audit}"
    );
    assert!(by_admin.iter().all(|e| e["user_id"] == id.as_str() && e["ip"] == "127.0.0.1"));
    let only: Value =
        admin.get(&format!("/api/admin/audit?user_id={id}&type=role_changed")).await.json().await.unwrap();
    assert_eq!(types(&only), ["role_changed", "role_changed"]);
    assert_eq!(only["events"][1]["detail"], "user → admin");
    expect_error(admin.get("/api/admin/audit?type=made_up").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
        .await;
    let mine = b.logged_in("member@example.com").await;
    let activity: Value = mine.get("/api/me/activity").await.json().await.unwrap();
    assert!(types(&activity).contains(&"account_disabled".to_string()));
    assert!(activity["events"].as_array().unwrap().iter().all(|e| e.get("actor_id").is_none()));
    a.stop().await;
    b.stop().await;
}

async fn the_last_enabled_admin_cannot_be_demoted_disabled_or_deleted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let root = app.admin(&db.url, "root@example.com").await;
    let root_id = root.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    for body in [json!({"role": "user"}), json!({"disabled": true})] {
        expect_error(patch(&app, root.access(), &root_id, body).await, StatusCode::CONFLICT, "last_admin").await;
    }
    let delete = app
        .client
        .delete(app.url("/api/me"))
        .bearer_auth(root.access())
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(delete, StatusCode::CONFLICT, "last_admin").await;
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .args(["users", "demote", "root@example.com"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!cli.status.success() && String::from_utf8_lossy(&cli.stderr).contains("last enabled admin"));

    // Two admins demoting each other at once: one wins, one is refused, one admin is left.
    let second = app.admin(&db.url, "second@example.com").await;
    let second_id = second.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    let (x, y) = tokio::join!(
        patch(&app, root.access(), &second_id, json!({"role": "user"})),
        patch(&app, second.access(), &root_id, json!({"role": "user"}))
    );
    let mut statuses = [x.status().as_u16(), y.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL").await, 1);
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM audit_events WHERE type = 'role_changed'").await,
        3,
        "two promotions by the CLI, one demotion"
    );
    app.stop().await;
}

async fn admin_endpoints_refuse_users_and_unknown_ids(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let admin = app.admin(&db.url, "root@example.com").await;
    let user = app.user("plain@example.com").await;
    let victim = user.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    let unknown = uuid::Uuid::new_v4().to_string();
    for (id, who, status, code) in [
        (victim.as_str(), user.access(), StatusCode::FORBIDDEN, "insufficient_role"),
        (unknown.as_str(), admin.access(), StatusCode::NOT_FOUND, "not_found"),
        ("not-a-uuid", admin.access(), StatusCode::NOT_FOUND, "not_found"),
    ] {
        expect_error(patch(&app, who, id, json!({"disabled": true})).await, status, code).await;
        let url = |tail: &str| app.url(&format!("/api/admin/users/{id}{tail}"));
        expect_error(app.client.delete(url("/sessions")).bearer_auth(who).send().await.unwrap(), status, code).await;
        expect_error(app.client.post(url("/password-reset")).bearer_auth(who).send().await.unwrap(), status, code)
            .await;
    }
    expect_error(user.get("/api/admin/audit").await, StatusCode::FORBIDDEN, "insufficient_role").await;
    for bad in [json!({"role": "root"}), json!({"disabled": "yes"}), json!({"email": "x@example.com"})] {
        expect_error(
            patch(&app, admin.access(), &victim, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
    }
    assert_eq!(user.get("/api/me").await.status(), StatusCode::OK, "nothing of the refused calls happened");
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM audit_events WHERE actor_id IS NOT NULL").await, 0);
    app.stop().await;
}
