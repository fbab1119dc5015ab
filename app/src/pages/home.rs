use leptos::prelude::*;

/// The ten steps Tokenflow implements, in the order they happen.
const STEPS: [(&str, &str); 10] = [
    ("Credentials sent", "The browser posts email and password to /api/auth/login."),
    ("Verified", "The server checks the password with argon2id; unknown emails cost the same."),
    ("Token generated", "An access token (JWS, EdDSA over Ed25519) is signed with the private key."),
    ("Returned", "With it comes an opaque refresh token that rotates on every use."),
    ("Stored", "The WASM client keeps the session in localStorage with gloo-storage, its key in IndexedDB."),
    ("Sent as Bearer", "Every protected call carries the token, and a DPoP proof that only this browser can sign."),
    ("Signature verified", "The server checks the signature with the public key named by kid."),
    ("Claims extracted", "iss, aud, exp, nbf, iat, sub, sid and role become a typed identity."),
    ("Authorized or refused", "401 means \u{201c}who are you?\u{201d}; 403 means \u{201c}you may not\u{201d}."),
    ("Expiry and refresh", "Near expiry the client refreshes; logout revokes the whole session."),
];

#[component]
pub fn Home() -> impl IntoView {
    let (clicks, set_clicks) = signal(0u32);
    view! {
        <section class="hero">
            <h1>"JSON Web Tokens, end to end, in plain sight"</h1>
            <p>
                "Tokenflow signs you up, logs you in and guards its pages with short-lived JWTs. "
                "Every step below happens for real, and anyone can verify the tokens with the public "
                <a href="/.well-known/jwks.json">"JWKS"</a> "."
            </p>
        </section>
        <ol class="steps">
            {STEPS
                .iter()
                .map(|(title, text)| {
                    view! {
                        <li>
                            <strong>{*title}</strong>
                            " "
                            {*text}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
        <p class="cta">
            <a class="button" href="/signup">
                "Sign up"
            </a>
            " "
            <a href="/login">"Log in"</a>
            " and watch your own token do all of this on "
            <a href="/flow">"the live flow page"</a>
            ", with a token inspector and a tamper lab."
        </p>
        <p class="hydration-check">
            <button on:click=move |_| set_clicks.update(|n| *n += 1)>"This page is interactive"</button>
            " clicked "
            <span data-testid="clicks">{clicks}</span>
            " times"
        </p>
    }
}
