//! The pages that mailed links open, and the way to ask for one: `/forgot-password`,
//! `/reset-password?token=…`, `/verify-email?token=…`. None needs a session.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::error::ApiFailure;
use crate::server_fns;
use crate::session::use_session;

/// `true` once the WASM is in charge: a form submitted before would put its fields in a URL.
fn hydrated() -> RwSignal<bool> {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    hydrated
}

fn outcome_view(outcome: Option<Result<String, ApiFailure>>) -> Option<AnyView> {
    outcome.map(|r| match r {
        Ok(message) => view! {
            <p class="notice" role="status" data-testid="outcome">
                {message}
            </p>
        }
        .into_any(),
        Err(e) => view! {
            <p class="error" role="alert" data-testid="outcome">
                {e.explain()}
            </p>
        }
        .into_any(),
    })
}

/// A one-field form that sends its value with `send` and shows the outcome in words.
#[component]
fn OneFieldForm<F, Fut>(
    title: &'static str,
    intro: &'static str,
    label: &'static str,
    input_type: &'static str,
    autocomplete: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    button: &'static str,
    send: F,
) -> impl IntoView
where
    F: Fn(String) -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Result<String, ApiFailure>> + 'static,
{
    let value = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, ApiFailure>>);
    let pending = RwSignal::new(false);
    let hydrated = hydrated();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        let sent = value.get_untracked();
        leptos::task::spawn_local(async move {
            let result = send(sent).await;
            pending.set(false);
            if result.is_ok() && input_type == "password" {
                value.set(String::new());
            }
            outcome.set(Some(result));
        });
    };
    view! {
        <Title text=title />
        <section class="card narrow">
            <h1>{title}</h1>
            <p>{intro}</p>
            <form on:submit=submit novalidate>
                <label for="one-field">{label}</label>
                <input
                    id="one-field"
                    type=input_type
                    autocomplete=autocomplete
                    required
                    aria-describedby=hint.map(|_| "one-field-hint")
                    prop:value=value
                    on:input=move |ev| value.set(event_target_value(&ev))
                />
                {hint
                    .map(|hint| {
                        view! {
                            <p id="one-field-hint" class="hint">
                                {hint}
                            </p>
                        }
                    })}
                <button type="submit" disabled=move || pending.get() || !hydrated.get()>
                    {button}
                </button>
            </form>
            {move || outcome_view(outcome.get())}
            <p>
                <a href="/login">"Log in"</a>
            </p>
        </section>
    }
}

#[component]
pub fn ForgotPassword() -> impl IntoView {
    let send = |email: String| async move { server_fns::forgot_password(email).await.map(|accepted| accepted.message) };
    view! {
        <OneFieldForm
            title="Forgot password"
            intro="Enter the email of your account. If it exists, a link to choose a new password is mailed to it. The answer is the same either way, and takes the same time: nobody learns here who has an account."
            label="Email"
            input_type="email"
            autocomplete="email"
            button="Mail me a link"
            send
        />
    }
}

#[component]
pub fn ResetPassword() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let send = move |new_password: String| {
        let token = query.get_untracked().get("token").unwrap_or_default();
        async move {
            server_fns::reset_password(token, new_password).await?;
            // Every session of the account is revoked, this browser's included.
            session.sign_out_locally();
            Ok("Your new password is set, and every session of the account has been signed out. Log in with the new password.".to_string())
        }
    };
    view! {
        <OneFieldForm
            title="Choose a new password"
            intro="Setting it signs the account out everywhere: every refresh token and every access token issued before stops working. The link works once."
            label="New password"
            input_type="password"
            autocomplete="new-password"
            hint="8 to 128 characters. Spaces count."
            button="Set the new password"
            send
        />
    }
}

#[component]
pub fn VerifyEmail() -> impl IntoView {
    let query = use_query_map();
    let outcome = RwSignal::new(None::<Result<String, ApiFailure>>);
    // Runs once, in the browser: a link preview or the server-side render spends nothing.
    Effect::new(move |_| {
        let token = query.get_untracked().get("token").unwrap_or_default();
        leptos::task::spawn_local(async move {
            let result = server_fns::verify_email(token).await.map(|user| {
                format!(
                    "{} is verified. Access tokens issued from now on say \"email_verified\": true (the one you hold changes at its next refresh).",
                    user.email
                )
            });
            outcome.set(Some(result));
        });
    });
    view! {
        <Title text="Verify email" />
        <section class="card narrow">
            <h1>"Verify email"</h1>
            {move || {
                outcome_view(outcome.get())
                    .unwrap_or_else(|| {
                        view! {
                            <p class="placeholder" aria-busy="true">
                                "Checking the link…"
                            </p>
                        }
                            .into_any()
                    })
            }}
            <p>
                <a href="/dashboard">"To the dashboard"</a>
            </p>
        </section>
    }
}
