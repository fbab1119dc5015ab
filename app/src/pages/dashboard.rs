//! `/dashboard`: who I am, as a protected server function tells it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::layout::Protected;
use crate::pages::{failed, loading};
use crate::server_fns;
use crate::session::{use_session, with_auth};

#[component]
pub fn Dashboard() -> impl IntoView {
    view! {
        <Title text="Dashboard" />
        <h1>"Dashboard"</h1>
        <Protected>
            <WhoAmI />
        </Protected>
    }
}

#[component]
fn WhoAmI() -> impl IntoView {
    let session = use_session();
    let me = LocalResource::new(move || with_auth(session, server_fns::whoami));
    move || match me.get() {
        None => loading("Asking the server who you are…"),
        Some(Err(e)) => failed(&e),
        Some(Ok(me)) => view! {
            <section class="card" data-testid="whoami">
                <h2>"Signed in as " <span data-testid="me-email">{me.user.email.to_string()}</span></h2>
                <dl class="facts">
                    <dt>"Name"</dt>
                    <dd>{me.user.name.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Role"</dt>
                    <dd data-testid="me-role">{me.user.role.as_str()}</dd>
                    <dt>"Email"</dt>
                    <dd>
                        <EmailState verified=me.user.email_verified />
                    </dd>
                    <dt>"User id (sub)"</dt>
                    <dd>
                        <code>{me.claims.sub.to_string()}</code>
                    </dd>
                    <dt>"Session (sid)"</dt>
                    <dd>
                        <code>{me.claims.sid.to_string()}</code>
                    </dd>
                    <dt>"Member since"</dt>
                    <dd>{me.user.created_at.clone()}</dd>
                    <dt>"Verified with key"</dt>
                    <dd>
                        <code>{me.kid.to_string()}</code>
                    </dd>
                </dl>
                <p class="muted">
                    "The server verified your access token's signature and claims, then found your session live. "
                    "This answer came from a server function called with "<code>"Authorization: Bearer …"</code>"."
                </p>
            </section>
        }
        .into_any(),
    }
}

/// Verified, or not yet with a way to get a new link.
#[component]
fn EmailState(verified: bool) -> impl IntoView {
    let session = use_session();
    let notice = RwSignal::new(None::<String>);
    let resend = move |_| {
        leptos::task::spawn_local(async move {
            let result = with_auth(session, server_fns::send_verification).await;
            notice.set(Some(match result {
                Ok(()) => "A new link is on its way (see the outbox in development).".into(),
                Err(e) => e.explain(),
            }));
        });
    };
    if verified {
        view! { <span data-testid="email-state">"verified"</span> }.into_any()
    } else {
        view! {
            <span data-testid="email-state">"not verified yet"</span>
            " "
            <button class="secondary" on:click=resend>
                "Send the link again"
            </button>
            <span role="status">{move || notice.get()}</span>
        }
        .into_any()
    }
}
