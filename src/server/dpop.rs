//! DPoP proofs (RFC 9449): a client proves, on every token request and protected call, that
//! it holds the private key its tokens are bound to. A proof is a JWS the client signs with
//! that key, carrying the key itself (`jwk`) and the request it is for.
//!
//! [`verify`] checks one proof against the request it came with (RFC 9449 §4.3): `typ`
//! `dpop+jwt`; `alg` `ES256` or `EdDSA`, matching the key; a public key only; the signature;
//! `htm` and `htu` of this request; `iat` within the window around the server's clock; `ath`
//! the hash of the access token sent with it. What it returns ([`Proof`]) carries the key's
//! RFC 7638 thumbprint (`cnf.jkt` of the tokens bound to it) and the `jti`, which
//! [`Replays`] admits once within the window.
//!
//! Nothing here trusts the proof before its signature has been checked with the key it
//! carries, and the key decides the algorithm: `alg` must name the one its key type allows
//! (RFC 8725 §3.1).

use std::collections::HashMap;
use std::sync::Mutex;

pub use crate::jwk::{access_token_hash, p256_thumbprint};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The proof's media type (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";
/// The proof algorithms accepted: ES256 (P-256, what WebCrypto offers everywhere) and EdDSA.
pub const ALGORITHMS: [&str; 2] = ["ES256", "EdDSA"];
/// How far a proof's `iat` may be from the server's clock, either way, in seconds; also how
/// long a `jti` is remembered.
pub const WINDOW_SECS: i64 = 60;
/// A proof longer than this is refused unread (a P-256 proof with a long `htu` is under 1 KiB).
pub const MAX_PROOF_LEN: usize = 4096;
/// The longest `jti` accepted (RFC 9449 asks for at least 96 bits of randomness).
pub const MAX_JTI_LEN: usize = 256;

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The request's URL as the client addressed it: this server's public origin and the path
    /// (any query or fragment is ignored).
    pub url: &'a str,
    /// The access token sent with the proof, if any: its hash must be the proof's `ath`.
    pub access_token: Option<&'a str>,
    /// The server's clock, Unix seconds.
    pub now: i64,
}

/// A proof that passed every check but the replay check ([`Replays::first_use`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key: what `cnf.jkt` binds a token to.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

/// Why a proof was refused; [`ProofError::reason`] is what the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Not three base64url parts of JSON, a member of the wrong type, a duplicate member, or
    /// too long.
    Malformed,
    WrongType,
    AlgorithmNotAllowed,
    /// No `jwk`, one this server cannot use, or one whose `alg` does not match its key type.
    BadKey,
    /// The `jwk` carries a private key.
    PrivateKey,
    /// A `crit` header: no extension is understood here.
    UnknownCritical,
    BadSignature,
    WrongMethod,
    WrongUrl,
    /// `iat` too far in the past or the future.
    Stale,
    /// `ath` missing or not the hash of the access token sent with the proof.
    WrongAccessTokenHash,
    /// `jti` missing, empty or too long.
    BadJti,
    /// The `jti` was seen within the window.
    Replayed,
    /// No `DPoP` header where one is needed.
    Missing,
    /// More than one `DPoP` header, or one that is not text (RFC 9449 §4.3: exactly one).
    Ambiguous,
    /// The proof's key is not the one the token or session is bound to.
    WrongKey,
}

impl ProofError {
    /// The reason in plain words, for the error's `message`.
    pub fn reason(self) -> &'static str {
        match self {
            ProofError::Malformed => "DPoP proof is not a well-formed JWT",
            ProofError::WrongType => "DPoP proof typ is not dpop+jwt",
            ProofError::AlgorithmNotAllowed => "DPoP proof algorithm not allowed (ES256 or EdDSA)",
            ProofError::BadKey => "DPoP proof jwk is missing, unsupported or does not match alg",
            ProofError::PrivateKey => "DPoP proof jwk contains a private key",
            ProofError::UnknownCritical => "DPoP proof has critical extensions this server does not understand",
            ProofError::BadSignature => "DPoP proof signature does not verify",
            ProofError::WrongMethod => "DPoP proof htm does not match the request method",
            ProofError::WrongUrl => "DPoP proof htu does not match the request URL",
            ProofError::Stale => "DPoP proof iat is too far from the server's clock",
            ProofError::WrongAccessTokenHash => "DPoP proof ath does not match the access token",
            ProofError::BadJti => "DPoP proof jti is missing or too long",
            ProofError::Replayed => "DPoP proof was already used",
            ProofError::Missing => "DPoP proof missing",
            ProofError::Ambiguous => "exactly one DPoP header is allowed",
            ProofError::WrongKey => "DPoP proof key is not the one the token is bound to",
        }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ProofError {}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<PublicJwk>,
    crit: Option<serde_json::Value>,
}

