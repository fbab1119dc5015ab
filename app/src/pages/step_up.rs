//! Step-up (RFC 9470): a sensitive action the server refused with
//! `insufficient_user_authentication` asks the person to authenticate again, here (the
//! password and, where the account has one, a code; or a passkey), and then runs again.

use std::future::Future;
use std::rc::Rc;

use leptos::prelude::*;
use tokenflow::dto::ErrorCode;

use crate::browser;
use crate::error::ApiFailure;
use crate::server_fns;
use crate::session::{use_session, with_auth};

/// The page's step-up prompt: whether it is shown, and what to run again after it.
#[derive(Clone, Copy)]
pub(crate) struct StepUp {
    session: crate::session::Session,
    asked: RwSignal<bool>,
    retry: StoredValue<Option<Rc<dyn Fn()>>, LocalStorage>,
}

impl StepUp {
    pub fn new() -> StepUp {
        StepUp { session: use_session(), asked: RwSignal::new(false), retry: StoredValue::new_local(None) }
    }

    /// Run `call` (with the session's token); a step-up refusal shows the prompt and runs it
    /// again once the person has authenticated; any other outcome goes to `done`.
    pub fn run<T, F, Fut>(self, call: F, done: impl Fn(Result<T, ApiFailure>) + 'static)
    where
        T: 'static,
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<T, ApiFailure>> + 'static,
    {
        go(self, Rc::new(call), Rc::new(done));
    }
}

fn go<T: 'static, Fut: Future<Output = Result<T, ApiFailure>> + 'static>(
    step_up: StepUp,
    call: Rc<dyn Fn() -> Fut>,
    done: Rc<dyn Fn(Result<T, ApiFailure>)>,
) {
    let session = step_up.session;
    leptos::task::spawn_local(async move {
        let result = with_auth(session, || call()).await;
        match result {
            Err(e) if e.error == ErrorCode::InsufficientUserAuthentication => {
                let again = move || go(step_up, Rc::clone(&call), Rc::clone(&done));
                step_up.retry.set_value(Some(Rc::new(again)));
                step_up.asked.set(true);
            }
            other => done(other),
        }
    });
}

/// The prompt, shown while a step-up is asked.
#[component]
pub(crate) fn StepUpPrompt(step_up: StepUp) -> impl IntoView {
    let session = use_session();
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiFailure>);
    let busy = RwSignal::new(false);
    let finish = move |result: Result<tokenflow::dto::AccessTokenResponse, ApiFailure>| {
        busy.set(false);
        match result {
            Ok(token) => {
                session.stepped_up(token);
                password.set(String::new());
                code.set(String::new());
                error.set(None);
                step_up.asked.set(false);
                if let Some(retry) = step_up.retry.get_value() {
                    retry();
                }
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let (p, c) = (password.get_untracked(), code.get_untracked());
        let code = Some(c.trim().to_string()).filter(|c| !c.is_empty());
        leptos::task::spawn_local(async move {
            finish(with_auth(session, || server_fns::step_up(Some(p.clone()), code.clone(), None, None)).await);
        });
    };
    let with_passkey = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let started = match with_auth(session, server_fns::step_up_options).await {
                Ok(started) => started,
                Err(e) => return finish(Err(e)),
            };
            let answer = match browser::passkey_ceremony("get", started.options).await {
                Ok(answer) => answer,
                Err(why) => {
                    return finish(Err(ApiFailure::local(format!("The passkey did not answer: {why}"))));
                }
            };
            let (challenge, answer) = (Some(started.challenge), Some(answer));
            finish(with_auth(session, || server_fns::step_up(None, None, challenge.clone(), answer.clone())).await);
        });
    };
    view! {
        <Show when=move || step_up.asked.get()>
            <section class="card step-up" role="dialog" aria-labelledby="step-up-title" data-testid="step-up">
                <h2 id="step-up-title">"Confirm it is you"</h2>
                <p>
                    "This needs a sign-in from the last 10 minutes (with your second factor, if you have one). Authenticate again and it goes ahead."
                </p>
                <form on:submit=submit novalidate>
                    <label for="step-up-password">"Password"</label>
                    <input
                        id="step-up-password"
                        type="password"
                        autocomplete="current-password"
                        prop:value=password
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                    <label for="step-up-code">
                        "Code from your authenticator app " <span class="muted">"(if you set one up)"</span>
                    </label>
                    <input
                        id="step-up-code"
                        autocomplete="one-time-code"
                        inputmode="numeric"
                        prop:value=code
                        on:input=move |ev| code.set(event_target_value(&ev))
                    />
                    <p class="error" role="alert">
                        {move || error.get().map(|e| e.explain())}
                    </p>
                    <button type="submit" disabled=move || busy.get()>
                        "Confirm"
                    </button>
                    <button type="button" class="secondary" on:click=with_passkey disabled=move || busy.get()>
                        "Use a passkey"
                    </button>
                </form>
            </section>
        </Show>
    }
}
