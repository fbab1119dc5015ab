//! Passkeys over HTTP, answered by a software authenticator written here from the WebAuthn
//! Level 3 formats (CBOR attestation object with `none` attestation, ES256 assertions): so
//! what the server checks (challenge, origin, RP ID hash, user verification, signature,
//! counter, backup flags) is checked against bytes a real authenticator would send.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokenflow::dpop::ProofKey;

use crate::both_backends;
use crate::factors::claims;
use crate::helpers::*;

both_backends!(
    another_accounts_registration_or_step_up_challenge_is_no_use,
    a_passkey_is_registered_and_signs_in_alone_or_after_the_password,
    a_replayed_cloned_or_foreign_assertion_opens_nothing,
    a_synced_passkey_is_swk_and_removing_the_last_factor_needs_a_step_up,
);

const ORIGIN: &str = "http://tokenflow.test";

/// A software authenticator holding one discoverable ES256 credential.
struct SoftKey {
    key: ProofKey,
    id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    /// Backup-eligible and backed up (a synced passkey).
    synced: bool,
}

fn cbor_head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=255 => out.extend([m | 24, n as u8]),
        256..=65535 => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 { cbor_head(0, i as u64, out) } else { cbor_head(1, (-1 - i) as u64, out) }
}

fn cbor_bytes(b: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, b.len() as u64, out);
    out.extend(b);
}

fn cbor_text(s: &str, out: &mut Vec<u8>) {
    cbor_head(3, s.len() as u64, out);
    out.extend(s.as_bytes());
}

/// An ECDSA signature from JWS form (r ‖ s) to ASN.1 DER, as WebAuthn carries it.
fn der(raw: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if x.first().is_some_and(|b| b & 0x80 != 0) { vec![0] } else { vec![] };
        v.extend(x);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = (int(&raw[..32]), int(&raw[32..]));
    let mut out = vec![0x30, (r.len() + s.len()) as u8];
    out.extend(r);
    out.extend(s);
    out
}

impl SoftKey {
    fn new(synced: bool) -> SoftKey {
        SoftKey {
            key: ProofKey::generate_p256().unwrap(),
            id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            user_handle: Vec::new(),
            counter: 0,
            synced,
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0x01 | 0x04; // user present, user verified
        if self.synced {
            flags |= 0x08 | 0x10; // backup eligible, backed up
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn client_data(kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        json!({"type": kind, "challenge": challenge, "origin": ORIGIN, "crossOrigin": false}).to_string().into_bytes()
    }

    /// `navigator.credentials.create` for these options.
    fn register(&mut self, options: &Value) -> Value {
        let public = &options["publicKey"];
        self.user_handle = B64.decode(public["user"]["id"].as_str().unwrap()).unwrap();
        let client_data = Self::client_data("webauthn.create", options);
        let jwk = self.key.public_jwk();
        let mut cose = Vec::new();
        cbor_head(5, 5, &mut cose);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            cbor_int(label, &mut cose);
            cbor_int(value, &mut cose);
        }
        cbor_int(-2, &mut cose);
        cbor_bytes(&B64.decode(jwk["x"].as_str().unwrap()).unwrap(), &mut cose);
        cbor_int(-3, &mut cose);
        cbor_bytes(&B64.decode(jwk["y"].as_str().unwrap()).unwrap(), &mut cose);
        let mut auth_data = Sha256::digest(public["rp"]["id"].as_str().unwrap()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((self.id.len() as u16).to_be_bytes());
        auth_data.extend(&self.id);
        auth_data.extend(cose);
        let mut attestation = Vec::new();
        cbor_head(5, 3, &mut attestation);
        cbor_text("fmt", &mut attestation);
        cbor_text("none", &mut attestation);
        cbor_text("attStmt", &mut attestation);
        cbor_head(5, 0, &mut attestation);
        cbor_text("authData", &mut attestation);
        cbor_bytes(&auth_data, &mut attestation);
        json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {"clientDataJSON": B64.encode(client_data), "attestationObject": B64.encode(attestation)},
            "extensions": {}
        })
    }

    /// `navigator.credentials.get` for these options (the counter moves on).
    fn assert(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let client_data = Self::client_data("webauthn.get", options);
        let mut auth_data = Sha256::digest(options["publicKey"]["rpId"].as_str().unwrap()).to_vec();
        auth_data.push(self.flags(false));
        auth_data.extend(self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(der(&self.key.sign(&signed))),
                "userHandle": B64.encode(&self.user_handle)
            },
            "extensions": {}
        })
    }
}

