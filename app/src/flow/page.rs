//! `/flow`: the ten steps filling in live from this person's own actions, the token inspector,
//! the tamper lab, the steal-this-token lab, and what 401 and 403 mean.

use leptos::prelude::*;
use leptos_meta::Title;
use tokenflow::jwk::Jwks;

use super::record::{Outcome, Step, add_fact, flow, record, record_outcome};
use super::{JwksResource, inspector, jwe, steal, tamper, timeline, verifiers};
use crate::browser;
use crate::error::ApiFailure;
use crate::pages::{AuthForm, Purpose};
use crate::server_fns;
use crate::session::{SessionState, use_session, with_auth};
use crate::transport::hand_token;

#[component]
pub fn Flow() -> impl IntoView {
    // The record is this tab's: a server thread renders the page empty, for anyone.
    if cfg!(feature = "hydrate") {
        super::listen();
    }
    let jwks: JwksResource = LocalResource::new(fetch_jwks);
    view! {
        <Title text="The token flow" />
        <h1>"The token flow, live"</h1>
        <p class="lead">
            "Log in and call the server from here: each step below fills in with the real values of "
            "your own requests, as they happen. Nothing is simulated."
        </p>
        <Controls />
        <timeline::Timeline />
        <AuthnVsAuthz />
        <inspector::Inspector jwks />
        <tamper::TamperLab jwks />
        <steal::StealLab />
        <jwe::JweDemo />
        <verifiers::Verifiers jwks />
    }
}

async fn fetch_jwks() -> Result<Jwks, ApiFailure> {
    browser::fetch_json("/.well-known/jwks.json").await
}

/// What to do next: log in, or call the server in the ways that show each outcome.
#[component]
fn Controls() -> impl IntoView {
    let session = use_session();
    let busy = RwSignal::new(false);
    let run = move |which: &'static str| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match which {
                "whoami" => {
                    if let Ok(me) = with_auth(session, server_fns::whoami).await {
                        record_claims(&me);
                    }
                }
                "admin" => {
                    let _ = with_auth(session, || server_fns::admin_users(None, None)).await;
                }
                _ => {
                    // No token at all: the server cannot tell who is asking.
                    hand_token(String::new(), None);
                    let result = server_fns::probe().await;
                    record(Step::SentAsBearer, Outcome::Refused, vec![("Authorization", "(no header sent)".into())]);
                    record_outcome(&result);
                }
            }
            busy.set(false);
        });
    };
    move || match session.state() {
        SessionState::SignedIn(_) => view! {
            <section class="card controls" aria-label="Try it">
                <h2>"Try it"</h2>
                <div class="button-row">
                    <button on:click=move |_| run("whoami") disabled=move || busy.get()>
                        "Call a protected function"
                    </button>
                    <button class="secondary" on:click=move |_| run("admin") disabled=move || busy.get()>
                        "Call the admin function"
                    </button>
                    <button class="secondary" on:click=move |_| run("anonymous") disabled=move || busy.get()>
                        "Call without a token"
                    </button>
                </div>
            </section>
        }
        .into_any(),
        SessionState::SignedOut => view! {
            <section class="card controls" aria-label="Log in to start">
                <p>
                    "Log in here and watch steps 1 to 5 happen. No account yet? " <a href="/signup">"Sign up"</a>
                    " first."
                </p>
                <AuthForm purpose=Purpose::Login stay=true />
            </section>
        }
        .into_any(),
        SessionState::Unknown => view! { <p class="placeholder">"Checking your session…"</p> }.into_any(),
    }
}

/// Step 8 with what the server extracted and sent back.
fn record_claims(me: &server_fns::WhoAmI) {
    let c = &me.claims;
    add_fact(Step::SignatureVerified, "Key", format!("kid {} (Ed25519 public key, also in the JWKS)", me.kid));
    record(
        Step::ClaimsExtracted,
        Outcome::Done,
        vec![
            ("sub (who)", c.sub.to_string()),
            ("email", c.email.to_string()),
            ("role (what you may do)", c.role.as_str().to_string()),
            ("sid (session, checked live)", c.sid.to_string()),
            ("iss / aud", format!("{} / {}", c.iss, c.aud)),
            ("iat / nbf / exp", format!("{} / {} / {}", c.iat, c.nbf, c.exp)),
        ],
    );
}

/// Authentication vs authorization, tied to the outcome just seen.
#[component]
fn AuthnVsAuthz() -> impl IntoView {
    let last = Signal::derive(move || flow().with(|f| f.steps[Step::Authorized.position()].clone()));
    view! {
        <section class="card" id="authn-authz">
            <h2>"Authentication or authorization?"</h2>
            <p>
                "A JWT does both jobs, in two different steps. " <strong>"Authentication"</strong>" answers "
                <em>"who are you?"</em>": the signature, " <code>"iss"</code>", "<code>"aud"</code>
                ", the times and the live session prove the token is ours and " "current, and "<code>"sub"</code>
                " names you. When that fails the answer is "<strong>"401 Unauthorized"</strong>
                " (misnamed in HTTP: it means unauthenticated), with "<code>"WWW-Authenticate: Bearer"</code>"."
            </p>
            <p>
                <strong>"Authorization"</strong>
                " answers "
                <em>"may you do this?"</em>
                ": only after authentication, the server "
                "reads the "
                <code>"role"</code>
                " claim and checks it against what the resource needs. When that fails the answer is "
                <strong>"403 Forbidden"</strong>
                ": we know who you are; you may not."
            </p>
            <p class="live-outcome" data-testid="last-outcome">
                {move || {
                    let step = last.get();
                    match step.outcome {
                        Outcome::Waiting => "Call the server above and your own outcome appears here.".to_string(),
                        _ => {
                            format!(
                                "You just saw: {}",
                                step.facts.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(". "),
                            )
                        }
                    }
                }}
            </p>
        </section>
    }
}
