//! DPoP (RFC 9449) in the service: which key a new session is bound to, and the proofs a
//! bound session's token requests and protected calls must carry.
//!
//! A binding is fixed at sign-in (`sessions.dpop_jkt`) and carried by every access token of the
//! session as `cnf.jkt`; `AUTH_DPOP` decides only whether new sessions may (or must) be bound.
//! Each proof's `jti` is admitted once per instance within the proof window: a proof captured
//! on the way and replayed at the same instance is refused; at another instance it passes only
//! for the same method, URL and access token within the window (see the README on replays
//! across instances).

use crate::claims::Claims;
use crate::dpop::{self, Proof, ProofError};
use crate::error::{AuthError, TokenError};
use crate::settings::DpopMode;
use crate::web::{Credentials, Scheme};

use super::AuthService;

/// A token request's proof, checked before its session is known: `None` when DPoP is off
/// (then only a bound session's refresh looks at the proof).
pub(super) type EarlyProof = Option<Option<Proof>>;

impl AuthService {
    /// The request's proof, if it has one, checked for this request (and for `access_token`'s
    /// `ath`), by the key `bound` when given, and its `jti` admitted once. The replay check
    /// comes last, so that a proof refused for anything else does not use up its `jti`.
    fn proof(
        &self,
        creds: &Credentials<'_>,
        access_token: Option<&str>,
        bound: Option<&str>,
        now: i64,
    ) -> Result<Option<Proof>, ProofError> {
        let Some(proof) = creds.proof? else { return Ok(None) };
        let url = format!("{}{}", self.public_base(), creds.path);
        let proof = dpop::verify(proof, &dpop::Request { method: creds.method, url: &url, access_token, now })?;
        if bound.is_some_and(|jkt| jkt != proof.jkt) {
            return Err(ProofError::WrongKey);
        }
        if !self.inner.replays.first_use(&proof, now) {
            return Err(ProofError::Replayed);
        }
        Ok(Some(proof))
    }

    /// Whether the way the token was presented fits its binding: a bound token only as `DPoP`
    /// with a proof by its key for this request, an unbound one only as `Bearer` (and not at
    /// all under `AUTH_DPOP=required`). A token handed over by a resource server
    /// ([`Scheme::Held`]) is judged by its claims and session alone.
    pub(super) fn check_binding(&self, claims: &Claims, creds: &Credentials<'_>, now: i64) -> Result<(), AuthError> {
        let Some((scheme, token)) = creds.token else { return Err(AuthError::MissingToken) };
        match (scheme, &claims.cnf) {
            (Scheme::Held, _) => Ok(()),
            (Scheme::Bearer, Some(_)) => Err(AuthError::InvalidDpopToken(TokenError::DpopBound)),
            (Scheme::Dpop, None) => Err(AuthError::InvalidDpopToken(TokenError::NotDpopBound)),
            (Scheme::Bearer, None) if self.inner.settings.dpop == DpopMode::Required => {
                Err(AuthError::InvalidDpopToken(TokenError::DpopRequired))
            }
            (Scheme::Bearer, None) => Ok(()),
            (Scheme::Dpop, Some(cnf)) => match self.proof(creds, Some(token), Some(&cnf.jkt), now) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(AuthError::InvalidDpopProof(ProofError::Missing)),
                Err(e) => Err(AuthError::InvalidDpopProof(e)),
            },
        }
    }

    /// The key a new session (sign-up, login) is bound to: the proof's, unless DPoP is off.
    ///
    /// # Errors
    /// [`AuthError::BadDpopProof`] for a bad proof, or none under `AUTH_DPOP=required`.
    pub(super) fn new_session_binding(&self, creds: &Credentials<'_>, now: i64) -> Result<Option<String>, AuthError> {
        Ok(self.early_proof(creds, now)?.flatten().map(|proof| proof.jkt))
    }

    /// A token request's proof, checked before anything else is done for it, so that a bad
    /// one changes nothing (no password hashed, no attempt counted, no refresh token spent).
    ///
    /// # Errors
    /// [`AuthError::BadDpopProof`] for a bad proof, or none under `AUTH_DPOP=required`.
    pub(super) fn early_proof(&self, creds: &Credentials<'_>, now: i64) -> Result<EarlyProof, AuthError> {
        let mode = self.inner.settings.dpop;
        if mode == DpopMode::Off {
            return Ok(None);
        }
        match self.proof(creds, None, None, now).map_err(AuthError::BadDpopProof)? {
            None if mode == DpopMode::Required => Err(AuthError::BadDpopProof(ProofError::Missing)),
            proof => Ok(Some(proof)),
        }
    }

    /// Whether a token request may go on for a session bound to `bound` (or not): a bound
    /// session's needs a proof by its key, whatever `AUTH_DPOP` says now; an unbound one is
    /// refused under `AUTH_DPOP=required` (its tokens would be refused anyway).
    ///
    /// # Errors
    /// [`AuthError::BadDpopProof`], or [`AuthError::InvalidGrant`] for an unbound session that
    /// `required` no longer serves.
    pub(super) fn session_proof(
        &self,
        bound: Option<&str>,
        early: &EarlyProof,
        creds: &Credentials<'_>,
        now: i64,
    ) -> Result<(), AuthError> {
        let Some(jkt) = bound else {
            return match self.inner.settings.dpop {
                DpopMode::Required => Err(AuthError::InvalidGrant),
                _ => Ok(()),
            };
        };
        let proof = match early {
            Some(proof) => proof.clone(),
            None => self.proof(creds, None, None, now).map_err(AuthError::BadDpopProof)?,
        };
        match proof {
            Some(proof) if proof.jkt == jkt => Ok(()),
            Some(_) => Err(AuthError::BadDpopProof(ProofError::WrongKey)),
            None => Err(AuthError::BadDpopProof(ProofError::Missing)),
        }
    }

    /// The proof algorithms this server takes (RFC 9449 §5.1 metadata); none when DPoP is off.
    pub fn dpop_algorithms(&self) -> &'static [&'static str] {
        match self.inner.settings.dpop {
            DpopMode::Off => &[],
            DpopMode::Optional | DpopMode::Required => &dpop::ALGORITHMS,
        }
    }

    /// `AUTH_ISSUER` without a trailing slash: what the public URLs of this server (the
    /// metadata's, a proof's `htu`) are built on.
    pub fn public_base(&self) -> &str {
        self.inner.settings.issuer.trim_end_matches('/')
    }
}
