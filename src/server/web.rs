//! What every HTTP adapter (REST handlers, server functions) shares, so none of them decides
//! anything on its own: the contract's status for each error, the RFC 6750 challenge, the
//! bearer scheme, and the resolved client address.

use std::net::{IpAddr, Ipv6Addr};

use crate::dpop::ProofError;
use crate::dto::ErrorBody;
use crate::error::AuthError;
use crate::error::StepUp;

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

/// How a request presents its access token: RFC 6750 `Bearer`, or RFC 9449 `DPoP` (with a
/// proof in the `DPoP` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
    /// Handed over as a value, not presented by its holder (introspection, revocation): a
    /// binding is the presenter's to prove, not this request's.
    Held,
}

/// The scheme and token of an `Authorization` value (scheme case-insensitive); `None` for
/// any other scheme.
pub fn authorization_token(authorization: &str) -> Option<(Scheme, &str)> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    (!token.is_empty()).then_some((scheme, token))
}

/// What a request brings to authenticate: its access token and how it is presented, its DPoP
/// proof, and the request the proof must be for. Token requests (sign-up, login, refresh)
/// bring no token, only the proof.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub token: Option<(Scheme, &'a str)>,
    /// The one `DPoP` header, if any (two, or one that is not text, are refused when a proof
    /// is needed).
    pub proof: Result<Option<&'a str>, ProofError>,
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The request's path, without its query: `AUTH_ISSUER` and it make the `htu` a proof
    /// must name.
    pub path: &'a str,
}

impl<'a> Credentials<'a> {
    /// From all of a request's `Authorization` and `DPoP` header values (`None` for a value
    /// that is not text).
    ///
    /// # Errors
    /// [`AuthError::AmbiguousCredentials`] for more than one `Authorization` header (RFC 6750
    /// §3.1: one method, once), so no layer can read one token while another reads the other.
    pub fn parse(
        mut authorization: impl Iterator<Item = Option<&'a str>>,
        mut dpop: impl Iterator<Item = Option<&'a str>>,
        method: &'a str,
        path: &'a str,
    ) -> Result<Credentials<'a>, AuthError> {
        let first = authorization.next();
        if authorization.next().is_some() {
            return Err(AuthError::AmbiguousCredentials);
        }
        let proof = match (dpop.next(), dpop.next()) {
            (None, _) => Ok(None),
            (Some(Some(proof)), None) => Ok(Some(proof)),
            _ => Err(ProofError::Ambiguous),
        };
        Ok(Credentials { token: first.flatten().and_then(authorization_token), proof, method, path })
    }

    /// A token handed over by a resource server or a revoker ([`Scheme::Held`]).
    pub fn held(token: &'a str) -> Credentials<'a> {
        Credentials { token: Some((Scheme::Held, token)), proof: Ok(None), method: "", path: "" }
    }

    /// The access token, whatever its scheme.
    pub fn access_token(&self) -> Option<&'a str> {
        self.token.map(|(_, token)| token)
    }
}

