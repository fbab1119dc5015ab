//! DPoP-bound sessions (RFC 9449): sign-in binds, refresh and protected calls (REST and server
//! functions) need a proof by the key, each refusal says why, and a refused token request
//! changes nothing. On both databases; `AUTH_DPOP` modes across instances of one database.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokenflow::dpop::ProofKey;

use crate::both_backends;
use crate::helpers::*;

/// The issuer of the test servers: what every `htu` starts with.
const ISSUER: &str = "http://tokenflow.test";

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn proof(key: &ProofKey, method: &str, path: &str, token: Option<&str>) -> String {
    key.proof(method, &format!("{ISSUER}{path}"), token, now()).unwrap()
}

/// A token request with a proof by `key`.
async fn token_request(app: &TestApp, key: &ProofKey, path: &str, body: &Value) -> reqwest::Response {
    let dpop = proof(key, "POST", path, None);
    app.client.post(app.url(path)).header("DPoP", dpop).json(body).send().await.unwrap()
}

async fn bound_login(app: &TestApp, key: &ProofKey, email: &str) -> Tokens {
    let body = json!({"email": email, "password": PASSWORD});
    let response = token_request(app, key, "/api/auth/login", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    Tokens::from(body)
}

/// `GET /api/me` with `DPoP <token>` and the given proof (if any).
async fn me(app: &TestApp, token: &str, dpop: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/api/me")).header("authorization", format!("DPoP {token}"));
    if let Some(dpop) = dpop {
        request = request.header("DPoP", dpop);
    }
    request.send().await.unwrap()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A refusal: status, code, the message, and the start of the challenge.
async fn refused(response: reqwest::Response, status: StatusCode, code: &str, message: &str, challenge: Option<&str>) {
    let header = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    match challenge {
        Some(start) => assert!(header.as_deref().is_some_and(|h| h.starts_with(start)), "{header:?} for {message}"),
        None => assert_eq!(header, None, "{message}"),
    }
    assert_eq!(expect_error(response, status, code).await, message);
}

const BAD_PROOF: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA""#;
const BAD_TOKEN: &str = r#"DPoP error="invalid_token", algs="ES256 EdDSA""#;

async fn a_bound_token_works_only_with_a_fresh_proof_by_its_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.signed_up("ada@example.com").await;
    for key in [ProofKey::generate_p256().unwrap(), ProofKey::generate_ed25519().unwrap()] {
        let tokens = bound_login(&app, &key, "ada@example.com").await;
        assert_eq!(claims(&tokens.access)["cnf"], json!({"jkt": key.jkt()}), "{}", key.alg());

        let good = proof(&key, "GET", "/api/me", Some(&tokens.access));
        let response = me(&app, &tokens.access, Some(&good)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", key.alg());
        assert_eq!(response.json::<Value>().await.unwrap()["email"], "ada@example.com");

        // What a thief holding only the token can try: each refused, with the reason.
        let token = tokens.access.as_str();
        let as_bearer = app.get_with("/api/me", token).await;
        refused(as_bearer, StatusCode::UNAUTHORIZED, "invalid_token", "token is DPoP-bound", Some(BAD_TOKEN)).await;
        let no_proof = me(&app, token, None).await;
        refused(no_proof, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", "DPoP proof missing", Some(BAD_PROOF)).await;
        let thief = ProofKey::generate_p256().unwrap();
        let other_key = me(&app, token, Some(&proof(&thief, "GET", "/api/me", Some(token)))).await;
        let message = "DPoP proof key is not the one the token is bound to";
        refused(other_key, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", message, Some(BAD_PROOF)).await;
        let replayed = me(&app, token, Some(&good)).await;
        let message = "DPoP proof was already used";
        refused(replayed, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", message, Some(BAD_PROOF)).await;
        let other_url = me(&app, token, Some(&proof(&key, "GET", "/api/sessions", Some(token)))).await;
        let message = "DPoP proof htu does not match the request URL";
        refused(other_url, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", message, Some(BAD_PROOF)).await;
        let other_method = me(&app, token, Some(&proof(&key, "POST", "/api/me", Some(token)))).await;
        let message = "DPoP proof htm does not match the request method";
        refused(other_method, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", message, Some(BAD_PROOF)).await;
        let no_ath = me(&app, token, Some(&proof(&key, "GET", "/api/me", None))).await;
        let message = "DPoP proof ath does not match the access token";
        refused(no_ath, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", message, Some(BAD_PROOF)).await;
        let stale = key.proof("GET", &format!("{ISSUER}/api/me"), Some(token), now() - 120).unwrap();
        let message = "DPoP proof iat is too far from the server's clock";
        refused(
            me(&app, token, Some(&stale)).await,
            StatusCode::UNAUTHORIZED,
            "invalid_dpop_proof",
            message,
            Some(BAD_PROOF),
        )
        .await;
        let two = app
            .client
            .get(app.url("/api/me"))
            .header("authorization", format!("DPoP {token}"))
            .header("DPoP", proof(&key, "GET", "/api/me", Some(token)))
            .header("DPoP", proof(&key, "GET", "/api/me", Some(token)))
            .send()
            .await
            .unwrap();
        let message = "exactly one DPoP header is allowed";
        refused(two, StatusCode::UNAUTHORIZED, "invalid_dpop_proof", message, Some(BAD_PROOF)).await;
        // None of that cost the holder anything: the next fresh proof passes.
        let next = proof(&key, "GET", "/api/me", Some(token));
        assert_eq!(me(&app, token, Some(&next)).await.status(), StatusCode::OK);
    }
    // An unbound token in the DPoP scheme is not bound: refused, not silently accepted.
    let bearer = Tokens::from(app.login("ada@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    assert!(claims(&bearer.access).get("cnf").is_none());
    let key = ProofKey::generate_p256().unwrap();
    let dpop = proof(&key, "GET", "/api/me", Some(&bearer.access));
    let response = me(&app, &bearer.access, Some(&dpop)).await;
    refused(response, StatusCode::UNAUTHORIZED, "invalid_token", "token is not DPoP-bound", Some(BAD_TOKEN)).await;
    // A token error under the DPoP scheme comes with a DPoP challenge.
    let garbage = me(&app, "not.a.token", Some(&dpop)).await;
    assert!(garbage.headers()["www-authenticate"].to_str().unwrap().starts_with(BAD_TOKEN));
    app.stop().await;
}

async fn server_functions_take_the_same_proofs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.signed_up("ada@example.com").await;
    let key = ProofKey::generate_p256().unwrap();
    let tokens = bound_login(&app, &key, "ada@example.com").await;
    let call = |dpop: Option<String>, scheme: &str| {
        let mut request = app
            .client
            .post(app.url("/fn/whoami"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("{scheme} {}", tokens.access));
        if let Some(dpop) = dpop {
            request = request.header("DPoP", dpop);
        }
        request.send()
    };
    let good = proof(&key, "POST", "/fn/whoami", Some(&tokens.access));
    let response = call(Some(good.clone()), "DPoP").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["claims"]["cnf"]["jkt"], key.jkt());
    let replayed = call(Some(good), "DPoP").await.unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert!(replayed.headers()["www-authenticate"].to_str().unwrap().starts_with(BAD_PROOF));
    let as_bearer = call(None, "Bearer").await.unwrap();
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
    assert!(as_bearer.text().await.unwrap().contains("token is DPoP-bound"));
    // A proof for the REST twin of the call is not a proof for the call.
    let rest = proof(&key, "GET", "/api/me", Some(&tokens.access));
    assert_eq!(call(Some(rest), "DPoP").await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Sign-in by server function binds too.
    let dpop = proof(&key, "POST", "/fn/login", None);
    let response = app
        .client
        .post(app.url("/fn/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", dpop)
        .body(format!("email=ada%40example.com&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    // The login server function answers {"tokens"} (or {"second_factor"} for an account with one).
    let tokens = &body["tokens"];
    assert_eq!(tokens["token_type"], "DPoP", "{body}");
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());
    app.stop().await;
}

async fn a_bound_refresh_token_needs_its_key_and_a_refusal_spends_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.signed_up("ada@example.com").await;
    let key = ProofKey::generate_p256().unwrap();
    let tokens = bound_login(&app, &key, "ada@example.com").await;
    let body = json!({"refresh_token": tokens.refresh});

    // A thief with the refresh token alone, or with a key of their own: 400, and the token is
    // neither spent nor taken for reuse (which would revoke the holder's session).
    let bare = app.refresh(&tokens.refresh).await;
    refused(bare, StatusCode::BAD_REQUEST, "invalid_dpop_proof", "DPoP proof missing", None).await;
    let thief = ProofKey::generate_p256().unwrap();
    let stolen = token_request(&app, &thief, "/api/auth/refresh", &body).await;
    let message = "DPoP proof key is not the one the token is bound to";
    refused(stolen, StatusCode::BAD_REQUEST, "invalid_dpop_proof", message, None).await;
    let wrong_url = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("DPoP", proof(&key, "POST", "/api/auth/login", None))
        .json(&body)
        .send()
        .await
        .unwrap();
    let message = "DPoP proof htu does not match the request URL";
    refused(wrong_url, StatusCode::BAD_REQUEST, "invalid_dpop_proof", message, None).await;

    // The holder refreshes: still bound, to the same key.
    let response = token_request(&app, &key, "/api/auth/refresh", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    assert_eq!(rotated["token_type"], "DPoP");
    let rotated = Tokens::from(rotated);
    assert_eq!(claims(&rotated.access)["cnf"]["jkt"], key.jkt());

    // The spent token, presented by a thief's key past the grace, is not reuse: the session lives.
    let late = token_request(&app, &thief, "/api/auth/refresh", &body).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    let dpop = proof(&key, "GET", "/api/me", Some(&rotated.access));
    assert_eq!(me(&app, &rotated.access, Some(&dpop)).await.status(), StatusCode::OK);
    // The holder's own retry within the grace gets the same successor.
    let retry: Value = token_request(&app, &key, "/api/auth/refresh", &body).await.json().await.unwrap();
    assert_eq!(retry["refresh_token"].as_str(), Some(rotated.refresh.as_str()));

    // A proof with the refresh of an unbound session binds nothing.
    let bearer = Tokens::from(app.login("ada@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let response = token_request(&app, &key, "/api/auth/refresh", &json!({"refresh_token": bearer.refresh})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(claims(body["access_token"].as_str().unwrap()).get("cnf").is_none());
    app.stop().await;
}

async fn a_bad_proof_on_a_sign_in_is_400_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.signed_up("ada@example.com").await;
    let pool = db.pool().await;
    let sessions_before = count(&pool, "SELECT COUNT(*) FROM sessions").await;
    let key = ProofKey::generate_p256().unwrap();
    let login = json!({"email": "ada@example.com", "password": PASSWORD});
    let for_signup = proof(&key, "POST", "/api/auth/signup", None);
    let cases = [
        ("garbage".to_string(), "DPoP proof is not a well-formed JWT"),
        (for_signup, "DPoP proof htu does not match the request URL"),
        (
            key.proof("GET", &format!("{ISSUER}/api/auth/login"), None, now()).unwrap(),
            "DPoP proof htm does not match the request method",
        ),
    ];
    // More wrong passwords than the failed-login limit: a refused proof is not a login
    // attempt, so none counts.
    let wrong = json!({"email": "ada@example.com", "password": "not the password"});
    for _ in 0..2 {
        for (dpop, message) in &cases {
            let response =
                app.client.post(app.url("/api/auth/login")).header("DPoP", dpop).json(&wrong).send().await.unwrap();
            refused(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof", message, None).await;
        }
    }
    // A proof used once is spent for sign-ins too.
    let once = proof(&key, "POST", "/api/auth/login", None);
    let send = || app.client.post(app.url("/api/auth/login")).header("DPoP", once.clone()).json(&login).send();
    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    refused(send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_dpop_proof", "DPoP proof was already used", None)
        .await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM sessions").await, sessions_before + 1, "one session, the good one");
    let signup = json!({"email": "bob@example.com", "password": PASSWORD});
    let response =
        app.client.post(app.url("/api/auth/signup")).header("DPoP", "x.y.z").json(&signup).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM users WHERE email = 'bob@example.com'").await, 0);
    app.stop().await;
}

async fn one_proof_sent_many_times_at_once_passes_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    app.signed_up("ada@example.com").await;
    let key = ProofKey::generate_p256().unwrap();
    let tokens = bound_login(&app, &key, "ada@example.com").await;
    let captured = proof(&key, "GET", "/api/me", Some(&tokens.access));
    let burst = (0..16).map(|_| me(&app, &tokens.access, Some(&captured)));
    let statuses: Vec<StatusCode> =
        futures::future::join_all(burst).await.iter().map(reqwest::Response::status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 15, "{statuses:?}");
    app.stop().await;
}

async fn introspection_reports_the_binding(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = test_config(&db.url, &[("AUTH_INTROSPECTION_CLIENTS", "rs:0123456789abcdef")]);
    let app = TestApp::start(config).await;
    app.signed_up("ada@example.com").await;
    let key = ProofKey::generate_ed25519().unwrap();
    let tokens = bound_login(&app, &key, "ada@example.com").await;
    let response = app
        .client
        .post(app.url("/api/oauth/introspect"))
        .basic_auth("rs", Some("0123456789abcdef"))
        .form(&[("token", tokens.access.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"], json!({"jkt": key.jkt()}), "the resource server checks the proof against it");
    app.stop().await;
}

/// `AUTH_DPOP` decides what new sign-ins may do; a binding, once made, holds in every mode.
async fn the_modes_govern_new_sign_ins_and_never_unbind(backend: Backend) {
    let db = TestDb::new(backend).await;
    let optional = TestApp::start(test_config(&db.url, &[])).await;
    let required = TestApp::start(test_config(&db.url, &[("AUTH_DPOP", "required")])).await;
    let off = TestApp::start(test_config(&db.url, &[("AUTH_DPOP", "off")])).await;
    optional.signed_up("ada@example.com").await;
    let key = ProofKey::generate_p256().unwrap();
    let login = json!({"email": "ada@example.com", "password": PASSWORD});

    // required: no proof, no token; a bearer session from before is refused, and so is its refresh.
    let bare = required.login("ada@example.com", PASSWORD).await;
    refused(bare, StatusCode::BAD_REQUEST, "invalid_dpop_proof", "DPoP proof missing", None).await;
    let bearer = Tokens::from(optional.login("ada@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let message = "DPoP is required: sign in again with a DPoP proof";
    refused(
        required.get_with("/api/me", &bearer.access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        message,
        Some(BAD_TOKEN),
    )
    .await;
    let response = token_request(&required, &key, "/api/auth/refresh", &json!({"refresh_token": bearer.refresh})).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let bound = bound_login(&required, &key, "ada@example.com").await;
    let dpop = proof(&key, "GET", "/api/me", Some(&bound.access));
    assert_eq!(me(&required, &bound.access, Some(&dpop)).await.status(), StatusCode::OK);

    // off: a proof binds nothing and is not even read; metadata offers no DPoP.
    let response =
        off.client.post(off.url("/api/auth/login")).header("DPoP", "garbage").json(&login).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["token_type"], "Bearer");
    let metadata: Value =
        off.client.get(off.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert!(metadata.get("dpop_signing_alg_values_supported").is_none(), "{metadata}");
    // ... but the session bound elsewhere stays bound here: its token needs its proof.
    assert_eq!(off.get_with("/api/me", &bound.access).await.status(), StatusCode::UNAUTHORIZED);
    let dpop = proof(&key, "GET", "/api/me", Some(&bound.access));
    assert_eq!(me(&off, &bound.access, Some(&dpop)).await.status(), StatusCode::OK);
    assert_eq!(off.refresh(&bound.refresh).await.status(), StatusCode::BAD_REQUEST);
    let refreshed = token_request(&off, &key, "/api/auth/refresh", &json!({"refresh_token": bound.refresh})).await;
    assert_eq!(refreshed.json::<Value>().await.unwrap()["token_type"], "DPoP");
    for app in [optional, required, off] {
        app.stop().await;
    }
}

both_backends!(
    a_bound_token_works_only_with_a_fresh_proof_by_its_key,
    server_functions_take_the_same_proofs,
    a_bound_refresh_token_needs_its_key_and_a_refusal_spends_nothing,
    a_bad_proof_on_a_sign_in_is_400_and_changes_nothing,
    one_proof_sent_many_times_at_once_passes_once,
    introspection_reports_the_binding,
    the_modes_govern_new_sign_ins_and_never_unbind,
);
