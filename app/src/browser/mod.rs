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

/// The `<meta>` that tells the browser where DPoP proofs' `htu` begin (the server's issuer);
/// absent when the server takes no proofs.
pub const DPOP_HTU_BASE: &str = "tokenflow-dpop-htu-base";

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
    /// The thumbprint of the proof key a DPoP-bound session is bound to (`cnf.jkt`); `None`
    /// for a bearer session.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl StoredSession {
    /// The session of a token response received at `now`; `proof_key` is the thumbprint of
    /// the key its sign-in or refresh was proved with, which a `DPoP` session is bound to.
    pub fn from_response(tokens: TokenResponse, now: i64, proof_key: Option<String>) -> StoredSession {
        let dpop_jkt = proof_key.filter(|_| tokens.token_type == "DPoP");
        StoredSession {
            dpop_jkt,
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

    /// `Authorization` for a protected call: `DPoP <token>` for a bound session, else
    /// `Bearer <token>`.
    pub fn authorization(&self) -> String {
        let scheme = if self.dpop_jkt.is_some() { "DPoP" } else { "Bearer" };
        format!("{scheme} {}", self.access_token)
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
