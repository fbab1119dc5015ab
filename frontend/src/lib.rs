//! The WASM entry point: hydrate the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // What `leptos::mount::hydrate_lazy` does (pages split into their own chunks hydrate once
    // the chunk has arrived), then tell the app the page is live.
    wasm_bindgen_futures::spawn_local(async {
        Box::pin(leptos::mount::hydrate_from_async(leptos::tachys::dom::body(), app::App)).await.forget();
        app::hydrated();
    });
}