/// The members of a `jwk` this server reads; private members are caught by name.
#[derive(Deserialize)]
struct PublicJwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<i64>,
    ath: Option<String>,
}

/// A verified public key and its thumbprint.
enum Key {
    Ed25519(ed25519_dalek::VerifyingKey),
    /// The uncompressed point (`04 || x || y`), checked to be on the curve.
    P256(Box<[u8; 65]>),
}

/// Check `proof` against `request`. The replay check is the caller's, with [`Replays`], on the
/// returned `jti`.
///
/// # Errors
/// The first rule the proof breaks, in the order of RFC 9449 §4.3.
pub fn verify(proof: &str, request: &Request<'_>) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    let claims: Claims = decode_json(claims_b64)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| ProofError::Malformed)?;

    if header.typ.as_deref() != Some(PROOF_TYP) {
        return Err(ProofError::WrongType);
    }
    if !ALGORITHMS.contains(&header.alg.as_str()) {
        return Err(ProofError::AlgorithmNotAllowed);
    }
    if header.crit.is_some() {
        return Err(ProofError::UnknownCritical);
    }
    let jwk = header.jwk.ok_or(ProofError::BadKey)?;
    if jwk.d.is_some() {
        return Err(ProofError::PrivateKey);
    }
    let (key, jkt) = public_key(&jwk, &header.alg)?;
    let signing_input = &proof[..header_b64.len() + 1 + claims_b64.len()];
    verify_signature(&key, signing_input.as_bytes(), &signature)?;

    let jti = claims.jti.filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN).ok_or(ProofError::BadJti)?;
    if claims.htm.as_deref() != Some(request.method) {
        return Err(ProofError::WrongMethod);
    }
    if !same_target(claims.htu.as_deref().ok_or(ProofError::WrongUrl)?, request.url) {
        return Err(ProofError::WrongUrl);
    }
    let iat = claims.iat.ok_or(ProofError::Stale)?;
    if iat.abs_diff(request.now) > WINDOW_SECS.unsigned_abs() {
        return Err(ProofError::Stale);
    }
    if let Some(token) = request.access_token
        && claims.ath.as_deref() != Some(access_token_hash(token).as_str())
    {
        return Err(ProofError::WrongAccessTokenHash);
    }
    Ok(Proof { jkt, jti, iat })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, ProofError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| ProofError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)
}

/// The key a `jwk` describes, if `alg` is the one algorithm its type allows, and its RFC 7638
/// thumbprint over exactly the members given (each checked to be canonical base64url of the
/// right length, so that one key has one thumbprint).
fn public_key(jwk: &PublicJwk, alg: &str) -> Result<(Key, String), ProofError> {
    let coordinate = |member: &Option<String>| -> Result<(String, [u8; 32]), ProofError> {
        let text = member.as_deref().ok_or(ProofError::BadKey)?;
        let bytes: [u8; 32] =
            URL_SAFE_NO_PAD.decode(text).ok().and_then(|b| b.try_into().ok()).ok_or(ProofError::BadKey)?;
        // The decoder accepts trailing bits; only the canonical spelling counts.
        if URL_SAFE_NO_PAD.encode(bytes) != text {
            return Err(ProofError::BadKey);
        }
        Ok((text.to_string(), bytes))
    };
    match (jwk.kty.as_str(), jwk.crv.as_deref(), alg) {
        ("OKP", Some("Ed25519"), "EdDSA") => {
            if jwk.y.is_some() {
                return Err(ProofError::BadKey);
            }
            let (x, bytes) = coordinate(&jwk.x)?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ProofError::BadKey)?;
            Ok((Key::Ed25519(key), crate::jwk::thumbprint(&x)))
        }
        ("EC", Some("P-256"), "ES256") => {
            let (x, x_bytes) = coordinate(&jwk.x)?;
            let (y, y_bytes) = coordinate(&jwk.y)?;
            let point = p256::EncodedPoint::from_affine_coordinates(&x_bytes.into(), &y_bytes.into(), false);
            p256::ecdsa::VerifyingKey::from_encoded_point(&point).map_err(|_| ProofError::BadKey)?;
            let mut uncompressed = [0x04; 65];
            uncompressed[1..33].copy_from_slice(&x_bytes);
            uncompressed[33..].copy_from_slice(&y_bytes);
            Ok((Key::P256(Box::new(uncompressed)), p256_thumbprint(&x, &y)))
        }
        _ => Err(ProofError::BadKey),
    }
}

