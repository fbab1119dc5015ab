//! Authorization: every endpoint and server function × {no token, user, another user, admin} ×
//! {own id, another's id, unknown id}. A request changes only what belongs to its caller.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    another_users_session_id_is_404_and_revokes_nothing_on_any_instance,
    every_endpoint_answers_each_actor_as_the_contract_says,
    the_admin_list_is_bounded_paginated_and_filtered,
);

/// Bob learns Alice's `sid` (it is in every access token she shows anyone) and tries to end
/// her session, through the REST API and the server function. Nothing of Alice's changes: not
/// the row, not this instance's memory, not another instance's.
async fn another_users_session_id_is_404_and_revokes_nothing_on_any_instance(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = || test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")]);
    let (app, other) = (TestApp::start(config()).await, TestApp::start(config()).await);
    let alice = app.signed_up("alice@example.com").await;
    let bob = app.signed_up("bob@example.com").await;
    // Both instances know Alice's session (cached as live).
    for instance in [&app, &other] {
        assert_eq!(instance.get_with("/api/me", &alice.access).await.status(), StatusCode::OK);
    }

    let path = format!("/api/sessions/{}", alice.sid());
    expect_error(app.delete_with(&path, &bob.access).await, StatusCode::NOT_FOUND, "not_found").await;
    let by_fn = app.call_fn("revoke_session", Some(&bob.access), &format!("id={}", alice.sid())).await;
    assert_eq!(by_fn.status(), StatusCode::NOT_FOUND);
    expect_error(app.delete_with("/api/sessions/not-a-session", &bob.access).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    // Longer than the poll and any notification take to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    for instance in [&app, &other] {
        assert_eq!(instance.get_with("/api/me", &alice.access).await.status(), StatusCode::OK, "Alice is still in");
    }
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL").await, 0);
    assert_eq!(app.refresh(&alice.refresh).await.status(), StatusCode::OK);

    // Her own id works for her (from another of her sessions), and only changes her session.
    let laptop = Tokens::from(app.login("alice@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    assert_eq!(app.delete_with(&path, &laptop.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete_with(&path, &laptop.access).await.status(), StatusCode::NO_CONTENT, "idempotent for her");
    expect_error(app.get_with("/api/me", &alice.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(app.get_with("/api/me", &bob.access).await.status(), StatusCode::OK);
    app.stop().await;
    other.stop().await;
}

async fn every_endpoint_answers_each_actor_as_the_contract_says(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let victim = app.user("victim@example.com").await;
    let (victim_sid, unknown_sid) = (victim.tokens.as_ref().unwrap().sid(), "00000000-0000-4000-8000-000000000000");
    let victim_id = victim.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    let unknown_user = uuid::Uuid::new_v4();
    let actors = [
        ("anon", app.anon()),
        ("user", app.user("user@example.com").await),
        ("admin", app.admin(&db.url, "boss@example.com").await),
    ];
    for (name, actor) in &actors {
        let signed_in = |ok: StatusCode| if actor.tokens.is_some() { ok } else { StatusCode::UNAUTHORIZED };
        let admin_only = match *name {
            "anon" => StatusCode::UNAUTHORIZED,
            "user" => StatusCode::FORBIDDEN,
            _ => StatusCode::OK,
        };
        let admin_only_as = |ok: StatusCode| if admin_only == StatusCode::OK { ok } else { admin_only };
        let wrong_password = "current_password=wrong-guess&new_password=another-secret-1";
        let cases = [
            ("GET /api/me", actor.get("/api/me").await.status(), signed_in(StatusCode::OK)),
            ("GET /api/sessions", actor.get("/api/sessions").await.status(), signed_in(StatusCode::OK)),
            ("GET /api/admin/users", actor.get("/api/admin/users").await.status(), admin_only),
            (
                "DELETE another's session",
                actor.delete(&format!("/api/sessions/{victim_sid}")).await.status(),
                signed_in(StatusCode::NOT_FOUND),
            ),
            (
                "DELETE an unknown session",
                actor.delete(&format!("/api/sessions/{unknown_sid}")).await.status(),
                signed_in(StatusCode::NOT_FOUND),
            ),
            ("GET /api/me/activity", actor.get("/api/me/activity").await.status(), signed_in(StatusCode::OK)),
            ("GET /api/admin/audit", actor.get("/api/admin/audit").await.status(), admin_only),
            (
                "PATCH another account, changing nothing",
                actor.patch_json(&format!("/api/admin/users/{victim_id}"), &serde_json::json!({})).await.status(),
                admin_only,
            ),
            (
                "DELETE an unknown account's sessions",
                actor.delete(&format!("/api/admin/users/{unknown_user}/sessions")).await.status(),
                admin_only_as(StatusCode::NOT_FOUND),
            ),
            (
                "POST a reset link for an unknown account",
                actor
                    .post_json(&format!("/api/admin/users/{unknown_user}/password-reset"), &serde_json::json!({}))
                    .await
                    .status(),
                admin_only_as(StatusCode::NOT_FOUND),
            ),
            ("fn whoami", actor.call_fn("whoami", "").await.status(), signed_in(StatusCode::OK)),
            ("fn activity", actor.call_fn("activity", "").await.status(), signed_in(StatusCode::OK)),
            ("fn admin_audit", actor.call_fn("admin_audit", "").await.status(), admin_only),
            (
                "fn admin_update_user of another, changing nothing",
                actor.call_fn("admin_update_user", &format!("id={victim_id}")).await.status(),
                admin_only,
            ),
            (
                "fn admin_revoke_sessions of an unknown account",
                actor.call_fn("admin_revoke_sessions", &format!("id={unknown_user}")).await.status(),
                admin_only_as(StatusCode::NOT_FOUND),
            ),
            ("fn sessions", actor.call_fn("sessions", "").await.status(), signed_in(StatusCode::OK)),
            ("fn admin_users", actor.call_fn("admin_users", "").await.status(), admin_only),
            (
                "fn revoke_session of another",
                actor.call_fn("revoke_session", &format!("id={victim_sid}")).await.status(),
                signed_in(StatusCode::NOT_FOUND),
            ),
            (
                "fn change_password with a wrong current one",
                actor.call_fn("change_password", wrong_password).await.status(),
                signed_in(StatusCode::UNAUTHORIZED),
            ),
        ];
        for (what, got, want) in cases {
            assert_eq!(got, want, "{what} as {name}");
        }
    }
    // Nothing any of them did touched the victim.
    assert_eq!(victim.get("/api/me").await.status(), StatusCode::OK);
    assert_eq!(app.login("victim@example.com", PASSWORD).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn the_admin_list_is_bounded_paginated_and_filtered(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    for i in 0..5 {
        app.signed_up(&format!("member{i}@example.com")).await;
    }
    app.signed_up("other_100%@example.org").await;
    app.signed_up("boss@example.com").await;
    users_cli(&db.url, &["promote", "boss@example.com"]);
    let admin = Tokens::from(app.login("boss@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let page = |query: String| {
        let app = &app;
        let token = admin.access.clone();
        async move { app.get_with(&format!("/api/admin/users{query}"), &token).await }
    };

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let body: Value = page(query).await.json().await.unwrap();
        let users = body["users"].as_array().unwrap();
        assert!(users.len() <= 2);
        seen.extend(users.iter().map(|u| u["email"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "every user once: {seen:?}");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 7, "no user twice across pages");

    let filtered: Value = page("?q=MEMBER".into()).await.json().await.unwrap();
    assert_eq!(filtered["users"].as_array().unwrap().len(), 5, "case-insensitive substring");
    let literal: Value = page("?q=100%25".into()).await.json().await.unwrap();
    let literal = literal["users"].as_array().unwrap();
    assert_eq!(literal.len(), 1, "% is matched literally, not as a wildcard");
    let underscore: Value = page("?q=r_".into()).await.json().await.unwrap();
    assert_eq!(underscore["users"].as_array().unwrap().len(), 1, "_ is literal: only other_100%");

    for bad in ["?limit=0", "?limit=201", "?limit=ten", "?cursor=not-ours"] {
        expect_error(page(bad.into()).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    app.stop().await;
}
