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
}
