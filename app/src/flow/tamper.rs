//! The tamper lab: the classic forgeries, made in this browser from the person's own token
//! and sent to a protected server function, next to the server's exact refusal.

use std::collections::HashMap;

use leptos::prelude::*;
use tokenflow::forge::{Forgery, tamper_lab};

use super::JwksResource;
use super::record::preview;
use crate::error::ApiFailure;
use crate::server_fns;
use crate::session::{SessionState, now, use_session};
use crate::transport::hand_token;

#[component]
pub fn TamperLab(jwks: JwksResource) -> impl IntoView {
    let session = use_session();
    let results = RwSignal::new(HashMap::<&'static str, Result<String, ApiFailure>>::new());
    let busy = RwSignal::new(false);
    let lab = Memo::new(move |_| {
        let SessionState::SignedIn(s) = session.state() else {
            return Err("Log in to forge from your own token.".to_string());
        };
        let keys = match jwks.get() {
            Some(Ok(keys)) => keys,
            Some(Err(e)) => return Err(format!("Could not fetch the JWKS: {e}")),
            None => return Err("Fetching the public key…".to_string()),
        };
        let kid =
            tokenflow::inspect::decode(&s.access_token).ok().and_then(|d| d.header["kid"].as_str().map(str::to_string));
        let x = keys.keys.iter().find(|k| Some(&k.kid) == kid.as_ref()).map(|k| k.x.clone()).unwrap_or_default();
        tamper_lab(&s.access_token, &x, now()).map_err(|e| e.to_string())
    });
    let send = move |list: Vec<Forgery>| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            for forgery in list {
                hand_token(forgery.token.clone(), None);
                let answer = server_fns::probe().await.map(|me| format!("200 OK as {}", me.user.email));
                results.update(|r| {
                    r.insert(forgery.id, answer);
                });
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card" id="tamper-lab" aria-labelledby="tamper-title">
            <h2 id="tamper-title">"Tamper lab"</h2>
            <p>
                "Each row forges a token from yours, in this browser, and sends it to the protected server function "
                <code>"/fn/probe"</code>" as "<code>"Authorization: Bearer"</code>
                ". The right column is the server's exact answer."
            </p>
            {move || match lab.get() {
                Err(why) => view! { <p class="placeholder">{why}</p> }.into_any(),
                Ok(list) => {
                    let all = list.clone();
                    view! {
                        <button on:click=move |_| send(all.clone()) disabled=move || busy.get()>
                            "Send every forgery"
                        </button>
                        <table class="tamper" data-testid="tamper-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Forgery"</th>
                                    <th scope="col">"Token sent"</th>
                                    <th scope="col">"Server's answer"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list
                                    .into_iter()
                                    .map(|f| {
                                        let id = f.id;
                                        let one = f.clone();
                                        view! {
                                            <tr data-forgery=id>
                                                <td>
                                                    <strong>{f.title}</strong>
                                                    <p class="muted">{f.attack}</p>
                                                    <p class="muted">{f.reference}</p>
                                                    <button
                                                        class="secondary"
                                                        on:click=move |_| send(vec![one.clone()])
                                                        disabled=move || busy.get()
                                                    >
                                                        "Send"
                                                    </button>
                                                </td>
                                                <td>
                                                    <code class="token">{preview(&f.token, 28)}</code>
                                                </td>
                                                <td class="answer" data-testid=format!("answer-{id}")>
                                                    {move || {
                                                        results
                                                            .with(|r| match r.get(id) {
                                                                None => "not sent yet".to_string(),
                                                                Some(Ok(ok)) => format!("accepted?! {ok}"),
                                                                Some(Err(e)) => {
                                                                    format!("{} {}: {}", e.status, e.error, e.message)
                                                                }
                                                            })
                                                    }}
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
