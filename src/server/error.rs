//! The core's one error type. Every variant's `Display` is safe to show a client: no SQL, no
//! secret, nothing more precise than "invalid credentials" about a password.

use crate::dto::Role;

/// Why an access token was refused: the `message` of a 401 `invalid_token`
/// (RFC 6750 `error_description`). Tells a developer what is wrong and an attacker nothing new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a compact JWS")]
    Malformed,
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    #[error("token type must be at+jwt")]
    WrongType,
    #[error("critical header parameters are not supported")]
    Critical,
    #[error("header parameter not allowed (jku, jwk, x5u, x5c)")]
    ForeignKeyReference,
    #[error("unknown key id")]
    UnknownKeyId,
    #[error("signature does not verify")]
    BadSignature,
    #[error("claims missing or of the wrong type")]
    BadClaims,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("unknown user")]
    UnknownUser,
    #[error("session revoked")]
    SessionRevoked,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("missing bearer token")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(#[from] TokenError),
    #[error("refresh token is invalid, expired or revoked")]
    InvalidGrant,
    #[error("this needs role {}", .0.as_str())]
    InsufficientRole(Role),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("not found")]
    NotFound,
    #[error("too many requests, retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{what}, retry in {retry_after} s")]
    Unavailable { what: &'static str, retry_after: u64 },
    /// Details are for the log only; the client sees a generic message.
    #[error("internal error")]
    Internal(String),
}

impl AuthError {
    /// The contract's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::MissingToken | AuthError::InvalidToken(_) => "invalid_token",
            AuthError::InvalidGrant => "invalid_grant",
            AuthError::InsufficientRole(_) => "insufficient_role",
            AuthError::EmailTaken => "email_taken",
            AuthError::InvalidEmail(_) => "invalid_email",
            AuthError::WeakPassword(_) => "weak_password",
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::NotFound => "not_found",
            AuthError::RateLimited { .. } => "rate_limited",
            AuthError::Unavailable { .. } => "unavailable",
            AuthError::Internal(_) => "internal_error",
        }
    }
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The database is down or overloaded: tell the client to come back, not that we broke.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                AuthError::Unavailable { what: "database unavailable", retry_after: 2 }
            }
            // SQLite's writer lock stayed busy past the busy timeout: overload, not a bug.
            sqlx::Error::Database(ref db) if matches!(db.code().as_deref(), Some("5" | "6" | "517")) => {
                AuthError::Unavailable { what: "database busy", retry_after: 1 }
            }
            other => AuthError::Internal(format!("database: {other}")),
        }
    }
}
