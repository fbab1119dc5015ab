//! The core's one error type. Every variant's `Display` is safe to show a client: no SQL, no
//! secret, nothing more precise than "invalid credentials" about a password.

use crate::dpop::ProofError;
use crate::dto::{ErrorCode, Role};

/// The cause of an internal error: anything that can say what went wrong.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// A DPoP-bound token sent as `Bearer` (RFC 9449 §7.1): without its proof it is nothing.
    #[error("token is DPoP-bound")]
    DpopBound,
    /// A token of an unbound session sent with the `DPoP` scheme.
    #[error("token is not DPoP-bound")]
    NotDpopBound,
    /// `AUTH_DPOP=required` and the token is of a session signed in without a proof.
    #[error("DPoP is required: sign in again with a DPoP proof")]
    DpopRequired,
}

/// What a sensitive action needs and the token lacks (RFC 9470).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepUp {
    /// The account has a second factor (or is an admin under `AUTH_ADMIN_REQUIRE_MFA`): the
    /// re-authentication must use more than one factor (`acr_values="2"`).
    pub mfa: bool,
    /// The token was DPoP-bound: the challenge uses the `DPoP` scheme (RFC 9449 §7.1).
    pub dpop: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("missing bearer token")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(#[from] TokenError),
    /// A token refused on a request that used the `DPoP` scheme, or one that needs it: as
    /// [`AuthError::InvalidToken`], with a DPoP challenge (RFC 9449 §7.1).
    #[error("{0}")]
    InvalidDpopToken(TokenError),
    /// A DPoP proof refused on a protected call: 401 (RFC 9449 §7.1).
    #[error("{0}")]
    InvalidDpopProof(ProofError),
    /// A DPoP proof refused on a token request (sign-up, login, refresh): 400 (RFC 9449 §5).
    #[error("{0}")]
    BadDpopProof(ProofError),
    #[error("refresh token is invalid, expired or revoked")]
    InvalidGrant,
    #[error("more than one Authorization header")]
    AmbiguousCredentials,
    #[error("client authentication failed")]
    InvalidClient,
    /// An OAuth form (RFC 7662, RFC 7009) that cannot be read.
    #[error("{0}")]
    InvalidForm(&'static str),
    #[error("the password or the session changed meanwhile; nothing was changed")]
    Conflict,
    #[error("{}", if .0.mfa { "authenticate again, with a second factor, to do this" } else { "authenticate again to do this" })]
    StepUpRequired(StepUp),
    #[error("this challenge is unknown, used, expired or out of attempts: sign in again")]
    InvalidChallenge,
    #[error("wrong or already used code")]
    InvalidCode,
    #[error("this needs role {}", .0.as_str())]
    InsufficientRole(Role),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this link is unknown, used or expired")]
    InvalidLink,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("this would leave no enabled admin")]
    LastAdmin,
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
    /// A bug or an impossible state. The cause is for the log only (logged once, by
    /// [`AuthError::to_response`]); the client sees a generic message.
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl AuthError {
    /// An internal error with its cause (an error value, or a sentence).
    pub fn internal(cause: impl Into<Cause>) -> AuthError {
        AuthError::Internal(cause.into())
    }

    /// The contract's `error` code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AuthError::MissingToken | AuthError::InvalidToken(_) | AuthError::InvalidDpopToken(_) => {
                ErrorCode::InvalidToken
            }
            AuthError::InvalidDpopProof(_) | AuthError::BadDpopProof(_) => ErrorCode::InvalidDpopProof,
            AuthError::InvalidGrant => ErrorCode::InvalidGrant,
            AuthError::AmbiguousCredentials | AuthError::InvalidRequest(_) | AuthError::InvalidForm(_) => {
                ErrorCode::InvalidRequest
            }
            AuthError::InvalidClient => ErrorCode::InvalidClient,
            AuthError::Conflict => ErrorCode::Conflict,
            AuthError::InsufficientRole(_) => ErrorCode::InsufficientRole,
            AuthError::StepUpRequired(_) => ErrorCode::InsufficientUserAuthentication,
            AuthError::InvalidChallenge => ErrorCode::InvalidChallenge,
            AuthError::InvalidCode => ErrorCode::InvalidCode,
            AuthError::EmailTaken => ErrorCode::EmailTaken,
            AuthError::InvalidLink => ErrorCode::InvalidLink,
            AuthError::AccountDisabled => ErrorCode::AccountDisabled,
            AuthError::LastAdmin => ErrorCode::LastAdmin,
            AuthError::InvalidEmail(_) => ErrorCode::InvalidEmail,
            AuthError::WeakPassword(_) => ErrorCode::WeakPassword,
            AuthError::NotFound => ErrorCode::NotFound,
            AuthError::RateLimited { .. } => ErrorCode::RateLimited,
            AuthError::Unavailable { .. } => ErrorCode::Unavailable,
            AuthError::Internal(_) => ErrorCode::InternalError,
        }
    }
}

/// A setting that makes no sense: the server refuses to start, and says which.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSetting(pub std::borrow::Cow<'static, str>);

impl InvalidSetting {
    pub fn new(reason: impl Into<std::borrow::Cow<'static, str>>) -> InvalidSetting {
        InvalidSetting(reason.into())
    }
}

/// Why a signing key could not be made, read, stored or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PKCS#8 PEM Ed25519 private key")]
    NotEd25519Pem,
    #[error("not an Ed25519 public key")]
    NotEd25519Public,
    #[error("no randomness: {0}")]
    Random(#[from] getrandom::Error),
    #[error("encoding the key: {0}")]
    Pkcs8(#[from] ed25519_dalek::pkcs8::Error),
    #[error("preparing the key for tokens: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("the key-encryption key must be 32 random bytes in base64")]
    BadEncryptionKey,
    #[error("the signing keys are encrypted at rest: set AUTH_KEY_ENCRYPTION_KEY_FILE")]
    EncryptionKeyMissing,
    #[error("AUTH_KEY_ENCRYPTION_KEY_FILE does not open the stored signing key (the wrong key-encryption key?)")]
    EncryptionKeyWrong,
    #[error("sealing a key failed")]
    Seal,
    #[error("the stored key {0} does not match its kid")]
    KidMismatch(String),
    #[error("no signing key")]
    NoSigningKey,
    #[error("the signing key has no private part")]
    NoPrivatePart,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Setting(#[from] InvalidSetting),
    #[error("signing keys: {0}")]
    Key(#[from] KeyError),
    #[error("starting the hash workers: {0}")]
    Workers(#[from] std::io::Error),
    #[error("preparing the dummy hash: {0}")]
    DummyHash(#[from] AuthError),
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
            None => AuthError::internal(e),
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
