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

// The page's one JavaScript snippet (the bundle splitter keeps one per crate): Web Locks, and
// DPoP (RFC 9449): this browser's proof key, a P-256 pair made by WebCrypto as not extractable
// (script can sign with it, never read it) and kept in IndexedDB (a CryptoKey survives there, so
// a reload keeps the session usable); and the proofs it signs.

#[wasm_bindgen(inline_js = r#"
export function lock_request(name, task) {
    if (globalThis.navigator && navigator.locks && navigator.locks.request) {
        return navigator.locks.request(name, () => task());
    }
    return Promise.resolve().then(() => task());
}
const DB = "tokenflow", STORE = "dpop", ID = "key";
function store(mode, op) {
    return new Promise((resolve, reject) => {
        const open = indexedDB.open(DB, 1);
        open.onupgradeneeded = () => open.result.createObjectStore(STORE);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
            const db = open.result;
            const tx = db.transaction(STORE, mode);
            const request = op(tx.objectStore(STORE));
            tx.oncomplete = () => { db.close(); resolve(request.result); };
            tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
        };
    });
}
const bytes = (text) => new TextEncoder().encode(text);
const b64u = (data) => btoa(String.fromCharCode(...new Uint8Array(data))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const sha256 = async (text) => b64u(await crypto.subtle.digest("SHA-256", bytes(text)));
export function dpop_supported() {
    return !!(globalThis.isSecureContext && globalThis.crypto && crypto.subtle && crypto.randomUUID && globalThis.indexedDB);
}
export async function dpop_generate(keep) {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const { x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const jkt = await sha256(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`);
    const key = { pair, x, y, jkt };
    if (keep) await store("readwrite", (s) => s.put(key, ID));
    return key;
}
export function dpop_load() { return store("readonly", (s) => s.get(ID)); }
export function dpop_delete() { return store("readwrite", (s) => s.delete(ID)); }
export async function dpop_sign(key, htm, htu, token) {
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty: "EC", crv: "P-256", x: key.x, y: key.y } };
    const claims = { jti: crypto.randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
    if (token) claims.ath = await sha256(token);
    const input = `${b64u(bytes(JSON.stringify(header)))}.${b64u(bytes(JSON.stringify(claims)))}`;
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.pair.privateKey, bytes(input));
    return `${input}.${b64u(signature)}`;
}
// JWE (RFC 7516) for the /flow demo: ECDH-ES+A256KW key agreement (RFC 7518 §4.6) and A256GCM.
const unb64u = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
let recipient = null;
async function wrappingKey(privateKey, publicKey, usage) {
    const z = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256));
    // Concat KDF (NIST SP 800-56A, RFC 7518 §4.6.2): SHA-256 of counter 1, Z, AlgorithmID,
    // empty PartyUInfo and PartyVInfo, and the key length in bits; one round makes 256 bits.
    const alg = bytes("ECDH-ES+A256KW");
    const info = new Uint8Array(4 + z.length + 4 + alg.length + 12);
    const view = new DataView(info.buffer);
    view.setUint32(0, 1);
    info.set(z, 4);
    view.setUint32(4 + z.length, alg.length);
    info.set(alg, 8 + z.length);
    view.setUint32(info.length - 4, 256);
    const kek = await crypto.subtle.digest("SHA-256", info);
    return crypto.subtle.importKey("raw", kek, "AES-KW", false, [usage]);
}
export async function jwe_encrypt(plaintext) {
    recipient = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const ephemeral = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", ephemeral.publicKey);
    const header = b64u(bytes(JSON.stringify({ alg: "ECDH-ES+A256KW", enc: "A256GCM", epk: { kty, crv, x, y } })));
    const cek = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]);
    const wrapped = await crypto.subtle.wrapKey("raw", cek, await wrappingKey(ephemeral.privateKey, recipient.publicKey, "wrapKey"), "AES-KW");
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: bytes(header) }, cek, bytes(plaintext)));
    return [header, b64u(wrapped), b64u(iv), b64u(sealed.slice(0, -16)), b64u(sealed.slice(-16))].join(".");
}
export async function jwe_decrypt(compact) {
    const [header, wrapped, iv, ciphertext, tag] = compact.split(".");
    const { alg, enc, epk } = JSON.parse(new TextDecoder().decode(unb64u(header)));
    if (alg !== "ECDH-ES+A256KW" || enc !== "A256GCM") throw new Error("not ECDH-ES+A256KW with A256GCM");
    const ephemeral = await crypto.subtle.importKey("jwk", epk, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const kek = await wrappingKey(recipient.privateKey, ephemeral, "unwrapKey");
    const cek = await crypto.subtle.unwrapKey("raw", unb64u(wrapped), kek, "AES-KW", "AES-GCM", false, ["decrypt"]);
    const sealed = new Uint8Array([...unb64u(ciphertext), ...unb64u(tag)]);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64u(iv), additionalData: bytes(header) }, cek, sealed);
    return new TextDecoder().decode(plain);
}
// WebAuthn: the server's options ({publicKey}, binary members base64url) to the browser's
// ceremony, and its credential back as JSON with base64url members (what webauthn-rs reads).
export async function webauthn(kind, text) {
    const { publicKey } = JSON.parse(text, (k, v) => (v === null ? undefined : v));
    publicKey.challenge = unb64u(publicKey.challenge);
    if (publicKey.user) publicKey.user.id = unb64u(publicKey.user.id);
    for (const c of [...(publicKey.excludeCredentials || []), ...(publicKey.allowCredentials || [])]) c.id = unb64u(c.id);
    const cred = await navigator.credentials[kind]({ publicKey });
    const r = cred.response, response = { clientDataJSON: b64u(r.clientDataJSON) };
    if (r.attestationObject) response.attestationObject = b64u(r.attestationObject);
    if (r.authenticatorData) {
        response.authenticatorData = b64u(r.authenticatorData);
        response.signature = b64u(r.signature);
        if (r.userHandle) response.userHandle = b64u(r.userHandle);
    }
    return JSON.stringify({ id: cred.id, rawId: b64u(cred.rawId), type: cred.type, response, extensions: {} });
}
export async function jwe_recipient_jwk() {
    return JSON.stringify(await crypto.subtle.exportKey("jwk", recipient.privateKey));
}
"#)]
extern "C" {
    fn lock_request(name: &str, task: &JsValue) -> js_sys::Promise;
    fn dpop_supported() -> bool;
    fn dpop_generate(keep: bool) -> js_sys::Promise;
    fn dpop_load() -> js_sys::Promise;
    fn dpop_delete() -> js_sys::Promise;
    fn dpop_sign(key: &JsValue, htm: &str, htu: &str, token: Option<String>) -> js_sys::Promise;
    fn jwe_encrypt(plaintext: &str) -> js_sys::Promise;
    fn jwe_decrypt(compact: &str) -> js_sys::Promise;
    fn jwe_recipient_jwk() -> js_sys::Promise;
    fn webauthn(kind: &str, options: &str) -> js_sys::Promise;
}

/// A WebAuthn ceremony (`"create"` or `"get"`) with the server's options (JSON text): the
/// credential as JSON text, or what the browser said (cancelled, no authenticator, …).
pub async fn passkey_ceremony(kind: &'static str, options: String) -> Result<String, String> {
    let answer = wasm_bindgen_futures::JsFuture::from(webauthn(kind, &options)).await;
    answer.map(|v| v.as_string().unwrap_or_default()).map_err(|e| {
        js_sys::Reflect::get(&e, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()).unwrap_or_default()
    })
}

const CHALLENGE_KEY: &str = "tokenflow.second-factor";

/// Keep a sign-in's second-factor challenge for the next page (this tab only).
pub fn stash_challenge(challenge: &str) {
    use gloo_storage::Storage;
    let _ = gloo_storage::SessionStorage::set(CHALLENGE_KEY, challenge);
}

/// The stashed challenge, taken (read once).
pub fn take_challenge() -> Option<String> {
    use gloo_storage::Storage;
    let challenge = gloo_storage::SessionStorage::get::<String>(CHALLENGE_KEY).ok();
    gloo_storage::SessionStorage::delete(CHALLENGE_KEY);
    challenge
}

/// The proof key as loaded: the stored object (`{pair, x, y, jkt}`, its thumbprint computed
/// by WebCrypto's SHA-256 when it was made) and that thumbprint. The proof itself is built
/// and signed on the JavaScript side of WebCrypto too, so the bundle carries no SHA-256 or
/// base64 of its own for it.
#[derive(Clone)]
struct ProofKey {
    stored: JsValue,
    jkt: String,
}

impl ProofKey {
    fn from_stored(stored: JsValue) -> Option<ProofKey> {
        let jkt = js_sys::Reflect::get(&stored, &JsValue::from_str("jkt")).ok()?.as_string()?;
        Some(ProofKey { stored, jkt })
    }
}

thread_local! {
    static PROOF_KEY: RefCell<Option<ProofKey>> = const { RefCell::new(None) };
}

/// The server's issuer, which `htu` is built on, if the server takes DPoP proofs: the page
/// says so in a `<meta>` ([`super::DPOP_HTU_BASE`]).
fn proof_base() -> Option<String> {
    let selector = format!("meta[name=\"{}\"]", super::DPOP_HTU_BASE);
    document().query_selector(&selector).ok()??.get_attribute("content")
}

/// A new proof key for a sign-in, replacing any other; its thumbprint. `None` where the
/// browser lacks WebCrypto or IndexedDB (a page not served over HTTPS or from localhost), or
/// the server takes no proofs: then the session is a bearer one.
pub async fn new_proof_key() -> Option<String> {
    PROOF_KEY.with(|k| k.borrow_mut().take());
    if !dpop_supported() || proof_base().is_none() {
        return None;
    }
    let key = ProofKey::from_stored(JsFuture::from(dpop_generate(true)).await.ok()?)?;
    let jkt = key.jkt.clone();
    PROOF_KEY.with(|k| *k.borrow_mut() = Some(key));
    Some(jkt)
}

/// The thumbprint of the proof key in use, if any.
pub fn proof_key_thumbprint() -> Option<String> {
    PROOF_KEY.with(|k| k.borrow().as_ref().map(|key| key.jkt.clone()))
}

/// The proof key, the one with thumbprint `jkt` when given: from memory, else from IndexedDB
/// (another tab may have signed in with a new one).
async fn proof_key(jkt: Option<&str>) -> Option<ProofKey> {
    let fits = |key: &ProofKey| jkt.is_none_or(|jkt| key.jkt == jkt);
    if let Some(key) = PROOF_KEY.with(|k| k.borrow().clone()).filter(fits) {
        return Some(key);
    }
    if !dpop_supported() {
        return None;
    }
    let key = ProofKey::from_stored(JsFuture::from(dpop_load()).await.ok()?)?;
    PROOF_KEY.with(|k| *k.borrow_mut() = Some(key.clone()));
    Some(key).filter(fits)
}

/// A DPoP proof for `method` and `path` of this server, signed now by the proof key (the one
/// with thumbprint `jkt` when given), with `ath` when it goes with `access_token`. `None` when
/// there is no such key.
pub async fn dpop_proof(
    jkt: Option<String>,
    method: &'static str,
    path: String,
    access_token: Option<String>,
) -> Option<String> {
    let key = proof_key(jkt.as_deref()).await?;
    sign_proof(&key, method, &path, access_token).await
}

/// What a thief can make: a well-formed proof for the request, signed by a key of their own
/// (made here and thrown away), not the one the token is bound to.
pub async fn thief_proof(method: &'static str, path: String, access_token: String) -> Option<String> {
    if !dpop_supported() {
        return None;
    }
    let key = ProofKey::from_stored(JsFuture::from(dpop_generate(false)).await.ok()?)?;
    sign_proof(&key, method, &path, Some(access_token)).await
}

/// A future of this thread made `Send` for the server-function client's signature (the
/// browser has one thread; it is never sent anywhere).
pub fn sendable<F: Future + 'static>(future: F) -> impl Future<Output = F::Output> + Send {
    SendWrapper::new(future)
}

async fn sign_proof(key: &ProofKey, method: &str, path: &str, access_token: Option<String>) -> Option<String> {
    let htu = format!("{}{path}", proof_base()?);
    JsFuture::from(dpop_sign(&key.stored, method, &htu, access_token)).await.ok()?.as_string()
}

/// Forget the proof key of a session that ended (the one with thumbprint `jkt`; another tab's
/// newer sign-in keeps its own).
pub fn forget_proof_key(jkt: String) {
    leptos::task::spawn_local(async move {
        PROOF_KEY.with(|k| k.borrow_mut().take_if(|key| key.jkt == jkt));
        if !dpop_supported() {
            return;
        }
        let stored = JsFuture::from(dpop_load()).await.ok().and_then(ProofKey::from_stored);
        if stored.is_some_and(|key| key.jkt == jkt) {
            let _ = JsFuture::from(dpop_delete()).await;
        }
    });
}

/// The `/flow` JWE demo: `plaintext` encrypted (ECDH-ES+A256KW, A256GCM) to a P-256 key made
/// for it, in the five-part compact form.
///
/// # Errors
/// The browser's message (no WebCrypto here, or it refused).
pub async fn jwe_encrypt_demo(plaintext: String) -> Result<String, String> {
    let compact = JsFuture::from(jwe_encrypt(&plaintext)).await.map_err(js_message)?;
    compact.as_string().ok_or_else(|| "no JWE".to_string())
}

/// The demo JWE decrypted with the key it was made for.
///
/// # Errors
/// The browser's message (a changed part fails the tag).
pub async fn jwe_decrypt_demo(compact: String) -> Result<String, String> {
    let plain = JsFuture::from(jwe_decrypt(&compact)).await.map_err(js_message)?;
    plain.as_string().ok_or_else(|| "not text".to_string())
}

/// The demo's private key as a JWK: shown on the page, so that anyone may decrypt elsewhere.
///
/// # Errors
/// The browser's message.
pub async fn jwe_demo_key() -> Result<String, String> {
    let jwk = JsFuture::from(jwe_recipient_jwk()).await.map_err(js_message)?;
    jwk.as_string().ok_or_else(|| "no key".to_string())
}
