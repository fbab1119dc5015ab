//! Everything that exists to *show* the token flow: the `/flow` page, its timeline, the token
//! inspector, the tamper lab and its forgeries, the steal-this-token lab, the two verifiers
//! after a logout, "signed is not secret" (a JWE round trip), and the
//! record they show, filled in from the app's [`Event`]s. Pages never import this module, and nothing below it does: it listens.
//! Its code is a chunk of its own, loaded with the page; what happened before is replayed from
//! the events the app keeps.

mod inspector;
mod jwe;
mod page;
mod record;
mod steal;
mod tamper;
mod timeline;
mod verifiers;

pub use page::Flow;

use std::cell::Cell;

use record::{Outcome, Step, preview, record, record_outcome, record_refresh};

use crate::browser::{STORAGE_KEY, StoredSession};
use crate::events::{Carrier, Event, subscribe, take_kept};

/// The public keys, fetched by this browser like any third party's.
type JwksResource = leptos::prelude::LocalResource<Result<tokenflow::jwk::Jwks, crate::error::ApiFailure>>;

thread_local! {
    static LISTENING: Cell<bool> = const { Cell::new(false) };
}

/// Start following the app's events (once per tab; later calls do nothing): first those kept
/// since the tab opened (`events::keep`), each at the time it happened, then each as it comes.
pub fn listen() {
    if LISTENING.with(|l| l.replace(true)) {
        return;
    }
    for (at, event) in take_kept() {
        record::at(at, || on_event(&event));
    }
    subscribe(on_event);
}

/// Each event, as the step of the flow it is, with its real values.
fn on_event(event: &Event) {
    match event {
        Event::CredentialsSent { path, email, password_chars } => record(
            Step::CredentialsSent,
            Outcome::Done,
            vec![
                ("Request", format!("POST {path} (form-encoded, same origin)")),
                ("email", email.clone()),
                ("password", format!("{} ({password_chars} characters; masked here, sent in full)", "•".repeat(8))),
            ],
        ),
        Event::RequestSent { path, carrier: Carrier::Session, authorization, proof } => {
            let header = authorization.as_deref().map_or("(none: no session)".to_string(), |h| preview(h, 31));
            let mut rows = vec![("Request", format!("POST {path}")), ("Authorization", header)];
            rows.extend(proof.as_deref().map_or_else(Vec::new, proof_rows));
            record(Step::SentAsBearer, Outcome::Done, rows);
        }
        Event::RequestSent { .. } => {}
        Event::ResponseReceived { path, carrier, status, server_timing, challenge } => {
            if challenge.is_some() {
                record::LAST_CHALLENGE.with(|c| c.borrow_mut().clone_from(challenge));
            }
            on_response(path, *carrier, *status, server_timing);
        }
        Event::CallAnswered(result) => record_outcome(result),
        Event::SignedIn(session) => record_issue(session),
        Event::Refreshed(session) => {
            record_issue(session);
            record_refresh(session.expires_at);
        }
        Event::SteppedUp(session) => {
            let claims = tokenflow::inspect::decode(&session.access_token).map(|d| d.claims).unwrap_or_default();
            record(
                Step::SecondFactor,
                Outcome::Done,
                vec![
                    (
                        "Step-up",
                        "authenticated again in the same session: a fresh access token, the same refresh token".into(),
                    ),
                    ("amr", claims["amr"].to_string()),
                    ("auth_time", claims["auth_time"].to_string()),
                ],
            );
            record_issue(session);
        }
        Event::SignedOut => {}
    }
}

/// A DPoP proof as the timeline shows it: its header and claims, and the key's thumbprint,
/// which the token's `cnf.jkt` must equal.
fn proof_rows(proof: &str) -> Vec<(&'static str, String)> {
    let Ok(decoded) = tokenflow::inspect::decode(proof) else {
        return vec![("DPoP", preview(proof, 24))];
    };
    let jwk = &decoded.header["jwk"];
    let jkt =
        tokenflow::jwk::p256_thumbprint(jwk["x"].as_str().unwrap_or_default(), jwk["y"].as_str().unwrap_or_default());
    vec![
        ("DPoP proof header", decoded.header.to_string()),
        ("DPoP proof claims", serde_json::to_string_pretty(&decoded.claims).unwrap_or_default()),
        ("Key thumbprint (must be the token's cnf.jkt)", jkt),
        ("Signed with", "this browser's P-256 key (ES256), made by WebCrypto as not extractable".into()),
    ]
}