/// Register `key` for `actor` (signed in just now) under `name`.
async fn register(actor: &Actor<'_>, key: &mut SoftKey, name: &str) -> Value {
    let options: Value = actor.post_json("/api/me/passkeys/options", &json!({})).await.json().await.unwrap();
    let credential = key.register(&options["options"]);
    let body = json!({"challenge": options["challenge"], "name": name, "credential": credential});
    let response = actor.post_json("/api/me/passkeys", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// A passkey sign-in, from options to the answer.
async fn passkey_sign_in(app: &TestApp, key: &mut SoftKey) -> reqwest::Response {
    let started = app.post_json("/api/auth/passkey", &json!({})).await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    let answer = key.assert(&started["options"]);
    app.post_json("/api/auth/second-factor", &json!({"challenge": started["challenge"], "passkey": answer})).await
}

async fn a_passkey_is_registered_and_signs_in_alone_or_after_the_password(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let options: Value = ada.post_json("/api/me/passkeys/options", &json!({})).await.json().await.unwrap();
    let public = &options["options"]["publicKey"];
    assert_eq!(public["rp"]["id"], "tokenflow.test");
    assert_eq!(public["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(public["authenticatorSelection"]["userVerification"], "required");
    let user_id = ada.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    assert_eq!(
        B64.decode(public["user"]["id"].as_str().unwrap()).unwrap(),
        uuid::Uuid::parse_str(&user_id).unwrap().as_bytes()
    );

    let mut key = SoftKey::new(false);
    let info = register(&ada, &mut key, "Laptop").await;
    assert_eq!((info["name"].clone(), info["backup_eligible"].clone()), (json!("Laptop"), json!(false)));
    assert_eq!(info["id"], B64.encode(&key.id));
    let factors: Value = ada.get("/api/me/factors").await.json().await.unwrap();
    assert_eq!(factors["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(factors["passkey_origin"], ORIGIN);

    // A passkey alone: no email, no password; two factors in one.
    let alone = passkey_sign_in(&app, &mut key).await;
    assert_eq!(alone.status(), StatusCode::OK);
    let tokens = Tokens::from(alone.json::<Value>().await.unwrap());
    assert_eq!(tokens.user["email"], "ada@example.com");
    let c = claims(&tokens.access);
    assert_eq!((c["amr"].clone(), c["acr"].clone()), (json!(["hwk", "mfa"]), json!("2")));

    // After the password, the passkey is the second factor.
    let challenged: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert_eq!(challenged["factors"], json!(["passkey"]));
    let allowed = &challenged["passkey"]["publicKey"]["allowCredentials"];
    assert_eq!(allowed[0]["id"], B64.encode(&key.id), "{challenged}");
    let answer = key.assert(&challenged["passkey"]);
    let second = app
        .post_json("/api/auth/second-factor", &json!({"challenge": challenged["challenge"], "passkey": answer}))
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    let tokens = Tokens::from(second.json::<Value>().await.unwrap());
    assert_eq!(claims(&tokens.access)["amr"], json!(["pwd", "hwk", "mfa"]));
    // The counter is stored as it moves.
    let factors: Value = app.get_with("/api/me/factors", &tokens.access).await.json().await.unwrap();
    assert_eq!(factors["passkeys"][0]["sign_count"], 2);
    assert!(factors["passkeys"][0]["last_used_at"].is_string());
}

async fn a_replayed_cloned_or_foreign_assertion_opens_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let mut key = SoftKey::new(false);
    register(&ada, &mut key, "Laptop").await;
    let eve = app.user("eve@example.com").await;
    let mut eves = SoftKey::new(false);
    register(&eve, &mut eves, "Eve's").await;

    // An answer replayed on a new challenge: the challenge in it is the old one.
    let started: Value = app.post_json("/api/auth/passkey", &json!({})).await.json().await.unwrap();
    let answer = key.assert(&started["options"]);
    let first =
        app.post_json("/api/auth/second-factor", &json!({"challenge": started["challenge"], "passkey": answer})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let strong = Tokens::from(first.json::<Value>().await.unwrap());
    let again: Value = app.post_json("/api/auth/passkey", &json!({})).await.json().await.unwrap();
    let replay =
        app.post_json("/api/auth/second-factor", &json!({"challenge": again["challenge"], "passkey": answer})).await;
    expect_error(replay, StatusCode::UNAUTHORIZED, "invalid_code").await;

    // A clone: a valid signature with a counter that did not move past the stored one.
    key.counter -= 1;
    expect_error(passkey_sign_in(&app, &mut key).await, StatusCode::UNAUTHORIZED, "invalid_code").await;
    key.counter += 5;
    assert_eq!(passkey_sign_in(&app, &mut key).await.status(), StatusCode::OK);

    // Eve's passkey answering Ada's second-factor challenge; Eve's key claiming Ada's handle.
    let challenged: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let foreign = eves.assert(&challenged["passkey"]);
    let refused = app
        .post_json("/api/auth/second-factor", &json!({"challenge": challenged["challenge"], "passkey": foreign}))
        .await;
    expect_error(refused, StatusCode::UNAUTHORIZED, "invalid_code").await;
    eves.user_handle = key.user_handle.clone();
    expect_error(passkey_sign_in(&app, &mut eves).await, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // A key never registered.
    let mut stranger = SoftKey::new(false);
    stranger.user_handle = key.user_handle.clone();
    expect_error(passkey_sign_in(&app, &mut stranger).await, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // The same credential cannot be registered twice (and asking needs the strong token).
    expect_error(
        ada.post_json("/api/me/passkeys/options", &json!({})).await,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
    )
    .await;
    let ask = app.client.post(app.url("/api/me/passkeys/options")).bearer_auth(&strong.access).json(&json!({}));
    let options: Value = ask.send().await.unwrap().json().await.unwrap();
    let excluded = &options["options"]["publicKey"]["excludeCredentials"];
    assert_eq!(excluded[0]["id"], B64.encode(&key.id));
}

async fn a_synced_passkey_is_swk_and_removing_the_last_factor_needs_a_step_up(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let mut key = SoftKey::new(true);
    let info = register(&ada, &mut key, "  Phone  ").await;
    assert_eq!((info["name"].clone(), info["backup_eligible"].clone()), (json!("Phone"), json!(true)));
    let tokens = Tokens::from(passkey_sign_in(&app, &mut key).await.json::<Value>().await.unwrap());
    assert_eq!(claims(&tokens.access)["amr"], json!(["swk", "mfa"]));

    // Ada's password-only token, though fresh, cannot remove it: the account has a factor.
    let path = format!("/api/me/passkeys/{}", info["id"].as_str().unwrap());
    expect_error(ada.delete(&path).await, StatusCode::UNAUTHORIZED, "insufficient_user_authentication").await;
    // A passkey step-up makes it strong enough.
    let options: Value = ada.post_json("/api/me/step-up/options", &json!({})).await.json().await.unwrap();
    let answer = key.assert(&options["options"]);
    let stepped =
        ada.post_json("/api/me/step-up", &json!({"challenge": options["challenge"], "passkey": answer})).await;
    assert_eq!(stepped.status(), StatusCode::OK);
    let stepped: Value = stepped.json().await.unwrap();
    let strong = stepped["access_token"].as_str().unwrap();
    assert_eq!(claims(strong)["amr"], json!(["swk", "mfa"]));
    // Not someone else's, not twice.
    let eve = app.user("eve@example.com").await;
    expect_error(eve.delete(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.delete_with(&path, strong).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete_with(&path, strong).await.status(), StatusCode::NOT_FOUND);
    // No factor left: the password alone signs in again.
    let plain: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert!(plain["access_token"].is_string());
}

async fn another_accounts_registration_or_step_up_challenge_is_no_use(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let eve = app.user("eve@example.com").await;
    let mut eves = SoftKey::new(false);
    register(&eve, &mut eves, "Eve's").await;

    // Eve answers Ada's registration challenge with her own key: it is Ada's session's only.
    let options: Value = ada.post_json("/api/me/passkeys/options", &json!({})).await.json().await.unwrap();
    let mut key = SoftKey::new(false);
    let body =
        json!({"challenge": options["challenge"], "name": "planted", "credential": key.register(&options["options"])});
    expect_error(eve.post_json("/api/me/passkeys", &body).await, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    let factors: Value = ada.get("/api/me/factors").await.json().await.unwrap();
    assert_eq!(factors["passkeys"], json!([]), "nothing registered to Ada");

    // Eve's step-up challenge presented in Ada's session, with Ada's password: refused.
    let started: Value = eve.post_json("/api/me/step-up/options", &json!({})).await.json().await.unwrap();
    let answer = eves.assert(&started["options"]);
    let stolen = json!({"challenge": started["challenge"], "passkey": answer});
    expect_error(ada.post_json("/api/me/step-up", &stolen).await, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    // And Ada's own registration challenge still works for Ada.
    let body = json!({"challenge": options["challenge"], "name": "mine", "credential": body["credential"]});
    assert_eq!(ada.post_json("/api/me/passkeys", &body).await.status(), StatusCode::CREATED);
}
