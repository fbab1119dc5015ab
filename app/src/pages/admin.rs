//! `/admin`, for role `admin` only (anyone else gets a clear 403 and no data): search and page
//! through accounts; disable or enable one, change its role, log it out everywhere, mail it a
//! reset link; read everyone's audit log.

use leptos::prelude::*;
use leptos_meta::Title;
use tokenflow::dto::{EventType, Role, User};

use crate::error::ApiFailure;
use crate::layout::Protected;
use crate::pages::events::{EventLog, describe};
use crate::pages::step_up::{StepUp, StepUpPrompt};
use crate::pages::{failed, loading};
use crate::server_fns;
use crate::session::{use_session, with_auth};

#[component]
pub fn Admin() -> impl IntoView {
    let step_up = StepUp::new();
    view! {
        <Title text="Admin" />
        <h1>"Admin"</h1>
        <Protected>
            <StepUpPrompt step_up />
            <AdminPanel step_up />
        </Protected>
    }
}

/// One admin action on one account.
#[derive(Clone)]
enum Action {
    SetDisabled(bool),
    SetRole(Role),
    LogOutEverywhere,
    SendReset,
    ResetFactors,
}

impl Action {
    async fn run(self, id: String) -> Result<String, ApiFailure> {
        match self {
            Action::SetDisabled(disabled) => server_fns::admin_update_user(id, None, Some(disabled)).await.map(|u| {
                if u.disabled {
                    format!("{} is disabled: every session of it ended, on every instance.", u.email)
                } else {
                    format!("{} is enabled again.", u.email)
                }
            }),
            Action::SetRole(role) => server_fns::admin_update_user(id, Some(role), None).await.map(|u| {
                format!(
                    "{} is now {}. Tokens already issued keep their old role claim until their next refresh (at most the access token lifetime); log the account out everywhere to make it count now.",
                    u.email,
                    u.role.as_str()
                )
            }),
            Action::LogOutEverywhere => server_fns::admin_revoke_sessions(id)
                .await
                .map(|n| format!("{n} session(s) ended: every token of them is refused from now on.")),
            Action::SendReset => server_fns::admin_send_reset(id).await.map(|()| "A reset link is on its way.".into()),
            Action::ResetFactors => server_fns::admin_reset_factors(id).await.map(|()| {
                "Second factors removed and every session ended: the password alone signs in again.".into()
            }),
        }
    }
}

#[component]
fn AdminPanel(step_up: StepUp) -> impl IntoView {
    let session = use_session();
    let query = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    // The cursors of the pages walked so far (`None`: the first page).
    let pages = RwSignal::new(vec![None::<String>]);
    let version = RwSignal::new(0_u32);
    let notice = RwSignal::new(None::<Result<String, ApiFailure>>);
    let users = LocalResource::new(move || {
        let q = search.get();
        let cursor = pages.with(|p| p.last().cloned().flatten());
        version.track();
        with_auth(session, move || server_fns::admin_users(Some(q.clone()), cursor.clone()))
    });
    // Changes are sensitive: a stale sign-in is asked to step up, then the change runs.
    let act = move |action: Action, id: String| {
        step_up.run(
            move || action.clone().run(id.clone()),
            move |result| {
                notice.set(Some(result));
                version.update(|v| *v += 1);
            },
        );
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pages.set(vec![None]);
        search.set(query.get_untracked());
    };
    move || match users.get() {
        None => loading("Loading users…"),
        Some(Err(e)) if e.status == 403 => view! {
            <section class="card forbidden" data-testid="forbidden">
                <h2>"403 forbidden: admins only"</h2>
                <p>
                    "Your token is valid, so you are authenticated, but its role claim is "<code>"user"</code>
                    ". This page needs "<code>"admin"</code>": that is authorization, and it said no."
                </p>
            </section>
        }
        .into_any(),
        Some(Err(e)) => failed(&e),
        Some(Ok(list)) => {
            let more = list.next_cursor.clone();
            view! {
                <section class="card">
                    <h2>"Accounts"</h2>
                    <form class="inline" role="search" on:submit=submit>
                        <label for="user-search">"Email contains"</label>
                        <input
                            id="user-search"
                            type="search"
                            prop:value=query
                            on:input=move |ev| query.set(event_target_value(&ev))
                        />
                        <button type="submit" class="secondary">
                            "Search"
                        </button>
                    </form>
                    <p class="muted">
                        "A role lives in the access token's role claim: a change reaches the account's tokens at their next refresh. Disabling an account, or logging it out everywhere, ends its sessions at once on every instance."
                    </p>
                    <p
                        role="status"
                        data-testid="admin-notice"
                        class=move || if matches!(notice.get(), Some(Err(_))) { "error" } else { "notice" }
                    >
                        {move || notice.get().map(|r| r.unwrap_or_else(|e| e.explain()))}
                    </p>
                    <table class="users" data-testid="user-list">
                        <thead>
                            <tr>
                                <th scope="col">"Email"</th>
                                <th scope="col">"Role"</th>
                                <th scope="col">"State"</th>
                                <th scope="col">"Since"</th>
                                <th scope="col">"Actions"</th>
                            </tr>
                        </thead>
                        <tbody>{list.users.into_iter().map(|u| user_row(u, act)).collect_view()}</tbody>
                    </table>
                    <div class="pager">
                        <Show when=move || pages.with(|p| p.len() > 1)>
                            <button
                                class="secondary"
                                on:click=move |_| {
                                    pages
                                        .update(|p| {
                                            p.pop();
                                        })
                                }
                            >
                                "Previous page"
                            </button>
                        </Show>
                        {more
                            .map(|cursor| {
                                view! {
                                    <button
                                        class="secondary"
                                        on:click=move |_| pages.update(|p| p.push(Some(cursor.clone())))
                                    >
                                        "Next page"
                                    </button>
                                }
                            })}
                    </div>
                </section>
                <AuditLog version />
            }
            .into_any()
        }
    }
}

