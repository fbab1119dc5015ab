//! `/outbox`: the built-in outbox, where mail goes while no SMTP relay is configured. The
//! server shows it only when it listens on a loopback address (a developer's machine).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::pages::{failed, loading};
use crate::server_fns;

#[component]
pub fn Outbox() -> impl IntoView {
    let mail = LocalResource::new(|| server_fns::read_outbox(None));
    view! {
        <Title text="Outbox" />
        <h1>"Outbox"</h1>
        <p class="muted">
            "No SMTP_URL is set, so the mail Tokenflow sends (verification and reset links) lands here instead of in a mailbox. Set SMTP_URL to send real mail."
        </p>
        {move || match mail.get() {
            None => loading("Loading mail…"),
            Some(Err(e)) => failed(&e),
            Some(Ok(outbox)) if outbox.messages.is_empty() => {
                view! { <p data-testid="outbox-empty">"No mail yet."</p> }.into_any()
            }
            Some(Ok(outbox)) => {
                outbox
                    .messages
                    .into_iter()
                    .map(|m| {
                        let link = m
                            .text
                            .lines()
                            .find(|l| l.starts_with("http://") || l.starts_with("https://"))
                            .map(str::to_string);
                        view! {
                            <article class="card mail" data-testid="mail">
                                <h2>{m.subject}</h2>
                                <p class="muted">
                                    "To " <span data-testid="mail-to">{m.to}</span> " · " {m.created_at}
                                </p>
                                <pre>{m.text}</pre>
                                {link
                                    .map(|href| {
                                        view! {
                                            <a class="button" href=href data-testid="mail-link">
                                                "Open the link"
                                            </a>
                                        }
                                    })}
                            </article>
                        }
                    })
                    .collect_view()
                    .into_any()
            }
        }}
    }
}
