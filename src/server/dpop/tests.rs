//! One test per rule of RFC 9449 §4.3, with proofs made here by both key types; the replay
//! store under a parallel burst; and property tests for the parser.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;
const URL: &str = "https://auth.example/api/me";
const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEifQ.c2ln";

type Signer = ProofKey;

/// Fixed keys, so that a failing case can be replayed.
impl ProofKey {
    fn ed(seed: u8) -> ProofKey {
        ProofKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    fn p256(seed: u8) -> ProofKey {
        ProofKey::P256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a valid scalar"))
    }

    fn jwk(&self) -> Value {
        self.public_jwk()
    }
}

fn claims() -> Value {
    json!({"jti": "e1j3V_bKic8-LAEB", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)})
}

/// A compact JWS of the given header and claims (as JSON text), signed by `signer`.
fn jws_of(header: &str, claims: &str, signer: &Signer) -> String {
    signer.sign_jws(header, claims)
}

fn jws(header: &Value, claims: &Value, signer: &Signer) -> String {
    jws_of(&header.to_string(), &claims.to_string(), signer)
}

fn request() -> Request<'static> {
    Request { method: "GET", url: URL, access_token: Some(TOKEN), now: NOW }
}

fn check(proof: &str) -> Result<Proof, ProofError> {
    verify(proof, &request())
}

/// The proof of `signer` with one claim replaced (or removed, with `Value::Null`).
fn with_claim(signer: &Signer, name: &str, value: Value) -> String {
    let mut claims = claims();
    if value.is_null() {
        claims.as_object_mut().expect("object").remove(name);
    } else {
        claims[name] = value;
    }
    jws(&signer.header(), &claims, signer)
}

fn with_header(signer: &Signer, name: &str, value: Value) -> String {
    let mut header = signer.header();
    if value.is_null() {
        header.as_object_mut().expect("object").remove(name);
    } else {
        header[name] = value;
    }
    jws(&header, &claims(), signer)
}

#[test]
fn a_proof_by_either_key_type_passes_and_names_its_key() {
    for signer in [Signer::ed(7), Signer::p256(7)] {
        let proof = check(&jws(&signer.header(), &claims(), &signer)).expect("a valid proof");
        assert_eq!(proof, Proof { jkt: signer.jkt(), jti: "e1j3V_bKic8-LAEB".into(), iat: NOW });
    }
}

