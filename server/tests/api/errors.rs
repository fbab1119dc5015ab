//! The contract's error bodies, pinned: status, code and the exact message of each refusal a
//! client is likely to meet. A change to any of them is a change to the contract.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn each_refusal_answers_its_pinned_body() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let user = app.user("pinned@example.com").await;
    let body = |error: &str, message: &str| json!({"error": error, "message": message});

    expect_body(
        app.anon().get("/api/me").await,
        StatusCode::UNAUTHORIZED,
        body("invalid_token", "missing bearer token"),
    )
    .await;
    expect_body(
        app.get_with("/api/me", "not.a.token").await,
        StatusCode::UNAUTHORIZED,
        body("invalid_token", "token is not a compact JWS"),
    )
    .await;
    expect_body(
        app.login("pinned@example.com", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        body("invalid_credentials", "invalid email or password"),
    )
    .await;
    expect_body(
        app.refresh("not-a-refresh-token").await,
        StatusCode::UNAUTHORIZED,
        body("invalid_grant", "refresh token is invalid, expired or revoked"),
    )
    .await;
    expect_body(
        user.get("/api/admin/users").await,
        StatusCode::FORBIDDEN,
        body("insufficient_role", "this needs role admin"),
    )
    .await;
    expect_body(
        app.signup("pinned@example.com", PASSWORD).await,
        StatusCode::CONFLICT,
        body("email_taken", "an account with this email already exists"),
    )
    .await;
    expect_body(
        app.signup("other@example.com", "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        body("weak_password", "password must be at least 8 characters"),
    )
    .await;
    expect_body(
        app.signup("not-an-email", PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        body("invalid_email", "email must contain @"),
    )
    .await;
    expect_body(
        user.delete("/api/sessions/00000000-0000-4000-8000-000000000000").await,
        StatusCode::NOT_FOUND,
        body("not_found", "not found"),
    )
    .await;
    for path in ["/api", "/api/", "/api/nowhere", "/api/auth/nowhere", "/api/me/nowhere", "/api/admin/users/x/y/z"] {
        expect_body(app.anon().get(path).await, StatusCode::NOT_FOUND, body("not_found", "no such endpoint")).await;
    }
    let raw = |content_type: &'static str, text: &'static str| {
        app.client.post(app.url("/api/auth/login")).header("content-type", content_type).body(text).send()
    };
    expect_body(
        raw("application/json", "{").await.unwrap(),
        StatusCode::BAD_REQUEST,
        body("malformed_request", "request body is not valid JSON"),
    )
    .await;
    expect_body(
        raw("text/plain", "{}").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        body("unsupported_media_type", "request body must be application/json"),
    )
    .await;
    let twice = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", format!("Bearer {}", user.access()))
        .header("authorization", "Bearer x")
        .send()
        .await
        .unwrap();
    expect_body(twice, StatusCode::BAD_REQUEST, body("invalid_request", "more than one Authorization header")).await;
    app.stop().await;
}

#[tokio::test]
async fn the_jwks_publishes_the_key_that_signs_and_nothing_private() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let user = app.user("keys@example.com").await;
    let jwks = app.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"].as_str().unwrap(), kid_of(user.access()));
    assert!(keys[0].get("d").is_none(), "no private part");
    app.stop().await;
}