impl AuthError {
    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidCredentials
            | AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::InvalidDpopToken(_)
            | AuthError::InvalidDpopProof(_)
            | AuthError::InvalidGrant
            | AuthError::InvalidClient
            | AuthError::StepUpRequired(_)
            | AuthError::InvalidChallenge
            | AuthError::InvalidCode => 401,
            AuthError::AmbiguousCredentials
            | AuthError::InvalidLink
            | AuthError::InvalidForm(_)
            | AuthError::BadDpopProof(_) => 400,
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
            AuthError::InvalidDpopToken(_) => Some(r#"DPoP error="invalid_token", algs="ES256 EdDSA""#),
            AuthError::InvalidDpopProof(_) => Some(r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA""#),
            AuthError::InsufficientRole(_) => Some(r#"Bearer error="insufficient_scope""#),
            // RFC 9470 §3: how recent (seconds) and, where a second factor is needed, which
            // `acr` the next token must carry.
            AuthError::StepUpRequired(StepUp { mfa: false, dpop: false }) => Some(concat!(
                r#"Bearer error="insufficient_user_authentication", "#,
                r#"error_description="a more recent authentication is required", max_age="600""#
            )),
            AuthError::StepUpRequired(StepUp { mfa: true, dpop: false }) => Some(concat!(
                r#"Bearer error="insufficient_user_authentication", "#,
                r#"error_description="a more recent authentication with a second factor is required", "#,
                r#"max_age="600", acr_values="2""#
            )),
            AuthError::StepUpRequired(StepUp { mfa: false, dpop: true }) => Some(concat!(
                r#"DPoP error="insufficient_user_authentication", "#,
                r#"error_description="a more recent authentication is required", max_age="600", algs="ES256 EdDSA""#
            )),
            AuthError::StepUpRequired(StepUp { mfa: true, dpop: true }) => Some(concat!(
                r#"DPoP error="insufficient_user_authentication", "#,
                r#"error_description="a more recent authentication with a second factor is required", "#,
                r#"max_age="600", acr_values="2", algs="ES256 EdDSA""#
            )),
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
        assert_eq!(authorization_token("Bearer abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(authorization_token("bearer abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(authorization_token("Basic abc"), None);
        assert_eq!(authorization_token("Bearer "), None);
        assert_eq!(authorization_token("Bearer"), None);
    }

    fn parse<'a>(authorization: &[Option<&'a str>], dpop: &[Option<&'a str>]) -> Result<Credentials<'a>, AuthError> {
        Credentials::parse(authorization.iter().copied(), dpop.iter().copied(), "GET", "/api/me")
    }

    #[test]
    fn one_authorization_header_at_most() {
        assert_eq!(parse(&[Some("Bearer abc")], &[]).unwrap().token, Some((Scheme::Bearer, "abc")));
        assert_eq!(parse(&[], &[]).unwrap().token, None);
        assert_eq!(parse(&[None], &[]).unwrap().token, None);
        let two = parse(&[Some("Bearer abc"), Some("Bearer def")], &[]);
        assert!(matches!(two, Err(AuthError::AmbiguousCredentials)));
        assert_eq!(AuthError::AmbiguousCredentials.status(), 400);
        assert_eq!(AuthError::AmbiguousCredentials.code(), crate::dto::ErrorCode::InvalidRequest);
    }

    #[test]
    fn schemes_are_bearer_or_dpop_in_any_case_and_one_proof_at_most() {
        assert_eq!(parse(&[Some("dpop  xyz ")], &[]).unwrap().token, Some((Scheme::Dpop, "xyz")));
        assert_eq!(parse(&[Some("BEARER xyz")], &[]).unwrap().token, Some((Scheme::Bearer, "xyz")));
        for other in ["Basic dXNlcjpwdw==", "Bearer", "Bearer  ", "DPoP", "Token abc"] {
            assert_eq!(parse(&[Some(other)], &[]).unwrap().token, None, "{other}");
        }
        assert_eq!(authorization_token("DPoP abc"), Some((Scheme::Dpop, "abc")), "a DPoP token is not a bearer token");
        assert_eq!(parse(&[], &[Some("p")]).unwrap().proof, Ok(Some("p")));
        assert_eq!(parse(&[], &[Some("p"), Some("q")]).unwrap().proof, Err(ProofError::Ambiguous));
        assert_eq!(parse(&[], &[None]).unwrap().proof, Err(ProofError::Ambiguous), "not text");
    }

    #[test]
    fn dpop_refusals_are_401_with_a_dpop_challenge_on_calls_and_400_on_token_requests() {
        let call = AuthError::InvalidDpopProof(ProofError::Replayed);
        assert_eq!((call.status(), call.code()), (401, crate::dto::ErrorCode::InvalidDpopProof));
        assert!(call.challenge().unwrap().starts_with(r#"DPoP error="invalid_dpop_proof""#));
        let token_request = AuthError::BadDpopProof(ProofError::Replayed);
        assert_eq!((token_request.status(), token_request.challenge()), (400, None));
        let bound = AuthError::InvalidDpopToken(crate::error::TokenError::DpopBound);
        assert_eq!((bound.status(), bound.code()), (401, crate::dto::ErrorCode::InvalidToken));
        assert!(bound.challenge().unwrap().starts_with(r#"DPoP error="invalid_token""#));
        assert_eq!(bound.to_string(), "token is DPoP-bound");
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
    fn step_up_challenges_say_the_max_age_and_scheme_of_the_token() {
        let max_age = format!(r#"max_age="{}""#, crate::mfa::STEP_UP_MAX_AGE_SECS);
        for mfa in [false, true] {
            for dpop in [false, true] {
                let e = AuthError::StepUpRequired(StepUp { mfa, dpop });
                let challenge = e.challenge().unwrap();
                assert_eq!(e.status(), 401);
                assert!(challenge.starts_with(if dpop { "DPoP " } else { "Bearer " }), "{challenge}");
                assert!(challenge.contains(r#"error="insufficient_user_authentication""#));
                assert!(challenge.contains(&max_age), "{challenge}");
                assert_eq!(challenge.contains(r#"acr_values="2""#), mfa, "{challenge}");
            }
        }
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
