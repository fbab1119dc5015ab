//! The Ed25519 key ring: which key signs, which keys verify, and the public JWKS.
//!
//! Keys live in the database so that every instance signs and verifies with the same ones and
//! a restart invalidates nothing. `kid` is the RFC 7638 thumbprint of the public key, so it is
//! stable, derivable by anyone holding the JWK, and never names a key we do not have.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::ids::Kid;

pub use crate::jwk::{Jwk, Jwks, thumbprint};

/// A key that verifies.
pub struct VerifyingKey {
    pub kid: String,
    pub x: String,
    pub decoding: DecodingKey,
}

impl VerifyingKey {
    /// A verify-only key from its public part (base64url `x`); its `kid` is the thumbprint.
    ///
    /// # Errors
    /// When `x` is not an Ed25519 public key.
    pub fn from_x(x: &str) -> Result<VerifyingKey, KeyError> {
        let bytes = URL_SAFE_NO_PAD.decode(x).map_err(|_| KeyError::NotEd25519Public)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::NotEd25519Public)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotEd25519Public)?;
        let decoding = DecodingKey::from_ed_components(x)?;
        Ok(VerifyingKey { kid: thumbprint(x), x: x.to_string(), decoding })
    }
}

/// The key that signs.
// Not Serialize, not Debug: holds the private key.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
}

/// The private half of a key, with what we derive from it.
pub struct KeyMaterial {
    pub kid: Kid,
    pub x: String,
    /// PKCS#8 PEM, wiped from memory when dropped. A secret: stored, never logged.
    pub private_pem: Zeroizing<String>,
    pub signing: SigningKey,
    pub verifying: VerifyingKey,
}

impl KeyMaterial {
    /// A fresh random Ed25519 key.
    ///
    /// # Errors
    /// When the operating system has no randomness or encoding fails.
    pub fn generate() -> Result<KeyMaterial, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        // `to_pkcs8_pem` wipes its buffer on drop.
        let pem = key.to_pkcs8_pem(LineEnding::LF)?;
        KeyMaterial::from_pem(&pem)
    }

    /// Parse a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    ///
    /// # Errors
    /// When the PEM is not an Ed25519 PKCS#8 private key.
    pub fn from_pem(pem: &str) -> Result<KeyMaterial, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::NotEd25519Pem)?;
        let der = key.to_pkcs8_der()?;
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let kid = thumbprint(&x);
        let decoding = DecodingKey::from_ed_components(&x)?;
        Ok(KeyMaterial {
            signing: SigningKey { kid: kid.clone(), encoding: EncodingKey::from_ed_der(der.as_bytes()) },
            verifying: VerifyingKey { kid: kid.clone(), x: x.clone(), decoding },
            kid: Kid::from_trusted(kid),
            private_pem: Zeroizing::new(pem.to_string()),
            x,
        })
    }
}

/// Keys that verify, by `kid`: ours (inside a [`KeyRing`]) or a third party's view of our
/// JWKS. Nothing else is ever consulted: no `jku`, `x5u` or embedded `jwk`.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
}

impl KeySet {
    /// The usable keys of a JWKS: Ed25519 (`OKP`/`Ed25519`), for signatures, EdDSA. Others are
    /// skipped, never trusted.
    pub fn from_jwks(jwks: &Jwks) -> KeySet {
        let keys = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519" && k.alg == crate::claims::ALGORITHM && k.use_ == "sig")
            .filter_map(|k| {
                let decoding = DecodingKey::from_ed_components(&k.x).ok()?;
                Some((k.kid.clone(), Arc::new(VerifyingKey { kid: k.kid.clone(), x: k.x.clone(), decoding })))
            })
            .collect();
        KeySet { keys }
    }

    /// The key named by `kid`, only if it is in this set.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid).map(|k| k.as_ref())
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public JWKS: every key of the set, never a private part.
    pub fn jwks(&self) -> Jwks {
        let mut keys: Vec<Jwk> = self
            .keys
            .values()
            .map(|k| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: k.x.clone(),
                kid: k.kid.clone(),
                alg: crate::claims::ALGORITHM.into(),
                use_: "sig".into(),
            })
            .collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Jwks { keys }
    }
}

/// One immutable view of our keys; swapped as a whole when keys change.
pub struct KeyRing {
    signing: Arc<SigningKey>,
    verifying: KeySet,
}

impl KeyRing {
    /// `signer` signs; it and `others` verify.
    pub fn new(signer: KeyMaterial, others: Vec<VerifyingKey>) -> KeyRing {
        let mut keys = HashMap::new();
        for k in others {
            keys.insert(k.kid.clone(), Arc::new(k));
        }
        keys.insert(signer.verifying.kid.clone(), Arc::new(signer.verifying));
        KeyRing { signing: Arc::new(signer.signing), verifying: KeySet { keys } }
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Every key that can still verify a live token.
    pub fn keys(&self) -> &KeySet {
        &self.verifying
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.verifying.contains(kid)
    }

    /// The public JWKS.
    pub fn jwks(&self) -> Jwks {
        self.verifying.jwks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc_8037_private_key_gives_its_public_key_and_kid() {
        // RFC 8037 A.1: d = nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A.
        let d = URL_SAFE_NO_PAD.decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&d.try_into().unwrap());
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let material = KeyMaterial::from_pem(&pem).unwrap();
        assert_eq!(material.x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(material.kid.as_str(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn jwks_publishes_public_parts_only() {
        let signer = KeyMaterial::generate().unwrap();
        let old = KeyMaterial::generate().unwrap();
        let (signer_kid, old_kid) = (signer.kid.to_string(), old.kid.to_string());
        let ring = KeyRing::new(signer, vec![old.verifying]);
        let json = serde_json::to_value(ring.jwks()).unwrap();
        let keys = json["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for k in keys {
            let obj = k.as_object().unwrap();
            let mut names: Vec<_> = obj.keys().cloned().collect();
            names.sort();
            assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"]);
            assert_eq!(k["alg"], "EdDSA");
            assert_eq!(k["use"], "sig");
        }
        assert_eq!(ring.signing_key().kid, signer_kid);
        assert!(ring.contains(&old_kid));
    }

    #[test]
    fn a_key_set_from_the_jwks_verifies_like_the_ring_and_skips_foreign_keys() {
        let ring = KeyRing::new(KeyMaterial::generate().unwrap(), vec![]);
        let mut jwks = ring.jwks();
        let kid = jwks.keys[0].kid.clone();
        jwks.keys.push(Jwk {
            kty: "RSA".into(),
            crv: String::new(),
            x: String::new(),
            kid: "rsa".into(),
            alg: "RS256".into(),
            use_: "sig".into(),
        });
        jwks.keys.push(Jwk { alg: "HS256".into(), kid: "hs".into(), ..jwks.keys[0].clone() });
        let set = KeySet::from_jwks(&jwks);
        assert_eq!(set.len(), 1);
        assert!(set.contains(&kid));
        assert!(!set.contains("rsa") && !set.contains("hs"));
    }

    #[test]
    fn rejects_a_pem_that_is_not_ed25519() {
        assert!(KeyMaterial::from_pem("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n").is_err());
    }
}