/// What the server says about its own work, from `Server-Timing`.
fn on_response(path: &str, carrier: Carrier, status: u16, timing: &str) {
    match carrier {
        Carrier::Nothing if timing.starts_with("argon2id") => {
            let ms = timing.split("dur=").nth(1).and_then(|r| r.split(';').next()).unwrap_or("?");
            record(
                Step::Verified,
                if status == 200 { Outcome::Done } else { Outcome::Refused },
                vec![
                    ("Password hash", "argon2id, m=19456 KiB, t=2, p=1".into()),
                    ("Hashing time on the server", format!("{ms} ms (from Server-Timing)")),
                    ("Answer", if status == 200 { "credentials match".into() } else { format!("HTTP {status}") }),
                ],
            );
        }
        Carrier::Nothing if path.ends_with("/second_factor") => {
            let answer = match status {
                200 => "accepted: the session opens, its tokens say how (amr) and when (auth_time)".to_string(),
                401 => "HTTP 401: a wrong or spent code, or a dead challenge (5 minutes, 5 attempts)".to_string(),
                other => format!("HTTP {other}"),
            };
            record(
                Step::SecondFactor,
                if status == 200 { Outcome::Done } else { Outcome::Refused },
                vec![
                    (
                        "Request",
                        format!(
                            "POST {path}: the challenge from the password step, and a TOTP code, a recovery code or a passkey's signature"
                        ),
                    ),
                    (
                        "Challenge",
                        "single-purpose, stored hashed, good for 5 minutes and 5 attempts; it is not a token".into(),
                    ),
                    ("Answer", answer),
                ],
            );
        }
        Carrier::Nothing if path.ends_with("/login") || path.ends_with("/signup") => {
            record(
                Step::Verified,
                Outcome::Refused,
                vec![("Answer", format!("HTTP {status}: refused before hashing"))],
            );
        }
        Carrier::Session if status == 200 => {
            record(
                Step::SignatureVerified,
                Outcome::Done,
                vec![("Request", format!("POST {path}")), ("Server-Timing", timing.to_string())],
            );
        }
        _ => {}
    }
}

/// Steps 3 to 5 of the flow, with the values just received.
fn record_issue(session: &StoredSession) {
    let (header, claims) = match tokenflow::inspect::decode(&session.access_token) {
        Ok(d) => (d.header.to_string(), serde_json::to_string_pretty(&d.claims).unwrap_or_default()),
        Err(e) => (e.to_string(), String::new()),
    };
    record(
        Step::TokenGenerated,
        Outcome::Done,
        vec![
            ("Header", header),
            ("Claims", claims),
            ("Signed with", "the server's Ed25519 private key (EdDSA)".into()),
        ],
    );
    record(
        Step::Returned,
        Outcome::Done,
        vec![
            ("access_token", preview(&session.access_token, 24)),
            ("token_type", if session.dpop_jkt.is_some() { "DPoP" } else { "Bearer" }.into()),
            ("expires_in", format!("{} s", session.expires_in)),
            (
                "refresh_token",
                format!("opaque, {} characters: {}", session.refresh_token.len(), preview(&session.refresh_token, 6)),
            ),
        ],
    );
    record(
        Step::Stored,
        Outcome::Done,
        vec![
            ("Where", format!("localStorage[\"{STORAGE_KEY}\"], written with gloo-storage")),
            ("What", "access_token, refresh_token, expires_at, expires_in, user, dpop_jkt".into()),
            ("Read", "only in the browser, after hydration; every tab follows it through storage events".into()),
            (
                "Proof key",
                match &session.dpop_jkt {
                    Some(jkt) => {
                        format!("P-256, not extractable, in IndexedDB (\"tokenflow\"/\"dpop\"); thumbprint {jkt}")
                    }
                    None => "none: a bearer session (this browser cannot make one, or the server binds none)".into(),
                },
            ),
        ],
    );
    record(Step::ExpiryAndRefresh, Outcome::Done, vec![]);
}
