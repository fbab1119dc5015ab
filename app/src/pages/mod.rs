//! One module per page.

mod account;
mod admin;
mod auth_form;
mod dashboard;
mod events;
mod factors;
mod home;
mod links;
mod outbox;
mod second_factor;
mod step_up;

pub use account::Account;
pub use admin::Admin;
pub(crate) use auth_form::{AuthForm, Purpose};
pub use auth_form::{Login, Signup};
pub use dashboard::Dashboard;
pub use home::Home;
pub use links::{ForgotPassword, ResetPassword, VerifyEmail};
pub use outbox::Outbox;
pub use second_factor::SecondFactor;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::ApiFailure;

/// What a page shows while its data is on the way.
pub(crate) fn loading(text: &'static str) -> AnyView {
    view! {
        <p class="placeholder" aria-busy="true">
            {text}
        </p>
    }
    .into_any()
}

/// A refusal, in plain words, announced to screen readers.
pub(crate) fn failed(e: &ApiFailure) -> AnyView {
    view! {
        <p class="error" role="alert">
            {e.explain()}
        </p>
    }
    .into_any()
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="card">
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/">"Back to the start"</a></p>
        </section>
    }
}
