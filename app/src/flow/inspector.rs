//! The token inspector: any token decoded, each claim explained, the expiry counting down,
//! and the signature verified here in the browser (WASM) against the public JWKS.

use leptos::prelude::*;
use tokenflow::inspect::{Verdict, decode, verify_signature};

use super::JwksResource;
use super::timeline::ticking_now;
use crate::session::{SessionState, use_session};

fn explain(claim: &str) -> &'static str {
    match claim {
        "iss" => "Issuer: who minted it. Must equal the server's AUTH_ISSUER.",
        "aud" => "Audience: who it is meant for. Must equal AUTH_AUDIENCE; a token for another service is refused.",
        "sub" => "Subject: your user id. This is the identity.",
        "exp" => "Expires at (Unix seconds). Refused after it, give or take the clock leeway.",
        "nbf" => "Not before: refused until this moment.",
        "iat" => "Issued at. A token issued in the future is refused.",
        "jti" => "Token id, unique per token.",
        "sid" => "Session id. Logging out revokes the session, and with it every token carrying this sid.",
        "email" => "Your email, for display: identity information, not proof of anything on its own.",
        "email_verified" => {
            "Whether the mailbox is proven (a verification or reset link was used). Changes reach a token at its next refresh."
        }
        "role" => {
            "Your role. Authorization decisions read it: user or admin. A role change reaches the token at its next refresh: until then the old claim lives on, unless an admin logs the account out everywhere."
        }
        "cnf" => {
            "Confirmation (DPoP): the thumbprint of the key every call must prove; the token is useless without it."
        }
        "amr" => {
            "How you authenticated (RFC 8176): pwd a password, otp a code from an app or a recovery code, hwk a passkey bound to one device, swk a synced passkey, mfa more than one factor (a passkey with its PIN or biometric is two). A resource server can demand mfa."
        }
        "auth_time" => {
            "When you last presented a factor in this session (sign-in or step-up). Password changes, deleting the account, adding or removing factors and admin changes want it within 10 minutes, or answer 401 insufficient_user_authentication."
        }
        "acr" => {
            "Authentication context class: 1 for one factor, 2 for more. What a step-up challenge's acr_values asks for."
        }
        _ => "Not a Tokenflow claim: the server ignores it.",
    }
}

fn time_hint(claim: &str, value: &serde_json::Value, now: i64) -> Option<String> {
    if !matches!(claim, "exp" | "nbf" | "iat" | "auth_time") {
        return None;
    }
    let delta = value.as_i64()? - now;
    Some(if delta >= 0 { format!("in {delta} s") } else { format!("{} s ago", -delta) })
}

#[component]
pub fn Inspector(jwks: JwksResource) -> impl IntoView {
    let session = use_session();
    let token = RwSignal::new(String::new());
    let edited = RwSignal::new(false);
    // Follow the session's current token until the person pastes their own.
    Effect::new(move |_| {
        if let SessionState::SignedIn(s) = session.state()
            && !edited.get_untracked()
        {
            token.set(s.access_token);
        }
    });
    let use_mine = move |_| {
        edited.set(false);
        if let SessionState::SignedIn(s) = session.current() {
            token.set(s.access_token);
        }
    };
    let decoded = Memo::new(move |_| {
        let t = token.get();
        (!t.trim().is_empty()).then(|| decode(&t))
    });
    let now = ticking_now();
    let verdict = move || {
        let t = token.get();
        if t.trim().is_empty() {
            return ("waiting", "Paste a token, or log in to inspect your own.".to_string());
        }
        match jwks.get() {
            None => ("waiting", "Fetching /.well-known/jwks.json…".to_string()),
            Some(Err(e)) => ("refused", format!("Could not fetch the JWKS: {e}")),
            Some(Ok(keys)) => match verify_signature(&t, &keys) {
                Verdict::Valid { kid } => (
                    "done",
                    format!(
                        "Signature valid: verified in this browser with the public key {kid} from the JWKS. Anyone can check this; only the server's private key could have produced it."
                    ),
                ),
                Verdict::Invalid(reason) => ("refused", format!("Signature invalid: {reason}.")),
            },
        }
    };
    view! {
        <section class="card" id="inspector" aria-labelledby="inspector-title">
            <h2 id="inspector-title">"Token inspector"</h2>
            <label for="token-input">"Token"</label>
            <textarea
                id="token-input"
                rows="4"
                spellcheck="false"
                autocomplete="off"
                prop:value=token
                on:input=move |ev| {
                    edited.set(true);
                    token.set(event_target_value(&ev));
                }
            />
            <button class="secondary" on:click=use_mine>
                "Use my current token"
            </button>
            <p class="verdict" data-testid="signature-verdict" data-outcome=move || verdict().0>
                {move || verdict().1}
            </p>
            {move || match decoded.get() {
                None => ().into_any(),
                Some(Err(e)) => {
                    view! {
                        <p class="error" role="alert">
                            {format!("Not a JWS: {e}.")}
                        </p>
                    }
                        .into_any()
                }
                Some(Ok(d)) => {
                    let header = serde_json::to_string_pretty(&d.header).unwrap_or_default();
                    let claims: Vec<(String, serde_json::Value)> = d
                        .claims
                        .as_object()
                        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                    let exp = d.claims["exp"].as_i64();
                    view! {
                        <h3>"Header"</h3>
                        <pre data-testid="decoded-header">{header}</pre>
                        <h3>"Claims"</h3>
                        <table class="claims" data-testid="decoded-claims">
                            <thead>
                                <tr>
                                    <th scope="col">"Claim"</th>
                                    <th scope="col">"Value"</th>
                                    <th scope="col">"Meaning"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {claims
                                    .into_iter()
                                    .map(|(name, value)| {
                                        let shown = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                                        let hint_value = value.clone();
                                        let hint_name = name.clone();
                                        view! {
                                            <tr>
                                                <th scope="row">
                                                    <code>{name.clone()}</code>
                                                </th>
                                                <td>
                                                    <code>{shown}</code>
                                                    " "
                                                    <span class="muted">
                                                        {move || time_hint(&hint_name, &hint_value, now.get())}
                                                    </span>
                                                </td>
                                                <td>{explain(&name)}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                        <p data-testid="countdown">
                            {move || match exp {
                                Some(exp) if exp > now.get() => format!("Expires in {} s.", exp - now.get()),
                                Some(_) => "Expired.".to_string(),
                                None => "No exp claim: a Tokenflow server would refuse it.".to_string(),
                            }}
                        </p>
                        <h3>"Signature"</h3>
                        <p>
                            <code class="signature">
                                {if d.signature.is_empty() { "(none)".to_string() } else { d.signature.clone() }}
                            </code>
                        </p>
                        <p class="muted">
                            "64 bytes of Ed25519 over "<code>"base64url(header).base64url(payload)"</code>
                            ". Change one character of either and it no longer matches."
                        </p>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
