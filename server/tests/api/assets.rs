//! The browser bundle: fingerprinted names in the page, the precompressed form a browser
//! accepts, and caching that lets a browser keep a build forever but never a stale one.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};

use crate::helpers::*;

const NAME: &str = "tokenflow-0123456789abcdef";

/// A site root as `scripts/assets.mjs` leaves it: each file beside its `.br` and `.gz`, each
/// form with a body of its own so the test can tell which one was served. Removed when dropped.
struct Site(std::path::PathBuf);

impl Site {
    fn new() -> Site {
        let site = Site::plain();
        std::fs::write(site.0.join("pkg").join("bundle-name"), format!("{NAME}\n")).unwrap();
        site
    }

    /// The same files without `bundle-name`, as a build without fingerprints (`cargo leptos`)
    /// leaves the folder.
    fn plain() -> Site {
        let root = std::env::temp_dir().join(format!("tokenflow-site-{}", uuid::Uuid::new_v4()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        let files = [format!("{NAME}_bg.wasm"), format!("{NAME}.js"), "tokenflow.js".to_string()];
        for (file, body) in files.iter().zip(["raw wasm", "raw js", "plain js"]) {
            std::fs::write(pkg.join(file), body).unwrap();
            std::fs::write(pkg.join(format!("{file}.br")), format!("brotli {body}")).unwrap();
            std::fs::write(pkg.join(format!("{file}.gz")), format!("gzip {body}")).unwrap();
        }
        Site(root)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_is_served_precompressed_fingerprinted_and_cached_for_good() {
    let site = Site::new();
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[("LEPTOS_SITE_ROOT", site.0.to_str().unwrap())])).await;
    let wasm = app.url(&format!("/pkg/{NAME}_bg.wasm"));
    let fetch = async |accept: Option<&str>| {
        let mut request = app.client.get(&wasm);
        if let Some(accept) = accept {
            request = request.header(ACCEPT_ENCODING, accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        (headers, response.text().await.unwrap())
    };

    let (h, body) = fetch(Some("gzip, deflate, br")).await;
    assert_eq!(body, "brotli raw wasm", "brotli is the smallest form the browser accepts");
    assert_eq!(h[CONTENT_ENCODING], "br");
    assert_eq!(h[CONTENT_TYPE], "application/wasm");
    assert_eq!(h[VARY], "accept-encoding");
    assert_eq!(h[CACHE_CONTROL], "public, max-age=31536000, immutable");

    let (h, body) = fetch(Some("gzip")).await;
    assert_eq!(body, "gzip raw wasm");
    assert_eq!(h[CONTENT_ENCODING], "gzip");
    assert_eq!(h[VARY], "accept-encoding");

    let (h, body) = fetch(None).await;
    assert_eq!(body, "raw wasm", "a client that accepts no encoding gets the file itself");
    assert!(h.get(CONTENT_ENCODING).is_none());

    // The page names this build's files, so a new build is a new URL.
    let page = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("/pkg/{NAME}.js")), "{page}");
    assert!(page.contains(&format!("/pkg/{NAME}_bg.wasm")), "{page}");
    assert!(page.contains(&format!("/pkg/{NAME}.css")), "{page}");

    // What is not fingerprinted is revalidated, and what is missing is not cached at all.
    let manifest = app.client.get(app.url("/pkg/bundle-name")).send().await.unwrap();
    assert_eq!(manifest.headers()[CACHE_CONTROL], "no-cache");
    let missing = app.client.get(app.url("/pkg/tokenflow-ffffffffffffffff_bg.wasm")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().get(CACHE_CONTROL).is_none_or(|v| v != "public, max-age=31536000, immutable"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_without_fingerprints_is_never_cached_for_good() {
    let site = Site::plain();
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[("LEPTOS_SITE_ROOT", site.0.to_str().unwrap())])).await;
    // The same name for every build: a browser that kept it would run yesterday's code.
    let plain = app.client.get(app.url("/pkg/tokenflow.js")).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()[CACHE_CONTROL], "no-cache");
    let page = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/pkg/tokenflow.js"), "{page}");
    app.stop().await;
}
