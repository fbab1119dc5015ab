//! Every forgery is refused by an independent check of what it claims to break; the issuer's
//! control is accepted; nothing panics on tokens whose parts are not objects.

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use super::*;
use crate::inspect::{Verdict, verify_signature};
use crate::jwk::{Jwk, Jwks, thumbprint};

const NOW: i64 = 1_800_000_000;

fn issuer() -> (SigningKey, Jwks) {
    let key = SigningKey::from_bytes(&[2u8; 32]);
    let x = b64(key.verifying_key().as_bytes());
    let kid = thumbprint(&x);
    let jwk = Jwk { kty: "OKP".into(), crv: "Ed25519".into(), x, kid, alg: "EdDSA".into(), use_: "sig".into() };
    (key, Jwks { keys: vec![jwk] })
}

fn valid_token(key: &SigningKey, jwks: &Jwks) -> String {
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": jwks.keys[0].kid});
    let claims = json!({"iss": "https://issuer.example", "sub": "u", "role": "user", "exp": NOW + 900, "nbf": NOW, "iat": NOW, "aud": "tokenflow"});
    signed(&header, &claims, key)
}

#[test]
fn every_lab_forgery_fails_independent_verification() {
    let (key, jwks) = issuer();
    let token = valid_token(&key, &jwks);
    assert_eq!(verify_signature(&token, &jwks), Verdict::Valid { kid: jwks.keys[0].kid.clone() });
    let forged = tamper_lab(&token, &jwks.keys[0].x, NOW).unwrap();
    assert_eq!(forged.len(), 8);
    for f in forged {
        assert!(matches!(verify_signature(&f.token, &jwks), Verdict::Invalid(_)), "{} verified", f.id);
        assert_ne!(f.token, token);
    }
}

#[test]
fn without_the_issuers_key_no_forgery_verifies_with_the_jwks() {
    let (key, jwks) = issuer();
    let token = valid_token(&key, &jwks);
    let all = catalogue(&token, &jwks.keys[0].x, NOW, "http://attacker.example/jwks.json").unwrap();
    let mut ids: Vec<&str> = all.iter().map(|f| f.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "ids are unique");
    for f in &all {
        assert!(matches!(verify_signature(&f.token, &jwks), Verdict::Invalid(_)), "{} verified", f.id);
        assert!(!f.reference.is_empty(), "{} names its rule", f.id);
    }
    let jku = all.iter().find(|f| f.id == "jku").unwrap();
    let header = decode(&jku.token).unwrap().header;
    assert_eq!(header["jku"], "http://attacker.example/jwks.json");
    assert_eq!(header["kid"], attacker_jwk()["kid"]);
    // The attacker's key really signed it: a verifier that trusts jku would accept it.
    let attackers = Jwks { keys: vec![serde_json::from_value(attacker_jwk()).unwrap()] };
    assert!(matches!(verify_signature(&jku.token, &attackers), Verdict::Valid { .. }));
}

#[test]
fn with_the_issuers_key_the_signature_holds_and_each_claim_breaks_its_rule() {
    let (key, jwks) = issuer();
    let token = valid_token(&key, &jwks);
    let signed = issuer_signed(&token, NOW, &key).unwrap();
    for f in &signed {
        assert!(matches!(verify_signature(&f.token, &jwks), Verdict::Valid { .. }), "{} does not verify", f.id);
    }
    let ids: Vec<&str> = signed.iter().map(|f| f.id).collect();
    assert_eq!(ids[0], RESIGNED_CONTROL);
    assert_eq!(ids.len(), 13, "{ids:?}");
    let claims = |id: &str| decode(&signed.iter().find(|f| f.id == id).unwrap().token).unwrap().claims;
    assert_eq!(claims(RESIGNED_CONTROL), decode(&token).unwrap().claims, "the control is the token itself");
    assert!(claims("expired-signed")["exp"].as_i64().unwrap() < NOW);
    assert!(claims("no-exp").get("exp").is_none());
    assert_eq!(claims("exp-as-string")["exp"], "9999999999");
    assert!(claims("not-yet-valid")["nbf"].as_i64().unwrap() > NOW);
    assert_ne!(claims("wrong-issuer")["iss"], "https://issuer.example");
    // Two `role` members: a parser that keeps the last reads "admin".
    let duplicate = signed.iter().find(|f| f.id == "duplicate-role").unwrap();
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(duplicate.token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert!(text.ends_with(r#""role":"user","role":"admin"}"#), "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["role"], "admin");
}

#[test]
fn forgeries_of_a_token_whose_parts_are_not_objects_are_refused_not_panics() {
    let part = |v: &Value| b64(v.to_string().as_bytes());
    let object = json!({"alg": "EdDSA"});
    for (header, claims) in [(&object, &json!([1, 2])), (&json!("text"), &object), (&json!(null), &json!(7))] {
        let token = format!("{}.{}.sig", part(header), part(claims));
        assert_eq!(tamper_lab(&token, "x", 0), Err(InspectError::NotObjects), "{token}");
        assert_eq!(catalogue(&token, "x", 0, ""), Err(InspectError::NotObjects), "{token}");
        let key = SigningKey::from_bytes(&[3u8; 32]);
        assert_eq!(issuer_signed(&token, 0, &key), Err(InspectError::NotObjects), "{token}");
    }
}
