//! For resource servers: RFC 8414 metadata, RFC 7662 introspection and RFC 7009 revocation,
//! on both databases and across two instances.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const CLIENTS: &str = "rs-one:0123456789abcdef0123,rs-two:another secret of 20+";

fn config(db: &TestDb) -> server::Config {
    test_config(&db.url, &[("AUTH_INTROSPECTION_CLIENTS", CLIENTS)])
}

async fn introspect(app: &TestApp, client: Option<(&str, &str)>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.post(app.url("/api/oauth/introspect")).form(form);
    if let Some((id, secret)) = client {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn active(app: &TestApp, token: &str) -> Value {
    let response = introspect(app, Some(("rs-one", "0123456789abcdef0123")), &[("token", token)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url("/api/oauth/revoke")).form(form).send().await.unwrap()
}

async fn metadata_names_only_what_the_server_does(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(config(&db)).await;
    let response = app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["issuer"], "http://tokenflow.test");
    assert_eq!(body["jwks_uri"], "http://tokenflow.test/.well-known/jwks.json");
    assert_eq!(body["introspection_endpoint"], "http://tokenflow.test/api/oauth/introspect");
    assert_eq!(body["revocation_endpoint"], "http://tokenflow.test/api/oauth/revoke");
    assert_eq!(body["introspection_endpoint_auth_methods_supported"], json!(["client_secret_basic"]));
    assert_eq!(body["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
    for absent in ["authorization_endpoint", "token_endpoint", "response_types_supported", "grant_types_supported"] {
        assert!(body.get(absent).is_none(), "{absent} is not something Tokenflow does");
    }
    // The JWKS it names is the one tokens verify with.
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
    app.stop().await;

    // The issuer is the tokens' `iss` exactly, trailing slash and all; the URLs stay clean.
    let app = TestApp::start(test_config(&db.url, &[("AUTH_ISSUER", "http://tokenflow.test/")])).await;
    let body: Value =
        app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["issuer"], "http://tokenflow.test/");
    assert_eq!(body["jwks_uri"], "http://tokenflow.test/.well-known/jwks.json");
    app.stop().await;
}

async fn introspection_tells_a_live_token_from_a_logged_out_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(config(&db)).await;
    let tokens = app.signed_up("ada@example.com").await;
    let live = active(&app, &tokens.access).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], tokens.user["id"]);
    assert_eq!(live["sid"], tokens.sid());
    assert_eq!(live["iss"], "http://tokenflow.test");
    assert_eq!(live["aud"], "tokenflow");
    assert_eq!(live["token_type"], "Bearer", "RFC 7662 §2.2: the type of RFC 6749 §5.1");
    assert!(live.get("cnf").is_none(), "a bearer token has no confirmation");
    assert!(live["exp"].as_i64().unwrap() > live["iat"].as_i64().unwrap());

    // Still within `exp`, but the session is over: a JWKS-only verifier would accept it.
    assert_eq!(app.logout(&tokens.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(active(&app, &tokens.access).await, json!({"active": false}));
    // Not a token, a refresh token, a forgery: inactive, and nothing more is said.
    let forged = format!("{}x", tokens.access);
    for token in ["garbage", tokens.refresh.as_str(), forged.as_str()] {
        assert_eq!(active(&app, token).await, json!({"active": false}), "{token}");
    }
    app.stop().await;
}

async fn introspection_is_for_its_clients_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(config(&db)).await;
    let tokens = app.signed_up("ada@example.com").await;
    let form = [("token", tokens.access.as_str())];
    for client in [
        None,
        Some(("rs-one", "0123456789abcdef012")),
        Some(("rs-one", "another secret of 20+")),
        Some(("rs-three", "0123456789abcdef0123")),
        Some(("", "")),
    ] {
        let response = introspect(&app, client, &form).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{client:?}");
        assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="tokenflow", charset="UTF-8""#);
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // A user's own access token is no client credential.
    let response =
        app.client.post(app.url("/api/oauth/introspect")).bearer_auth(&tokens.access).form(&form).send().await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let second = introspect(&app, Some(("rs-two", "another secret of 20+")), &form).await;
    assert_eq!(second.json::<Value>().await.unwrap()["active"], true);
    app.stop().await;

    // Without AUTH_INTROSPECTION_CLIENTS nobody may introspect.
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let response = introspect(&app, Some(("rs-one", "0123456789abcdef0123")), &form).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    app.stop().await;
}

async fn oauth_forms_are_forms_with_a_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(config(&db)).await;
    let client = Some(("rs-one", "0123456789abcdef0123"));
    expect_error(introspect(&app, client, &[]).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    expect_error(introspect(&app, client, &[("token", "")]).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    expect_error(
        revoke(&app, &[("token_type_hint", "access_token")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    for path in ["/api/oauth/introspect", "/api/oauth/revoke"] {
        let response = app
            .client
            .post(app.url(path))
            .basic_auth("rs-one", Some("0123456789abcdef0123"))
            .json(&json!({"token": "x"}))
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
    app.stop().await;
}

async fn revocation_ends_the_session_of_either_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(config(&db)).await;

    // With the access token: the session is gone, its refresh token with it.
    let first = app.signed_up("ada@example.com").await;
    assert_eq!(
        revoke(&app, &[("token", &first.access), ("token_type_hint", "access_token")]).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get_with("/api/me", &first.access).await.status(), StatusCode::UNAUTHORIZED);
    expect_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;

    // With the refresh token (the hint is only a hint): its access token is refused too.
    let second = app.login("ada@example.com", PASSWORD).await;
    let second = Tokens::from(second.json::<Value>().await.unwrap());
    assert_eq!(
        revoke(&app, &[("token", &second.refresh), ("token_type_hint", "access_token")]).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get_with("/api/me", &second.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(active(&app, &second.access).await["active"], false);

    // A spent refresh token still names its session.
    let third = Tokens::from(app.login("ada@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let rotated = Tokens::from(app.refresh(&third.refresh).await.json::<Value>().await.unwrap());
    assert_eq!(revoke(&app, &[("token", &third.refresh)]).await.status(), StatusCode::OK);
    assert_eq!(app.get_with("/api/me", &rotated.access).await.status(), StatusCode::UNAUTHORIZED);

    // Nothing of anyone's: 200 all the same, and nothing changes.
    let bystander = app.signed_up("grace@example.com").await;
    for token in ["garbage", "", "a.b.c", &format!("{}x", bystander.access)] {
        let response = revoke(&app, &[("token", token)]).await;
        assert!(matches!(response.status(), StatusCode::OK | StatusCode::BAD_REQUEST), "{token}");
    }
    assert_eq!(app.get_with("/api/me", &bystander.access).await.status(), StatusCode::OK);
    let events = count(
        &db.pool().await,
        "SELECT COUNT(*) FROM audit_events WHERE type = 'session_revoked' AND detail LIKE '%revocation endpoint%'",
    )
    .await;
    assert_eq!(events, 3, "each revocation recorded once");
    app.stop().await;
}

async fn a_parallel_burst_of_revocations_revokes_once_and_records_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(config(&db)).await;
    let tokens = app.signed_up("ada@example.com").await;
    // The same session through both of its tokens, sixteen times at once.
    let burst = (0..16).map(|i| {
        let token = if i % 2 == 0 { tokens.access.clone() } else { tokens.refresh.clone() };
        let app = &app;
        async move { revoke(app, &[("token", token.as_str())]).await.status() }
    });
    for status in futures::future::join_all(burst).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(app.get_with("/api/me", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
    let events = count(
        &db.pool().await,
        "SELECT COUNT(*) FROM audit_events WHERE type = 'session_revoked' AND detail LIKE '%revocation endpoint%'",
    )
    .await;
    assert_eq!(events, 1, "one revocation, recorded once");
    app.stop().await;
}

async fn a_revocation_at_one_instance_is_seen_by_the_introspection_of_another(backend: Backend) {
    let db = TestDb::new(backend).await;
    let one = TestApp::start(config(&db)).await;
    let two = TestApp::start(config(&db)).await;
    let tokens = one.signed_up("ada@example.com").await;
    assert_eq!(active(&two, &tokens.access).await["active"], true, "two has cached the session");
    assert_eq!(revoke(&one, &[("token", &tokens.access)]).await.status(), StatusCode::OK);
    eventually(2, "the other instance learns of the revocation", async || {
        active(&two, &tokens.access).await["active"] == false
    })
    .await;
    one.stop().await;
    two.stop().await;
}

both_backends!(
    metadata_names_only_what_the_server_does,
    introspection_tells_a_live_token_from_a_logged_out_one,
    introspection_is_for_its_clients_only,
    oauth_forms_are_forms_with_a_token,
    revocation_ends_the_session_of_either_token,
    a_parallel_burst_of_revocations_revokes_once_and_records_once,
    a_revocation_at_one_instance_is_seen_by_the_introspection_of_another,
);
