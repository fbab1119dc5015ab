//! The client's side of DPoP: a proof key and the proofs it signs, for Rust clients of
//! Tokenflow (`tokenflow probe`, the tests). The browser signs its own with WebCrypto.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{PROOF_TYP, access_token_hash, p256_thumbprint};

/// A DPoP key pair: P-256 (`ES256`) or Ed25519 (`EdDSA`). A secret: `Debug` names only the
/// algorithm and the public thumbprint.
pub enum ProofKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKey").field("alg", &self.alg()).field("jkt", &self.jkt()).finish_non_exhaustive()
    }
}

impl ProofKey {
    /// A new random P-256 key, the kind browsers make.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn generate_p256() -> Result<ProofKey, getrandom::Error> {
        loop {
            let mut scalar = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(scalar.as_mut())?;
            // Fails only for a scalar of zero or beyond the group order (chance ~2^-32).
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(scalar.as_ref()) {
                return Ok(ProofKey::P256(key));
            }
        }
    }

    /// A new random Ed25519 key.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn generate_ed25519() -> Result<ProofKey, getrandom::Error> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(ProofKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// A key from a PKCS#8 PEM file (P-256 or Ed25519); `None` for anything else.
    pub fn from_pkcs8_pem(pem: &str) -> Option<ProofKey> {
        use p256::pkcs8::DecodePrivateKey;
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(ProofKey::P256)
            .ok()
            .or_else(|| ed25519_dalek::SigningKey::from_pkcs8_pem(pem).ok().map(ProofKey::Ed25519))
    }

    /// The key as PKCS#8 PEM (a secret: for a file only its owner reads).
    ///
    /// # Errors
    /// Only if encoding fails, which these key types do not.
    pub fn to_pkcs8_pem(&self) -> Result<zeroize::Zeroizing<String>, p256::pkcs8::Error> {
        use p256::pkcs8::EncodePrivateKey;
        match self {
            ProofKey::Ed25519(key) => key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF),
            ProofKey::P256(key) => key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF),
        }
    }

    /// `ES256` or `EdDSA`.
    pub fn alg(&self) -> &'static str {
        match self {
            ProofKey::Ed25519(_) => "EdDSA",
            ProofKey::P256(_) => "ES256",
        }
    }

    /// The public key as a JWK (what a proof's header carries).
    pub fn public_jwk(&self) -> Value {
        match self {
            ProofKey::Ed25519(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())})
            }
            ProofKey::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let coordinate =
                    |c: Option<&p256::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
                json!({"kty": "EC", "crv": "P-256", "x": coordinate(point.x()), "y": coordinate(point.y())})
            }
        }
    }

    /// The RFC 7638 thumbprint: the `cnf.jkt` of the tokens bound to this key.
    pub fn jkt(&self) -> String {
        let jwk = self.public_jwk();
        let member = |name: &str| jwk[name].as_str().unwrap_or_default().to_string();
        match self {
            ProofKey::Ed25519(_) => crate::jwk::thumbprint(&member("x")),
            ProofKey::P256(_) => p256_thumbprint(&member("x"), &member("y")),
        }
    }

    /// The signature of `input` as a JWS carries it (`r || s` for ES256).
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            ProofKey::Ed25519(key) => ed25519_dalek::Signer::sign(key, input).to_bytes().to_vec(),
            ProofKey::P256(key) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, input);
                signature.to_bytes().to_vec()
            }
        }
    }

    /// A proof's usual header: `typ`, `alg` and the public key.
    pub fn header(&self) -> Value {
        json!({"typ": PROOF_TYP, "alg": self.alg(), "jwk": self.public_jwk()})
    }

    /// A compact JWS of `header` and `claims` (JSON text, taken as given), signed by this key.
    pub fn sign_jws(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let signature = URL_SAFE_NO_PAD.encode(self.sign(input.as_bytes()));
        format!("{input}.{signature}")
    }

    /// A fresh proof for `method` and `url` at `now` (Unix seconds), with `ath` when an
    /// access token goes with it, and a random `jti`.
    ///
    /// # Errors
    /// When the system has no randomness to give (for the `jti`).
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        now: i64,
    ) -> Result<String, getrandom::Error> {
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti)?;
        let mut claims = json!({"jti": URL_SAFE_NO_PAD.encode(jti), "htm": method, "htu": url, "iat": now});
        if let Some(token) = access_token {
            claims["ath"] = Value::String(access_token_hash(token));
        }
        Ok(self.sign_jws(&self.header().to_string(), &claims.to_string()))
    }
}
