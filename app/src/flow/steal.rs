//! "Steal this token": what a script that reads `localStorage` can do with a DPoP-bound access
//! token. It copies the token and replays it against `GET /api/me` the ways a thief would; the
//! server refuses each, and says why. Each row carries the `curl` line that repeats it.

use leptos::prelude::*;

use crate::browser::{self, Body, Outgoing};
use crate::session::{SessionState, use_session};

/// What the thief tried and what the server answered.
#[derive(Clone)]
struct Attempt {
    id: &'static str,
    title: &'static str,
    how: &'static str,
    answer: String,
    challenge: Option<String>,
    curl: String,
}

/// One request to the REST API with the given `Authorization` and `DPoP` headers: its status,
/// challenge and body (the contract's error).
async fn call(path: &str, authorization: &str, proof: Option<&str>) -> (String, Option<String>) {
    let request = Outgoing::new("GET", path.to_string(), None, "application/json", Body::None);
    let answered = async {
        let request = request?;
        request.append_header("Authorization", authorization);
        if let Some(proof) = proof {
            request.append_header("DPoP", proof);
        }
        let response = request.send().await?;
        let status = response.status();
        let challenge = response.header("WWW-Authenticate");
        let body: serde_json::Value = serde_json::from_str(&response.text().await?).unwrap_or_default();
        let answer = match body["error"].as_str() {
            Some(error) => format!("{status} {error}: {}", body["message"].as_str().unwrap_or_default()),
            None => format!("{status} OK as {}", body["email"].as_str().unwrap_or("?")),
        };
        Ok::<_, String>((answer, challenge))
    };
    answered.await.unwrap_or_else(|e| (format!("the request failed: {e}"), None))
}

fn curl_line(path: &str, authorization: &str, proof: Option<&str>) -> String {
    let origin = browser::origin().unwrap_or_default();
    let proof = proof.map(|p| format!(" -H 'DPoP: {p}'")).unwrap_or_default();
    format!("curl -i {origin}{path} -H 'Authorization: {authorization}'{proof}")
}

/// Every attempt, in order; the holder's own call (with a fresh proof by the key) goes first
/// and shows the proof it sends is the one the thief captures.
async fn steal(token: String, jkt: String) -> Vec<Attempt> {
    let me = "/api/me";
    let dpop = format!("DPoP {token}");
    let mut attempts = Vec::new();
    let mut attempt = |id, title, how, (answer, challenge), curl| {
        attempts.push(Attempt { id, title, how, answer, challenge, curl });
    };

    let bearer = format!("Bearer {token}");
    let answered = call(me, &bearer, None).await;
    attempt(
        "bearer",
        "As Bearer",
        "The copied token alone, as any bearer token is sent.",
        answered,
        curl_line(me, &bearer, None),
    );

    let thief = browser::thief_proof("GET", me.into(), token.clone()).await;
    let answered = call(me, &dpop, thief.as_deref()).await;
    let how = "A well-formed proof for this very request, signed by a key the thief made (valid for a minute).";
    attempt("other-key", "With a proof from another key", how, answered, curl_line(me, &dpop, thief.as_deref()));

    let captured = browser::dpop_proof(Some(jkt.clone()), "GET", me.into(), Some(token.clone())).await;
    let holder = call(me, &dpop, captured.as_deref()).await;
    let how =
        "The holder's own call, made just now with a fresh proof by the bound key: this is what the thief captures.";
    attempt("holder", "The holder's call", how, holder, curl_line(me, &dpop, captured.as_deref()));
    let answered = call(me, &dpop, captured.as_deref()).await;
    let how = "That captured proof, sent again with the token.";
    attempt("replayed", "With a captured proof, replayed", how, answered, curl_line(me, &dpop, captured.as_deref()));

    let elsewhere = browser::dpop_proof(Some(jkt), "GET", "/api/sessions".into(), Some(token.clone())).await;
    let answered = call(me, &dpop, elsewhere.as_deref()).await;
    let how = "A proof the holder made for GET /api/sessions, sent to /api/me.";
    attempt("other-url", "With a proof for another URL", how, answered, curl_line(me, &dpop, elsewhere.as_deref()));
    attempts
}

#[component]
pub fn StealLab() -> impl IntoView {
    let session = use_session();
    let attempts = RwSignal::new(Vec::<Attempt>::new());
    let busy = RwSignal::new(false);
    let run = move |_| {
        let SessionState::SignedIn(signed_in) = session.current() else { return };
        let Some(jkt) = signed_in.dpop_jkt else { return };
        busy.set(true);
        leptos::task::spawn_local(async move {
            attempts.set(steal(signed_in.access_token, jkt).await);
            busy.set(false);
        });
    };
    view! {
        <section class="card" id="steal-lab" aria-labelledby="steal-title">
            <h2 id="steal-title">"Steal this token"</h2>
            <p>
                "Your access token sits in "<code>"localStorage"</code>
                ", where any script on this page can read it. It is DPoP-bound: it carries "<code>"cnf.jkt"</code>
                ", the thumbprint of a key this browser made with WebCrypto as not extractable and keeps in IndexedDB. "
                "Copy it and replay it as a thief would:"
            </p>
            {move || match session.state() {
                SessionState::SignedIn(s) if s.dpop_jkt.is_some() => {
                    view! {
                        <button on:click=run disabled=move || busy.get()>
                            "Steal it and replay it"
                        </button>
                    }
                        .into_any()
                }
                SessionState::SignedIn(_) => {
                    view! {
                        <p class="placeholder">
                            "This session is a bearer one (this browser could not make a key, or the server binds none): a copy of its token works for anyone until it expires."
                        </p>
                    }
                        .into_any()
                }
                _ => view! { <p class="placeholder">"Log in first: the thief needs your token."</p> }.into_any(),
            }}
            <table class="tamper" data-testid="steal-table">
                <thead>
                    <tr>
                        <th scope="col">"The thief tries"</th>
                        <th scope="col">"Server's answer"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || attempts.get() key=|a| (a.id, a.answer.clone(), a.curl.clone()) let:a>
                        <tr data-attempt=a.id>
                            <td>
                                <strong>{a.title}</strong>
                                <p class="muted">{a.how}</p>
                            </td>
                            <td>
                                <p class="answer" data-testid=format!("steal-{}", a.id)>
                                    {a.answer}
                                </p>
                                {a
                                    .challenge
                                    .map(|c| {
                                        view! {
                                            <p class="muted">
                                                <code>"WWW-Authenticate: "{c}</code>
                                            </p>
                                        }
                                    })}
                                <details>
                                    <summary>"curl"</summary>
                                    <code class="token" data-testid=format!("curl-{}", a.id)>
                                        {a.curl}
                                    </code>
                                </details>
                            </td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <p class="muted">
                "The token is only half of what a call needs; the other half is a fresh signature by a key no script can read. "
                "The refresh token is bound the same way: without the key it is refused, and not even spent."
            </p>
        </section>
    }
}
