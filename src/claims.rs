//! The access token's claims, as issued and as the browser decodes them for display.

use serde::{Deserialize, Serialize};

pub use crate::dto::Confirmation;
use crate::dto::Role;
use crate::ids::{Email, SessionId, UserId};

/// The `typ` header of every access token (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The one signature algorithm (RFC 8037 EdDSA over Ed25519).
pub const ALGORITHM: &str = "EdDSA";

/// Claims of a Tokenflow access token. Field types are the rules: `exp`/`nbf`/`iat` must be
/// JSON integers and `sub`/`sid` strings, or deserialisation fails. serde's derive rejects a
/// duplicated member, so the "first value wins" confusion of RFC 8725 §3.x cannot occur.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub sid: SessionId,
    pub email: Email,
    /// The mailbox is proven (a verification or reset link was used).
    pub email_verified: bool,
    pub role: Role,
    /// The key the token is bound to (RFC 7800 confirmation, RFC 9449 §6.1): present on the
    /// access tokens of a DPoP-bound session, which are accepted only with a proof by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// How the user authenticated (RFC 8176 values, see [`amr`]): `pwd`, `otp`, `hwk`/`swk`,
    /// and `mfa` when more than one factor was proven.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When a factor was last presented in this session (a sign-in or a step-up), Unix
    /// seconds (OpenID Connect Core §2). Sensitive actions need it recent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The authentication context class: `"1"` one factor, `"2"` more than one. What a
    /// step-up challenge's `acr_values` asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// The RFC 8176 authentication method references Tokenflow puts in `amr`.
pub mod amr {
    /// A password.
    pub const PWD: &str = "pwd";
    /// A one-time password: a TOTP code or a recovery code.
    pub const OTP: &str = "otp";
    /// A key bound to a device's hardware: a passkey that cannot be synced.
    pub const HWK: &str = "hwk";
    /// A software-secured key: a synced passkey (a password manager holds it).
    pub const SWK: &str = "swk";
    /// More than one factor (a password and a code; a passkey with its PIN or biometric).
    pub const MFA: &str = "mfa";

    /// What each value means, for the inspector.
    pub fn describe(value: &str) -> &'static str {
        match value {
            PWD => "a password",
            OTP => "a one-time code (authenticator app or recovery code)",
            HWK => "a passkey bound to one device's hardware",
            SWK => "a synced passkey (kept by a password manager)",
            MFA => "more than one factor",
            _ => "a method this build does not know",
        }
    }
}
