//! `tokenflow probe URL`: the forgery catalogue ([`tokenflow::forge`]) and DPoP misuse, sent to
//! any protected URL with a valid token, and what the URL made of each. An accepted forgery is
//! a vulnerability, named with the rule it breaks.
//!
//! Two controls come first: the valid token must be accepted (else there is nothing to compare
//! with) and a garbage token refused (else the URL accepts anything). With `--signing-key` (the
//! issuer's Ed25519 key, for a test issuer) a third: the token signed again must be accepted,
//! or the key is not the issuer's and the forgeries it signed are skipped. The `jku`/`x5u`
//! forgeries point at a JWK set of the attacker's key served by the probe itself on loopback;
//! a target that fetches it is told on the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::routing::get;
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::{Value, json};
use tokenflow::dpop::ProofKey;
use tokenflow::forge::{self, Forgery, RESIGNED_CONTROL};

/// What to probe, and with what.
pub struct Probe {
    pub url: String,
    pub method: String,
    /// A token the URL accepts.
    pub token: String,
    /// Where the issuer's public keys are (default: the token's `iss` + `/.well-known/jwks.json`).
    pub jwks: Option<String>,
    /// The issuer's signing key, for the forgeries whose signature must hold.
    pub signing_key: Option<SigningKey>,
    /// The key a DPoP-bound token is bound to.
    pub dpop_key: Option<ProofKey>,
    /// The URL as the target knows itself, what a DPoP proof's `htu` names (default: `url`;
    /// differs behind a proxy, or when the target's issuer names another host).
    pub public_url: Option<String>,
}

impl Probe {
    fn htu(&self) -> &str {
        self.public_url.as_deref().unwrap_or(&self.url)
    }
}

/// What the URL did with one forgery.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Refused { status: u16, message: String },
    Accepted { status: u16 },
    Skipped { why: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub title: &'static str,
    pub attack: &'static str,
    pub reference: &'static str,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub method: String,
    /// Status of the valid token.
    pub baseline: u16,
    /// How often the target fetched the attacker's keys (`jku`/`x5u`): it should never.
    pub attacker_keys_fetched: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Forgeries accepted: vulnerabilities.
    pub fn accepted(&self) -> usize {
        self.findings.iter().filter(|f| matches!(f.outcome, Outcome::Accepted { .. })).count()
    }

    /// The report as a table, for a terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "tokenflow probe: {} {} (the valid token: {})\n\n{:<26} {:<58} {}\n",
            self.method, self.target, self.baseline, "forgery", "answer", "rule"
        );
        for f in &self.findings {
            let answer = match &f.outcome {
                Outcome::Refused { status, message } => format!("refused {status} {message}"),
                Outcome::Accepted { status } => format!("ACCEPTED {status}: vulnerable"),
                Outcome::Skipped { why } => format!("skipped: {why}"),
            };
            let answer: String = answer.chars().take(58).collect();
            out.push_str(&format!("{:<26} {answer:<58} {}\n", f.id, f.reference));
        }
        if self.attacker_keys_fetched > 0 {
            out.push_str(&format!(
                "\nThe target fetched the attacker's keys {} time(s): it follows jku/x5u (RFC 8725 §3.10).\n",
                self.attacker_keys_fetched
            ));
        }
        out.push_str(&format!("\n{} of {} forgeries accepted.\n", self.accepted(), self.findings.len()));
        out
    }
}

/// A JWK set of the attacker's key, on loopback, counting its fetches; stops when dropped.
struct AttackerKeys {
    url: String,
    fetched: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl AttackerKeys {
    async fn serve() -> anyhow::Result<AttackerKeys> {
        let fetched = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&fetched);
        let router = Router::new().route(
            "/jwks.json",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"keys": [forge::attacker_jwk()]})) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/jwks.json", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(AttackerKeys { url, fetched, task })
    }
}

impl Drop for AttackerKeys {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request to the target and what it said.
struct Sender<'a> {
    probe: &'a Probe,
    http: reqwest::Client,
    /// The token is DPoP-bound: everything goes as `DPoP` with a proof by the key.
    bound: bool,
}

