//! Accounts: email verification and password reset by mail, admin actions, the audit log,
//! account deletion, and the operator's command line.

mod admin;
mod deletion;
mod links;
mod operator;
mod smtp;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// The outbox's messages to `to`, newest first.
pub async fn outbox(app: &TestApp, to: &str) -> Vec<Value> {
    let response = app.client.get(app.url("/api/outbox")).query(&[("to", to)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the outbox is served on loopback");
    let body: Value = response.json().await.unwrap();
    body["messages"].as_array().unwrap().clone()
}

/// Wait until `to` has `n` mails in the outbox; returns them, newest first.
pub async fn mails(app: &TestApp, to: &str, n: usize) -> Vec<Value> {
    eventually(5, &format!("{n} mail(s) to {to}"), async || outbox(app, to).await.len() >= n).await;
    let found = outbox(app, to).await;
    assert_eq!(found.len(), n, "exactly {n} mail(s) to {to}");
    found
}

/// The token of the `<issuer>/<page>?token=…` link in a mail's text (or a printed link).
pub fn link_token(text: &str, page: &str) -> String {
    let prefix = format!("/{page}?token=");
    let start = text.find(&prefix).unwrap_or_else(|| panic!("no {page} link in {text:?}")) + prefix.len();
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// The claims of an access token.
pub fn claims(access: &str) -> Value {
    use base64::Engine;
    let part = access.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The types of a page of events, newest first.
pub fn types(events: &Value) -> Vec<String> {
    events["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

/// `actor` may no longer use its token on `app`, within 2 s.
pub async fn refused_within_two_seconds(app: &TestApp, access: &str, what: &str) {
    eventually(2, what, async || app.get_with("/api/me", access).await.status() == StatusCode::UNAUTHORIZED).await;
}
