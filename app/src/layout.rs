//! What every page shares: the header with who is signed in, and the guard of protected pages.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};

use crate::browser;
use crate::session::{SessionState, use_session, with_auth};

#[component]
pub fn Header() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let logging_out = RwSignal::new(false);
    let log_out = move |_| {
        let navigate = navigate.clone();
        logging_out.set(true);
        leptos::task::spawn_local(async move {
            // Revoke on the server; whatever it says, this browser forgets the session.
            let _ = with_auth(session, crate::server_fns::logout).await;
            session.sign_out_locally();
            logging_out.set(false);
            navigate("/login", Default::default());
        });
    };
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                "Tokenflow"
            </a>
            <nav aria-label="Main">
                <a href="/flow">"Flow"</a>
                <a href="/dashboard">"Dashboard"</a>
                <a href="/account">"Account"</a>
                <a href="/admin">"Admin"</a>
            </nav>
            <div class="who">
                {move || match session.state() {
                    SessionState::SignedIn(s) => {
                        view! {
                            <span data-testid="signed-in-as">{s.user.email.to_string()}</span>
                            <button class="secondary" on:click=log_out.clone() disabled=move || logging_out.get()>
                                "Log out"
                            </button>
                        }
                            .into_any()
                    }
                    SessionState::SignedOut => {
                        view! {
                            <a href="/login">"Log in"</a>
                            <a class="button" href="/signup">
                                "Sign up"
                            </a>
                        }
                            .into_any()
                    }
                    SessionState::Unknown => view! { <span class="muted">"…"</span> }.into_any(),
                }}
            </div>
        </header>
    }
}

/// Shows `children` only to a signed-in person. On the server and until the browser has read
/// its session, a neutral placeholder; signed out, a redirect to `/login?next=<here>`.
#[component]
pub fn Protected(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let location = use_location();
    // A page that is being left (a logout navigates away while the next page loads) sends
    // nobody back to itself.
    let mine = location.pathname.get_untracked();
    Effect::new(move |_| {
        if session.state() == SessionState::SignedOut && location.pathname.get_untracked() == mine {
            let search = location.search.get_untracked();
            let query = if search.is_empty() || search.starts_with('?') { search } else { format!("?{search}") };
            let here = format!("{}{query}", location.pathname.get_untracked());
            navigate(&format!("/login?next={}", encode_component(&here)), Default::default());
        }
    });
    // Signed in or not, not which tokens: a refresh or a step-up replaces the tokens and must
    // not rebuild the page (and lose what it shows, or the action it is about to retry).
    let signed_in = Memo::new(move |_| matches!(session.state(), SessionState::SignedIn(_)));
    move || {
        if signed_in.get() {
            children().into_any()
        } else {
            view! {
                <p class="placeholder" aria-busy="true">
                    "Checking your session…"
                </p>
            }
            .into_any()
        }
    }
}

/// Percent-encode for a query parameter value.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after signing in: `next` only if, parsed as a URL against the page's `origin`
/// the way the browser parses it (tab, LF and CR dropped, `\` read as `/`), it stays on that
/// origin; then its path, query and fragment as parsed, so the router gets exactly what was
/// checked. Anything else, `/dashboard`.
pub fn safe_next(next: Option<&str>, origin: &str) -> String {
    const FALLBACK: &str = "/dashboard";
    let Some(target) = next.and_then(|next| browser::resolve_url(next, origin)) else { return FALLBACK.into() };
    // A path that is, or decodes to, `//host` would leave the origin once a router or a
    // server takes it as a URL of its own.
    let decoded = percent_encoding::percent_decode_str(&target.path).decode_utf8_lossy();
    let leaves = |p: &str| p.starts_with("//") || p.starts_with("/\\");
    if target.origin != origin_of(origin) || !target.path.starts_with('/') || leaves(&target.path) || leaves(&decoded) {
        return FALLBACK.into();
    }
    format!("{}{}{}", target.path, target.search, target.hash)
}

/// The serialised origin of `base`, parsed the same way.
fn origin_of(base: &str) -> String {
    browser::resolve_url("/", base).map(|r| r.origin).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://tokenflow.example";

    #[test]
    fn local_paths_are_kept_with_query_and_fragment() {
        assert_eq!(safe_next(Some("/account?x=1"), ORIGIN), "/account?x=1");
        assert_eq!(safe_next(Some("/flow#inspector"), ORIGIN), "/flow#inspector");
        assert_eq!(safe_next(Some("/admin"), "http://127.0.0.1:3000"), "/admin");
        assert_eq!(safe_next(Some("https://tokenflow.example/account"), ORIGIN), "/account", "same origin, absolute");
        assert_eq!(safe_next(None, ORIGIN), "/dashboard");
        // The page's own scheme without slashes is a relative path to the browser, too.
        assert_eq!(safe_next(Some("https:evil.example"), ORIGIN), "/evil.example");
    }

    #[test]
    fn next_never_leaves_the_origin() {
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/.//evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://tokenflow.example.evil.example/",
            "https://tokenflow.example@evil.example/",
        ] {
            assert_eq!(safe_next(Some(evil), ORIGIN), "/dashboard", "{evil:?}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_component("/admin?a=b&c"), "/admin%3Fa%3Db%26c");
    }
}