impl Sender<'_> {
    fn now() -> i64 {
        tokenflow::time::now()
    }

    /// `token` presented as the valid one is: `Bearer`, or `DPoP` with a fresh proof.
    async fn send(&self, token: &str) -> anyhow::Result<(u16, String)> {
        let proof = match (&self.probe.dpop_key, self.bound) {
            (Some(key), true) => Some(key.proof(&self.probe.method, self.probe.htu(), Some(token), Self::now())?),
            _ => None,
        };
        let scheme = if self.bound { "DPoP" } else { "Bearer" };
        self.raw(&format!("{scheme} {token}"), proof.as_deref()).await
    }

    async fn raw(&self, authorization: &str, proof: Option<&str>) -> anyhow::Result<(u16, String)> {
        let method = reqwest::Method::from_bytes(self.probe.method.as_bytes())?;
        let mut request = self.http.request(method, &self.probe.url).header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        let response = request.send().await.with_context(|| format!("sending to {}", self.probe.url))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().or(v["error"].as_str()).map(str::to_string))
            .unwrap_or_else(|| body.chars().take(80).collect());
        Ok((status, message))
    }
}

fn judged(forgery: &Forgery, (status, message): (u16, String)) -> Finding {
    let outcome =
        if (200..300).contains(&status) { Outcome::Accepted { status } } else { Outcome::Refused { status, message } };
    Finding { id: forgery.id, title: forgery.title, attack: forgery.attack, reference: forgery.reference, outcome }
}

fn skipped(forgery: &Forgery, why: &str) -> Finding {
    let outcome = Outcome::Skipped { why: why.to_string() };
    Finding { id: forgery.id, title: forgery.title, attack: forgery.attack, reference: forgery.reference, outcome }
}

