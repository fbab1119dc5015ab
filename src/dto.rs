//! Types that cross the wire. serde only: the browser build uses them too.

use serde::{Deserialize, Serialize};

use crate::ids::{Email, SessionId, UserId};

/// What a user may do. Serialised lowercase, as in the `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The user object of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: Option<String>,
    pub role: Role,
    /// The mailbox is proven (a verification link or a password reset was used).
    #[serde(default)]
    pub email_verified: bool,
    /// An admin disabled the account: it cannot sign in or refresh.
    #[serde(default)]
    pub disabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// The header that says what the server spent on a response (W3C Server Timing).
pub const SERVER_TIMING: &str = "server-timing";

/// `POST /api/auth/signup`.
// Not Serialize: holds a password (nothing of ours sends one on). Debug is hand-written.
#[derive(Clone, Deserialize)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Clone, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /api/auth/refresh`.
#[derive(Clone, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /api/auth/password`.
#[derive(Clone, Deserialize)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    pub new_password: String,
}

macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}
/// `POST /api/auth/email/verify`.
#[derive(Clone, Deserialize)]
pub struct LinkRequest {
    pub token: String,
}

/// `POST /api/auth/password/forgot`.
#[derive(Debug, Clone, Deserialize)]
pub struct ForgotRequest {
    pub email: String,
}

/// `POST /api/auth/password/reset`.
#[derive(Clone, Deserialize)]
pub struct ResetRequest {
    pub token: String,
    pub new_password: String,
}

/// `DELETE /api/me`.
#[derive(Clone, Deserialize)]
pub struct DeleteAccountRequest {
    pub password: String,
}

redacted_debug!(SignupRequest { email, name });
redacted_debug!(LinkRequest {});
redacted_debug!(ResetRequest {});
redacted_debug!(DeleteAccountRequest {});
redacted_debug!(LoginRequest { email });
redacted_debug!(RefreshRequest {});
redacted_debug!(PasswordChangeRequest {});

/// The token response of the contract (RFC 6749 §5.1 shape).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
}
redacted_debug!(TokenResponse { token_type, expires_in, user });

/// What `POST /api/auth/login` answers: tokens, or (for an account with a second factor) a
/// challenge to answer at `POST /api/auth/second-factor`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenResponse),
    SecondFactor(SecondFactorRequired),
}

/// The password was right; a second factor is due. `challenge` is good for that one step
/// only, for `expires_in` seconds and at most 5 attempts.
#[derive(Clone, Serialize, Deserialize)]
pub struct SecondFactorRequired {
    pub second_factor_required: bool,
    pub challenge: String,
    pub expires_in: u64,
    /// Which answers the account can give: `totp`, `recovery_code`, `passkey`.
    pub factors: Vec<String>,
    /// WebAuthn request options (`navigator.credentials.get`), when a passkey can answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<serde_json::Value>,
}
redacted_debug!(SecondFactorRequired { expires_in, factors });

/// What the login server function answers the browser: tokens, or the second step. Plain
/// structs with the WebAuthn options as JSON text: the browser only hands them to
/// `navigator.credentials`, and an untagged enum or `serde_json::Value` would cost its bundle
/// ~11 KB gzip to decode.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct LoginOutcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenResponse>,
    /// A [`SecondFactorStep`] as JSON text: the login page only hands it to the page of the
    /// second step (a chunk of its own), which reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor: Option<String>,
}

/// [`SecondFactorRequired`] for the browser.
#[derive(Clone, Serialize, Deserialize)]
pub struct SecondFactorStep {
    pub challenge: String,
    pub factors: Vec<String>,
    /// WebAuthn request options, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<String>,
}
redacted_debug!(SecondFactorStep { factors });

impl From<LoginResponse> for LoginOutcome {
    fn from(response: LoginResponse) -> LoginOutcome {
        match response {
            LoginResponse::Tokens(tokens) => LoginOutcome { tokens: Some(tokens), second_factor: None },
            LoginResponse::SecondFactor(step) => {
                let step = SecondFactorStep {
                    challenge: step.challenge,
                    factors: step.factors,
                    passkey: step.passkey.map(|options| options.to_string()),
                };
                LoginOutcome { tokens: None, second_factor: serde_json::to_string(&step).ok() }
            }
        }
    }
}

