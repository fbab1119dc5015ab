//! The browser's side of the session, a store that emits what happens to it (signed in,
//! refreshed, signed out) as [`Event`]s.
//!
//! The session (access token, refresh token, expiry, user) is stored with gloo-storage in
//! `localStorage` under [`STORAGE_KEY`], and read only on the client, in effects, never while
//! rendering on the server: server and browser both first render "unknown", so hydration
//! always matches. Every tab keeps its view in sync through `storage` events, refreshes shortly
//! before expiry, and refreshes at most once at a time across tabs (Web Locks), so two tabs
//! never spend the same refresh token.

mod refresh;

pub use refresh::with_auth;

use leptos::prelude::*;
use tokenflow::dto::{AccessTokenResponse, TokenResponse, User};

use crate::browser;
pub use crate::browser::{STORAGE_KEY, StoredSession, now};
use crate::events::{Event, emit};

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

    /// Keep a new token response from a sign-in: storage first (other tabs see it), then the
    /// signal.
    pub fn sign_in(&self, tokens: TokenResponse) {
        // Proved with the key just made for it.
        let session = self.store(tokens, browser::proof_key_thumbprint());
        emit(Event::SignedIn(session));
    }

    /// Keep the token response of a refresh (proved with the session's own key).
    fn refreshed(&self, tokens: TokenResponse) {
        let bound = browser::load_session().and_then(|s| s.dpop_jkt);
        let session = self.store(tokens, bound);
        emit(Event::Refreshed(session));
    }

    fn store(&self, tokens: TokenResponse, proof_key: Option<String>) -> StoredSession {
        let session = StoredSession::from_response(tokens, now(), proof_key);
        browser::save_session(&session);
        self.state.set(SessionState::SignedIn(session.clone()));
        session
    }

    /// Keep the fresh access token of a step-up: same session, same refresh token, a new
    /// `auth_time` (and `amr`) in its claims.
    pub fn stepped_up(&self, token: AccessTokenResponse) {
        let Some(mut session) = browser::load_session() else { return };
        session.expires_at = now() + i64::try_from(token.expires_in).unwrap_or(0);
        session.expires_in = token.expires_in;
        session.access_token = token.access_token;
        browser::save_session(&session);
        self.state.set(SessionState::SignedIn(session.clone()));
        emit(Event::SteppedUp(session));
    }

    /// Forget the session here and, through the `storage` event, in every other tab, and the
    /// proof key it was bound to.
    pub fn sign_out_locally(&self) {
        if let Some(jkt) = browser::load_session().and_then(|s| s.dpop_jkt) {
            browser::forget_proof_key(jkt);
        }
        browser::clear_session();
        self.state.set(SessionState::SignedOut);
        emit(Event::SignedOut);
    }

    /// Adopt what is in storage (another tab may have refreshed or logged out).
    fn reload(&self) {
        self.state.set(match browser::load_session() {
            Some(s) => SessionState::SignedIn(s),
            None => SessionState::SignedOut,
        });
    }
}

/// Create the session context. On the client: load it once hydrated, follow other tabs, and
/// refresh before expiry.
pub fn provide_session() -> Session {
    let session = Session { state: RwSignal::new(SessionState::Unknown) };
    provide_context(session);
    // In the browser only, once the page is hydrated: the stored session may show other views
    // than the server's "checking" ones.
    Effect::new(move |_| {
        if crate::is_hydrated() {
            session.reload();
        }
    });
    // Another tab signed in or out: follow it, once hydrated (the effect above reads the
    // storage then anyway).
    browser::on_session_change(move || {
        if crate::is_hydrated_untracked() {
            session.reload();
        }
    });
    refresh::schedule(session);
    session
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
