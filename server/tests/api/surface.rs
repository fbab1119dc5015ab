//! The edges of the contract: bad input, limits, headers, JWKS, health.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    bad_input_gets_a_clear_json_error_and_changes_nothing,
    keys_persist_across_restarts,
    server_functions_check_the_bearer_token_like_the_rest_api,
);

async fn bad_input_gets_a_clear_json_error_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let signup = |body: Value| {
        let app = &app;
        async move { app.post_json("/api/auth/signup", &body).await }
    };

    expect_error(
        signup(json!({"email": "not-an-email", "password": PASSWORD})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_email",
    )
    .await;
    expect_error(
        signup(json!({"email": "zoë@example.com", "password": PASSWORD})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_email",
    )
    .await;
    let long = format!("{}@example.com", "a".repeat(250));
    expect_error(
        signup(json!({"email": long, "password": PASSWORD})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_email",
    )
    .await;
    expect_error(
        signup(json!({"email": "a@example.com", "password": "1234567"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    expect_error(
        signup(json!({"email": "a@example.com", "password": "x".repeat(129)})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    let missing = expect_error(
        signup(json!({"email": "a@example.com"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert!(missing.contains("password"), "{missing}");
    let typed = expect_error(
        signup(json!({"email": "a@example.com", "password": 12345678})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert!(!typed.contains("12345678"), "a password is never echoed: {typed}");

    let raw = |body: &'static str, content_type: &'static str| {
        app.client.post(app.url("/api/auth/signup")).header("content-type", content_type).body(body).send()
    };
    expect_error(raw("{not json", "application/json").await.unwrap(), StatusCode::BAD_REQUEST, "malformed_request")
        .await;
    expect_error(
        raw(r#"{"email":"a@example.com","password":"x"}"#, "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let big = json!({"email": "a@example.com", "password": PASSWORD, "name": "x".repeat(17 * 1024)});
    expect_error(signup(big.clone()).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Chunked, with no Content-Length to refuse up front.
    let chunks = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.to_string().into_bytes())]);
    let chunked = app
        .client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(chunked, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let pool = db.pool().await;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 0, "no bad request created anything");

    app.signed_up("dup@example.com").await;
    expect_error(
        signup(json!({"email": " DUP@example.com", "password": PASSWORD})).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;

    expect_error(
        app.client.get(app.url("/api/nothing-here")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.client.put(app.url("/api/me")).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    // Security headers on the API and on pages.
    let api = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    for response in [&api, &page] {
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(h.get("access-control-allow-origin").is_none(), "no CORS");
        assert!(h.get("x-request-id").is_some());
    }
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("'nonce-") && !csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");

    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
    app.stop().await;
}

async fn keys_persist_across_restarts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
    );
    assert!(key.get("d").is_none(), "never a private part");
    assert_eq!(
        key["kid"].as_str().unwrap(),
        tokenflow::keys::thumbprint(key["x"].as_str().unwrap()),
        "kid is the RFC 7638 thumbprint"
    );
    let tokens = app.signed_up("kim@example.com").await;
    app.stop().await;

    let again = TestApp::start(test_config(&db.url, &[])).await;
    let jwks_again: Value =
        again.client.get(again.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks_again, jwks, "same key after a restart");
    assert_eq!(
        again.get_with("/api/me", &tokens.access).await.status(),
        StatusCode::OK,
        "issued tokens survive a restart"
    );
    again.stop().await;
}

#[tokio::test]
async fn an_operator_key_file_signs_and_is_published() {
    let db = TestDb::new(Backend::Sqlite).await;
    let key = KeyFile::new();
    let app = TestApp::start(test_config(&db.url, &[("AUTH_SIGNING_KEY_FILE", key.as_str())])).await;
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    // RFC 8037 A.1's key, whose thumbprint RFC 8037 A.3 gives.
    assert_eq!(jwks["keys"][0]["kid"], "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    app.stop().await;

    std::fs::write(&key.path, "not a key").unwrap();
    let config = test_config(&db.url, &[("AUTH_SIGNING_KEY_FILE", key.as_str())]);
    assert!(server::build_state(&config).await.is_err(), "refuses to start with a bad key file");
}

async fn server_functions_check_the_bearer_token_like_the_rest_api(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let user = app.signed_up("fn@example.com").await;
    let call = |path: &str, token: Option<&str>| {
        let mut request =
            app.client.post(app.url(path)).header("content-type", "application/x-www-form-urlencoded").body("");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let anonymous = call("/fn/whoami", None).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!((body["error"].as_str(), body["status"].as_u64()), (Some("invalid_token"), Some(401)));

    let forged = call("/fn/whoami", Some("eyJhbGciOiJub25lIn0.e30.")).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(forged.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);

    let me = call("/fn/whoami", Some(&user.access)).await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"], user.user);
    assert_eq!(me["claims"]["sub"], user.user["id"]);

    let admin_only = call("/fn/admin_users", Some(&user.access)).await.unwrap();
    assert_eq!(admin_only.status(), StatusCode::FORBIDDEN);
    assert_eq!(admin_only.headers()["www-authenticate"], r#"Bearer error="insufficient_scope""#);
    let body: Value = admin_only.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_role");
    assert!(!body.to_string().contains("fn@example.com"), "no data in a refusal");
    app.stop().await;
}