/// An answer to a challenge: exactly one of `code` (TOTP), `recovery_code`, `passkey` (the
/// `PublicKeyCredential` from `navigator.credentials.get`, as JSON).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct FactorAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<serde_json::Value>,
}
redacted_debug!(FactorAnswer {});

/// `POST /api/auth/second-factor`.
#[derive(Clone, Serialize, Deserialize)]
pub struct SecondFactorRequest {
    pub challenge: String,
    #[serde(flatten)]
    pub answer: FactorAnswer,
}
redacted_debug!(SecondFactorRequest {});

/// A challenge with WebAuthn options: `POST /api/auth/passkey` (sign in with a passkey alone),
/// `POST /api/me/passkeys/options` (register one), `POST /api/me/step-up/options`.
#[derive(Clone, Serialize, Deserialize)]
pub struct PasskeyChallenge {
    pub challenge: String,
    pub expires_in: u64,
    /// `navigator.credentials.get` or `.create` options, as JSON.
    pub options: serde_json::Value,
}
redacted_debug!(PasskeyChallenge { expires_in });

/// [`PasskeyChallenge`] for the browser: the options as JSON text, handed as they are to
/// `navigator.credentials` (no JSON value decoding in the bundle).
#[derive(Clone, Serialize, Deserialize)]
pub struct CeremonyStart {
    pub challenge: String,
    pub options: String,
}
redacted_debug!(CeremonyStart {});

impl From<PasskeyChallenge> for CeremonyStart {
    fn from(start: PasskeyChallenge) -> CeremonyStart {
        CeremonyStart { challenge: start.challenge, options: start.options.to_string() }
    }
}

/// `POST /api/me/step-up`: the password, and a second factor where the account has one (or
/// a passkey alone, with the challenge of `POST /api/me/step-up/options`).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct StepUpRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    #[serde(flatten)]
    pub answer: FactorAnswer,
}
redacted_debug!(StepUpRequest {});

/// A fresh access token for the same session (its refresh token is unchanged).
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessTokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}
redacted_debug!(AccessTokenResponse { token_type, expires_in });

/// `POST /api/me/totp`: a new authenticator app's secret, until confirmed with a first code.
#[derive(Clone, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// Base32, for typing into an app by hand.
    pub secret: String,
    /// The `otpauth://` URI the QR code holds.
    pub otpauth_uri: String,
    /// The QR code, as an SVG document.
    pub qr_svg: String,
}
redacted_debug!(TotpEnrolment {});

/// `POST /api/me/totp/confirm`.
#[derive(Clone, Serialize, Deserialize)]
pub struct CodeRequest {
    pub code: String,
}
redacted_debug!(CodeRequest {});

/// Ten one-time recovery codes, shown this once.
#[derive(Clone, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}
redacted_debug!(RecoveryCodes {});

/// `POST /api/me/passkeys`: the answer to a registration challenge.
#[derive(Clone, Serialize, Deserialize)]
pub struct PasskeyRegistration {
    pub challenge: String,
    /// What to call it in the list (at most 64 characters); "Passkey" when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON.
    pub credential: serde_json::Value,
}
redacted_debug!(PasskeyRegistration { name });

/// One registered passkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyInfo {
    /// The credential id, base64url.
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// The authenticator's signature counter as last seen (0: it keeps none).
    pub sign_count: u32,
    /// May be synced to other devices (`swk`), or is bound to one (`hwk`).
    pub backup_eligible: bool,
    pub backed_up: bool,
}

/// `GET /api/me/factors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorList {
    /// An authenticator app is confirmed.
    pub totp: bool,
    pub recovery_codes_left: u32,
    pub passkeys: Vec<PasskeyInfo>,
    /// Passkeys can be used here (the origin they work at), or `null` with the reason.
    pub passkey_origin: Option<String>,
}

