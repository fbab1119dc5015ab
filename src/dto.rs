//! Types that cross the wire. serde only: the browser build uses them too.

use serde::{Deserialize, Serialize};

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
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
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
redacted_debug!(SignupRequest { email, name });
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

/// One of the caller's live sessions (`GET /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
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

/// Every error body: `{"error": "<code>", "message": "<human text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}
