//! One test per verification rule.

use super::*;
use crate::dto::Role;
use crate::ids::{Email, SessionId, UserId};
use crate::keys::{KeyMaterial, KeyRing};
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;

fn policy() -> Policy {
    Policy { issuer: "http://issuer.test".into(), audience: "tokenflow".into(), leeway_secs: 30 }
}

struct Fixture {
    ring: KeyRing,
    kid: String,
    private: ed25519_dalek::SigningKey,
    public_x: String,
}

fn fixture() -> Fixture {
    let key = KeyMaterial::generate().unwrap();
    let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&key.private_pem).unwrap();
    let (kid, public_x) = (key.kid.clone(), key.x.clone());
    Fixture { ring: KeyRing::new(key, vec![]), kid: kid.to_string(), private, public_x }
}

fn claims() -> Value {
    json!({
        "iss": "http://issuer.test", "aud": "tokenflow", "sub": "user-1", "exp": NOW + 900,
        "nbf": NOW, "iat": NOW, "jti": "j1", "sid": "session-1", "email": "a@b.co", "email_verified": false, "role": "user"
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Sign raw header and payload text, so tests can build what no library would.
fn sign_raw(header: &str, payload: &str, key: &ed25519_dalek::SigningKey) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = key.sign(message.as_bytes());
    format!("{message}.{}", b64(&sig.to_bytes()))
}

fn header(f: &Fixture) -> Value {
    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid})
}

fn token(f: &Fixture, header: &Value, claims: &Value) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), &f.private)
}

fn check(f: &Fixture, token: &str) -> Result<Claims, TokenError> {
    verify(token, f.ring.keys(), &policy(), NOW).map(|(c, _)| c)
}

/// jsonwebtoken judges exp/nbf by the real clock; shift the claims onto it.
fn now_claims() -> Value {
    let now = crate::time::now();
    let mut c = claims();
    c["exp"] = json!(now + 900);
    c["nbf"] = json!(now);
    c["iat"] = json!(now);
    c
}

fn check_now(f: &Fixture, token: &str) -> Result<Claims, TokenError> {
    verify(token, f.ring.keys(), &policy(), crate::time::now()).map(|(c, _)| c)
}

#[test]
fn a_token_we_issued_verifies_and_yields_typed_claims() {
    let f = fixture();
    let now = crate::time::now();
    let claims = Claims {
        iss: "http://issuer.test".into(),
        aud: "tokenflow".into(),
        sub: UserId::from_trusted("user-1"),
        exp: now + 900,
        nbf: now,
        iat: now,
        jti: "j".into(),
        sid: SessionId::from_trusted("s"),
        email: Email::from_trusted("a@b.co"),
        email_verified: true,
        role: Role::Admin,
        // A bound token's confirmation survives the round trip.
        cnf: Some(crate::claims::Confirmation { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into() }),
        // So do how and when the user authenticated.
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        auth_time: Some(now - 30),
        acr: Some("2".into()),
    };
    let token = issue(&claims, f.ring.signing_key()).unwrap();
    let (got, kid) = verify(&token, f.ring.keys(), &policy(), now).unwrap();
    assert_eq!(got, claims);
    assert_eq!(kid, f.kid);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid}));
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "at+jwt", "kid": f.kid}).to_string().as_bytes()),
        b64(now_claims().to_string().as_bytes())
    );
    assert_eq!(check_now(&f, &unsigned), Err(TokenError::AlgorithmNotAllowed));
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    use jsonwebtoken::{EncodingKey, Header};
    let f = fixture();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(f.kid.clone());
    let forged =
        jsonwebtoken::encode(&header, &now_claims(), &EncodingKey::from_secret(f.public_x.as_bytes())).unwrap();
    assert_eq!(check_now(&f, &forged), Err(TokenError::AlgorithmNotAllowed));
}