/// One of the caller's live sessions (`GET /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// A page of users (`GET /api/admin/users`); `next_cursor` fetches the next one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<User>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The query of `GET /api/admin/users`: email substring, page size, where to continue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserQuery {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `PATCH /api/admin/users/{id}`: what to change; an absent (or null) field stays as it is.
/// Only a JSON object with these members is one (serde's derive would also take an array).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct UserPatch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for UserPatch {
    type Error = String;

    fn try_from(mut object: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let role = object.remove("role").map(serde_json::from_value::<Option<Role>>).transpose();
        let role = role.map_err(|_| "role must be \"user\" or \"admin\"".to_string())?.flatten();
        let disabled = object.remove("disabled").map(serde_json::from_value::<Option<bool>>).transpose();
        let disabled = disabled.map_err(|_| "disabled must be true or false".to_string())?.flatten();
        match object.keys().next() {
            Some(unknown) => Err(format!("unknown field {unknown:?}: role and disabled may change")),
            None => Ok(UserPatch { role, disabled }),
        }
    }
}

/// A `202 Accepted` whose outcome the client is not told (so nothing can be enumerated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub message: String,
}

/// What the audit log records. Serialised snake_case, as in API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Signup,
    Login,
    LoginFailed,
    LoginThrottled,
    RefreshReuse,
    Logout,
    SessionRevoked,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    RoleChanged,
    AccountDisabled,
    AccountEnabled,
    SessionsRevokedByAdmin,
    AccountDeleted,
    /// The operator withdrew a signing key (`tokenflow keys retire`); no account's.
    KeyRetired,
    SecondFactorFailed,
    StepUp,
    TotpEnabled,
    TotpRemoved,
    RecoveryCodesRenewed,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
    FactorsReset,
}

impl EventType {
    pub const ALL: [EventType; 26] = [
        EventType::Signup,
        EventType::Login,
        EventType::LoginFailed,
        EventType::LoginThrottled,
        EventType::RefreshReuse,
        EventType::Logout,
        EventType::SessionRevoked,
        EventType::PasswordChanged,
        EventType::PasswordResetRequested,
        EventType::PasswordReset,
        EventType::EmailVerified,
        EventType::RoleChanged,
        EventType::AccountDisabled,
        EventType::AccountEnabled,
        EventType::SessionsRevokedByAdmin,
        EventType::AccountDeleted,
        EventType::KeyRetired,
        EventType::SecondFactorFailed,
        EventType::StepUp,
        EventType::TotpEnabled,
        EventType::TotpRemoved,
        EventType::RecoveryCodesRenewed,
        EventType::RecoveryCodeUsed,
        EventType::PasskeyAdded,
        EventType::PasskeyRemoved,
        EventType::FactorsReset,
    ];

    /// The type as it is written on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Signup => "signup",
            EventType::Login => "login",
            EventType::LoginFailed => "login_failed",
            EventType::LoginThrottled => "login_throttled",
            EventType::RefreshReuse => "refresh_reuse",
            EventType::Logout => "logout",
            EventType::SessionRevoked => "session_revoked",
            EventType::PasswordChanged => "password_changed",
            EventType::PasswordResetRequested => "password_reset_requested",
            EventType::PasswordReset => "password_reset",
            EventType::EmailVerified => "email_verified",
            EventType::RoleChanged => "role_changed",
            EventType::AccountDisabled => "account_disabled",
            EventType::AccountEnabled => "account_enabled",
            EventType::SessionsRevokedByAdmin => "sessions_revoked_by_admin",
            EventType::AccountDeleted => "account_deleted",
            EventType::KeyRetired => "key_retired",
            EventType::SecondFactorFailed => "second_factor_failed",
            EventType::StepUp => "step_up",
            EventType::TotpEnabled => "totp_enabled",
            EventType::TotpRemoved => "totp_removed",
            EventType::RecoveryCodesRenewed => "recovery_codes_renewed",
            EventType::RecoveryCodeUsed => "recovery_code_used",
            EventType::PasskeyAdded => "passkey_added",
            EventType::PasskeyRemoved => "passkey_removed",
            EventType::FactorsReset => "factors_reset",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Shown to the account's owner (`account_deleted` and key events are for admins only).
    pub fn visible_to_owner(self) -> bool {
        !matches!(self, EventType::AccountDeleted | EventType::KeyRetired)
    }
}

/// One audit event. `user_id` and `actor_id` appear in the admin's view only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    /// RFC 3339, UTC.
    pub at: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
}

