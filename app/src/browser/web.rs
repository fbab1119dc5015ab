//! The browser build's side of [`super`]: the real thing.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use gloo_storage::Storage;
use leptos::prelude::*;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::*;

use super::{Resolved, STORAGE_KEY, StoredSession};
use crate::error::ApiFailure;

pub fn load_session() -> Option<StoredSession> {
    gloo_storage::LocalStorage::get(STORAGE_KEY).ok()
}

pub fn save_session(session: &StoredSession) {
    let _ = gloo_storage::LocalStorage::set(STORAGE_KEY, session);
}

pub fn clear_session() {
    gloo_storage::LocalStorage::delete(STORAGE_KEY);
}

/// Call `changed` whenever another tab writes or clears the session (`storage` events).
pub fn on_session_change(changed: impl Fn() + 'static) {
    let listener = window_event_listener(leptos::ev::storage, move |event| {
        if event.key().as_deref() == Some(STORAGE_KEY) || event.key().is_none() {
            changed();
        }
    });
    on_cleanup(move || listener.remove());
}

/// Seconds since the Unix epoch by this browser's clock.
pub fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// Local time of day, `HH:MM:SS`.
pub fn clock() -> String {
    let d = js_sys::Date::new_0();
    format!("{:02}:{:02}:{:02}", d.get_hours(), d.get_minutes(), d.get_seconds())
}

/// This page's origin (`https://host:port`).
pub fn origin() -> Option<String> {
    window().location().origin().ok()
}

/// `next` resolved against `base` by the browser's own URL parser.
pub fn resolve_url(next: &str, base: &str) -> Option<Resolved> {
    let url = web_sys::Url::new_with_base(next, base).ok()?;
    Some(Resolved { origin: url.origin(), path: url.pathname(), search: url.search(), hash: url.hash() })
}

/// Run `f` after `delay`; the handle cancels it.
pub fn after(delay: Duration, f: impl FnOnce() + 'static) -> Option<TimeoutHandle> {
    set_timeout_with_handle(f, delay).ok()
}

/// Run `f` every `period` until the current reactive owner is cleaned up.
pub fn every(period: Duration, f: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(f, period) {
        on_cleanup(move || handle.clear());
    }
}

/// GET `url` and decode its JSON body.
///
/// # Errors
/// [`ApiFailure::request_failed`] when the request or the decoding fails.
pub async fn fetch_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, ApiFailure> {
    let response =
        gloo_net::http::Request::get(url).send().await.map_err(|e| ApiFailure::request_failed(e.to_string()))?;
    response.json::<T>().await.map_err(|e| ApiFailure::request_failed(e.to_string()))
}

/// Tell tests (and the curious) that the page is interactive, and how long it took.
pub fn mark_hydrated() {
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
        // Milliseconds since navigation start: the time to interactive that scripts/bench reports.
        if let Some(performance) = window().performance() {
            // Whole milliseconds, as an integer: formatting a float would cost the bundle its
            // float formatting code.
            let _ = body.set_attribute("data-hydrated-ms", &(performance.now() as u64).to_string());
        }
    }
}

/// Run `task` while holding the named Web Lock (shared by every tab of this origin); without
/// the API (old browsers), just run it. `None` if the lock was refused and nothing ran.
pub async fn with_lock<T: 'static>(name: &str, task: impl Future<Output = T> + 'static) -> Option<T> {
    #[wasm_bindgen(inline_js = "export function lock_request(name, task) {
        if (globalThis.navigator && navigator.locks && navigator.locks.request) {
            return navigator.locks.request(name, () => task());
        }
        return Promise.resolve().then(() => task());
    }")]
    extern "C" {
        fn lock_request(name: &str, task: &JsValue) -> js_sys::Promise;
    }

    let slot: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let out = Rc::clone(&slot);
    let run = Closure::once_into_js(move || {
        wasm_bindgen_futures::future_to_promise(async move {
            *out.borrow_mut() = Some(task.await);
            Ok(JsValue::UNDEFINED)
        })
    });
    let _ = wasm_bindgen_futures::JsFuture::from(lock_request(name, &run)).await;
    slot.borrow_mut().take()
}