#[test]
fn the_p256_thumbprint_is_rfc_7638s() {
    // RFC 9449 §4.1's example key and, in §6.1, its thumbprint.
    assert_eq!(
        p256_thumbprint("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
}

#[test]
fn typ_must_be_dpop_jwt() {
    let signer = Signer::ed(1);
    for typ in [Value::Null, json!("JWT"), json!("at+jwt"), json!("DPOP+JWT"), json!(1)] {
        let refused = check(&with_header(&signer, "typ", typ.clone()));
        assert!(matches!(refused, Err(ProofError::WrongType | ProofError::Malformed)), "{typ}: {refused:?}");
    }
}

#[test]
fn only_es256_and_eddsa_and_only_the_one_its_key_allows() {
    let ed = Signer::ed(1);
    for alg in ["none", "HS256", "RS256", "ES384", "Ed25519", "eddsa"] {
        assert_eq!(check(&with_header(&ed, "alg", json!(alg))), Err(ProofError::AlgorithmNotAllowed), "{alg}");
    }
    // The key decides: an Ed25519 key claiming ES256, a P-256 key claiming EdDSA.
    assert_eq!(check(&with_header(&ed, "alg", json!("ES256"))), Err(ProofError::BadKey));
    let ec = Signer::p256(1);
    assert_eq!(check(&with_header(&ec, "alg", json!("EdDSA"))), Err(ProofError::BadKey));
}

#[test]
fn the_key_must_be_there_public_and_well_formed() {
    let signer = Signer::ed(1);
    assert_eq!(check(&with_header(&signer, "jwk", Value::Null)), Err(ProofError::BadKey));
    let mut private = signer.jwk();
    private["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    assert_eq!(check(&with_header(&signer, "jwk", private)), Err(ProofError::PrivateKey));
    let mut other_curve = signer.jwk();
    other_curve["crv"] = json!("X25519");
    assert_eq!(check(&with_header(&signer, "jwk", other_curve)), Err(ProofError::BadKey));
    let mut short = signer.jwk();
    short["x"] = json!(URL_SAFE_NO_PAD.encode([1u8; 31]));
    assert_eq!(check(&with_header(&signer, "jwk", short)), Err(ProofError::BadKey));
    // The same 32 bytes spelt with nonzero trailing bits would give the key a second thumbprint.
    let mut trailing = signer.jwk();
    let mut x = trailing["x"].as_str().expect("x").to_string();
    let last = x.pop().expect("a last character");
    x.push(if last == 'A' { 'B' } else { 'A' });
    trailing["x"] = json!(x);
    assert!(check(&with_header(&signer, "jwk", trailing)).is_err());
    // A P-256 point that is not on the curve.
    let ec = Signer::p256(1);
    let mut off_curve = ec.jwk();
    off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    assert_eq!(check(&with_header(&ec, "jwk", off_curve)), Err(ProofError::BadKey));
}

#[test]
fn critical_extensions_are_refused() {
    let signer = Signer::ed(1);
    assert_eq!(check(&with_header(&signer, "crit", json!(["exp"]))), Err(ProofError::UnknownCritical));
}

#[test]
fn the_signature_must_be_by_the_key_in_the_proof() {
    for (signer, thief) in [(Signer::ed(1), Signer::ed(2)), (Signer::p256(1), Signer::p256(2))] {
        // Signed by another key than the one it carries.
        let input = jws(&signer.header(), &claims(), &thief);
        assert_eq!(check(&input), Err(ProofError::BadSignature));
        // Claims changed after signing.
        let good = jws(&signer.header(), &claims(), &signer);
        let parts: Vec<&str> = good.split('.').collect();
        let mut changed = claims();
        changed["htu"] = json!("https://auth.example/api/admin/users");
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(changed.to_string()), parts[2]);
        assert_eq!(
            verify(&forged, &Request { url: "https://auth.example/api/admin/users", ..request() }),
            Err(ProofError::BadSignature)
        );
        // No signature, or a DER one.
        assert_eq!(check(&format!("{}.{}.", parts[0], parts[1])), Err(ProofError::BadSignature));
    }
    let ec = Signer::p256(1);
    let Signer::P256(key) = &ec else { unreachable!() };
    let header = URL_SAFE_NO_PAD.encode(ec.header().to_string());
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    let signature: p256::ecdsa::Signature =
        p256::ecdsa::signature::Signer::sign(key, format!("{header}.{body}").as_bytes());
    let der = URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes());
    assert_eq!(check(&format!("{header}.{body}.{der}")), Err(ProofError::BadSignature));
}

#[test]
fn htm_must_be_this_requests_method_exactly() {
    let signer = Signer::ed(1);
    for htm in [json!("POST"), json!("get"), Value::Null, json!("")] {
        assert_eq!(check(&with_claim(&signer, "htm", htm.clone())), Err(ProofError::WrongMethod), "{htm}");
    }
}

#[test]
fn htu_must_be_this_requests_url_without_query_or_fragment() {
    let signer = Signer::ed(1);
    for htu in [
        "https://AUTH.example/api/me",
        "HTTPS://auth.example:443/api/me",
        "https://auth.example/api/me?x=1",
        "https://auth.example/api/me#top",
    ] {
        assert!(check(&with_claim(&signer, "htu", json!(htu))).is_ok(), "{htu} names the same resource");
    }
    for htu in [
        json!("http://auth.example/api/me"),
        json!("https://auth.example:8443/api/me"),
        json!("https://evil.example/api/me"),
        json!("https://auth.example/api/me/"),
        json!("https://auth.example/api/ME"),
        json!("https://auth.example/api/auth/refresh"),
        json!("https://user@auth.example/api/me"),
        json!("/api/me"),
        json!(""),
        Value::Null,
    ] {
        assert_eq!(check(&with_claim(&signer, "htu", htu.clone())), Err(ProofError::WrongUrl), "{htu}");
    }
}

#[test]
fn iat_must_be_within_the_window_either_way() {
    let signer = Signer::ed(1);
    for iat in [NOW - WINDOW_SECS, NOW + WINDOW_SECS] {
        assert!(check(&with_claim(&signer, "iat", json!(iat))).is_ok(), "{iat}");
    }
    for iat in [json!(NOW - WINDOW_SECS - 1), json!(NOW + WINDOW_SECS + 1), json!(0), json!(i64::MIN), Value::Null] {
        assert_eq!(check(&with_claim(&signer, "iat", iat.clone())), Err(ProofError::Stale), "{iat}");
    }
    // Not an integer: refused as malformed, not rounded.
    assert_eq!(check(&with_claim(&signer, "iat", json!(1.8e9))), Err(ProofError::Malformed));
    assert_eq!(check(&with_claim(&signer, "iat", json!(NOW.to_string()))), Err(ProofError::Malformed));
}

#[test]
fn ath_must_hash_the_access_token_sent_with_it() {
    let signer = Signer::p256(3);
    assert_eq!(check(&with_claim(&signer, "ath", Value::Null)), Err(ProofError::WrongAccessTokenHash));
    let other = access_token_hash("another.token.here");
    assert_eq!(check(&with_claim(&signer, "ath", json!(other))), Err(ProofError::WrongAccessTokenHash));
    // A token request carries no access token: no `ath` is needed.
    let no_ath = with_claim(&signer, "ath", Value::Null);
    assert!(verify(&no_ath, &Request { access_token: None, ..request() }).is_ok());
}

#[test]
fn jti_must_be_there_and_of_sane_length() {
    let signer = Signer::ed(1);
    for jti in [Value::Null, json!(""), json!("j".repeat(MAX_JTI_LEN + 1)), json!(42)] {
        let refused = check(&with_claim(&signer, "jti", jti.clone()));
        assert!(matches!(refused, Err(ProofError::BadJti | ProofError::Malformed)), "{jti}: {refused:?}");
    }
    assert!(check(&with_claim(&signer, "jti", json!("j".repeat(MAX_JTI_LEN)))).is_ok());
}

#[test]
fn not_a_jws_or_an_ambiguous_one_is_malformed() {
    let signer = Signer::ed(1);
    let good = jws(&signer.header(), &claims(), &signer);
    assert_eq!(check(&format!("{good}.extra")), Err(ProofError::Malformed));
    assert_eq!(check("only.two"), Err(ProofError::Malformed));
    assert_eq!(check(""), Err(ProofError::Malformed));
    assert_eq!(check(&"a".repeat(MAX_PROOF_LEN + 1)), Err(ProofError::Malformed));
    // Duplicate members: which one counts would differ between parsers (RFC 8725 §3.1).
    let header = signer.header().to_string();
    let twice = header.replacen('{', r#"{"alg":"none","#, 1);
    assert_eq!(check(&jws_of(&twice, &claims().to_string(), &signer)), Err(ProofError::Malformed));
    let claims_twice = claims().to_string().replacen('{', r#"{"htu":"https://evil.example/api/me","#, 1);
    assert_eq!(check(&jws_of(&header, &claims_twice, &signer)), Err(ProofError::Malformed));
}

#[test]
fn a_jti_passes_once_per_key_within_the_window() {
    let replays = Replays::new(100);
    let ed = Signer::ed(1);
    let proof = check(&jws(&ed.header(), &claims(), &ed)).expect("valid");
    assert!(replays.first_use(&proof, NOW));
    assert!(!replays.first_use(&proof, NOW + 30), "the same proof again");
    assert!(!replays.first_use(&proof, NOW + WINDOW_SECS), "still within the window");
    // Another key may pick the same jti.
    let ec = Signer::p256(1);
    let other = check(&jws(&ec.header(), &claims(), &ec)).expect("valid");
    assert!(replays.first_use(&other, NOW));
}

#[test]
fn of_a_parallel_burst_of_one_proof_exactly_one_passes() {
    let replays = Arc::new(Replays::new(1000));
    let signer = Signer::ed(1);
    let proof = check(&jws(&signer.header(), &claims(), &signer)).expect("valid");
    let passed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (replays, proof) = (Arc::clone(&replays), proof.clone());
                scope.spawn(move || usize::from(replays.first_use(&proof, NOW)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).sum()
    });
    assert_eq!(passed, 1);
}

#[test]
fn a_full_store_refuses_rather_than_forgets_and_frees_up_as_the_window_moves() {
    let replays = Replays::new(3);
    let proof = |jti: &str| Proof { jkt: "k".into(), jti: jti.into(), iat: NOW };
    for jti in ["a", "b", "c"] {
        assert!(replays.first_use(&proof(jti), NOW));
    }
    assert!(!replays.first_use(&proof("d"), NOW), "full of live entries");
    assert!(!replays.first_use(&proof("a"), NOW), "a replay is still one");
    let later = NOW + WINDOW_SECS + 1;
    assert!(replays.first_use(&proof("d"), later), "the old ones expired");
    assert_eq!(replays.len(), 1);
}

#[test]
fn a_full_store_forgets_what_expired_when_the_next_proof_comes() {
    let replays = Replays::new(2);
    let at = |jti: &str, iat: i64| Proof { jkt: "k".into(), jti: jti.into(), iat };
    assert!(replays.first_use(&at("a", NOW), NOW));
    assert!(replays.first_use(&at("b", NOW + 5), NOW + 5));
    // Full; "a" expires at NOW + 61, "b" at NOW + 66.
    assert!(!replays.first_use(&at("c", NOW + 60), NOW + 60), "swept, but nothing had expired");
    assert!(replays.first_use(&at("c", NOW + 61), NOW + 61), "a second later: \"a\" is gone");
    assert!(!replays.first_use(&at("d", NOW + 66), NOW + 61), "full again of live entries");
    assert_eq!(replays.len(), 2);
}

fn any_signer() -> impl Strategy<Value = Signer> {
    (any::<bool>(), 1u8..=200).prop_map(|(ed, seed)| if ed { Signer::ed(seed) } else { Signer::p256(seed) })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_refused_without_panicking(text in ".{0,300}") {
        prop_assert!(check(&text).is_err());
    }

    #[test]
    fn arbitrary_json_parts_are_refused_without_panicking(header in ".{0,80}", claims in ".{0,80}", signature in "[A-Za-z0-9_-]{0,90}") {
        let proof = format!("{}.{}.{signature}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        prop_assert!(check(&proof).is_err());
    }

    /// Any one character of a valid proof changed makes it fail.
    #[test]
    fn a_changed_character_is_never_accepted(signer in any_signer(), position in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.=-]") {
        let good = jws(&signer.header(), &claims(), &signer);
        let at = position.index(good.len());
        let replacement = replacement.chars().next().expect("one char");
        prop_assume!(good.as_bytes()[at] != replacement as u8);
        let mut changed = good.clone();
        changed.replace_range(at..=at, &replacement.to_string());
        prop_assert!(check(&changed).is_err(), "{changed}");
    }
}
