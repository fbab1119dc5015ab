//! A third-party resource server that trusts Tokenflow's tokens knowing nothing but the JWKS URL:
//! no secret, no database, no call to Tokenflow per request.
//!
//! ```sh
//! TOKENFLOW_URL=http://127.0.0.1:3000 cargo run --example resource_server
//! curl -s http://127.0.0.1:4000/protected -H "Authorization: Bearer $ACCESS"
//! ```
//!
//! Environment: `TOKENFLOW_URL` (the issuer; the JWKS is `$TOKENFLOW_URL/.well-known/jwks.json`
//! unless `JWKS_URL` says otherwise), `AUDIENCE` (default `tokenflow`), `LISTEN` (default
//! `127.0.0.1:4000`), `LEEWAY_SECS` (default 30), `PUBLIC_URL` (default `http://LISTEN`).
//!
//! The keys are fetched at start, cached, refetched every minute, and refetched at once (at
//! most once a second) when a token names a `kid` the cache does not know: that is how a key
//! rotation at Tokenflow reaches this server. What it cannot see is revocation: a logged-out
//! session's access token stays valid here until it expires, which is why access tokens are
//! short-lived.
//!
//! A DPoP-bound token (claim `cnf.jkt`) is accepted only as `Authorization: DPoP` with a proof
//! (RFC 9449) by that key for this request: `GET` and `PUBLIC_URL/protected` (`PUBLIC_URL`
//! defaults to `http://LISTEN`), each proof's `jti` once within the window. Sent as `Bearer`, it
//! is refused: the binding is the resource server's to check, or it is worth nothing.
//!
//! With `--introspect` it also asks Tokenflow (RFC 7662) whether a token that verified still
//! holds, as `INTROSPECTION_CLIENT` (`id:secret`, one of Tokenflow's
//! `AUTH_INTROSPECTION_CLIENTS`) at `INTROSPECT_URL` (default
//! `$TOKENFLOW_URL/api/oauth/introspect`), and keeps each answer `INTROSPECT_CACHE_SECS`
//! (default 5): a logout then reaches it within that many seconds, at the price of one call
//! to Tokenflow per token and period. If Tokenflow cannot answer, it refuses (503).

// A small program: it says where it listens and why it stopped on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokenflow::claims::Claims;
use tokenflow::dpop::{self, ProofError, Replays};
use tokenflow::error::TokenError;
use tokenflow::keys::{Jwks, KeySet};
use tokenflow::token::{self, Policy};
use tokenflow::web::{Scheme, authorization_token};

const REFETCH_EVERY: Duration = Duration::from_secs(60);
const UNKNOWN_KID_REFETCH_MIN: Duration = Duration::from_secs(1);

/// The JWKS, cached.
struct RemoteKeys {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    fetched: Mutex<Instant>,
}

impl RemoteKeys {
    async fn fetch(&self) -> Result<(), BoxError> {
        let jwks: Jwks = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("fetching {}: {e}", self.url))?
            .json()
            .await
            .map_err(|e| format!("parsing the JWKS: {e}"))?;
        let keys = KeySet::from_jwks(&jwks);
        if let Ok(mut current) = self.keys.write() {
            *current = Arc::new(keys);
        }
        Ok(())
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().map_or_else(|e| Arc::clone(&e.into_inner()), |k| Arc::clone(&k))
    }

    /// Refetch if the last fetch is old enough: bounds what unknown `kid`s can make us do.
    async fn refetch_if_due(&self, min_age: Duration) -> bool {
        {
            let Ok(mut fetched) = self.fetched.lock() else { return false };
            if fetched.elapsed() < min_age {
                return false;
            }
            *fetched = Instant::now();
        }
        match self.fetch().await {
            Ok(()) => true,
            Err(e) => {
                eprintln!("resource_server: {e}");
                false
            }
        }
    }
}

#[derive(Clone)]
struct App {
    keys: Arc<RemoteKeys>,
    policy: Arc<Policy>,
    introspection: Option<Arc<Introspection>>,
    /// The URL clients address `/protected` at: what a DPoP proof's `htu` must name.
    protected_url: Arc<str>,
    /// DPoP proofs seen within the window.
    replays: Arc<Replays>,
}

