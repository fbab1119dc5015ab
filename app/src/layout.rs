//! What every page shares: the header with who is signed in, and the guard of protected pages.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};

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
            let _ = with_auth(session, crate::api::logout).await;
            session.sign_out_locally();
            logging_out.set(false);
            navigate("/login", Default::default());
        });
    };
    view! {
        <header class="site-header">
            <a class="brand" href="/">"Tokenflow"</a>
            <nav aria-label="Main">
                <a href="/flow">"Flow"</a>
                <a href="/dashboard">"Dashboard"</a>
                <a href="/account">"Account"</a>
                <a href="/admin">"Admin"</a>
            </nav>
            <div class="who">
                {move || match session.state() {
                    SessionState::SignedIn(s) => view! {
                        <span data-testid="signed-in-as">{s.user.email}</span>
                        <button class="secondary" on:click=log_out.clone() disabled=move || logging_out.get()>"Log out"</button>
                    }.into_any(),
                    SessionState::SignedOut => view! {
                        <a href="/login">"Log in"</a>
                        <a class="button" href="/signup">"Sign up"</a>
                    }.into_any(),
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
    Effect::new(move |_| {
        if session.state() == SessionState::SignedOut {
            let here = format!("{}{}", location.pathname.get_untracked(), location.search.get_untracked());
            navigate(&format!("/login?next={}", encode_component(&here)), Default::default());
        }
    });
    move || match session.state() {
        SessionState::SignedIn(_) => children().into_any(),
        _ => view! { <p class="placeholder" aria-busy="true">"Checking your session…"</p> }.into_any(),
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

/// Only local paths may be redirected to after login: never `//evil.test` or `https://…`.
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/dashboard".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/account?x=1".into())), "/account?x=1");
        assert_eq!(safe_next(Some("//evil.test".into())), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.test".into())), "/dashboard");
        assert_eq!(safe_next(Some("/\\evil.test".into())), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_component("/admin?a=b&c"), "/admin%3Fa%3Db%26c");
    }
}
