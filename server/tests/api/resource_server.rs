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
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _resource = tokio::process::Command::new(example_binary())
        .env("TOKENFLOW_URL", "http://tokenflow.test")
        .env("JWKS_URL", app.url("/.well-known/jwks.json"))
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(10, "the resource server starts", async || client.get(format!("{base}/healthz")).send().await.is_ok())
        .await;
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
