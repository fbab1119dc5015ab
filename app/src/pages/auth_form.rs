//! `/signup` and `/login`: one accessible form, two purposes.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use tokenflow::dto::{ErrorCode, LoginOutcome};

use crate::browser;
use crate::error::ApiFailure;
use crate::events::{Event, emit};
use crate::layout::{encode_component, safe_next};
use crate::server_fns;
use crate::session::use_session;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Signup,
    Login,
}

#[component]
pub fn Signup() -> impl IntoView {
    view! { <AuthForm purpose=Purpose::Signup /> }
}

#[component]
pub fn Login() -> impl IntoView {
    view! { <AuthForm purpose=Purpose::Login /> }
}

/// The form. `stay`: keep the person on this page after success (the flow page does).
#[component]
pub(crate) fn AuthForm(purpose: Purpose, #[prop(optional)] stay: bool) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    // Where a page that keeps the person (`stay`) is: the second step comes back to it.
    let here = leptos_router::hooks::use_location().pathname;
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiFailure>);
    let pending = RwSignal::new(false);
    // The button works only once the WASM is in charge: a form submitted before hydration
    // would put the password in a URL.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    let (title, button, other) = match purpose {
        Purpose::Signup => {
            ("Sign up", "Sign up", view! { <p>"Have an account? " <a href="/login">"Log in"</a></p> }.into_any())
        }
        Purpose::Login => (
            "Log in",
            "Log in",
            view! {
                <p>
                    "New here? " <a href="/signup">"Sign up"</a> " · "
                    <a href="/forgot-password">"Forgot password?"</a> " · "
                    <a href="/second-factor">"Sign in with a passkey"</a>
                </p>
            }
            .into_any(),
        ),
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        error.set(None);
        let (e, p, n) = (email.get_untracked(), password.get_untracked(), name.get_untracked());
        let next = safe_next(query.get_untracked().get("next").as_deref(), &page_origin());
        let navigate = navigate.clone();
        credentials_sent(purpose, &e, &p);
        leptos::task::spawn_local(async move {
            // A new proof key for the new session, where the browser can make one.
            browser::new_proof_key().await;
            let result = match purpose {
                Purpose::Signup => server_fns::signup(e, p, Some(n).filter(|n| !n.trim().is_empty()))
                    .await
                    .map(|tokens| LoginOutcome { tokens: Some(tokens), second_factor: None }),
                Purpose::Login => server_fns::login(e, p).await,
            };
            pending.set(false);
            match result {
                Ok(LoginOutcome { tokens: None, second_factor }) => {
                    // The second step is a page of its own (fetched only now); it takes the
                    // challenge from this tab's session storage.
                    password.set(String::new());
                    if let Some(step) = second_factor {
                        browser::stash_challenge(&step);
                    }
                    let back = if stay { here.get_untracked() } else { next };
                    let next = format!("/second-factor?next={}", encode_component(&back));
                    navigate(&next, Default::default());
                }
                Ok(LoginOutcome { tokens: Some(tokens), .. }) => {
                    password.set(String::new());
                    session.sign_in(tokens);
                    if !stay {
                        navigate(&next, Default::default());
                    }
                }
                Err(failure) => error.set(Some(failure)),
            }
        });
    };

    let field_error = move |code: ErrorCode| move || error.with(|e| e.as_ref().is_some_and(|e| e.error == code));
    view! {
        <Title text=title />
        <section class="card narrow">
            <h1>{title}</h1>
            <form on:submit=submit method="post" novalidate>
                {(purpose == Purpose::Signup)
                    .then(|| {
                        view! {
                            <label for="name">"Name " <span class="muted">"(optional)"</span></label>
                            <input
                                id="name"
                                name="name"
                                type="text"
                                autocomplete="name"
                                maxlength="100"
                                prop:value=name
                                on:input=move |ev| name.set(event_target_value(&ev))
                            />
                        }
                    })}
                <label for="email">"Email"</label>
                <input
                    id="email"
                    name="email"
                    type="email"
                    autocomplete="email"
                    required
                    aria-invalid=move || field_error(ErrorCode::InvalidEmail)().to_string()
                    aria-describedby="form-error"
                    prop:value=email
                    on:input=move |ev| email.set(event_target_value(&ev))
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    required
                    autocomplete=if purpose == Purpose::Signup { "new-password" } else { "current-password" }
                    aria-invalid=move || field_error(ErrorCode::WeakPassword)().to_string()
                    aria-describedby="form-error password-hint"
                    prop:value=password
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                {(purpose == Purpose::Signup)
                    .then(|| {
                        view! {
                            <p id="password-hint" class="hint">
                                "8 to 128 characters. Spaces count."
                            </p>
                        }
                    })}
                <p id="form-error" class="error" role="alert" aria-live="assertive">
                    {move || error.get().map(|e| e.explain())}
                </p>
                <button type="submit" disabled=move || pending.get() || !hydrated.get()>
                    {button}
                </button>
            </form>
            {other}
        </section>
    }
}

/// Step 1 of the flow: what goes over the wire (the password by its length only).
fn credentials_sent(purpose: Purpose, email: &str, password: &str) {
    let path = if purpose == Purpose::Signup { "/fn/signup" } else { "/fn/login" };
    emit(Event::CredentialsSent { path, email: email.to_string(), password_chars: password.chars().count() });
}

/// This page's origin (`https://host:port`), what `next` is checked against. Forms submit in
/// the browser only, so the fallback is never used for a redirect.
fn page_origin() -> String {
    browser::origin().unwrap_or_else(|| "http://localhost".to_string())
}
