//! Property tests for the parser and verifier: whatever an attacker sends, the answer is a
//! refusal (never a panic), and what is accepted is exactly what was signed.

use std::sync::OnceLock;

use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::keys::{KeyMaterial, KeyRing};

struct Fixture {
    ring: KeyRing,
    kid: String,
    private: ed25519_dalek::SigningKey,
    /// The real clock, once: jsonwebtoken judges `exp`/`nbf` by it.
    now: i64,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = KeyMaterial::generate().unwrap();
        let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&key.private_pem).unwrap();
        let kid = key.kid.clone();
        Fixture { ring: KeyRing::new(key, vec![]), kid: kid.to_string(), private, now: crate::time::now() }
    })
}

fn policy() -> Policy {
    Policy { issuer: "http://issuer.test".into(), audience: "tokenflow".into(), leeway_secs: 30 }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    format!("{message}.{}", b64(&fixture().private.sign(message.as_bytes()).to_bytes()))
}

fn valid_claims() -> Value {
    let now = fixture().now;
    json!({
        "iss": "http://issuer.test", "aud": "tokenflow", "sub": "user-1", "exp": now + 900,
        "nbf": now, "iat": now, "jti": "j1", "sid": "session-1", "email": "a@b.co",
        "email_verified": false, "role": "user"
    })
}

fn check(token: &str) -> Result<(Claims, String), TokenError> {
    verify(token, fixture().ring.keys(), &policy(), fixture().now)
}

/// Any JSON value, small.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A claims object: each field kept (mostly, so that many are accepted), dropped or replaced
/// by any JSON, plus extra members.
fn claims_object() -> impl Strategy<Value = Value> {
    let fields = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "sid", "email", "email_verified", "role"];
    let edits = prop::collection::vec(
        prop_oneof![30 => Just(None), 1 => Just(Some(None)), 2 => json_value().prop_map(|v| Some(Some(v)))],
        fields.len(),
    );
    let extra = prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..3);
    (edits, extra).prop_map(move |(edits, extra)| {
        let mut claims = valid_claims();
        let object = claims.as_object_mut().unwrap();
        for (name, value) in extra {
            if !fields.contains(&name.as_str()) {
                object.insert(name, value);
            }
        }
        for (name, edit) in fields.iter().zip(edits) {
            match edit {
                None => {}
                Some(None) => {
                    object.remove(*name);
                }
                Some(Some(value)) => {
                    object.insert((*name).to_string(), value);
                }
            }
        }
        claims
    })
}

/// A header object: the right one, or a member changed, dropped or added.
fn header_object() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![12 => Just(json!("EdDSA")), 1 => Just(json!("none")), 1 => Just(json!("HS256")), 1 => Just(json!("eddsa")), 1 => json_value()];
    let typ = prop_oneof![12 => Just(json!("at+jwt")), 1 => Just(json!("JWT")), 1 => json_value()];
    let extra =
        prop::option::of(prop_oneof![Just("crit"), Just("jku"), Just("jwk"), Just("x5u"), Just("x5c"), Just("cty")]);
    (alg, typ, extra, json_value(), prop::bool::weighted(0.9)).prop_map(|(alg, typ, extra, value, keep_kid)| {
        let mut header = json!({"alg": alg, "typ": typ});
        if keep_kid {
            header["kid"] = json!(fixture().kid);
        }
        if let Some(name) = extra {
            header[name] = value;
        }
        header
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_byte_changed_in_a_valid_token_is_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let token = sign(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": fixture().kid}).to_string(), &valid_claims().to_string());
        prop_assert!(check(&token).is_ok(), "the valid token is refused");
        let mut bytes = token.into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let mutated = String::from_utf8_lossy(&bytes);
        prop_assert!(check(&mutated).is_err(), "accepted after changing byte {i}");
    }

    #[test]
    fn a_token_cut_or_extended_is_refused(cut in 1usize..40, tail in "[A-Za-z0-9_.-]{1,8}") {
        let token = sign(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": fixture().kid}).to_string(), &valid_claims().to_string());
        let extended = format!("{token}{tail}");
        prop_assert!(check(&token[..token.len() - cut]).is_err(), "a cut token was accepted");
        prop_assert!(check(&extended).is_err(), "an extended token was accepted");
    }

    #[test]
    fn garbage_is_refused_without_panicking(text in ".{0,300}", parts in prop::collection::vec("[A-Za-z0-9_-]{0,40}", 0..5)) {
        prop_assert!(check(&text).is_err(), "garbage accepted");
        prop_assert!(check(&parts.join(".")).is_err(), "dotted garbage accepted");
    }

    /// Whatever header and claims were signed: if the verifier accepts them, the header was
    /// exactly ours and the claims it returns are the signed ones, member for member.
    #[test]
    fn what_is_accepted_is_what_was_signed(header in header_object(), claims in claims_object()) {
        let token = sign(&header.to_string(), &claims.to_string());
        if let Ok((accepted, kid)) = check(&token) {
            prop_assert_eq!(&header["alg"], "EdDSA");
            prop_assert_eq!(&header["typ"], "at+jwt");
            prop_assert_eq!(kid, fixture().kid.clone());
            for forbidden in ["crit", "jku", "jwk", "x5u", "x5c"] {
                prop_assert!(header.get(forbidden).is_none(), "{} accepted", forbidden);
            }
            let round_trip = serde_json::to_value(&accepted).unwrap();
            for (name, value) in round_trip.as_object().unwrap() {
                prop_assert_eq!(Some(value), claims.get(name), "claim {}", name);
            }
        }
    }
}