#[test]
fn typ_must_be_at_jwt() {
    let f = fixture();
    for typ in [json!("JWT"), json!(null), json!(7)] {
        let mut h = header(&f);
        h["typ"] = typ.clone();
        let expected = if typ.is_number() { TokenError::Malformed } else { TokenError::WrongType };
        assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(expected), "typ {typ}");
    }
    let mut h = header(&f);
    h.as_object_mut().unwrap().remove("typ");
    assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(TokenError::WrongType));
    h["typ"] = json!("application/at+jwt");
    assert!(check_now(&f, &token(&f, &h, &now_claims())).is_ok());
}

#[test]
fn crit_is_refused() {
    let f = fixture();
    let mut h = header(&f);
    h["crit"] = json!(["exp"]);
    assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(TokenError::Critical));
    // Found by the property tests: `null` is a value too, not an absence.
    h["crit"] = Value::Null;
    assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(TokenError::Critical));
}

#[test]
fn key_references_in_the_header_are_refused_not_followed() {
    let f = fixture();
    for (name, value) in [
        ("jku", json!("https://evil.test/jwks")),
        ("jwk", json!({"kty": "OKP"})),
        ("x5u", json!("https://evil.test")),
        ("x5c", json!(["MII"])),
        ("jku", Value::Null),
        ("jwk", Value::Null),
    ] {
        let mut h = header(&f);
        h[name] = value;
        assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(TokenError::ForeignKeyReference), "{name}");
    }
}

#[test]
fn kid_must_name_one_of_our_keys() {
    let f = fixture();
    let mut h = header(&f);
    h["kid"] = json!("someone-else");
    assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(TokenError::UnknownKeyId));
    h.as_object_mut().unwrap().remove("kid");
    assert_eq!(check_now(&f, &token(&f, &h, &now_claims())), Err(TokenError::UnknownKeyId));
}

#[test]
fn another_key_using_our_kid_does_not_verify() {
    let f = fixture();
    let other = fixture();
    let forged = sign_raw(&header(&f).to_string(), &now_claims().to_string(), &other.private);
    assert_eq!(check_now(&f, &forged), Err(TokenError::BadSignature));
}

#[test]
fn an_edited_payload_does_not_verify() {
    let f = fixture();
    let good = token(&f, &header(&f), &now_claims());
    let mut admin = now_claims();
    admin["role"] = json!("admin");
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(admin.to_string().as_bytes()), parts[2]);
    assert_eq!(check_now(&f, &forged), Err(TokenError::BadSignature));
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(check_now(&f, &stripped), Err(TokenError::BadSignature));
}

#[test]
fn exp_is_enforced_with_leeway() {
    let f = fixture();
    let now = crate::time::now();
    let mut c = now_claims();
    c["exp"] = json!(now - 31);
    assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::Expired));
    c["exp"] = json!(now - 20);
    assert!(check_now(&f, &token(&f, &header(&f), &c)).is_ok(), "inside the 30 s leeway");
}

#[test]
fn nbf_in_the_future_is_refused() {
    let f = fixture();
    let mut c = now_claims();
    c["nbf"] = json!(crate::time::now() + 120);
    assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::NotYetValid));
}

#[test]
fn iat_in_the_future_is_refused() {
    let f = fixture();
    let mut c = now_claims();
    c["iat"] = json!(crate::time::now() + 120);
    assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::IssuedInFuture));
}

#[test]
fn iss_and_aud_must_match_and_be_strings() {
    let f = fixture();
    let cases = [
        ("iss", json!("http://evil.test"), TokenError::WrongIssuer),
        ("aud", json!("someone-else"), TokenError::WrongAudience),
        ("iss", json!(42), TokenError::BadClaims),
        ("aud", json!(["tokenflow"]), TokenError::BadClaims),
    ];
    for (claim, value, expected) in cases {
        let mut c = now_claims();
        c[claim] = value.clone();
        assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(expected), "{claim} = {value}");
    }
}

