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
    #[error("more than one Authorization header")]
    AmbiguousCredentials,
    #[error("the password or the session changed meanwhile; nothing was changed")]
    Conflict,
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
            AuthError::AmbiguousCredentials => "invalid_request",
            AuthError::Conflict => "conflict",
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
        match unavailability(&e) {
            // The database is down, full, read-only or overloaded: tell the client to come
            // back, not that we broke. Logged here, once, since the client learns no cause.
            Some(unavailable) => {
                tracing::warn!(error = %e, "database unavailable");
                unavailable
            }
            None => AuthError::Internal(format!("database: {e}")),
        }
    }
}

/// Database trouble that is the environment's, not a bug: answered 503 + `Retry-After`.
fn unavailability(e: &sqlx::Error) -> Option<AuthError> {
    let down = AuthError::Unavailable { what: "database unavailable", retry_after: 2 };
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Some(down),
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                use sqlx::error::DatabaseError;
                // SQLite reports extended codes; the primary code is the low byte.
                let code = sqlite.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                return match code & 0xff {
                    // BUSY, LOCKED: the writer lock stayed taken past the busy timeout.
                    5 | 6 => Some(AuthError::Unavailable { what: "database busy", retry_after: 1 }),
                    // READONLY, IOERR, CORRUPT, FULL, CANTOPEN: the file or its disk.
                    8 | 10 | 11 | 13 | 14 => Some(down),
                    _ => None,
                };
            }
            let state = db.code().unwrap_or_default();
            // PostgreSQL: connection exceptions (08), insufficient resources (53), operator
            // intervention (57P01 admin shutdown … 57P05 idle session timeout).
            let pg_down = state.starts_with("08")
                || state.starts_with("53")
                || matches!(state.as_ref(), "57P01" | "57P02" | "57P03" | "57P04" | "57P05");
            pg_down.then_some(down)
        }
        _ => None,
    }
}
