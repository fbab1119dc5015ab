//! Everywhere but the browser (the server render, native tests): inert stand-ins with the
//! browser's signatures. The server never sees a browser's session, clock or storage.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::TimeoutHandle;

use super::{Body, Resolved, StoredSession};
use crate::error::ApiFailure;

pub fn load_session() -> Option<StoredSession> {
    None
}

pub fn save_session(_: &StoredSession) {}

pub fn clear_session() {}

pub fn on_session_change(_: impl Fn() + 'static) {}

pub fn now() -> i64 {
    0
}

pub fn now_ms() -> u64 {
    0
}

pub fn clock() -> String {
    String::new()
}

pub fn origin() -> Option<String> {
    None
}

/// The same WHATWG parsing as the browser's, by the `url` crate.
pub fn resolve_url(next: &str, base: &str) -> Option<Resolved> {
    let url = url::Url::parse(base).ok()?.join(next).ok()?;
    let prefixed = |prefix: char, part: Option<&str>| part.map(|p| format!("{prefix}{p}")).unwrap_or_default();
    Some(Resolved {
        origin: url.origin().ascii_serialization(),
        path: url.path().to_string(),
        search: prefixed('?', url.query().filter(|q| !q.is_empty())),
        hash: prefixed('#', url.fragment().filter(|f| !f.is_empty())),
    })
}

pub fn after(_: Duration, _: impl FnOnce() + 'static) -> Option<TimeoutHandle> {
    None
}

pub fn every(_: Duration, _: impl Fn() + 'static) {}

/// # Errors
/// Always: only the browser fetches.
pub async fn fetch_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, ApiFailure> {
    Err(ApiFailure::request_failed(format!("{url} is fetched in the browser")))
}

/// Never made: on the server, server functions are called directly, not fetched.
pub enum Outgoing {}

impl Outgoing {
    /// # Errors
    /// Always: only the browser fetches.
    pub fn new(_: &str, url: String, _: Option<&str>, _: &str, _: Body) -> Result<Outgoing, String> {
        Err(format!("{url} is fetched in the browser"))
    }

    pub fn url(&self) -> &str {
        match *self {}
    }

    pub fn append_header(&self, _: &str, _: &str) {
        match *self {}
    }

    /// # Errors
    /// Never: there is no such request.
    pub async fn send(self) -> Result<Incoming, String> {
        match self {}
    }
}

/// Never received, as [`Outgoing`] is never made.
pub enum Incoming {}

impl Incoming {
    pub fn status(&self) -> u16 {
        match *self {}
    }

    pub fn status_text(&self) -> String {
        match *self {}
    }

    pub fn url(&self) -> String {
        match *self {}
    }

    pub fn header(&self, _: &str) -> Option<String> {
        match *self {}
    }

    /// # Errors
    /// Never: there is no such response.
    pub async fn text(self) -> Result<String, String> {
        match self {}
    }

    /// # Errors
    /// Never: there is no such response.
    pub async fn bytes(self) -> Result<Vec<u8>, String> {
        match self {}
    }
}

pub fn mark_hydrated() {}

pub async fn with_lock<T: 'static>(_: &str, task: impl Future<Output = T> + 'static) -> Option<T> {
    Some(task.await)
}

/// No proof key on the server.
pub async fn new_proof_key() -> Option<String> {
    None
}

/// No proofs from the server.
pub async fn dpop_proof(_: Option<String>, _: &'static str, _: String, _: Option<String>) -> Option<String> {
    None
}

/// No proofs from the server.
pub async fn thief_proof(_: &'static str, _: String, _: String) -> Option<String> {
    None
}

pub fn forget_proof_key(_: String) {}

pub fn proof_key_thumbprint() -> Option<String> {
    None
}

/// Already `Send` here.
pub fn sendable<F: Future + Send + 'static>(future: F) -> F {
    future
}

/// No WebCrypto on the server.
pub async fn jwe_encrypt_demo(_: String) -> Result<String, String> {
    Err("only in the browser".into())
}

pub async fn jwe_decrypt_demo(_: String) -> Result<String, String> {
    Err("only in the browser".into())
}

pub async fn jwe_demo_key() -> Result<String, String> {
    Err("only in the browser".into())
}

pub async fn passkey_ceremony(_: &'static str, _: String) -> Result<String, String> {
    Err("only in the browser".into())
}

pub fn stash_challenge(_: &str) {}

pub fn take_challenge() -> Option<String> {
    None
}
