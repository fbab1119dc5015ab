//! Two verifiers after a logout: one that knows only the JWKS (as a resource server that
//! verifies on its own), and Tokenflow itself (what an introspecting resource server asks).
//! The first cannot know the session is over and accepts the token until `exp`; the second
//! refuses it at once.

use leptos::prelude::*;
use tokenflow::inspect::{Verdict, decode, verify_signature};

use super::JwksResource;
use crate::browser;
use crate::server_fns;
use crate::session::{SessionState, now, use_session, with_auth};
use crate::transport::hand_token;

/// What each verifier said of the logged-out token, and how long after the logout Tokenflow
/// answered.
#[derive(Clone)]
struct Comparison {
    jwks_only: Result<String, String>,
    tokenflow: Result<String, String>,
    answered_after_ms: u64,
}

#[component]
pub fn Verifiers(jwks: JwksResource) -> impl IntoView {
    let session = use_session();
    let comparison = RwSignal::new(None::<Comparison>);
    let busy = RwSignal::new(false);
    let compare = move |_| {
        let SessionState::SignedIn(signed_in) = session.current() else { return };
        let token = signed_in.access_token;
        let bound = signed_in.dpop_jkt;
        let keys = jwks.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            // A bound token goes with a proof by its key, which the logout forgets: made now.
            let proof = match bound {
                Some(jkt) => browser::dpop_proof(Some(jkt), "POST", "/fn/probe".into(), Some(token.clone())).await,
                None => None,
            };
            let _ = with_auth(session, server_fns::logout).await;
            session.sign_out_locally();
            let logged_out = browser::now_ms();
            // The JWKS-only verifier: the signature with the published key, and `exp`.
            let jwks_only = match keys {
                Some(Ok(keys)) => judge_alone(&token, &keys, now()),
                _ => Err("the JWKS could not be fetched".to_string()),
            };
            // Tokenflow: the same token, sent as it was before the logout.
            hand_token(token, proof);
            let tokenflow = server_fns::probe()
                .await
                .map(|me| format!("accepted as {}", me.user.email))
                .map_err(|e| format!("refused: {} {}: {}", e.status, e.error, e.message));
            let answered_after_ms = browser::now_ms().saturating_sub(logged_out);
            comparison.set(Some(Comparison { jwks_only, tokenflow, answered_after_ms }));
            busy.set(false);
        });
    };
    view! {
        <section class="card" id="verifiers" aria-labelledby="verifiers-title">
            <h2 id="verifiers-title">"Two verifiers after a logout"</h2>
            <p>
                "A resource server that verifies with the JWKS alone never asks Tokenflow, so it cannot know that a session "
                "ended: it accepts the token until "<code>"exp"</code>
                ". One that introspects (RFC 7662) asks Tokenflow, which refuses a revoked session at once. "
                "Log out here and see both judge the token you held."
            </p>
            {move || match session.state() {
                SessionState::SignedIn(_) => {
                    view! {
                        <button on:click=compare disabled=move || busy.get()>
                            "Log out and compare"
                        </button>
                    }
                        .into_any()
                }
                _ => view! { <p class="placeholder">"Log in first: the comparison uses your own token."</p> }.into_any(),
            }}
            {move || {
                comparison
                    .get()
                    .map(|c| {
                        let verdict = |r: Result<String, String>| match r {
                            Ok(text) | Err(text) => text,
                        };
                        view! {
                            <dl class="verdicts">
                                <dt>"JWKS only (this browser, as a resource server without introspection)"</dt>
                                <dd data-testid="jwks-only-verdict">{verdict(c.jwks_only)}</dd>
                                <dt>"Tokenflow (what an introspecting resource server is told)"</dt>
                                <dd data-testid="tokenflow-verdict">
                                    {verdict(c.tokenflow)} {format!(" ({} ms after the logout)", c.answered_after_ms)}
                                </dd>
                            </dl>
                        }
                    })
            }}
            <p class="muted">
                "The same with the example resource server, in both modes: "
                <code>"cargo run --example resource_server"</code>" (JWKS only) and "
                <code>"INTROSPECTION_CLIENT=id:secret cargo run --example resource_server -- --introspect"</code>
                " (answers kept "<code>"INTROSPECT_CACHE_SECS"</code>", 5 s by default)."
            </p>
        </section>
    }
}

/// What a verifier with only the JWKS concludes: the signature, then `exp`.
fn judge_alone(token: &str, keys: &tokenflow::jwk::Jwks, now: i64) -> Result<String, String> {
    if let Verdict::Invalid(why) = verify_signature(token, keys) {
        return Err(format!("refused: {why}"));
    }
    let exp = decode(token).ok().and_then(|d| d.claims["exp"].as_i64()).ok_or("refused: no exp")?;
    if exp <= now {
        return Err("refused: token expired".to_string());
    }
    Ok(format!("accepted: the signature verifies with the JWKS, and it expires in {} s", exp - now))
}
