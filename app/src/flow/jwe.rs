//! "Signed is not secret": the access token is a JWS, readable by anyone who holds it (the
//! inspector just read it); a JWE (RFC 7516) is what hides claims. A live round trip in this
//! browser encrypts the person's own claims to a key made for it (ECDH-ES+A256KW, A256GCM,
//! with WebCrypto), shows the five parts and that none of them reads, and decrypts them back.

use leptos::prelude::*;

use crate::browser;
use crate::session::{SessionState, use_session};

/// The five parts of a compact JWE, named.
const PARTS: [(&str, &str); 5] = [
    ("Protected header", "alg, enc and the sender's ephemeral public key (epk): readable, and authenticated"),
    ("Encrypted key", "the content key, wrapped with AES-KW under a key both sides derive with ECDH"),
    ("Initialization vector", "96 random bits for AES-GCM"),
    ("Ciphertext", "the claims, encrypted: base64url of bytes that are not JSON"),
    ("Authentication tag", "AES-GCM's tag over the ciphertext and the header: any change fails decryption"),
];

#[derive(Clone)]
struct RoundTrip {
    compact: String,
    key: String,
    decrypted: Result<String, String>,
}

#[component]
pub fn JweDemo() -> impl IntoView {
    let session = use_session();
    let trip = RwSignal::new(None::<Result<RoundTrip, String>>);
    let busy = RwSignal::new(false);
    let run = move |_| {
        let SessionState::SignedIn(s) = session.current() else { return };
        let Ok(decoded) = tokenflow::inspect::decode(&s.access_token) else { return };
        let claims = decoded.claims.to_string();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let made = async {
                let compact = browser::jwe_encrypt_demo(claims).await?;
                let key = browser::jwe_demo_key().await?;
                let decrypted = browser::jwe_decrypt_demo(compact.clone()).await;
                Ok(RoundTrip { compact, key, decrypted })
            };
            trip.set(Some(made.await));
            busy.set(false);
        });
    };
    view! {
        <section class="card" id="jwe" aria-labelledby="jwe-title">
            <h2 id="jwe-title">"Signed is not secret"</h2>
            <p>
                "Your access token is a JWS (RFC 7515): three base64url parts, "<code>"header.claims.signature"</code>
                ". Base64url is an encoding, not encryption: the inspector above read every claim without any key. "
                "The signature proves who issued the claims and that nobody changed them; it hides nothing. "
                "Hiding claims takes a JWE (RFC 7516): five parts, the claims encrypted to a recipient's key."
            </p>
            {move || match session.state() {
                SessionState::SignedIn(_) => {
                    view! {
                        <button on:click=run disabled=move || busy.get()>
                            "Encrypt my claims, then decrypt them"
                        </button>
                    }
                        .into_any()
                }
                _ => view! { <p class="placeholder">"Log in first: the demo encrypts your own claims."</p> }.into_any(),
            }}
            {move || {
                trip.get()
                    .map(|made| match made {
                        Err(why) => view! { <p class="error">"This browser could not: "{why}</p> }.into_any(),
                        Ok(trip) => {
                            let parts: Vec<String> = trip.compact.split('.').map(str::to_string).collect();
                            let unreadable = parts
                                .get(3)
                                .map(|ciphertext| {
                                    match tokenflow::inspect::decode(&format!("{}.{ciphertext}.", parts[0])) {
                                        Ok(_) => "it decodes?!".to_string(),
                                        Err(e) => format!("decoding it as a token's claims: {e}"),
                                    }
                                })
                                .unwrap_or_default();
                            view! {
                                <p>
                                    "The JWE, in compact form ("{parts.len()}" parts, "{trip.compact.len()}
                                    " characters):"
                                </p>
                                <code class="token" data-testid="jwe-compact">
                                    {trip.compact.clone()}
                                </code>
                                <table class="tamper">
                                    <tbody>
                                        {PARTS
                                            .iter()
                                            .zip(parts.iter())
                                            .map(|((name, what), part)| {
                                                view! {
                                                    <tr>
                                                        <td>
                                                            <strong>{*name}</strong>
                                                            <p class="muted">{*what}</p>
                                                        </td>
                                                        <td>
                                                            <code class="token">
                                                                {part.chars().take(48).collect::<String>()}"…"
                                                            </code>
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <p data-testid="jwe-unreadable">
                                    "Reading the ciphertext without the key: "{unreadable}
                                </p>
                                <p>"Decrypted with the recipient's private key:"</p>
                                <code class="token" data-testid="jwe-decrypted">
                                    {match trip.decrypted {
                                        Ok(text) | Err(text) => text,
                                    }}
                                </code>
                                <details>
                                    <summary>"The recipient's key (made for this demo), to decrypt elsewhere"</summary>
                                    <code class="token" data-testid="jwe-key">
                                        {trip.key}
                                    </code>
                                </details>
                            }
                                .into_any()
                        }
                    })
            }}
            <h3>"When is a nested JWT worth it?"</h3>
            <p>
                "A nested JWT is signed, then encrypted: a JWS inside a JWE ("<code>"cty: \"JWT\""</code>
                "). It is worth its cost when a token must pass through hands that may not read it: personal data "
                "in claims carried by a browser or a partner to the one service meant to read them. The cost: a token "
                "twice the size, a decryption on every request, the holder unable to read its own claims, and the end "
                "of \"anyone can verify with the JWKS\": every verifier then needs the private decryption key. "
                "Tokenflow's tokens go to the browser that owns them and to resource servers that may read them; "
                "TLS keeps them secret on the way. So they are signed, not encrypted, and carry nothing secret."
            </p>
        </section>
    }
}
