//! What every HTTP adapter (REST handlers, server functions) shares, so none of them decides
//! anything on its own: the contract's status for each error, the RFC 6750 challenge, the
//! bearer scheme, and the resolved client address.

use std::net::IpAddr;

use crate::error::AuthError;

/// The client's address as the server resolved it (the TCP peer, or the forwarded client when
/// the peer is a trusted proxy). The server puts it in each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl AuthError {
    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidCredentials
            | AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::InvalidGrant => 401,
            AuthError::InsufficientRole(_) => 403,
            AuthError::NotFound => 404,
            AuthError::EmailTaken => 409,
            AuthError::InvalidEmail(_) | AuthError::WeakPassword(_) | AuthError::InvalidRequest(_) => 422,
            AuthError::RateLimited { .. } => 429,
            AuthError::Internal(_) => 500,
            AuthError::Unavailable { .. } => 503,
        }
    }

    /// The `WWW-Authenticate` challenge of RFC 6750 §3, where one is due.
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken => Some("Bearer"),
            AuthError::InvalidToken(_) => Some(r#"Bearer error="invalid_token""#),
            AuthError::InsufficientRole(_) => Some(r#"Bearer error="insufficient_scope""#),
            _ => None,
        }
    }

    /// Seconds for `Retry-After`, where one is due.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::RateLimited { retry_after } | AuthError::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The message a client may see: internals are replaced by a generic sentence.
    pub fn public_message(&self) -> String {
        match self {
            AuthError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }
}

/// The `Server-Timing` value (W3C Server Timing) for a password hash that took `argon2`.
pub fn server_timing(argon2: std::time::Duration) -> String {
    let params = crate::password::params();
    format!(
        r#"argon2id;dur={:.1};desc="argon2id m={} t={} p={}""#,
        argon2.as_secs_f64() * 1000.0,
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    )
}

/// The `Server-Timing` value for a refresh: the rotation, one transaction.
pub fn rotation_timing(took: std::time::Duration) -> String {
    format!(
        r#"refresh;dur={:.1};desc="refresh token spent and rotated in one transaction""#,
        took.as_secs_f64() * 1000.0
    )
}

/// The `Server-Timing` value for a token check: how long, and whether the signature was
/// verified or the verified-token cache answered.
pub fn token_timing(check: &crate::TokenCheck) -> String {
    let how = if check.cached { "verified-token cache hit" } else { "Ed25519 signature verified" };
    format!(r#"jwt;dur={:.3};desc="{how}""#, check.took.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = AuthError::Internal("database: relation users does not exist".into());
        assert_eq!(e.status(), 500);
        assert_eq!(e.public_message(), "internal error");
    }
}