fn verify_signature(key: &Key, signing_input: &[u8], signature: &[u8]) -> Result<(), ProofError> {
    match key {
        Key::Ed25519(key) => {
            let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| ProofError::BadSignature)?;
            key.verify_strict(signing_input, &signature).map_err(|_| ProofError::BadSignature)
        }
        Key::P256(point) => {
            // JWS ES256 signatures are r || s, 64 bytes (RFC 7518 §3.4), never DER. ring's
            // assembly verifies several times faster than the portable p256 crate, and every
            // DPoP request pays one verify.
            let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point[..]);
            key.verify(signing_input, signature).map_err(|_| ProofError::BadSignature)
        }
    }
}

/// Whether `htu` names the same resource as `url`, ignoring query and fragment, after the
/// normalisation of RFC 3986 §6.2.2–6.2.3 (case of scheme and host, default port, empty path).
fn same_target(htu: &str, url: &str) -> bool {
    let (Ok(htu), Ok(url)) = (url::Url::parse(htu), url::Url::parse(url)) else { return false };
    htu.scheme() == url.scheme()
        && htu.host_str().is_some()
        && htu.host_str() == url.host_str()
        && htu.port_or_known_default() == url.port_or_known_default()
        && htu.path() == url.path()
        && htu.username().is_empty()
        && htu.password().is_none()
}

/// The `jti`s seen within the window, so that each proof is used once by this instance
/// (`first_use` is atomic: of any number of requests carrying one proof at once, one passes).
/// Bounded: past `capacity` live entries a proof is refused as a replay rather than
/// remembered, so a flood of proofs cannot grow it, and the honest client's next proof (a new
/// `jti`) passes once the window has moved on. Expired entries are swept when the store is
/// full, at most once a second, so a flood against a full store costs a lookup, not a sweep.
pub struct Replays {
    state: Mutex<Seen>,
    capacity: usize,
}

#[derive(Default)]
struct Seen {
    /// The first 128 bits of SHA-256(`jkt:jti`) → when it may be forgotten: 24 bytes an entry
    /// however long the `jti`, and no two proofs of the window share a key but by a collision
    /// a client could not aim for.
    expires: HashMap<u128, i64>,
    last_sweep: i64,
}

impl Replays {
    pub fn new(capacity: usize) -> Replays {
        Replays { state: Mutex::new(Seen::default()), capacity }
    }

    /// `true` the first time `proof`'s `jti` (scoped to its key) is seen within the window.
    pub fn first_use(&self, proof: &Proof, now: i64) -> bool {
        let Ok(mut state) = self.state.lock() else { return false };
        let seen = &mut *state;
        if seen.expires.len() >= self.capacity && seen.last_sweep < now {
            seen.expires.retain(|_, expires| *expires > now);
            seen.last_sweep = now;
        }
        let digest = Sha256::new().chain_update(&proof.jkt).chain_update(b":").chain_update(&proof.jti).finalize();
        let key = digest[..16].iter().fold(0u128, |key, byte| key << 8 | u128::from(*byte));
        if seen.expires.get(&key).is_some_and(|expires| *expires > now) {
            return false;
        }
        if seen.expires.len() >= self.capacity {
            return false;
        }
        // Remembered until no proof with this `iat` could pass the clock check any more.
        seen.expires.insert(key, proof.iat.max(now) + WINDOW_SECS + 1);
        true
    }

    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.expires.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod client;
pub use client::ProofKey;

#[cfg(test)]
mod tests;
