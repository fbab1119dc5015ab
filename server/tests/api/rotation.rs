//! `tokenflow keys rotate`: a new key signs, old keys verify until their tokens expire, then
//! leave the JWKS; nobody is logged out.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(rotating_keys_logs_nobody_out_and_retires_old_keys_after_their_tokens_expire);

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

async fn rotating_keys_logs_nobody_out_and_retires_old_keys_after_their_tokens_expire(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Tokens live 2 s, no leeway: the old key's retirement is observable within the test.
    let app = TestApp::start(test_config(&db.url, &[("AUTH_ACCESS_TTL_SECS", "2"), ("AUTH_LEEWAY_SECS", "0")])).await;
    let before = app.signed_up("rot@example.com").await;
    let old_kid = kid_of(&before.access);
    assert_eq!(jwks_kids(&app).await, vec![old_kid.clone()]);

    let new_kid = rotate_keys_cli(&db.url);
    assert_ne!(new_kid, old_kid);
    eventually(5, "the instance picks up the new key", async || jwks_kids(&app).await.contains(&new_kid)).await;
    assert!(jwks_kids(&app).await.contains(&old_kid), "the old key still verifies its tokens");
    assert_eq!(app.get_with("/api/me", &before.access).await.status(), StatusCode::OK, "nobody is logged out");

    // The session carries on: a refresh is signed with the new key.
    let refreshed = Tokens::from(app.refresh(&before.refresh).await.json::<Value>().await.unwrap());
    assert_eq!(kid_of(&refreshed.access), new_kid);
    assert_eq!(app.get_with("/api/me", &refreshed.access).await.status(), StatusCode::OK);

    // Once every token the old key signed has expired (ttl + leeway + key reload), it leaves.
    eventually(8, "the retired key leaves the JWKS", async || jwks_kids(&app).await == vec![new_kid.clone()]).await;
    let old = app.get_with("/api/me", &before.access).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
