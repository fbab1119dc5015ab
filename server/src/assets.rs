//! The browser bundle under `/pkg`: fingerprinted files (`tokenflow-<hash>.js`, `…_bg.wasm`,
//! `.css`, `snippets-<hash>/`) that `scripts/assets.mjs` wrote beside their brotli and gzip
//! forms. A browser gets the smallest form it accepts (`Content-Encoding`, `Vary:
//! Accept-Encoding`), and since a new build is a new name, may keep it forever
//! (`Cache-Control: immutable`). Nothing is compressed per request.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::services::ServeDir;

/// The name of a bundle built without fingerprints (`cargo leptos`): its files keep their
/// names from build to build, so a browser must never keep them for good.
const PLAIN_NAME: &str = "tokenflow";

/// What the build named the bundle (the `bundle-name` file in the bundle's folder), or
/// [`PLAIN_NAME`] for a bundle built without fingerprints.
pub fn bundle_name(site_root: &str, pkg_dir: &str) -> String {
    let file = Path::new(site_root).join(pkg_dir).join("bundle-name");
    std::fs::read_to_string(file)
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .unwrap_or_else(|| PLAIN_NAME.to_string())
}

/// `/pkg/*` from `dir`, precompressed forms preferred; files named after the fingerprinted
/// `bundle` are immutable, anything else is revalidated.
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path, bundle: &str) -> Router<S> {
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let fingerprint: Option<std::sync::Arc<str>> = (bundle != PLAIN_NAME).then(|| bundle.into());
    Router::new().fallback_service(files).layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let fingerprinted = fingerprint.as_deref().is_some_and(|name| request.uri().path().contains(name));
        async move { cache_headers(next.run(request).await, fingerprinted) }
    }))
}

fn cache_headers(mut response: Response, fingerprinted: bool) -> Response {
    if !response.status().is_success() && response.status() != axum::http::StatusCode::NOT_MODIFIED {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    let policy = if fingerprinted { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}
