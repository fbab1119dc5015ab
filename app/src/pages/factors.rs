//! On `/account`: the second factors. An authenticator app (enrolled with the QR code the
//! server draws and a first code; ten recovery codes shown once), and passkeys (named, listed,
//! removable). Adding or removing one is a sensitive action: a stale sign-in is asked to step
//! up first ([`StepUp`]).

use leptos::prelude::*;
use tokenflow::dto::{FactorList, TotpEnrolment};

use super::step_up::StepUp;
use crate::browser;
use crate::error::ApiFailure;
use crate::pages::{failed, loading};
use crate::server_fns;
use crate::session::{use_session, with_auth};

#[component]
pub(crate) fn Factors(step_up: StepUp) -> impl IntoView {
    let session = use_session();
    let factors = LocalResource::new(move || with_auth(session, server_fns::factors));
    let enrolment = RwSignal::new(None::<TotpEnrolment>);
    let codes = RwSignal::new(None::<Vec<String>>);
    let first_code = RwSignal::new(String::new());
    let passkey_name = RwSignal::new(String::new());
    let notice = RwSignal::new(None::<Result<String, ApiFailure>>);
    let tell = move |result: Result<String, ApiFailure>| {
        notice.set(Some(result));
        factors.refetch();
    };

    let begin = move |_| {
        step_up.run(server_fns::begin_totp, move |result| match result {
            Ok(started) => {
                codes.set(None);
                enrolment.set(Some(started));
            }
            Err(e) => tell(Err(e)),
        });
    };
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let code = first_code.get_untracked();
        leptos::task::spawn_local(async move {
            match with_auth(session, || server_fns::confirm_totp(code.clone())).await {
                Ok(fresh) => {
                    enrolment.set(None);
                    first_code.set(String::new());
                    codes.set(Some(fresh.recovery_codes));
                    tell(Ok("Authenticator app added. Sign-ins now ask for a code.".into()));
                }
                Err(e) => notice.set(Some(Err(e))),
            }
        });
    };
    let remove_totp = move |_| {
        step_up.run(server_fns::remove_totp, move |r| tell(r.map(|()| "Authenticator app removed.".into())));
    };
    let renew = move |_| {
        step_up.run(server_fns::renew_recovery_codes, move |result| match result {
            Ok(fresh) => {
                codes.set(Some(fresh.recovery_codes));
                tell(Ok("New recovery codes: the old ones no longer work.".into()));
            }
            Err(e) => tell(Err(e)),
        });
    };
    let add_passkey = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = passkey_name.get_untracked();
        step_up.run(server_fns::passkey_options, move |result| {
            let name = name.clone();
            match result {
                Ok(started) => leptos::task::spawn_local(async move {
                    let answer = match browser::passkey_ceremony("create", started.options).await {
                        Ok(answer) => answer,
                        Err(why) => {
                            return tell(Err(ApiFailure::local(format!("No passkey was made: {why}"))));
                        }
                    };
                    let call = || server_fns::register_passkey(started.challenge.clone(), name.clone(), answer.clone());
                    let registered = with_auth(session, call).await;
                    passkey_name.set(String::new());
                    tell(registered.map(|p| format!("Passkey \u{201c}{}\u{201d} added.", p.name)));
                }),
                Err(e) => tell(Err(e)),
            }
        });
    };
    let remove_passkey = move |id: String| {
        step_up
            .run(move || server_fns::remove_passkey(id.clone()), move |r| tell(r.map(|()| "Passkey removed.".into())));
    };

    view! {
        <section class="card" data-testid="factors">
            <h2>"Second factors"</h2>
            <p class="muted">
                "With an authenticator app or a passkey, your password alone no longer signs in. Tokens then say how you signed in: amr pwd otp mfa, or hwk/swk mfa for a passkey."
            </p>
            <p
                role="status"
                class=move || if matches!(notice.get(), Some(Err(_))) { "error" } else { "notice" }
                data-testid="factors-notice"
            >
                {move || notice.get().map(|r| r.unwrap_or_else(|e| e.explain()))}
            </p>
            {move || match factors.get() {
                None => loading("Loading factors…"),
                Some(Err(e)) => failed(&e),
                Some(Ok(list)) => factor_list(list, remove_passkey),
            }}
            <h3>"Authenticator app"</h3>
            {move || {
                let on = factors.get().and_then(Result::ok).is_some_and(|f| f.totp);
                if on {
                    view! {
                        <button class="secondary" on:click=renew>
                            "New recovery codes"
                        </button>
                        <button class="danger" on:click=remove_totp>
                            "Remove the authenticator app"
                        </button>
                    }
                        .into_any()
                } else {
                    view! {
                        <button on:click=begin data-testid="totp-begin">
                            "Set up an authenticator app"
                        </button>
                    }
                        .into_any()
                }
            }}
            {move || {
                enrolment
                    .get()
                    .map(|started| {
                        view! {
                            <div class="enrol" data-testid="totp-enrolment">
                                <p>"Scan this with your authenticator app, or type the key."</p>
                                <div class="qr" inner_html=started.qr_svg></div>
                                <p>"Key: " <code data-testid="totp-secret">{started.secret}</code></p>
                                <form on:submit=confirm novalidate>
                                    <label for="totp-first-code">"The code it shows"</label>
                                    <input
                                        id="totp-first-code"
                                        autocomplete="one-time-code"
                                        inputmode="numeric"
                                        prop:value=first_code
                                        on:input=move |ev| first_code.set(event_target_value(&ev))
                                    />
                                    <button type="submit">"Confirm"</button>
                                </form>
                            </div>
                        }
                    })
            }}
            {move || {
                codes
                    .get()
                    .map(|list| {
                        view! {
                            <div class="recovery" data-testid="recovery-codes">
                                <p>
                                    <strong>"Recovery codes, shown this once."</strong>
                                    " Each works once instead of a code from the app. Keep them somewhere safe."
                                </p>
                                <ul>
                                    {list
                                        .into_iter()
                                        .map(|c| {
                                            view! {
                                                <li>
                                                    <code>{c}</code>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </div>
                        }
                    })
            }}
            <h3>"Passkeys"</h3>
            <form on:submit=add_passkey novalidate>
                <label for="passkey-name">"Name " <span class="muted">"(optional)"</span></label>
                <input
                    id="passkey-name"
                    maxlength="64"
                    prop:value=passkey_name
                    on:input=move |ev| passkey_name.set(event_target_value(&ev))
                />
                <button type="submit" data-testid="passkey-add">
                    "Add a passkey"
                </button>
            </form>
        </section>
    }
}

fn factor_list(list: FactorList, remove: impl Fn(String) + Copy + 'static) -> AnyView {
    let origin = list.passkey_origin.clone();
    view! {
        <p data-testid="factor-summary">
            {if list.totp {
                format!("Authenticator app: on ({} recovery codes left).", list.recovery_codes_left)
            } else {
                "Authenticator app: off.".to_string()
            }}
        </p>
        <p class="muted">
            {match origin {
                Some(origin) => format!("Passkeys work at {origin}."),
                None => "Passkeys are off on this server.".to_string(),
            }}
        </p>
        <ul class="passkeys" data-testid="passkeys">
            {list
                .passkeys
                .into_iter()
                .map(|p| {
                    let id = p.id.clone();
                    let kind = if p.backup_eligible { "synced (swk)" } else { "this device (hwk)" };
                    view! {
                        <li>
                            <strong>{p.name}</strong>
                            {format!(
                                " · {kind} · added {} · used {}",
                                p.created_at,
                                p.last_used_at.unwrap_or_else(|| "never".into()),
                            )}
                            " "
                            <button class="secondary" on:click=move |_| remove(id.clone())>
                                "Remove"
                            </button>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