/// The issuer's public key (`x`) for the HS256 confusion: the key named by the token's `kid`
/// in the JWKS, else its first Ed25519 key; empty when the JWKS cannot be read.
async fn public_x(http: &reqwest::Client, probe: &Probe, token: &tokenflow::inspect::Decoded) -> String {
    let url = probe.jwks.clone().or_else(|| {
        token.claims["iss"].as_str().map(|iss| format!("{}/.well-known/jwks.json", iss.trim_end_matches('/')))
    });
    let Some(url) = url else { return String::new() };
    let Ok(response) = http.get(url).send().await else { return String::new() };
    let jwks: Value = response.json().await.unwrap_or_default();
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let named = keys.iter().find(|k| k["kid"] == token.header["kid"]);
    named
        .or_else(|| keys.iter().find(|k| k["crv"] == "Ed25519"))
        .and_then(|k| k["x"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Run every forgery against the target.
///
/// # Errors
/// When the target cannot be reached, refuses the valid token, or accepts garbage.
pub async fn run(probe: &Probe) -> anyhow::Result<Report> {
    let decoded = tokenflow::inspect::decode(&probe.token).map_err(|e| anyhow::anyhow!("the token: {e}"))?;
    let bound = decoded.claims.get("cnf").is_some_and(|cnf| cnf["jkt"].is_string());
    if bound && probe.dpop_key.is_none() {
        bail!("the token is DPoP-bound (it has cnf.jkt): give its key with --dpop-key");
    }
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let x = public_x(&http, probe, &decoded).await;
    let attacker = AttackerKeys::serve().await?;
    let sender = Sender { probe, http, bound };

    let (baseline, message) = sender.send(&probe.token).await?;
    if !(200..300).contains(&baseline) {
        bail!("the valid token is refused ({baseline} {message}): nothing to compare forgeries with");
    }
    let (garbage, _) = sender.send("garbage.garbage.garbage").await?;
    if (200..300).contains(&garbage) {
        bail!("a garbage token is accepted ({garbage}): the URL does not check tokens at all");
    }

    let now = Sender::now();
    let token_error = |e: tokenflow::inspect::InspectError| anyhow::anyhow!("the token: {e}");
    let mut findings = Vec::new();
    for forgery in &forge::catalogue(&probe.token, &x, now, &attacker.url).map_err(token_error)? {
        findings.push(judged(forgery, sender.send(&forgery.token).await?));
    }
    if probe.signing_key.is_none() {
        // Listed all the same, so that the report says what was not tried.
        let unused = SigningKey::from_bytes(&[0; 32]);
        let signed = forge::issuer_signed(&probe.token, now, &unused).map_err(token_error)?;
        findings.extend(signed.iter().skip(1).map(|f| skipped(f, "needs the issuer's key (--signing-key)")));
    }
    if let Some(key) = &probe.signing_key {
        let signed = forge::issuer_signed(&probe.token, now, key).map_err(token_error)?;
        let (control, rest) = signed.split_first().context("no control")?;
        debug_assert_eq!(control.id, RESIGNED_CONTROL);
        let (status, message) = sender.send(&control.token).await?;
        if (200..300).contains(&status) {
            for forgery in rest {
                findings.push(judged(forgery, sender.send(&forgery.token).await?));
            }
        } else {
            let why =
                format!("the key given is not the issuer's: the token signed with it was refused ({status} {message})");
            findings.extend(rest.iter().map(|forgery| skipped(forgery, &why)));
        }
    }
    findings.extend(dpop_misuse(&sender).await?);
    Ok(Report {
        target: probe.url.clone(),
        method: probe.method.clone(),
        baseline,
        attacker_keys_fetched: attacker.fetched.load(Ordering::SeqCst),
        findings,
    })
}

/// RFC 9449 §7.1 at the target: what a thief holding a bound token (and maybe a proof seen on
/// the way) can try.
async fn dpop_misuse(sender: &Sender<'_>) -> anyhow::Result<Vec<Finding>> {
    let probe = sender.probe;
    let token = probe.token.as_str();
    let rule = "RFC 9449 §4.3, §7.1";
    let case = |id, title, attack| Forgery { id, title, attack, reference: rule, token: String::new() };
    let cases = [
        case(
            "dpop-as-bearer",
            "DPoP-bound token as Bearer",
            "The bound token sent as a bearer token, without any proof.",
        ),
        case(
            "dpop-other-key",
            "Proof by another key",
            "A valid proof for this request signed by a key of the thief's.",
        ),
        case("dpop-replayed", "Captured proof replayed", "A proof accepted once, sent again with the token."),
        case("dpop-other-url", "Proof for another URL", "A proof by the right key for another URL."),
        case("dpop-other-method", "Proof for another method", "A proof by the right key for another method."),
        case("dpop-no-ath", "Proof without ath", "A proof by the right key that does not name the token (no ath)."),
        case("dpop-stale", "Stale proof", "A proof by the right key issued ten minutes ago."),
    ];
    let Some(key) = probe.dpop_key.as_ref().filter(|_| sender.bound) else {
        return Ok(cases.iter().map(|c| skipped(c, "the token is not DPoP-bound")).collect());
    };
    let now = Sender::now();
    let (url, method) = (probe.htu(), probe.method.as_str());
    let dpop = format!("DPoP {token}");
    let other_method = if method == "GET" { "POST" } else { "GET" };
    let other_url = format!("{}/elsewhere", url.trim_end_matches('/'));
    let thief = ProofKey::generate_p256()?;
    let mut findings = Vec::new();
    findings.push(judged(&cases[0], sender.raw(&format!("Bearer {token}"), None).await?));
    let proof = thief.proof(method, url, Some(token), now)?;
    findings.push(judged(&cases[1], sender.raw(&dpop, Some(&proof)).await?));
    let captured = key.proof(method, url, Some(token), now)?;
    let (first, message) = sender.raw(&dpop, Some(&captured)).await?;
    if (200..300).contains(&first) {
        findings.push(judged(&cases[2], sender.raw(&dpop, Some(&captured)).await?));
    } else {
        findings.push(skipped(&cases[2], &format!("the proof was refused the first time ({first} {message})")));
    }
    let proof = key.proof(method, &other_url, Some(token), now)?;
    findings.push(judged(&cases[3], sender.raw(&dpop, Some(&proof)).await?));
    let proof = key.proof(other_method, url, Some(token), now)?;
    findings.push(judged(&cases[4], sender.raw(&dpop, Some(&proof)).await?));
    let proof = key.proof(method, url, None, now)?;
    findings.push(judged(&cases[5], sender.raw(&dpop, Some(&proof)).await?));
    let proof = key.proof(method, url, Some(token), now - 600)?;
    findings.push(judged(&cases[6], sender.raw(&dpop, Some(&proof)).await?));
    Ok(findings)
}
