//! The tamper lab's forgeries: the classic attacks on a JWT, made in this browser from the
//! person's own token. They exist to be refused: the server (and anyone verifying with the
//! JWKS) must say no to every one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokenflow::inspect::{InspectError, decode};

/// One attack on a token, as the tamper lab shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Forgery {
    pub id: &'static str,
    pub title: &'static str,
    pub attack: &'static str,
    pub token: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn join(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// A key no server trusts, the same in every browser (derived from a fixed phrase, so the
/// lab needs no randomness): what an attacker signs with.
fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(b"tokenflow tamper lab: an attacker's own key").into())
}

/// The classic forgeries of `token`. `public_x` is the server's public key (from the JWKS),
/// which the HS256 confusion attack uses as an HMAC secret.
///
/// # Errors
/// When `token` does not decode, or its parts are not objects.
pub fn forgeries(token: &str, public_x: &str, now: i64) -> Result<Vec<Forgery>, InspectError> {
    let d = decode(token)?;
    // Editing a member of a JSON value that is not an object would panic: refuse it instead.
    if !d.header.is_object() || !d.claims.is_object() {
        return Err(InspectError::NotObjects);
    }
    let with_claim = |name: &str, value: Value| {
        let mut c = d.claims.clone();
        c[name] = value;
        c
    };
    let with_header = |name: &str, value: Value| {
        let mut h = d.header.clone();
        h[name] = value;
        h
    };
    let hs256 = {
        let header = with_header("alg", json!("HS256"));
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(d.claims.to_string().as_bytes()));
        // HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(public_x.as_bytes()) else { return Ok(Vec::new()) };
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    };
    let other_key = {
        let input = format!("{}.{}", b64(d.header.to_string().as_bytes()), b64(d.claims.to_string().as_bytes()));
        format!("{input}.{}", b64(&attacker_key().sign(input.as_bytes()).to_bytes()))
    };
    Ok(vec![
        Forgery {
            id: "role-admin",
            title: "Role changed to admin",
            attack: "Edit the payload's role claim to \"admin\" and keep the original signature.",
            token: join(&d.header, &with_claim("role", json!("admin")), &d.signature),
        },
        Forgery {
            id: "alg-none",
            title: "alg: none",
            attack: "Declare the token unsigned (RFC 7519's \"none\") and drop the signature.",
            token: join(&with_header("alg", json!("none")), &d.claims, ""),
        },
        Forgery {
            id: "hs256-public-key",
            title: "HS256 keyed with the public key",
            attack: "Switch alg to HS256 and sign with the public key as an HMAC secret, hoping the server feeds its public key to HMAC.",
            token: hs256,
        },
        Forgery {
            id: "expired",
            title: "Expiry pushed into the past",
            attack: "Set exp an hour ago, keeping the signature: the server must check exp, but first the signature.",
            token: join(&d.header, &with_claim("exp", json!(now - 3600)), &d.signature),
        },
        Forgery {
            id: "wrong-audience",
            title: "Wrong audience",
            attack: "Set aud to another service's name, keeping the signature.",
            token: join(&d.header, &with_claim("aud", json!("another-service")), &d.signature),
        },
        Forgery {
            id: "unknown-kid",
            title: "Unknown kid",
            attack: "Point kid at a key the server does not have, hoping it fetches or trusts one.",
            token: join(&with_header("kid", json!("attacker-key-1")), &d.claims, &d.signature),
        },
        Forgery {
            id: "signature-stripped",
            title: "Signature stripped",
            attack: "Send header and payload with an empty signature.",
            token: join(&d.header, &d.claims, ""),
        },
        Forgery {
            id: "other-key",
            title: "Signed by another key",
            attack: "Sign the unchanged header and payload with an attacker's own Ed25519 key under the server's kid.",
            token: other_key,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenflow::inspect::{Verdict, verify_signature};
    use tokenflow::jwk::{Jwk, Jwks, thumbprint};

    fn signed(claims: &Value, key: &SigningKey, kid: &str) -> String {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_bytes()))
    }

    #[test]
    fn every_forgery_fails_independent_verification() {
        let key = SigningKey::from_bytes(&[2u8; 32]);
        let x = b64(key.verifying_key().as_bytes());
        let kid = thumbprint(&x);
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
            kid: kid.clone(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        };
        let jwks = Jwks { keys: vec![jwk] };
        let token = signed(&json!({"sub": "u", "role": "user", "exp": 10, "aud": "tokenflow"}), &key, &kid);
        assert_eq!(verify_signature(&token, &jwks), Verdict::Valid { kid });
        let forged = forgeries(&token, &jwks.keys[0].x, 1_000).unwrap();
        assert_eq!(forged.len(), 8);
        for f in forged {
            assert!(matches!(verify_signature(&f.token, &jwks), Verdict::Invalid(_)), "{} verified", f.id);
            assert_ne!(f.token, token);
        }
    }

    #[test]
    fn forgeries_of_a_token_whose_parts_are_not_objects_are_refused_not_panics() {
        let part = |v: &Value| b64(v.to_string().as_bytes());
        let object = json!({"alg": "EdDSA"});
        for (header, claims) in [(&object, &json!([1, 2])), (&json!("text"), &object), (&json!(null), &json!(7))] {
            let token = format!("{}.{}.sig", part(header), part(claims));
            assert_eq!(forgeries(&token, "x", 0), Err(InspectError::NotObjects), "{token}");
        }
    }
}