/// RFC 7662 answers, per token, for a few seconds; bounded: when full, expired answers are
/// dropped, and if none has expired, all are (each is one call to ask again).
struct Introspection {
    url: String,
    client: (String, String),
    http: reqwest::Client,
    keep: Duration,
    answers: Mutex<HashMap<String, (bool, Instant)>>,
}

const INTROSPECTION_CACHE_MAX: usize = 10_000;

impl Introspection {
    /// Whether Tokenflow says `token` is active, from the cache if the answer is fresh.
    async fn active(&self, token: &str) -> Result<bool, BoxError> {
        if let Ok(answers) = self.answers.lock()
            && let Some((active, at)) = answers.get(token)
            && at.elapsed() < self.keep
        {
            return Ok(*active);
        }
        let answer: serde_json::Value = self
            .http
            .post(&self.url)
            .basic_auth(&self.client.0, Some(&self.client.1))
            .form(&[("token", token)])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("introspecting at {}: {e}", self.url))?
            .json()
            .await?;
        let active = answer["active"] == true;
        if let Ok(mut answers) = self.answers.lock() {
            if answers.len() >= INTROSPECTION_CACHE_MAX {
                answers.retain(|_, (_, at)| at.elapsed() < self.keep);
                if answers.len() >= INTROSPECTION_CACHE_MAX {
                    answers.clear();
                }
            }
            answers.insert(token.to_string(), (active, Instant::now()));
        }
        Ok(active)
    }
}

impl App {
    /// The same strict check Tokenflow makes, minus the session (which only Tokenflow knows).
    async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = tokenflow::time::now();
        match token::verify(token, &self.keys.current(), &self.policy, now) {
            Err(TokenError::UnknownKeyId) if self.keys.refetch_if_due(UNKNOWN_KID_REFETCH_MIN).await => {
                token::verify(token, &self.keys.current(), &self.policy, now).map(|(claims, _)| claims)
            }
            other => other.map(|(claims, _)| claims),
        }
    }
}

fn refuse(challenge: &'static str, message: String) -> Response {
    let body = Json(json!({"error": "invalid_token", "message": message}));
    (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)], body).into_response()
}

/// Why a token's binding does not hold for a request.
enum Unbound {
    /// The token and the scheme disagree (`token is DPoP-bound`, `... not ...`).
    Token(&'static str),
    Proof(ProofError),
}

impl IntoResponse for Unbound {
    fn into_response(self) -> Response {
        match self {
            Unbound::Token(message) => refuse(r#"DPoP error="invalid_token", algs="ES256 EdDSA""#, message.into()),
            Unbound::Proof(reason) => {
                let body = Json(json!({"error": "invalid_dpop_proof", "message": reason.to_string()}));
                let challenge = r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA""#;
                (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)], body).into_response()
            }
        }
    }
}

impl App {
    /// RFC 9449 §7.1: a bound token only in the DPoP scheme, with one proof by its key for this
    /// request, used once; an unbound one only as a bearer token.
    fn check_binding(&self, claims: &Claims, scheme: Scheme, token: &str, headers: &HeaderMap) -> Result<(), Unbound> {
        let Some(cnf) = &claims.cnf else {
            return match scheme {
                Scheme::Dpop => Err(Unbound::Token("token is not DPoP-bound")),
                _ => Ok(()),
            };
        };
        if scheme != Scheme::Dpop {
            return Err(Unbound::Token("token is DPoP-bound"));
        }
        let mut proofs = headers.get_all("dpop").iter();
        let proof = match (proofs.next().map(|v| v.to_str()), proofs.next()) {
            (Some(Ok(proof)), None) => proof,
            (None, _) => return Err(Unbound::Proof(ProofError::Missing)),
            _ => return Err(Unbound::Proof(ProofError::Ambiguous)),
        };
        let now = tokenflow::time::now();
        let request = dpop::Request { method: "GET", url: &self.protected_url, access_token: Some(token), now };
        let proof = dpop::verify(proof, &request).map_err(Unbound::Proof)?;
        if proof.jkt != cnf.jkt {
            return Err(Unbound::Proof(ProofError::WrongKey));
        }
        if !self.replays.first_use(&proof, now) {
            return Err(Unbound::Proof(ProofError::Replayed));
        }
        Ok(())
    }
}

