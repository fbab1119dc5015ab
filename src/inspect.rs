//! Look inside a token the way anyone can: decode it, and verify its signature against the
//! public JWKS. Compiled for the browser too; nothing here holds a secret, and nothing here
//! decides what the server accepts (that is `token`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::{Jwk, thumbprint};
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn signed(claims: &Value, key: &SigningKey, kid: &str) -> String {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_bytes()))
    }

    fn jwks_for(key: &SigningKey) -> (Jwks, String) {
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
        (Jwks { keys: vec![jwk] }, kid)
    }

    #[test]
    fn decodes_and_verifies_with_the_jwks_alone() {
        let key = SigningKey::from_bytes(&[1u8; 32]);
        let (jwks, kid) = jwks_for(&key);
        let token = signed(&json!({"sub": "u", "role": "user", "exp": 10}), &key, &kid);
        let d = decode(&token).unwrap();
        assert_eq!(d.claims["role"], "user");
        assert_eq!(verify_signature(&token, &jwks), Verdict::Valid { kid: kid.clone() });
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let forged = signed(&json!({"sub": "u", "role": "admin", "exp": 10}), &other, &kid);
        assert!(matches!(verify_signature(&forged, &jwks), Verdict::Invalid(_)));
    }

    #[test]
    fn garbage_is_explained_not_trusted() {
        assert_eq!(decode("abc"), Err(InspectError::Parts(1)));
        assert_eq!(decode("a.b.c"), Err(InspectError::NotBase64("header")));
        assert_eq!(decode("YQ.YQ.c"), Err(InspectError::NotJson("header")), "\"a\" is base64url of a, not JSON");
        assert!(matches!(verify_signature("a.b.c", &Jwks::default()), Verdict::Invalid(_)));
    }
}
