//! Issuing and strictly verifying access tokens (RFC 8725, RFC 9068).
//!
//! jsonwebtoken checks the signature, `exp`, `nbf`, `iss` and `aud`; by default it skips
//! `nbf`, `iat`, `typ` and `crit` and ignores `iss`/`aud` of the wrong type unless they are
//! required. So the header is parsed and checked here first, jsonwebtoken is configured with
//! every claim required, and the typed [`Claims`] reject numbers that are not integers and
//! ids that are not strings.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::claims::{ACCESS_TOKEN_TYPE, ALGORITHM, Claims};
use crate::error::TokenError;
use crate::keys::{KeySet, SigningKey};

/// Longest token we look at; ours are ~600 bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// How a token was checked, for `Server-Timing` and the flow view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCheck {
    /// `true` when the verified-token cache answered instead of an Ed25519 verify.
    pub cached: bool,
    /// Signature (or cache) plus claims plus session, all of it.
    pub took: std::time::Duration,
}

/// What a verifier must know besides the keys.
#[derive(Debug, Clone)]
pub struct Policy {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: u64,
}

/// Sign `claims` with the ring's signing key.
///
/// # Errors
/// Only when the key is unusable, which `KeyMaterial` prevents.
pub fn issue(claims: &Claims, key: &SigningKey) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding)
}

/// The JOSE header as we accept it. Derived `Deserialize` rejects a duplicated member.
/// Forbidden members count when present with any value, `null` included (an `Option` would
/// read `"crit": null` as absent).
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// `true` for a member that is there at all, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// Check the header without trusting anything in it; returns the `kid`.
fn check_header(token: &str, keys: &KeySet) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| TokenError::Malformed)?;
    let header: JoseHeader = serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)?;
    if header.alg != ALGORITHM {
        return Err(TokenError::AlgorithmNotAllowed);
    }
    let typ_ok = header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt"));
    if !typ_ok {
        return Err(TokenError::WrongType);
    }
    if header.crit {
        return Err(TokenError::Critical);
    }
    if header.jku || header.jwk || header.x5u || header.x5c {
        return Err(TokenError::ForeignKeyReference);
    }
    match header.kid {
        Some(kid) if keys.contains(&kid) => Ok(kid),
        _ => Err(TokenError::UnknownKeyId),
    }
}

/// Verify a token's header, signature and claims at time `now` (Unix seconds).
/// Session liveness is the caller's next step.
///
/// # Errors
/// The first rule the token breaks.
pub fn verify(token: &str, keys: &KeySet, policy: &Policy, now: i64) -> Result<(Claims, String), TokenError> {
    let kid = check_header(token, keys)?;
    let key = keys.get(&kid).ok_or(TokenError::UnknownKeyId)?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = policy.leeway_secs;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[&policy.issuer]);
    validation.set_audience(&[&policy.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);

    let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
            TokenError::BadClaims
        }
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => TokenError::Malformed,
        _ => TokenError::BadSignature,
    })?;
    let claims = data.claims;
    check_claims(&claims, policy, now)?;
    Ok((claims, kid))
}

/// The checks jsonwebtoken does not do, and the ones it does, once more, on our typed claims
/// and our clock (so a cached token is judged by the same rules).
fn check_claims(claims: &Claims, policy: &Policy, now: i64) -> Result<(), TokenError> {
    let leeway = i64::try_from(policy.leeway_secs).unwrap_or(i64::MAX);
    if claims.iss != policy.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.aud != policy.audience {
        return Err(TokenError::WrongAudience);
    }
    if claims.exp.saturating_add(leeway) < now {
        return Err(TokenError::Expired);
    }
    if claims.nbf.saturating_sub(leeway) > now {
        return Err(TokenError::NotYetValid);
    }
    if claims.iat.saturating_sub(leeway) > now {
        return Err(TokenError::IssuedInFuture);
    }
    if claims.sub.as_str().is_empty() || claims.sid.as_str().is_empty() {
        return Err(TokenError::BadClaims);
    }
    Ok(())
}

/// A verified token, remembered by its exact string (as Envoy's jwt_authn does): a repeat
/// costs a hash lookup and the time checks instead of an Ed25519 verify.
#[derive(Clone)]
struct CachedToken {
    claims: Arc<Claims>,
    kid: Arc<str>,
}

/// Bounded cache of verified tokens. Only tokens that passed every check get in. Eviction is
/// S3-FIFO (`quick_cache`): a full cache drops the coldest entries, one at a time, never all
/// at once, and a dropped token is only verified again.
pub struct TokenCache {
    entries: quick_cache::sync::Cache<String, CachedToken>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache { entries: quick_cache::sync::Cache::new(capacity.max(1)) }
    }

    /// The claims of a token verified before, re-checked against the clock; `None` on a miss.
    ///
    /// # Errors
    /// When the cached token has since expired.
    pub fn get(&self, token: &str, policy: &Policy, now: i64) -> Option<Result<(Arc<Claims>, String), TokenError>> {
        let hit = self.entries.get(token)?;
        Some(check_claims(&hit.claims, policy, now).map(|()| (hit.claims, hit.kid.to_string())))
    }

    pub fn insert(&self, token: &str, claims: Arc<Claims>, kid: String) {
        self.entries.insert(token.to_string(), CachedToken { claims, kid: kid.into() });
    }

    /// Forget every token signed by a key that left the set.
    pub fn retain_keys(&self, keys: &KeySet) {
        self.entries.retain(|_, t| keys.contains(&t.kid));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
