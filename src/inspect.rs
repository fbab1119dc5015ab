//! Look inside a token the way anyone can: decode it, verify its signature against the public
//! JWKS, and forge the classic attacks from it. Compiled for the browser too; nothing here
//! holds a secret, and nothing here decides what the server accepts (that is `token`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::jwk::Jwks;

/// A compact JWS taken apart, unverified.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub header: Value,
    pub claims: Value,
    /// The signature as sent (base64url), possibly empty.
    pub signature: String,
}

/// Why a token could not be taken apart; its `Display` is a plain-words reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectError {
    /// Not three parts separated by dots; how many there were.
    Parts(usize),
    /// The named part is not base64url.
    NotBase64(&'static str),
    /// The named part is not JSON.
    NotJson(&'static str),
    /// Header or payload is JSON but not an object.
    NotObjects,
}

impl std::fmt::Display for InspectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InspectError::Parts(n) => write!(f, "a JWS has 3 parts separated by dots; this has {n}"),
            InspectError::NotBase64(what) => write!(f, "the {what} is not base64url"),
            InspectError::NotJson(what) => write!(f, "the {what} is not JSON"),
            InspectError::NotObjects => f.write_str("header and payload must be JSON objects"),
        }
    }
}

impl std::error::Error for InspectError {}

/// Split and decode a compact JWS. Says nothing about whether to trust it.
///
/// # Errors
/// An [`InspectError`] when it is not three base64url parts of JSON.
pub fn decode(token: &str) -> Result<Decoded, InspectError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(InspectError::Parts(parts.len()));
    };
    let json = |part: &str, what: &'static str| -> Result<Value, InspectError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| InspectError::NotBase64(what))?;
        serde_json::from_slice(&bytes).map_err(|_| InspectError::NotJson(what))
    };
    Ok(Decoded { header: json(header, "header")?, claims: json(claims, "payload")?, signature: signature.to_string() })
}

/// What an independent verifier concludes from the JWKS alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature verifies with the published key `kid`.
    Valid {
        kid: String,
    },
    Invalid(String),
}

/// Verify a token's signature with only the public JWKS (Ed25519, the key named by `kid`).
/// Claims are not judged here: this is the signature alone.
pub fn verify_signature(token: &str, jwks: &Jwks) -> Verdict {
    let decoded = match decode(token) {
        Ok(d) => d,
        Err(e) => return Verdict::Invalid(e.to_string()),
    };
    if decoded.header["alg"] != crate::claims::ALGORITHM {
        return Verdict::Invalid(format!(
            "alg is {}, not EdDSA: refused before any key is used",
            decoded.header["alg"]
        ));
    }
    let Some(kid) = decoded.header["kid"].as_str() else { return Verdict::Invalid("no kid in the header".into()) };
    let Some(jwk) = jwks.keys.iter().find(|k| k.kid == kid) else {
        return Verdict::Invalid(format!("no published key has kid {kid}"));
    };
    let key = URL_SAFE_NO_PAD
        .decode(&jwk.x)
        .ok()
        .and_then(|x| <[u8; 32]>::try_from(x).ok())
        .and_then(|x| VerifyingKey::from_bytes(&x).ok());
    let Some(key) = key else { return Verdict::Invalid("the published key is not an Ed25519 key".into()) };
    let signature = URL_SAFE_NO_PAD.decode(&decoded.signature).ok().and_then(|s| Signature::from_slice(&s).ok());
    let Some(signature) = signature else { return Verdict::Invalid("the signature is missing or not 64 bytes".into()) };
    let signing_input = token.trim().rsplit_once('.').map_or("", |(input, _)| input);
    match key.verify(signing_input.as_bytes(), &signature) {
        Ok(()) => Verdict::Valid { kid: kid.to_string() },
        Err(_) => Verdict::Invalid("the signature does not match header and payload".into()),
    }
}

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
    use crate::jwk::{Jwk, thumbprint};

    #[test]
    fn forgeries_of_a_token_whose_parts_are_not_objects_are_refused_not_panics() {
        let part = |v: &Value| b64(v.to_string().as_bytes());
        let object = json!({"alg": "EdDSA"});
        for (header, claims) in [(&object, &json!([1, 2])), (&json!("text"), &object), (&json!(null), &json!(7))] {
            let token = format!("{}.{}.sig", part(header), part(claims));
            assert!(forgeries(&token, "x", 0).is_err(), "{token}");
        }
    }

    fn signed(claims: &Value, key: &SigningKey, kid: &str) -> String {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_bytes()))
    }

    fn jwks_for(key: &SigningKey) -> (Jwks, String) {
        let x = b64(key.verifying_key().as_bytes());
        let kid = thumbprint(&x);
        (
            Jwks {
                keys: vec![Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x,
                    kid: kid.clone(),
                    alg: "EdDSA".into(),
                    use_: "sig".into(),
                }],
            },
            kid,
        )
    }

    #[test]
    fn decodes_and_verifies_with_the_jwks_alone() {
        let key = SigningKey::from_bytes(&[1u8; 32]);
        let (jwks, kid) = jwks_for(&key);
        let token = signed(&json!({"sub": "u", "role": "user", "exp": 10}), &key, &kid);
        let d = decode(&token).unwrap();
        assert_eq!(d.claims["role"], "user");
        assert_eq!(verify_signature(&token, &jwks), Verdict::Valid { kid });
    }

    #[test]
    fn every_forgery_fails_independent_verification() {
        let key = SigningKey::from_bytes(&[2u8; 32]);
        let (jwks, kid) = jwks_for(&key);
        let token = signed(&json!({"sub": "u", "role": "user", "exp": 10, "aud": "tokenflow"}), &key, &kid);
        let forged = forgeries(&token, &jwks.keys[0].x, 1_000).unwrap();
        assert_eq!(forged.len(), 8);
        for f in forged {
            assert!(matches!(verify_signature(&f.token, &jwks), Verdict::Invalid(_)), "{} verified", f.id);
            assert_ne!(f.token, token);
        }
    }

    #[test]
    fn garbage_is_explained_not_trusted() {
        assert!(decode("abc").is_err());
        assert!(decode("a.b.c").is_err());
        assert!(matches!(verify_signature("a.b.c", &Jwks::default()), Verdict::Invalid(_)));
    }
}