fn user_row(u: User, act: impl Fn(Action, String) + Copy + 'static) -> impl IntoView {
    let id = u.id.to_string();
    let button = move |label: &'static str, action: Action| {
        let id = id.clone();
        view! {
            <button class="secondary small" on:click=move |_| act(action.clone(), id.clone())>
                {label}
            </button>
        }
    };
    let (role_label, other_role) =
        if u.role == Role::Admin { ("Make user", Role::User) } else { ("Make admin", Role::Admin) };
    let (state_label, disable) = if u.disabled { ("Enable", false) } else { ("Disable", true) };
    view! {
        <tr data-email=u.email.to_string()>
            <td>{u.email.to_string()} <span class="muted">{u.name.unwrap_or_default()}</span></td>
            <td>{u.role.as_str()}</td>
            <td>
                {if u.disabled { "disabled" } else { "enabled" }}
                {if u.email_verified { " · verified" } else { " · unverified" }}
            </td>
            <td>{u.created_at}</td>
            <td class="actions">
                {button(state_label, Action::SetDisabled(disable))} {button(role_label, Action::SetRole(other_role))}
                {button("Log out everywhere", Action::LogOutEverywhere)} {button("Send reset link", Action::SendReset)}
                {button("Reset second factors", Action::ResetFactors)}
            </td>
        </tr>
    }
}

#[component]
fn AuditLog(version: RwSignal<u32>) -> impl IntoView {
    let session = use_session();
    let kind = RwSignal::new(String::new());
    let user_id = RwSignal::new(String::new());
    let load = move |cursor: Option<String>| {
        let (kind, user_id) = (kind.get_untracked(), user_id.get_untracked());
        with_auth(session, move || {
            let filter = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
            server_fns::admin_audit(filter(&user_id), filter(&kind), cursor.clone())
        })
    };
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        version.update(|v| *v += 1);
    };
    view! {
        <section class="card">
            <h2>"Audit log"</h2>
            <form class="inline" on:submit=apply>
                <label for="audit-type">"Type"</label>
                <select id="audit-type" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="">"any"</option>
                    {EventType::ALL
                        .into_iter()
                        .map(|t| view! { <option value=t.as_str()>{describe(t)}</option> })
                        .collect_view()}
                </select>
                <label for="audit-user">"User id"</label>
                <input
                    id="audit-user"
                    type="text"
                    prop:value=user_id
                    on:input=move |ev| user_id.set(event_target_value(&ev))
                />
                <button type="submit" class="secondary">
                    "Filter"
                </button>
            </form>
            <EventLog load version admin=true />
        </section>
    }
}