/// A page of audit events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<AuditEvent>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The query of `GET /api/me/activity` and `GET /api/admin/audit` (the filters: admins only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventQuery {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A mail in the built-in outbox (`GET /api/outbox`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outbox {
    pub messages: Vec<OutboxMessage>,
}

/// The query of `GET /api/outbox`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutboxQuery {
    #[serde(default)]
    pub to: Option<String>,
}

/// An RFC 7662 introspection answer: `active` and, only when active, what the token says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// How the token must be presented (RFC 6749 §5.1): `Bearer`, or `DPoP` for a bound one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The key a DPoP-bound token is bound to: the resource server checks the proof itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// `cnf` of a DPoP-bound token (RFC 7800, RFC 9449 §6): the RFC 7638 thumbprint of the
/// client's proof key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// RFC 8414 metadata: what a resource server needs to verify or ask about a token, and
/// nothing Tokenflow does not do (no DPoP algorithms when `AUTH_DPOP=off`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// The proof algorithms accepted (RFC 9449 §5.1); absent when DPoP is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
}

/// The contract's `error` codes: one enum for the server's JSON errors, the server functions
/// and the browser, so a typo in a code does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON.
    MalformedRequest,
    /// 400 (two `Authorization` headers) or 422 (a field missing, of the wrong type, out of range).
    InvalidRequest,
    /// 400: a verification or reset link that is unknown, used or expired.
    InvalidLink,
    /// 401: wrong email or password (the same for an unknown email).
    InvalidCredentials,
    /// 401: no token, or a bad, expired or revoked one.
    InvalidToken,
    /// 401: the refresh token is unknown, spent, expired or revoked.
    InvalidGrant,
    /// 401: an introspection client's credentials are missing or wrong.
    InvalidClient,
    /// 400 (sign-up, login, refresh) or 401 (a protected call): a DPoP proof that is missing
    /// where it is needed, malformed, for another request, replayed, or by another key.
    InvalidDpopProof,
    /// 401: a sensitive action needs a more recent, or a stronger, authentication (RFC 9470):
    /// step up with `POST /api/me/step-up`; `WWW-Authenticate` says `max_age` and `acr_values`.
    InsufficientUserAuthentication,
    /// 401: a second-factor challenge that is unknown, used, expired or out of attempts.
    InvalidChallenge,
    /// 401: a wrong, used or expired TOTP code, recovery code or passkey answer.
    InvalidCode,
    /// 403: authenticated, but the role does not allow it.
    InsufficientRole,
    /// 403: a server function called from another site.
    CrossSite,
    /// 403: the right password for an account an admin disabled.
    AccountDisabled,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 408: the request took longer than the server allows.
    Timeout,
    /// 409: sign-up with an email that exists.
    EmailTaken,
    /// 409: a password change that lost a race.
    Conflict,
    /// 409: the change would leave no enabled admin.
    LastAdmin,
    /// 413: a body over 16 KiB.
    PayloadTooLarge,
    /// 415: a body that is not JSON.
    UnsupportedMediaType,
    /// 422: not a usable email address.
    InvalidEmail,
    /// 422: a password outside the policy.
    WeakPassword,
    /// 429: throttled; see `Retry-After`.
    RateLimited,
    /// 503: the database or password hashing is saturated or down; see `Retry-After`.
    Unavailable,
    /// 500: a bug; the details are in the server's log only.
    InternalError,
    /// The browser could not reach the server (never sent by it).
    RequestFailed,
    /// A code this build does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidLink => "invalid_link",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::LastAdmin => "last_admin",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::InvalidChallenge => "invalid_challenge",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::InsufficientRole => "insufficient_role",
            ErrorCode::CrossSite => "cross_site",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::RequestFailed => "request_failed",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error body: `{"error": "<code>", "message": "<human text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn error_codes_are_written_as_the_contract_spells_them() {
        for code in
            [ErrorCode::MalformedRequest, ErrorCode::InsufficientRole, ErrorCode::CrossSite, ErrorCode::InternalError]
        {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(code.as_str().into()).unwrap(), code);
        }
        assert_eq!(serde_json::from_str::<ErrorCode>(r#""from_the_future""#).unwrap(), ErrorCode::Unknown);
    }
}
