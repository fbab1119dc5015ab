//! What every HTTP adapter (REST handlers, server functions) shares, so none of them decides
//! anything on its own: the contract's status for each error, the RFC 6750 challenge, the
//! bearer scheme, and the resolved client address.

use std::net::{IpAddr, Ipv6Addr};

use crate::dto::ErrorBody;
use crate::error::AuthError;

/// The client's address as the server resolved it (the TCP peer, or the forwarded client when
/// the peer is a trusted proxy). The server puts it in each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// What the per-client limit counts: an IPv4 address, or the /64 of an IPv6 address (one
    /// subscriber usually holds a whole /64, so counting single addresses would be no limit).
    pub fn bucket(&self) -> String {
        match canonical_ip(self.0) {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        }
    }
}

/// Where a request came from, as the audit log records it: the resolved client address and
/// the `User-Agent`. The CLI is [`RequestMeta::operator`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// What the log says of the operator's command line.
    pub fn operator() -> RequestMeta {
        RequestMeta { ip: None, user_agent: Some("tokenflow (operator command line)".into()) }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports) as the
/// IPv4 address it is, so one client never has two names.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

pub use crate::dto::SERVER_TIMING;

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The bearer token of a request, from all of its `Authorization` header values (`None` for
/// a value that is not text). Two headers are refused (RFC 6750 §3.1: one method, once), so
/// no layer can read one token while another reads the other.
///
/// # Errors
/// [`AuthError::AmbiguousCredentials`] for more than one `Authorization` header.
pub fn request_bearer<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> Result<Option<&'a str>, AuthError> {
    let first = values.next();
    if values.next().is_some() {
        return Err(AuthError::AmbiguousCredentials);
    }
    Ok(first.flatten().and_then(bearer_token))
}

impl AuthError {
    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidCredentials
            | AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::InvalidGrant
            | AuthError::InvalidClient => 401,
            AuthError::AmbiguousCredentials | AuthError::InvalidLink | AuthError::InvalidForm(_) => 400,
            AuthError::InsufficientRole(_) | AuthError::AccountDisabled => 403,
            AuthError::NotFound => 404,
            AuthError::EmailTaken | AuthError::Conflict | AuthError::LastAdmin => 409,
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
            // RFC 6749 §5.2: a client that authenticated with HTTP Basic gets Basic back.
            AuthError::InvalidClient => Some(r#"Basic realm="tokenflow", charset="UTF-8""#),
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

    /// The one projection of an error onto HTTP, for REST handlers and server functions
    /// alike: status, `WWW-Authenticate`, `Retry-After` and the contract's body. An internal
    /// error is logged here, once, with its cause; a refused token at debug level.
    pub fn to_response(&self) -> ErrorResponse {
        match self {
            AuthError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            AuthError::InvalidToken(reason) => tracing::debug!(%reason, "token refused"),
            _ => {}
        }
        ErrorResponse {
            status: self.status(),
            challenge: self.challenge(),
            retry_after: self.retry_after(),
            body: ErrorBody { error: self.code(), message: self.public_message() },
        }
    }
}

/// An error as HTTP says it; see [`AuthError::to_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    /// `WWW-Authenticate`, where RFC 6750 asks for one.
    pub challenge: Option<&'static str>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    pub body: ErrorBody,
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
pub fn token_timing(check: &crate::token::TokenCheck) -> String {
    let how = if check.cached { "verified-token cache hit" } else { "Ed25519 signature verified" };
    // Whole microseconds as milliseconds with three decimals: integer formatting, cheaper
    // than a float's on every protected request.
    let micros = check.took.as_micros();
    format!(r#"jwt;dur={}.{:03};desc="{how}""#, micros / 1000, micros % 1000)
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
    fn one_authorization_header_at_most() {
        assert_eq!(request_bearer([Some("Bearer abc")].into_iter()).unwrap(), Some("abc"));
        assert_eq!(request_bearer(std::iter::empty()).unwrap(), None);
        assert_eq!(request_bearer([None].into_iter()).unwrap(), None);
        let two = request_bearer([Some("Bearer abc"), Some("Bearer def")].into_iter());
        assert!(matches!(two, Err(AuthError::AmbiguousCredentials)));
        assert_eq!(AuthError::AmbiguousCredentials.status(), 400);
        assert_eq!(AuthError::AmbiguousCredentials.code(), crate::dto::ErrorCode::InvalidRequest);
    }

    #[test]
    fn clients_are_bucketed_by_ipv4_address_or_ipv6_slash_64() {
        let bucket = |ip: &str| ClientAddr(ip.parse().unwrap()).bucket();
        assert_eq!(bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(bucket("::ffff:203.0.113.7"), "203.0.113.7", "IPv4-mapped is the IPv4 client");
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:bbbb::9"), bucket("2001:db8:1:2:aaaa::1"), "one /64, one bucket");
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = AuthError::internal("database: relation users does not exist");
        let response = e.to_response();
        assert_eq!((response.status, response.body.error), (500, crate::dto::ErrorCode::InternalError));
        assert_eq!(response.body.message, "internal error");
        assert!(std::error::Error::source(&e).is_some_and(|cause| cause.to_string().contains("relation")));
    }
}
