//! The steps of the flow (a second factor among them), as they last happened in this tab.

use leptos::prelude::*;

use super::record::{Outcome, Step, flow};
use crate::session::{SessionState, now, use_session};

/// Seconds, ticking once a second in the browser (never on the server).
pub fn ticking_now() -> ReadSignal<i64> {
    let (current, set_current) = signal(now());
    crate::browser::every(std::time::Duration::from_secs(1), move || set_current.set(now()));
    current
}

#[component]
pub fn Timeline() -> impl IntoView {
    let record = flow();
    view! {
        <section class="card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Timeline"</h2>
            <ol class="timeline" data-testid="timeline">
                {Step::ALL
                    .into_iter()
                    .map(|step| {
                        let record = record.clone();
                        let state = Signal::derive(move || record.with(|f| f.steps[step.position()].clone()));
                        view! {
                            <li
                                data-step=step.id()
                                data-outcome=move || match state.get().outcome {
                                    Outcome::Waiting => "waiting",
                                    Outcome::Done => "done",
                                    Outcome::Refused => "refused",
                                }
                            >
                                <h3>{step.title()} <span class="at">{move || state.get().at}</span></h3>
                                {if step == Step::ExpiryAndRefresh {
                                    view! { <Expiry /> }.into_any()
                                } else {
                                    view! {
                                        <dl class="facts">
                                            {move || {
                                                state
                                                    .get()
                                                    .facts
                                                    .into_iter()
                                                    .map(|(k, v)| {
                                                        view! {
                                                            <dt>{k}</dt>
                                                            <dd>
                                                                <code>{v}</code>
                                                            </dd>
                                                        }
                                                    })
                                                    .collect_view()
                                            }}
                                        </dl>
                                    }
                                        .into_any()
                                }}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}

/// Step 10: time left on the current token, and each refresh so far.
#[component]
fn Expiry() -> impl IntoView {
    let session = use_session();
    let current = ticking_now();
    let refreshes = Signal::derive(move || flow().with(|f| f.refreshes.clone()));
    view! {
        <dl class="facts">
            <dt>"Access token"</dt>
            <dd data-testid="expires-in">
                {move || match session.state() {
                    SessionState::SignedIn(s) => {
                        let left = s.expires_at - current.get();
                        if left > 0 {
                            format!("expires in {left} s; refreshed about {} s before", s.refresh_lead())
                        } else {
                            "expired: the next call refreshes it".to_string()
                        }
                    }
                    _ => "no token".to_string(),
                }}
            </dd>
            <dt>"Refreshes"</dt>
            <dd data-testid="refreshes">
                {move || {
                    let list = refreshes.get();
                    if list.is_empty() {
                        "none yet (each spends the refresh token and gets a new pair)".to_string()
                    } else {
                        list.iter().map(|(at, exp)| format!("{at} → new exp {exp}")).collect::<Vec<_>>().join("; ")
                    }
                }}
            </dd>
        </dl>
    }
}
