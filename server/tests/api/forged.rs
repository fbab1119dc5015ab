//! Forged and broken tokens, each refused with its reason (API.md's `message` of a 401).
//! The server signs with the test key, so the tests can also sign valid-looking tokens whose
//! only fault is the one under test.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(forged_tokens_are_refused_with_their_reason);

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(header: &Value, claims: &Value, key: &ed25519_dalek::SigningKey) -> String {
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    format!("{message}.{}", b64(&key.sign(message.as_bytes()).to_bytes()))
}

fn decode_part(token: &str, index: usize) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(index).unwrap()).unwrap()).unwrap()
}

async fn forged_tokens_are_refused_with_their_reason(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = KeyFile::new();
    let app = TestApp::start(test_config(&db.url, &[("AUTH_SIGNING_KEY_FILE", key.as_str())])).await;
    let ours = ed25519_dalek::SigningKey::from_pkcs8_pem(TEST_KEY_PEM).unwrap();
    let theirs = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);

    let real = app.signed_up("eve@example.com").await.access;
    let header = decode_part(&real, 0);
    let claims = decode_part(&real, 1);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let public_x = {
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        jwks["keys"][0]["x"].as_str().unwrap().to_string()
    };
    // Control: a token we sign ourselves with the server's key and unchanged claims passes.
    assert_eq!(app.get_with("/api/me", &sign(&header, &claims, &ours)).await.status(), StatusCode::OK);

    let now = claims["iat"].as_i64().unwrap();
    let with = |name: &str, value: Value| {
        let mut c = claims.clone();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let header_with = |name: &str, value: Value| {
        let mut h = header.clone();
        h[name] = value;
        h
    };
    let parts: Vec<&str> = real.split('.').collect();

    let hs256 = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = header["kid"].as_str().map(String::from);
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(public_x.as_bytes())).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(header_with("alg", json!("none")).to_string().as_bytes()), parts[1]),
            "algorithm not allowed",
        ),
        ("HS256 keyed with the public key", hs256, "algorithm not allowed"),
        (
            "role edited to admin",
            format!("{}.{}.{}", parts[0], b64(with("role", json!("admin")).to_string().as_bytes()), parts[2]),
            "signature does not verify",
        ),
        ("signature stripped", format!("{}.{}.", parts[0], parts[1]), "signature does not verify"),
        ("another key using our kid", sign(&header, &claims, &theirs), "signature does not verify"),
        ("unknown kid", sign(&header_with("kid", json!("not-ours")), &claims, &ours), "unknown key id"),
        ("typ JWT", sign(&header_with("typ", json!("JWT")), &claims, &ours), "token type must be at+jwt"),
        (
            "crit",
            sign(&header_with("crit", json!(["exp"])), &claims, &ours),
            "critical header parameters are not supported",
        ),
        (
            "embedded jwk",
            sign(&header_with("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})), &claims, &ours),
            "header parameter not allowed (jku, jwk, x5u, x5c)",
        ),
        ("expired", sign(&header, &with("exp", json!(now - 120)), &ours), "token expired"),
        ("nbf in the future", sign(&header, &with("nbf", json!(now + 3600)), &ours), "token not yet valid"),
        ("iat in the future", sign(&header, &with("iat", json!(now + 3600)), &ours), "token issued in the future"),
        ("wrong iss", sign(&header, &with("iss", json!("https://evil.test")), &ours), "wrong issuer"),
        ("wrong aud", sign(&header, &with("aud", json!("another-api")), &ours), "wrong audience"),
        ("exp missing", sign(&header, &without("exp"), &ours), "claims missing or of the wrong type"),
        ("sid missing", sign(&header, &without("sid"), &ours), "claims missing or of the wrong type"),
        ("sub a number", sign(&header, &with("sub", json!(1)), &ours), "claims missing or of the wrong type"),
        (
            "exp a float",
            sign(&header, &with("exp", json!(now as f64 + 900.5)), &ours),
            "claims missing or of the wrong type",
        ),
        (
            "unknown session",
            sign(&header, &with("sid", json!("00000000-0000-0000-0000-000000000000")), &ours),
            "session revoked",
        ),
        ("garbage", "abc.def".to_string(), "token is not a compact JWS"),
    ];
    for (what, token, reason) in cases {
        let response = app.get_with("/api/me", &token).await;
        assert_eq!(
            response.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
            Some(r#"Bearer error="invalid_token""#),
            "{what}"
        );
        let message = expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_eq!(message, reason, "{what}");
    }
    app.stop().await;
}