async fn protected(State(app): State<App>, headers: HeaderMap) -> Response {
    let presented = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(authorization_token);
    let Some((scheme, token)) = presented else {
        return refuse("Bearer", "missing bearer token".into());
    };
    let claims = match app.verify(token).await {
        Ok(claims) => claims,
        Err(reason) => return refuse(r#"Bearer error="invalid_token""#, reason.to_string()),
    };
    if let Err(unbound) = app.check_binding(&claims, scheme, token, &headers) {
        return unbound.into_response();
    }
    let verified_by = match &app.introspection {
        None => "JWKS only: no secret, no database".to_string(),
        Some(introspection) => match introspection.active(token).await {
            Ok(true) => {
                format!("JWKS, and introspection at Tokenflow (answers kept {} s)", introspection.keep.as_secs())
            }
            Ok(false) => return refuse(r#"Bearer error="invalid_token""#, "token revoked (introspection)".into()),
            Err(e) => {
                eprintln!("resource_server: {e}");
                let body = Json(json!({"error": "unavailable", "message": "cannot ask Tokenflow about the token"}));
                return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
            }
        },
    };
    Json(json!({
        "message": format!("Hello {}, your Tokenflow token checks out here too.", claims.email),
        "verified_by": verified_by,
        "claims": claims,
    }))
    .into_response()
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let issuer = env("TOKENFLOW_URL", "http://127.0.0.1:3000");
    let url = env("JWKS_URL", &format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
    let listen: SocketAddr = env("LISTEN", "127.0.0.1:4000").parse().map_err(|e| format!("LISTEN: {e}"))?;
    let leeway_secs = env("LEEWAY_SECS", "30").parse().map_err(|e| format!("LEEWAY_SECS: {e}"))?;
    let introspect_url = env("INTROSPECT_URL", &format!("{}/api/oauth/introspect", issuer.trim_end_matches('/')));
    let policy = Policy { issuer, audience: env("AUDIENCE", "tokenflow"), leeway_secs };

    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    // The start-up fetch does not count against the unknown-kid budget: the first new kid
    // after a rotation is followed at once.
    let long_ago = Instant::now().checked_sub(UNKNOWN_KID_REFETCH_MIN).unwrap_or_else(Instant::now);
    let keys = Arc::new(RemoteKeys {
        url,
        http,
        keys: RwLock::new(Arc::new(KeySet::default())),
        fetched: Mutex::new(long_ago),
    });
    keys.fetch().await?;
    let refresher = Arc::clone(&keys);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REFETCH_EVERY).await;
            refresher.refetch_if_due(REFETCH_EVERY).await;
        }
    });

    let introspection = if std::env::args().any(|a| a == "--introspect") {
        let client = env("INTROSPECTION_CLIENT", "");
        let (id, secret) = client.split_once(':').ok_or("--introspect needs INTROSPECTION_CLIENT=id:secret")?;
        let keep = env("INTROSPECT_CACHE_SECS", "5").parse().map_err(|e| format!("INTROSPECT_CACHE_SECS: {e}"))?;
        Some(Arc::new(Introspection {
            url: introspect_url,
            client: (id.to_string(), secret.to_string()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
            keep: Duration::from_secs(keep),
            answers: Mutex::new(HashMap::new()),
        }))
    } else {
        None
    };
    let protected_url = format!("{}/protected", env("PUBLIC_URL", &format!("http://{listen}")).trim_end_matches('/'));
    let replays = Arc::new(Replays::new(100_000));
    let app = App { keys, policy: Arc::new(policy), introspection, protected_url: protected_url.into(), replays };
    let router = Router::new()
        .route("/protected", get(protected))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("binding {listen}: {e}"))?;
    println!("resource server on http://{listen}");
    Ok(axum::serve(listener, router).await?)
}

/// Whatever stopped the program, said in its own words.
type BoxError = Box<dyn std::error::Error + Send + Sync>;
