//! The browser build's side of [`super`]: the real thing.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use gloo_storage::Storage;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{Body, Resolved, STORAGE_KEY, StoredSession};
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

/// Milliseconds since the Unix epoch by this browser's clock, as an integer (formatting a
/// float would cost the bundle its float formatting code).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
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
    let request = Outgoing::new("GET", url.to_string(), None, "application/json", Body::None);
    let text = async { request?.send().await?.text().await };
    let text = text.await.map_err(ApiFailure::request_failed)?;
    serde_json::from_str(&text).map_err(|e| ApiFailure::request_failed(e.to_string()))
}

/// A `fetch` request, made and not yet sent: `web_sys` directly, so the bundle carries no
/// HTTP types of its own (the server functions are sent as these).
pub struct Outgoing {
    url: String,
    request: SendWrapper<web_sys::Request>,
}

impl Outgoing {
    /// # Errors
    /// The browser's message when it refuses the method, a header or the URL.
    pub fn new(
        method: &str,
        url: String,
        content_type: Option<&str>,
        accepts: &str,
        body: Body,
    ) -> Result<Outgoing, String> {
        let headers = web_sys::Headers::new().map_err(js_message)?;
        if let Some(content_type) = content_type {
            headers.set("Content-Type", content_type).map_err(js_message)?;
        }
        headers.set("Accept", accepts).map_err(js_message)?;
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        init.set_headers(&headers);
        match body {
            Body::None => {}
            Body::Text(text) => init.set_body(&JsValue::from_str(&text)),
            Body::Bytes(bytes) => init.set_body(&js_sys::Uint8Array::from(&bytes[..])),
        }
        let request = web_sys::Request::new_with_str_and_init(&url, &init).map_err(js_message)?;
        Ok(Outgoing { url, request: SendWrapper::new(request) })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn append_header(&self, name: &str, value: &str) {
        let _ = self.request.headers().append(name, value);
    }

    /// # Errors
    /// The browser's message when the request could not be made (network, CSP, CORS).
    pub fn send(self) -> impl Future<Output = Result<Incoming, String>> + Send {
        SendWrapper::new(async move {
            let response = JsFuture::from(window().fetch_with_request(&self.request)).await.map_err(js_message)?;
            Ok(Incoming(SendWrapper::new(response.unchecked_into())))
        })
    }
}

/// A `fetch` response whose body is still to be read.
pub struct Incoming(SendWrapper<web_sys::Response>);

impl Incoming {
    pub fn status(&self) -> u16 {
        self.0.status()
    }

    pub fn status_text(&self) -> String {
        self.0.status_text()
    }

    /// The URL answered (after redirects).
    pub fn url(&self) -> String {
        self.0.url()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.0.headers().get(name).ok().flatten()
    }

    /// # Errors
    /// The browser's message when the body cannot be read.
    pub fn text(self) -> impl Future<Output = Result<String, String>> + Send {
        SendWrapper::new(async move {
            let text = JsFuture::from(self.0.text().map_err(js_message)?).await.map_err(js_message)?;
            text.as_string().ok_or_else(|| "the body is not text".to_string())
        })
    }

    /// # Errors
    /// The browser's message when the body cannot be read.
    pub fn bytes(self) -> impl Future<Output = Result<Vec<u8>, String>> + Send {
        SendWrapper::new(async move {
            let buffer = JsFuture::from(self.0.array_buffer().map_err(js_message)?).await.map_err(js_message)?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        })
    }
}

/// A JavaScript exception's message (`TypeError: Failed to fetch`, ...).
fn js_message(error: JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error.as_string().unwrap_or_else(|| "the browser refused the request".to_string()),
    }
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
