//! The one place that touches the browser: `localStorage`, the clock, the page's origin and
//! URL parser, Web Locks, timers, `fetch`, the `storage` event. Gated once: `web.rs` in the
//! browser build (`hydrate`), `server.rs` (inert stand-ins) everywhere else, with the same
//! functions, so no other module needs a `cfg`.

#[cfg_attr(feature = "hydrate", path = "web.rs")]
#[cfg_attr(not(feature = "hydrate"), path = "server.rs")]
mod imp;

pub use imp::*;

use serde::{Deserialize, Serialize};
use tokenflow::dto::{TokenResponse, User};

/// The one `localStorage` key Tokenflow uses.
pub const STORAGE_KEY: &str = "tokenflow.session";

/// What the browser keeps between page loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires, Unix seconds by this browser's clock.
    pub expires_at: i64,
    /// Its lifetime, to pick when to refresh.
    pub expires_in: u64,
    pub user: User,
}

impl StoredSession {
    pub fn from_response(tokens: TokenResponse, now: i64) -> StoredSession {
        StoredSession {
            expires_at: now + i64::try_from(tokens.expires_in).unwrap_or(0),
            expires_in: tokens.expires_in,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            user: tokens.user,
        }
    }

    /// How many seconds before expiry to refresh: a minute, or a quarter of the lifetime for
    /// short ones.
    pub fn refresh_lead(&self) -> u64 {
        (self.expires_in / 4).clamp(1, 60)
    }

    /// When to refresh.
    pub fn refresh_at(&self) -> i64 {
        self.expires_at - i64::try_from(self.refresh_lead()).unwrap_or(1)
    }
}

/// What a [`Outgoing`] request carries.
pub enum Body {
    None,
    Text(String),
    Bytes(bytes::Bytes),
}

/// A URL as parsed: origin, path, `?query` and `#fragment` (each empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub origin: String,
    pub path: String,
    pub search: String,
    pub hash: String,
}
