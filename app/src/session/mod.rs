//! The browser's side of the session.
//!
//! The session (access token, refresh token, expiry, user) is stored with gloo-storage in
//! `localStorage` under [`STORAGE_KEY`], and read only on the client, in effects, never while
//! rendering on the server: server and browser both first render "unknown", so hydration
//! always matches. Every tab keeps its view in sync through `storage` events, refreshes shortly
//! before expiry, and refreshes at most once at a time across tabs (Web Locks), so two tabs
//! never spend the same refresh token.

mod client;
mod refresh;
mod storage;

pub use client::{BearerClient, PublicClient, TamperClient, hand_token};
pub use refresh::with_auth;

use leptos::prelude::*;
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Not read yet: the server render and the first client render.
    Unknown,
    SignedOut,
    SignedIn(StoredSession),
}

/// The session as the app sees it; a `Copy` handle in context.
#[derive(Clone, Copy)]
pub struct Session {
    state: RwSignal<SessionState>,
}

impl Session {
    /// The state, tracked: for views and effects.
    pub fn state(&self) -> SessionState {
        self.state.get()
    }

    /// The state now, untracked: for async tasks and event handlers.
    pub fn current(&self) -> SessionState {
        self.state.get_untracked()
    }

    pub fn user(&self) -> Option<User> {
        self.state.with(|s| match s {
            SessionState::SignedIn(s) => Some(s.user.clone()),
            _ => None,
        })
    }

    /// Keep a new token response: storage first (other tabs see it), then the signal.
    pub fn sign_in(&self, tokens: TokenResponse) {
        let session = StoredSession::from_response(tokens, now());
        record_issue(&session);
        storage::save(&session);
        self.state.set(SessionState::SignedIn(session));
    }

    /// Forget the session here and, through the `storage` event, in every other tab.
    pub fn sign_out_locally(&self) {
        storage::clear();
        self.state.set(SessionState::SignedOut);
    }

    /// Adopt what is in storage (another tab may have refreshed or logged out).
    fn reload(&self) {
        self.state.set(match storage::load() {
            Some(s) => SessionState::SignedIn(s),
            None => SessionState::SignedOut,
        });
    }
}

/// Steps 3 to 5 of the flow, with the values just received.
fn record_issue(session: &StoredSession) {
    use crate::flow::{Outcome, Step, preview, record};
    let (header, claims) = match tokenflow::inspect::decode(&session.access_token) {
        Ok(d) => (d.header.to_string(), serde_json::to_string_pretty(&d.claims).unwrap_or_default()),
        Err(e) => (e.to_string(), String::new()),
    };
    record(
        Step::TokenGenerated,
        Outcome::Done,
        vec![
            ("Header", header),
            ("Claims", claims),
            ("Signed with", "the server's Ed25519 private key (EdDSA)".into()),
        ],
    );
    record(
        Step::Returned,
        Outcome::Done,
        vec![
            ("access_token", preview(&session.access_token, 24)),
            ("token_type", "Bearer".into()),
            ("expires_in", format!("{} s", session.expires_in)),
            (
                "refresh_token",
                format!("opaque, {} characters: {}", session.refresh_token.len(), preview(&session.refresh_token, 6)),
            ),
        ],
    );
    record(
        Step::Stored,
        Outcome::Done,
        vec![
            ("Where", format!("localStorage[\"{STORAGE_KEY}\"], written with gloo-storage")),
            ("What", "access_token, refresh_token, expires_at, expires_in, user".into()),
            ("Read", "only in the browser, after hydration; every tab follows it through storage events".into()),
        ],
    );
    record(Step::ExpiryAndRefresh, Outcome::Done, vec![]);
}

/// Seconds since the Unix epoch by this browser's clock (0 on the server, which never asks).
pub fn now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// Create the session context. On the client: load it once hydrated, follow other tabs, and
/// refresh before expiry.
pub fn provide_session() -> Session {
    let session = Session { state: RwSignal::new(SessionState::Unknown) };
    provide_context(session);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| session.reload());
    #[cfg(feature = "hydrate")]
    {
        let listener = window_event_listener(leptos::ev::storage, move |event| {
            if event.key().as_deref() == Some(STORAGE_KEY) || event.key().is_none() {
                session.reload();
            }
        });
        on_cleanup(move || listener.remove());
        refresh::schedule(session);
    }
    session
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
