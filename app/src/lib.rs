//! Tokenflow's pages. Server-rendered (feature `ssr`) and hydrated in the browser
//! (feature `hydrate`). Dependencies point one way, from the bottom up:
//!
//! - [`error`]: the wire error, with the typed error code (a leaf);
//! - [`browser`]: the one place that touches browser APIs (gated once);
//! - [`events`]: what happens, as typed events, for whoever subscribes;
//! - [`transport`]: the server-function clients that add `Authorization: Bearer` and emit
//!   "request sent / answer received";
//! - [`server_fns`]: the server functions, thin adapters over the core;
//! - [`session`]: the session store and silent refresh, emitting sign-in, refresh, sign-out;
//! - `layout` and [`pages`]: what a person sees;
//! - [`flow`]: everything that exists to show the flow, a subscriber of the events; nothing
//!   imports it but this file.

// The account page nests deep view types; rustc needs more room to lay them out.
#![recursion_limit = "256"]

pub mod browser;
pub mod error;
pub mod events;
pub mod flow;
mod layout;
pub mod pages;
pub mod server_fns;
pub mod session;
pub mod transport;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, StaticSegment, lazy_route};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    // Where DPoP proofs' `htu` begin (the issuer), when the server takes proofs: the browser
    // reads it here instead of asking for the server's metadata.
    #[cfg(feature = "ssr")]
    let dpop_htu_base = use_context::<tokenflow::AuthService>()
        .filter(|auth| !auth.dpop_algorithms().is_empty())
        .map(|auth| auth.public_base().to_string());
    #[cfg(not(feature = "ssr"))]
    let dpop_htu_base = None::<String>;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                {dpop_htu_base.map(|base| view! { <meta name=browser::DPOP_HTU_BASE content=base /> })}
                // The fingerprinted stylesheet the build named (`scripts/assets.mjs`).
                <link rel="stylesheet" href=format!("/{}/{}.css", options.site_pkg_dir, options.output_name) />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Pages get a per-response nonce for Leptos's inline hydration scripts instead of
/// `'unsafe-inline'`; everything else must come from this origin.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use leptos::nonce::{provide_nonce, use_nonce};
    provide_nonce();
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<leptos_axum::ResponseOptions>()) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = policy.parse() {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

thread_local! {
    static HYDRATED: ArcRwSignal<bool> = ArcRwSignal::new(false);
}

/// Whether the page is live: hydration, lazy routes included, is over (tracked: an effect that
/// reads it runs again when it turns true). Until then nothing may change what the server
/// rendered, or the views still waiting for their chunk would not match the page.
pub fn is_hydrated() -> bool {
    HYDRATED.with(|hydrated| hydrated.get())
}

/// [`is_hydrated`], for callbacks that are not effects.
pub fn is_hydrated_untracked() -> bool {
    HYDRATED.with(|hydrated| hydrated.get_untracked())
}

/// Called by the entry point (`frontend`) once the page is hydrated.
pub fn hydrated() {
    HYDRATED.with(|hydrated| hydrated.set(true));
    browser::mark_hydrated();
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    session::provide_session();
    // For the flow page, loaded later in a chunk of its own: what happens until then. In the
    // browser only: a server thread renders many people's pages and must keep nobody's events.
    if cfg!(feature = "hydrate") {
        events::keep();
    }
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Tokenflow".to_string() } else { format!("{page} · Tokenflow") }
        } />
        <Router>
            <layout::Header />
            <main id="main">
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::Home />
                    <Route path=StaticSegment("signup") view=pages::Signup />
                    <Route path=StaticSegment("login") view=pages::Login />
                    <Route path=StaticSegment("second-factor") view=second_factor_page() />
                    <Route path=StaticSegment("dashboard") view=dashboard_page() />
                    <Route path=StaticSegment("account") view=account_page() />
                    <Route path=StaticSegment("admin") view=admin_page() />
                    <Route path=StaticSegment("flow") view=flow_page() />
                    <Route path=StaticSegment("forgot-password") view=forgot_password_page() />
                    <Route path=StaticSegment("reset-password") view=reset_password_page() />
                    <Route path=StaticSegment("verify-email") view=verify_email_page() />
                    <Route path=StaticSegment("outbox") view=outbox_page() />
                </Routes>
            </main>
        </Router>
    }
}

/// Pages a first visit does not need are split out of the main bundle: each is its own WASM
/// chunk, fetched when the page is first shown (`scripts/lib.sh` splits the build).
macro_rules! lazy_pages {
    ($($route:ident, $constructor:ident => $page:path),* $(,)?) => {$(
        struct $route;

        fn $constructor() -> Lazy<$route> {
            Lazy::new()
        }

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    )*};
}

lazy_pages! {
    FlowPage, flow_page => flow::Flow,
    DashboardPage, dashboard_page => pages::Dashboard,
    AccountPage, account_page => pages::Account,
    SecondFactorPage, second_factor_page => pages::SecondFactor,
    AdminPage, admin_page => pages::Admin,
    OutboxPage, outbox_page => pages::Outbox,
    ForgotPasswordPage, forgot_password_page => pages::ForgotPassword,
    ResetPasswordPage, reset_password_page => pages::ResetPassword,
    VerifyEmailPage, verify_email_page => pages::VerifyEmail,
}
