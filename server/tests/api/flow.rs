//! The flow of the README: sign up, me, refresh, reuse, logout; sessions; password change.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    signing_up_answers_a_token_response_that_is_never_cached,
    a_token_is_verified_once_then_answered_from_the_cache,
    refreshing_spends_the_token_and_rotates_the_pair,
    a_spent_refresh_token_reused_after_its_successor_revokes_the_session,
    logging_out_ends_the_sessions_access_and_refresh_tokens,
    login_answers_the_same_for_unknown_email_and_wrong_password,
    unauthenticated_is_401_and_wrong_role_is_403,
    sessions_can_be_listed_and_revoked_one_by_one,
    password_change_revokes_every_other_session,
);

async fn signing_up_answers_a_token_response_that_is_never_cached(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let response = app
        .post_json("/api/auth/signup", &json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let timing = response.headers()["server-timing"].to_str().unwrap().to_string();
    assert!(timing.starts_with("argon2id;dur=") && timing.contains("m=19456 t=2 p=1"), "{timing}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], "ada@example.com", "trimmed and lowercased");
    assert_eq!(body["user"]["name"], "Ada");
    assert_eq!(body["user"]["role"], "user");
    let pool = db.pool().await;
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users").fetch_one(&pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    app.stop().await;
}

async fn a_token_is_verified_once_then_answered_from_the_cache(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let me = ada.get("/api/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    let timing = me.headers()["server-timing"].to_str().unwrap().to_string();
    assert!(timing.starts_with("jwt;dur=") && timing.contains("Ed25519 signature verified"), "{timing}");
    assert_eq!(me.json::<Value>().await.unwrap(), ada.tokens.as_ref().unwrap().user);
    let again = ada.get("/api/me").await;
    let timing = again.headers()["server-timing"].to_str().unwrap().to_string();
    assert!(timing.contains("verified-token cache hit"), "a repeated token skips the signature: {timing}");
    app.stop().await;
}

async fn refreshing_spends_the_token_and_rotates_the_pair(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let first = app.signed_up("ada@example.com").await;
    let refreshed = app.refresh(&first.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
    assert!(refreshed.headers()["server-timing"].to_str().unwrap().starts_with("refresh;dur="));
    let second = Tokens::from(refreshed.json::<Value>().await.unwrap());
    assert_ne!(second.refresh, first.refresh, "rotated");
    assert_eq!(app.get_with("/api/me", &second.access).await.status(), StatusCode::OK);
    let pool = db.pool().await;
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1")
        .bind(&second.refresh)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "refresh tokens are stored hashed, never as issued");
    app.stop().await;
}

async fn a_spent_refresh_token_reused_after_its_successor_revokes_the_session(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let first = app.signed_up("ada@example.com").await;
    let second = Tokens::from(app.refresh(&first.refresh).await.json::<Value>().await.unwrap());
    // Within the grace a retry would get the same successor; once the successor is used, the
    // spent token is reuse, and the whole session dies with it.
    let third = Tokens::from(app.refresh(&second.refresh).await.json::<Value>().await.unwrap());
    expect_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let message =
        expect_error(app.get_with("/api/me", &third.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(message, "session revoked");
    expect_error(app.refresh(&third.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    app.stop().await;
}

async fn logging_out_ends_the_sessions_access_and_refresh_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let tokens = ada.tokens.clone().unwrap();
    assert_eq!(ada.post_json("/api/auth/logout", &json!({})).await.status(), StatusCode::NO_CONTENT);
    expect_error(ada.get("/api/me").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    expect_error(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let pool = db.pool().await;
    let (live,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(live, 0, "revoked in the database");
    app.stop().await;
}

async fn login_answers_the_same_for_unknown_email_and_wrong_password(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.signed_up("grace@example.com").await;
    let wrong = expect_error(
        app.login("grace@example.com", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_error(
        app.login("nobody@example.com", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown, "an unknown email is indistinguishable");
    let ok = app.login(" GRACE@example.com", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::OK, "emails compare after trimming and lowercasing");
    // Passwords are never trimmed.
    expect_error(
        app.login("grace@example.com", &format!(" {PASSWORD}")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    app.stop().await;
}

async fn unauthenticated_is_401_and_wrong_role_is_403(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_ADMIN_EMAILS", "Root@Example.com")])).await;
    let user = app.signed_up("user@example.com").await;
    let signed_up = app.signed_up("root@example.com").await;
    assert_eq!(signed_up.user["role"], "user", "a listed address proves nothing until its mailbox is proven");
    let promoted = users_cli(&db.url, &["promote", "Root@Example.com"]);
    assert!(promoted.contains("root@example.com") && promoted.contains("admin"), "{promoted}");
    let admin = Tokens::from(app.login("root@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    assert_eq!(admin.user["role"], "admin");

    let none = app.client.get(app.url("/api/me")).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    expect_error(none, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let bad = app.get_with("/api/me", "not-a-token").await;
    assert_eq!(bad.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
    expect_error(bad, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let forbidden = app.get_with("/api/admin/users", &user.access).await;
    assert_eq!(forbidden.headers()["www-authenticate"], r#"Bearer error="insufficient_scope""#);
    expect_error(forbidden, StatusCode::FORBIDDEN, "insufficient_role").await;

    let listed = app.get_with("/api/admin/users", &admin.access).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let users: Value = listed.json().await.unwrap();
    let emails: Vec<&str> = users["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), 2);
    assert!(emails.contains(&"user@example.com") && emails.contains(&"root@example.com"));
    assert!(!users.to_string().contains("argon2"), "no password hashes leave the server");
    app.stop().await;
}

async fn sessions_can_be_listed_and_revoked_one_by_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let laptop = app.signed_up("lin@example.com").await;
    let phone = Tokens::from(app.login("lin@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let other = app.signed_up("mallory@example.com").await;

    let listed: Value = app.get_with("/api/sessions", &phone.access).await.json().await.unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();

    // Someone else's session, or one that does not exist: 404, and nothing changes.
    let foreign = app
        .client
        .delete(app.url(&format!("/api/sessions/{laptop_id}")))
        .bearer_auth(&other.access)
        .send()
        .await
        .unwrap();
    expect_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    let missing = app.client.delete(app.url("/api/sessions/nope")).bearer_auth(&phone.access).send().await.unwrap();
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.get_with("/api/me", &laptop.access).await.status(), StatusCode::OK);

    let revoked = app
        .client
        .delete(app.url(&format!("/api/sessions/{laptop_id}")))
        .bearer_auth(&phone.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    expect_error(app.get_with("/api/me", &laptop.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    expect_error(app.refresh(&laptop.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let listed: Value = app.get_with("/api/sessions", &phone.access).await.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn password_change_revokes_every_other_session(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let here = app.signed_up("pat@example.com").await;
    let elsewhere = Tokens::from(app.login("pat@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let change = |current: &str, new: &str| {
        app.client
            .post(app.url("/api/auth/password"))
            .bearer_auth(&here.access)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };

    expect_error(
        change("wrong password", "a new password").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(change(PASSWORD, "short").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert_eq!(
        app.get_with("/api/me", &elsewhere.access).await.status(),
        StatusCode::OK,
        "failed changes change nothing"
    );

    assert_eq!(change(PASSWORD, "a new password").await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_with("/api/me", &here.access).await.status(), StatusCode::OK, "the calling session stays");
    expect_error(app.get_with("/api/me", &elsewhere.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    expect_error(app.refresh(&elsewhere.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    expect_error(app.login("pat@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.login("pat@example.com", "a new password").await.status(), StatusCode::OK);
    app.stop().await;
}
