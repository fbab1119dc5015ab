//! `/account`: my sessions (log out one, or all others), a password change, my security
//! activity, and deleting the account.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::ApiFailure;
use crate::layout::Protected;
use crate::pages::events::EventLog;
use crate::pages::factors::Factors;
use crate::pages::step_up::{StepUp, StepUpPrompt};
use crate::pages::{failed, loading};
use crate::server_fns;
use crate::session::{use_session, with_auth};

#[component]
pub fn Account() -> impl IntoView {
    let step_up = StepUp::new();
    view! {
        <Title text="Account" />
        <h1>"Account"</h1>
        <Protected>
            <StepUpPrompt step_up />
            <Factors step_up />
            <Sessions />
            <ChangePassword step_up />
            <SecurityActivity />
            <DeleteAccount step_up />
        </Protected>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let session = use_session();
    let sessions = LocalResource::new(move || with_auth(session, server_fns::list_sessions));
    let notice = RwSignal::new(None::<String>);
    let revoke = move |id: String| {
        leptos::task::spawn_local(async move {
            match with_auth(session, || server_fns::revoke_session(id.clone())).await {
                Ok(()) => notice.set(Some("That session is logged out.".into())),
                Err(e) => notice.set(Some(e.explain())),
            }
            sessions.refetch();
        });
    };
    let revoke_others = move |_| {
        leptos::task::spawn_local(async move {
            match with_auth(session, server_fns::revoke_other_sessions).await {
                Ok(n) => notice.set(Some(format!("Logged out {n} other session(s)."))),
                Err(e) => notice.set(Some(e.explain())),
            }
            sessions.refetch();
        });
    };
    view! {
        <section class="card">
            <h2>"Sessions"</h2>
            <p class="notice" role="status">
                {move || notice.get()}
            </p>
            {move || match sessions.get() {
                None => loading("Loading sessions…"),
                Some(Err(e)) => failed(&e),
                Some(Ok(list)) => {
                    view! {
                        <table class="sessions" data-testid="sessions">
                            <thead>
                                <tr>
                                    <th scope="col">"Started"</th>
                                    <th scope="col">"Last refreshed"</th>
                                    <th scope="col">"Browser"</th>
                                    <th scope="col">
                                        <span class="visually-hidden">"Action"</span>
                                    </th>
                                </tr>
                            </thead>
                            <tbody>
                                {list
                                    .sessions
                                    .into_iter()
                                    .map(|s| {
                                        let id = s.id.clone();
                                        view! {
                                            <tr class:current=s.current>
                                                <td>{s.created_at}</td>
                                                <td>{s.last_used_at}</td>
                                                <td class="ua">{s.user_agent.unwrap_or_default()}</td>
                                                <td>
                                                    {if s.current {
                                                        view! { <strong>"This session"</strong> }.into_any()
                                                    } else {
                                                        view! {
                                                            <button
                                                                class="secondary"
                                                                on:click=move |_| revoke(id.to_string())
                                                            >
                                                                "Log out"
                                                            </button>
                                                        }
                                                            .into_any()
                                                    }}
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
            <button class="secondary" on:click=revoke_others>
                "Log out all other sessions"
            </button>
        </section>
    }
}

#[component]
fn ChangePassword(step_up: StepUp) -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<(), ApiFailure>>);
    let pending = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pending.set(true);
        let (c, n) = (current.get_untracked(), new.get_untracked());
        step_up.run(
            move || server_fns::change_password(c.clone(), n.clone()),
            move |result| {
                if result.is_ok() {
                    current.set(String::new());
                    new.set(String::new());
                }
                outcome.set(Some(result));
                pending.set(false);
            },
        );
    };
    view! {
        <section class="card">
            <h2>"Change password"</h2>
            <form on:submit=submit method="post" novalidate>
                <label for="current-password">"Current password"</label>
                <input
                    id="current-password"
                    type="password"
                    autocomplete="current-password"
                    required
                    prop:value=current
                    on:input=move |ev| current.set(event_target_value(&ev))
                />
                <label for="new-password">"New password"</label>
                <input
                    id="new-password"
                    type="password"
                    autocomplete="new-password"
                    required
                    prop:value=new
                    on:input=move |ev| new.set(event_target_value(&ev))
                />
                <p class="hint">"Changing it logs out every other session."</p>
                <p role="status" class=move || if matches!(outcome.get(), Some(Err(_))) { "error" } else { "notice" }>
                    {move || {
                        outcome
                            .get()
                            .map(|r| match r {
                                Ok(()) => "Password changed. Your other sessions were logged out.".to_string(),
                                Err(e) => e.explain(),
                            })
                    }}
                </p>
                <button type="submit" disabled=move || pending.get()>
                    "Change password"
                </button>
            </form>
        </section>
    }
}

#[component]
fn SecurityActivity() -> impl IntoView {
    let session = use_session();
    let version = RwSignal::new(0);
    let load = move |cursor: Option<String>| with_auth(session, move || server_fns::activity(cursor.clone()));
    view! {
        <section class="card" data-testid="security-activity">
            <h2>"Security activity"</h2>
            <p class="muted">
                "What happened to your account, newest first: sign-ins, wrong passwords, password changes and resets, what admins did. It never holds a password, a token or a link."
            </p>
            <EventLog load version />
        </section>
    }
}

#[component]
fn DeleteAccount(step_up: StepUp) -> impl IntoView {
    let session = use_session();
    let navigate = leptos_router::hooks::use_navigate();
    let password = RwSignal::new(String::new());
    let confirmed = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiFailure>);
    let pending = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() || !confirmed.get_untracked() {
            return;
        }
        pending.set(true);
        let p = password.get_untracked();
        let navigate = navigate.clone();
        step_up.run(
            move || server_fns::delete_account(p.clone()),
            move |result| {
                pending.set(false);
                match result {
                    Ok(()) => {
                        // Leave the protected page first, and forget the session once it is gone:
                        // signing out while it is still shown would send us to the login page.
                        navigate("/?deleted=1", Default::default());
                        request_animation_frame(move || session.sign_out_locally());
                    }
                    Err(e) => error.set(Some(e)),
                }
            },
        );
    };
    view! {
        <section class="card danger-zone">
            <h2>"Delete account"</h2>
            <p>
                "This deletes the account, every session and every link of it; its tokens stop working everywhere within two seconds. It cannot be undone."
            </p>
            <form on:submit=submit novalidate>
                <label for="delete-password">"Password"</label>
                <input
                    id="delete-password"
                    type="password"
                    autocomplete="current-password"
                    required
                    prop:value=password
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=confirmed
                        on:change=move |ev| confirmed.set(event_target_checked(&ev))
                    />
                    " I understand that this deletes my account for good"
                </label>
                <p class="error" role="alert">
                    {move || error.get().map(|e| e.explain())}
                </p>
                <button type="submit" class="danger" disabled=move || pending.get() || !confirmed.get()>
                    "Delete my account"
                </button>
            </form>
        </section>
    }
}