#[test]
fn time_claims_must_be_present_integers() {
    let f = fixture();
    for claim in ["exp", "nbf", "iat"] {
        let mut c = now_claims();
        c.as_object_mut().unwrap().remove(claim);
        assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::BadClaims), "missing {claim}");
        let mut c = now_claims();
        let n = c[claim].as_i64().unwrap();
        c[claim] = json!(n as f64 + 0.5);
        assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::BadClaims), "float {claim}");
        let mut c = now_claims();
        c[claim] = json!(n.to_string());
        assert!(check_now(&f, &token(&f, &header(&f), &c)).is_err(), "string {claim}");
    }
}

#[test]
fn sub_and_sid_must_be_strings() {
    let f = fixture();
    for (claim, value) in [("sub", json!(1)), ("sid", json!(2)), ("sub", json!(null)), ("sid", json!(""))] {
        let mut c = now_claims();
        c[claim] = value.clone();
        assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::BadClaims), "{claim} = {value}");
    }
    let mut c = now_claims();
    c.as_object_mut().unwrap().remove("sid");
    assert_eq!(check_now(&f, &token(&f, &header(&f), &c)), Err(TokenError::BadClaims));
}

#[test]
fn a_duplicated_member_is_rejected_never_first_wins() {
    let f = fixture();
    let payload = now_claims().to_string();
    // Append a second "role": a parser keeping the first would see "user".
    let duplicated = format!("{},\"role\":\"admin\"}}", &payload[..payload.len() - 1]);
    let forged = sign_raw(&header(&f).to_string(), &duplicated, &f.private);
    assert_eq!(check_now(&f, &forged), Err(TokenError::BadClaims));
    let h = header(&f).to_string();
    let dup_header = format!("{},\"alg\":\"none\"}}", &h[..h.len() - 1]);
    let forged = sign_raw(&dup_header, &now_claims().to_string(), &f.private);
    assert_eq!(check_now(&f, &forged), Err(TokenError::Malformed));
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    for bad in ["", "a.b", "a.b.c.d", "!!!.e30.", &"a".repeat(9000)] {
        assert_eq!(check(&f, bad), Err(TokenError::Malformed), "{bad:.20}");
    }
}

#[test]
fn the_cache_rechecks_time_and_forgets_retired_keys() {
    let f = fixture();
    let cache = TokenCache::new(10);
    let mut c: Claims = serde_json::from_value(claims()).unwrap();
    c.exp = NOW + 10;
    cache.insert("tok", Arc::new(c), f.kid.clone());
    assert!(cache.get("tok", &policy(), NOW).unwrap().is_ok());
    assert!(cache.get("other", &policy(), NOW).is_none());
    assert_eq!(cache.get("tok", &policy(), NOW + 41).unwrap().map(|_| ()), Err(TokenError::Expired));
    let other = fixture();
    cache.retain_keys(other.ring.keys());
    assert!(cache.get("tok", &policy(), NOW).is_none());
}

#[test]
fn the_cache_stays_bounded() {
    let f = fixture();
    let cache = TokenCache::new(3);
    for i in 0..10 {
        let c: Claims = serde_json::from_value(claims()).unwrap();
        cache.insert(&format!("t{i}"), Arc::new(c), f.kid.clone());
        assert!(cache.len() <= 3);
    }
}

#[test]
fn a_full_cache_drops_cold_tokens_and_keeps_the_hot_ones() {
    let f = fixture();
    let cache = TokenCache::new(1_000);
    let claims = Arc::new(serde_json::from_value::<Claims>(claims()).unwrap());
    cache.insert("hot", Arc::clone(&claims), f.kid.clone());
    for i in 0..10_000 {
        cache.insert(&format!("cold-{i}"), Arc::clone(&claims), f.kid.clone());
        assert!(cache.get("hot", &policy(), NOW).is_some(), "the hot token was dropped after {i} inserts");
        assert!(cache.len() <= 1_000);
    }
    // No clear-all cliff: a full cache stays (nearly) full.
    assert!(cache.len() >= 900, "only {} entries left", cache.len());
}
