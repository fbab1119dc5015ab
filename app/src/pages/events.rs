//! The audit log as pages show it: a table of events, newest first, one page at a time
//! ("Older events" appends the next).

use std::future::Future;

use leptos::prelude::*;
use tokenflow::dto::{AuditEvent, EventList, EventType};

use crate::error::ApiFailure;

/// What an event means, in words.
pub(crate) fn describe(kind: EventType) -> &'static str {
    match kind {
        EventType::Signup => "Account created",
        EventType::Login => "Signed in",
        EventType::LoginFailed => "Wrong password",
        EventType::LoginThrottled => "Sign-in throttled (too many wrong passwords)",
        EventType::RefreshReuse => "A spent refresh token came back: session revoked",
        EventType::Logout => "Signed out",
        EventType::SessionRevoked => "Session signed out",
        EventType::PasswordChanged => "Password changed",
        EventType::PasswordResetRequested => "Reset link sent",
        EventType::PasswordReset => "Password reset by link",
        EventType::EmailVerified => "Email verified",
        EventType::RoleChanged => "Role changed",
        EventType::AccountDisabled => "Account disabled",
        EventType::AccountEnabled => "Account enabled",
        EventType::SessionsRevokedByAdmin => "Signed out everywhere by an admin",
        EventType::AccountDeleted => "Account deleted",
        EventType::KeyRetired => "Signing key withdrawn",
        EventType::SecondFactorFailed => "Wrong second-factor code or passkey",
        EventType::StepUp => "Authenticated again (step-up)",
        EventType::TotpEnabled => "Authenticator app added",
        EventType::TotpRemoved => "Authenticator app removed",
        EventType::RecoveryCodesRenewed => "New recovery codes",
        EventType::RecoveryCodeUsed => "Recovery code used",
        EventType::PasskeyAdded => "Passkey added",
        EventType::PasskeyRemoved => "Passkey removed",
        EventType::FactorsReset => "Second factors reset by an admin",
    }
}

/// A user agent in a word or two (the whole string is the cell's tooltip).
fn short_agent(agent: Option<&str>) -> String {
    let Some(agent) = agent else { return String::new() };
    let known = [("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")];
    if let Some((_, name)) = known.iter().find(|(token, _)| agent.contains(token)) {
        return (*name).to_string();
    }
    if agent.starts_with("tokenflow") {
        return "command line".to_string();
    }
    agent.split_whitespace().next().unwrap_or_default().chars().take(24).collect()
}

/// The events `load` returns for a cursor; reloaded from the first page whenever `version`
/// changes (new filters, or an action that added events).
#[component]
pub(crate) fn EventLog<F, Fut>(load: F, version: RwSignal<u32>, #[prop(optional)] admin: bool) -> impl IntoView
where
    F: Fn(Option<String>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<EventList, ApiFailure>> + 'static,
{
    let events = RwSignal::new(Vec::<AuditEvent>::new());
    let next = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiFailure>);
    let loaded = RwSignal::new(false);
    let fetch = move |cursor: Option<String>| {
        let fresh = cursor.is_none();
        leptos::task::spawn_local(async move {
            match load(cursor).await {
                Ok(page) => {
                    if fresh {
                        events.set(page.events);
                    } else {
                        events.update(|e| e.extend(page.events));
                    }
                    next.set(page.next_cursor);
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
            loaded.set(true);
        });
    };
    Effect::new(move |_| {
        version.track();
        fetch(None);
    });
    view! {
        <p class="error" role="alert">
            {move || error.get().map(|e| e.explain())}
        </p>
        <Show
            when=move || loaded.get()
            fallback=|| {
                view! {
                    <p class="placeholder" aria-busy="true">
                        "Loading events…"
                    </p>
                }
            }
        >
            <table class="events" data-testid="events">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"From"</th>
                        <th scope="col">"Detail"</th>
                        {admin.then(|| view! { <th scope="col">"Account · by"</th> })}
                    </tr>
                </thead>
                <tbody>
                    <For each=move || events.get() key=|e| e.id.clone() let:event>
                        <tr data-type=event.kind.as_str()>
                            <td>{event.at.clone()}</td>
                            <td>{describe(event.kind)}</td>
                            <td class="ua" title=event.user_agent.clone().unwrap_or_default()>
                                {event.ip.clone().unwrap_or_else(|| "—".into())}
                                " "
                                <span class="muted">{short_agent(event.user_agent.as_deref())}</span>
                            </td>
                            <td>{event.detail.clone().unwrap_or_default()}</td>
                            {admin
                                .then(|| {
                                    view! {
                                        <td>
                                            <code>{event.user_id.clone().unwrap_or_else(|| "—".into())}</code>
                                            " · "
                                            <code>
                                                {event.actor_id.clone().unwrap_or_else(|| "self / operator".into())}
                                            </code>
                                        </td>
                                    }
                                })}
                        </tr>
                    </For>
                </tbody>
            </table>
            <Show when=move || next.get().is_some()>
                <button class="secondary" on:click=move |_| fetch(next.get_untracked())>
                    "Older events"
                </button>
            </Show>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::short_agent;

    #[test]
    fn user_agents_are_named_in_a_word() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(short_agent(Some(chrome)), "Chrome");
        assert_eq!(short_agent(Some("Mozilla/5.0 (X11; rv:133.0) Gecko/20100101 Firefox/133.0")), "Firefox");
        assert_eq!(short_agent(Some("tokenflow (operator command line)")), "command line");
        assert_eq!(short_agent(Some("curl/8.11.1")), "curl/8.11.1");
        assert_eq!(short_agent(None), "");
    }
}
