//! The resource server example (`examples/resource_server.rs` of the core) beside Tokenflow:
//! it accepts Tokenflow's tokens with nothing but the JWKS, refuses forgeries, and follows a
//! key rotation.

use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn example_binary() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tokenflow"));
    let path = bin.parent().unwrap().join("examples").join("resource_server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` at the workspace root, which builds the examples",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_verifies_tokens_with_only_the_jwks() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let (_resource, base) = start_example(&app, &[], &[]).await;
    let client = reqwest::Client::new();
    let protected = async |token: Option<&str>| {
        let mut request = client.get(format!("{base}/protected"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };

    let tokens = app.signed_up("third@example.com").await;
    let (status, body) = protected(Some(&tokens.access)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["claims"]["email"], "third@example.com");

    let parts: Vec<&str> = tokens.access.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = "admin".into();
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    let (status, body) = protected(Some(&forged)).await;
    assert_eq!((status, body["message"].as_str()), (StatusCode::UNAUTHORIZED, Some("signature does not verify")));
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#), parts[1]);
    let (status, body) = protected(Some(&none)).await;
    assert_eq!((status, body["message"].as_str()), (StatusCode::UNAUTHORIZED, Some("algorithm not allowed")));
    assert_eq!(protected(None).await.0, StatusCode::UNAUTHORIZED);

    // A rotation at Tokenflow: the resource server meets a new kid and refetches the JWKS.
    let new_kid = rotate_keys_cli(&db.url);
    let mut fresh = tokens.clone();
    eventually(5, "Tokenflow signs with the new key", async || {
        fresh = Tokens::from(app.login("third@example.com", PASSWORD).await.json::<Value>().await.unwrap());
        kid_of(&fresh.access) == new_kid
    })
    .await;
    let (status, body) = protected(Some(&fresh.access)).await;
    assert_eq!(status, StatusCode::OK, "new key accepted after a refetch: {body}");
    assert_eq!(protected(Some(&tokens.access)).await.0, StatusCode::OK, "the old key still verifies its tokens");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_bound_token_needs_a_proof_by_its_key_at_the_resource_server_too() {
    use tokenflow::dpop::ProofKey;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let (_resource, base) = start_example(&app, &[], &[]).await;
    app.signed_up("bound@example.com").await;
    let key = ProofKey::generate_p256().unwrap();
    let now = tokenflow::time::now();
    let sign_in = key.proof("POST", "http://tokenflow.test/api/auth/login", None, now).unwrap();
    let login = serde_json::json!({"email": "bound@example.com", "password": PASSWORD});
    let response =
        app.client.post(app.url("/api/auth/login")).header("DPoP", sign_in).json(&login).send().await.unwrap();
    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();

    let url = format!("{base}/protected");
    let client = reqwest::Client::new();
    let call = async |authorization: String, proof: Option<&str>| {
        let mut request = client.get(&url).header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap()["message"].as_str().unwrap_or_default().to_string())
    };
    let refused = |message: &str| (StatusCode::UNAUTHORIZED, message.to_string());
    assert_eq!(call(format!("Bearer {token}"), None).await, refused("token is DPoP-bound"));
    let proof = key.proof("GET", &url, Some(&token), now).unwrap();
    let (status, message) = call(format!("DPoP {token}"), Some(&proof)).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(call(format!("DPoP {token}"), Some(&proof)).await, refused("DPoP proof was already used"));
    // A proof the holder made for Tokenflow is not one for this server.
    let for_tokenflow = key.proof("GET", "http://tokenflow.test/api/me", Some(&token), now).unwrap();
    assert_eq!(
        call(format!("DPoP {token}"), Some(&for_tokenflow)).await,
        refused("DPoP proof htu does not match the request URL")
    );
    let thief = ProofKey::generate_ed25519().unwrap().proof("GET", &url, Some(&token), now).unwrap();
    assert_eq!(
        call(format!("DPoP {token}"), Some(&thief)).await,
        refused("DPoP proof key is not the one the token is bound to")
    );
    app.stop().await;
}

/// The example started beside `app`, with `args` and `vars`; its base URL. Killed on drop.
async fn start_example(app: &TestApp, args: &[&str], vars: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(example_binary())
        .args(args)
        .env("TOKENFLOW_URL", "http://tokenflow.test")
        .env("JWKS_URL", app.url("/.well-known/jwks.json"))
        .env("INTROSPECT_URL", app.url("/api/oauth/introspect"))
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(10, "the resource server starts", async || client.get(format!("{base}/healthz")).send().await.is_ok())
        .await;
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_logout_the_introspecting_resource_server_refuses_and_the_jwks_only_one_does_not() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app =
        TestApp::start(test_config(&db.url, &[("AUTH_INTROSPECTION_CLIENTS", "example:an example secret 123")])).await;
    let (_jwks_only, jwks_only) = start_example(&app, &[], &[]).await;
    let (_introspecting, introspecting) = start_example(
        &app,
        &["--introspect"],
        &[("INTROSPECTION_CLIENT", "example:an example secret 123"), ("INTROSPECT_CACHE_SECS", "1")],
    )
    .await;
    let client = reqwest::Client::new();
    let protected = async |base: &str, token: &str| {
        let response = client.get(format!("{base}/protected")).bearer_auth(token).send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let tokens = app.signed_up("third@example.com").await;
    for base in [&jwks_only, &introspecting] {
        let (status, body) = protected(base, &tokens.access).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(
        protected(&introspecting, &tokens.access).await.1["verified_by"].as_str().unwrap().contains("introspection")
    );

    assert_eq!(app.logout(&tokens.access).await.status(), StatusCode::NO_CONTENT);
    let logged_out = std::time::Instant::now();
    eventually(3, "the introspecting resource server refuses the revoked token", async || {
        protected(&introspecting, &tokens.access).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    let (_, body) = protected(&introspecting, &tokens.access).await;
    assert_eq!(body["message"], "token revoked (introspection)");
    assert!(logged_out.elapsed() < std::time::Duration::from_millis(2500), "within the 1 s cache and a poll");
    // The JWKS alone cannot know: the token verifies until it expires.
    assert_eq!(protected(&jwks_only, &tokens.access).await.0, StatusCode::OK);

    // Tokenflow unreachable (wrong client secret, here): refused, not waved through.
    let (_misconfigured, misconfigured) =
        start_example(&app, &["--introspect"], &[("INTROSPECTION_CLIENT", "example:not the secret at all")]).await;
    let fresh = Tokens::from(app.login("third@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    assert_eq!(protected(&misconfigured, &fresh.access).await.0, StatusCode::SERVICE_UNAVAILABLE);
    app.stop().await;
}
