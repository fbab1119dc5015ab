//! `/second-factor`: the second step of a sign-in with a password (a code from the
//! authenticator app, a recovery code, or a passkey), and a sign-in with a passkey alone.
//! A page of its own, fetched only when needed: the login page hands over the challenge.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use tokenflow::dto::{SecondFactorStep, TokenResponse};

use crate::browser;
use crate::error::ApiFailure;
use crate::layout::safe_next;
use crate::server_fns;
use crate::session::use_session;

#[component]
pub fn SecondFactor() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    // The challenge the login page left for this tab: read once, in the browser.
    let pending = RwSignal::new(None::<SecondFactorStep>);
    Effect::new(move |_| {
        if let Some(text) = browser::take_challenge() {
            pending.set(serde_json::from_str(&text).ok());
        }
    });
    let code = RwSignal::new(String::new());
    let recovery = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiFailure>);
    let busy = RwSignal::new(false);
    let next = move || {
        let origin = browser::origin().unwrap_or_else(|| "http://localhost".to_string());
        safe_next(query.get_untracked().get("next").as_deref(), &origin)
    };
    let done = {
        let navigate = navigate.clone();
        move |result: Result<TokenResponse, ApiFailure>| match result {
            Ok(tokens) => {
                session.sign_in(tokens);
                navigate(&next(), Default::default());
            }
            Err(e) => {
                busy.set(false);
                error.set(Some(e));
            }
        }
    };

    let send_code = {
        let done = done.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let Some(challenge) = pending.get_untracked() else { return };
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            error.set(None);
            let value = code.get_untracked();
            let (totp, recovery_code) =
                if recovery.get_untracked() { (None, Some(value)) } else { (Some(value), None) };
            let done = done.clone();
            leptos::task::spawn_local(async move {
                done(server_fns::second_factor(challenge.challenge, totp, recovery_code, None).await);
            });
        }
    };
    let use_passkey = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let after_password = pending.get_untracked().and_then(|c| c.passkey.map(|options| (c.challenge, options)));
        let done = done.clone();
        leptos::task::spawn_local(async move {
            let (challenge, options) = match after_password {
                Some(started) => started,
                None => {
                    // A passkey alone: a new session, with a new proof key.
                    browser::new_proof_key().await;
                    match server_fns::passkey_sign_in().await {
                        Ok(started) => (started.challenge, started.options),
                        Err(e) => return done(Err(e)),
                    }
                }
            };
            match browser::passkey_ceremony("get", options).await {
                Ok(credential) => done(server_fns::second_factor(challenge, None, None, Some(credential)).await),
                Err(why) => done(Err(ApiFailure::local(format!("The passkey did not answer: {why}")))),
            }
        });
    };
    let offers =
        move |factor: &str| pending.with(|p| p.as_ref().is_some_and(|c| c.factors.iter().any(|f| f == factor)));

    view! {
        <Title text="Second factor" />
        <section class="card narrow">
            <h1>"Second factor"</h1>
            <Show
                when=move || offers("totp")
                fallback=move || {
                    view! {
                        <p>
                            "Sign in with a passkey alone, or " <a href="/login">"log in with your password"</a>
                            " first."
                        </p>
                    }
                }
            >
                <form on:submit=send_code.clone() novalidate>
                    <label for="code">
                        {move || { if recovery.get() { "Recovery code" } else { "Code from your authenticator app" } }}
                    </label>
                    <input
                        id="code"
                        name="code"
                        autocomplete="one-time-code"
                        inputmode=move || if recovery.get() { "text" } else { "numeric" }
                        required
                        prop:value=code
                        on:input=move |ev| code.set(event_target_value(&ev))
                    />
                    <button type="submit" disabled=move || busy.get()>
                        "Verify"
                    </button>
                    <button
                        type="button"
                        class="link"
                        on:click=move |_| {
                            recovery.update(|r| *r = !*r);
                            code.set(String::new());
                        }
                    >
                        {move || if recovery.get() { "Use the app's code" } else { "Use a recovery code" }}
                    </button>
                </form>
            </Show>
            {move || {
                let use_passkey = use_passkey.clone();
                (pending.with(Option::is_none) || offers("passkey"))
                    .then(move || {
                        view! {
                            <button type="button" on:click=use_passkey disabled=move || busy.get()>
                                "Use a passkey"
                            </button>
                        }
                    })
            }}
            <p class="error" role="alert" aria-live="assertive">
                {move || error.get().map(|e| e.explain())}
            </p>
        </section>
    }
}
