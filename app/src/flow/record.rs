//! The live record of the token flow in this browser: each of the ten steps with the real
//! values of its last occurrence, filled in from the app's [`Event`](crate::events::Event)s
//! (see [`super::listen`]) and shown by `/flow`. Browser memory only: a reload starts afresh.

use std::cell::RefCell;

use leptos::prelude::*;

/// The ten steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CredentialsSent,
    Verified,
    SecondFactor,
    TokenGenerated,
    Returned,
    Stored,
    SentAsBearer,
    SignatureVerified,
    ClaimsExtracted,
    Authorized,
    ExpiryAndRefresh,
}

impl Step {
    pub const ALL: [Step; 11] = [
        Step::CredentialsSent,
        Step::Verified,
        Step::SecondFactor,
        Step::TokenGenerated,
        Step::Returned,
        Step::Stored,
        Step::SentAsBearer,
        Step::SignatureVerified,
        Step::ClaimsExtracted,
        Step::Authorized,
        Step::ExpiryAndRefresh,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::CredentialsSent => "Credentials sent",
            Step::Verified => "Credentials verified",
            Step::SecondFactor => "Second factor",
            Step::TokenGenerated => "Token generated",
            Step::Returned => "Token returned",
            Step::Stored => "Token stored",
            Step::SentAsBearer => "Sent as Bearer",
            Step::SignatureVerified => "Signature verified",
            Step::ClaimsExtracted => "Claims extracted",
            Step::Authorized => "Authorized or refused",
            Step::ExpiryAndRefresh => "Expiry and refresh",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Step::CredentialsSent => "credentials-sent",
            Step::Verified => "verified",
            Step::SecondFactor => "second-factor",
            Step::TokenGenerated => "token-generated",
            Step::Returned => "returned",
            Step::Stored => "stored",
            Step::SentAsBearer => "sent-as-bearer",
            Step::SignatureVerified => "signature-verified",
            Step::ClaimsExtracted => "claims-extracted",
            Step::Authorized => "authorized",
            Step::ExpiryAndRefresh => "expiry-and-refresh",
        }
    }

    /// Where the step is in [`Step::ALL`] (and in [`Flow::steps`]).
    pub fn position(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    Waiting,
    Done,
    Refused,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepRecord {
    pub outcome: Outcome,
    pub facts: Vec<(String, String)>,
    /// Local time of day it happened, `HH:MM:SS`.
    pub at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    pub steps: [StepRecord; 11],
    /// Each silent or forced refresh: when, and the new expiry (Unix seconds).
    pub refreshes: Vec<(String, i64)>,
}

thread_local! {
    static FLOW: RefCell<Option<ArcRwSignal<Flow>>> = const { RefCell::new(None) };
}

/// The flow of this browser tab.
pub fn flow() -> ArcRwSignal<Flow> {
    FLOW.with(|f| f.borrow_mut().get_or_insert_with(|| ArcRwSignal::new(Flow::default())).clone())
}

thread_local! {
    /// The `WWW-Authenticate` of the last answer that had one, for the refusal it explains.
    pub static LAST_CHALLENGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Record the latest occurrence of a step.
pub fn record(step: Step, outcome: Outcome, facts: Vec<(&str, String)>) {
    let facts = facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    flow().update(|f| f.steps[step.position()] = StepRecord { outcome, facts, at: now() });
}

thread_local! {
    /// When what is being recorded happened, if not now (a replayed event).
    static AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Record what `f` records as having happened `at`.
pub fn at(at: String, f: impl FnOnce()) {
    AT.with(|cell| *cell.borrow_mut() = Some(at));
    f();
    AT.with(|cell| cell.borrow_mut().take());
}

fn now() -> String {
    AT.with(|cell| cell.borrow().clone()).unwrap_or_else(crate::browser::clock)
}

/// Step 9 of the flow (and step 7 when the token was refused).
pub fn record_outcome<T>(result: &Result<T, crate::error::ApiFailure>) {
    match result {
        Ok(_) => record(Step::Authorized, Outcome::Done, vec![("Answer", "200 OK: authenticated, and allowed".into())]),
        // A step-up demand belongs to the second-factor step: what the next authentication must be.
        Err(e) if e.error == tokenflow::dto::ErrorCode::InsufficientUserAuthentication => record(
            Step::SecondFactor,
            Outcome::Refused,
            vec![
                ("Answer", format!("401 {}: {}", e.error, e.message)),
                ("WWW-Authenticate", LAST_CHALLENGE.with(|c| c.borrow().clone()).unwrap_or_default()),
                (
                    "Meaning",
                    "authenticated, but not recently or strongly enough for this (RFC 9470): the token's auth_time is older than max_age, or its amr lacks mfa where acr_values asks for 2. Authenticate again (step-up) and retry."
                        .into(),
                ),
            ],
        ),
        Err(e) if e.status == 401 => {
            record(Step::SignatureVerified, Outcome::Refused, vec![("Refused", e.message.clone())]);
            record(
                Step::Authorized,
                Outcome::Refused,
                vec![
                    ("Answer", format!("401 {}: {}", e.error, e.message)),
                    ("Meaning", "authentication failed: the server does not know who you are".into()),
                ],
            );
        }
        Err(e) if e.status == 403 => record(
            Step::Authorized,
            Outcome::Refused,
            vec![
                ("Answer", format!("403 {}: {}", e.error, e.message)),
                ("Meaning", "authenticated, but not authorized: the role claim does not allow this".into()),
            ],
        ),
        Err(_) => {}
    }
}

/// Add (or replace) one fact of a step already recorded.
pub fn add_fact(step: Step, name: &str, value: String) {
    flow().update(|f| {
        let facts = &mut f.steps[step.position()].facts;
        facts.retain(|(k, _)| k != name);
        facts.push((name.to_string(), value));
    });
}

pub fn record_refresh(new_expiry: i64) {
    flow().update(|f| {
        f.refreshes.push((now(), new_expiry));
        let keep = f.refreshes.len().saturating_sub(10);
        f.refreshes.drain(..keep);
    });
}

/// The first and last characters of a secret-ish value, enough to recognise it.
pub fn preview(value: &str, keep: usize) -> String {
    if value.chars().count() <= keep * 2 {
        return value.to_string();
    }
    let head: String = value.chars().take(keep).collect();
    let tail: String = value.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{head}…{tail}")
}
