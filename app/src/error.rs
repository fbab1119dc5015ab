//! The wire error as the browser sees it: the contract's `{"error", "message"}` with its typed
//! code, plus the status. A leaf: it depends on nothing else in the app.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};
use tokenflow::dto::ErrorCode;

/// A refusal: the contract's `{"error", "message"}` plus the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    pub status: u16,
    pub error: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl FromServerFnError for ApiFailure {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        ApiFailure::request_failed(value.to_string())
    }
}

impl ApiFailure {
    /// The browser could not reach the server, or could not read its answer.
    pub fn request_failed(message: impl Into<String>) -> ApiFailure {
        ApiFailure { status: 0, error: ErrorCode::RequestFailed, message: message.into(), retry_after: None }
    }

    /// Something this page could not do on its own side (a browser API refused), in words.
    pub fn local(message: impl Into<String>) -> ApiFailure {
        ApiFailure { status: 0, error: ErrorCode::Unknown, message: message.into(), retry_after: None }
    }

    /// "Who are you?": the token is missing, bad, expired or revoked.
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401 && self.error == ErrorCode::InvalidToken
    }

    /// The refusal in plain words for a person.
    pub fn explain(&self) -> String {
        match self.error {
            ErrorCode::InvalidCredentials => "Wrong email or password.".into(),
            ErrorCode::EmailTaken => "An account with this email already exists. Log in instead?".into(),
            ErrorCode::RateLimited => match self.retry_after {
                Some(s) => format!("Too many attempts. Try again in {s} seconds."),
                None => "Too many attempts. Try again later.".into(),
            },
            ErrorCode::InvalidEmail => format!("That email address does not work: {}.", self.message),
            ErrorCode::WeakPassword => format!("Choose a stronger password: {}.", self.message),
            ErrorCode::InsufficientRole => "403 forbidden: admins only.".into(),
            ErrorCode::Conflict => "Something changed meanwhile; nothing was saved. Try again.".into(),
            ErrorCode::InvalidLink => "This link is unknown, already used or expired. Ask for a new one.".into(),
            ErrorCode::AccountDisabled => "This account is disabled by an admin.".into(),
            ErrorCode::LastAdmin => "This is the last enabled admin: make another account admin first.".into(),
            ErrorCode::CrossSite => "This request came from another site and was refused.".into(),
            ErrorCode::Unavailable => "The server is busy. Try again in a moment.".into(),
            ErrorCode::RequestFailed => "The server could not be reached. Check your connection.".into(),
            _ => self.message.clone(),
        }
    }
}
