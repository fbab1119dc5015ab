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
//! `127.0.0.1:4000`), `LEEWAY_SECS` (default 30).
//!
//! The keys are fetched at start, cached, refetched every minute, and refetched at once (at
//! most once a second) when a token names a `kid` the cache does not know: that is how a key
//! rotation at Tokenflow reaches this server. What it cannot see is revocation: a logged-out
//! session's access token stays valid here until it expires, which is why access tokens are
//! short-lived.

// A small program: it says where it listens and why it stopped on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

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
use tokenflow::error::TokenError;
use tokenflow::keys::{Jwks, KeySet};
use tokenflow::token::{self, Policy};

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

async fn protected(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(token) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(tokenflow::bearer_token) else {
        return refuse("Bearer", "missing bearer token".into());
    };
    match app.verify(token).await {
        Ok(claims) => Json(json!({
            "message": format!("Hello {}, your Tokenflow token checks out here too.", claims.email),
            "verified_by": "JWKS only: no secret, no database",
            "claims": claims,
        }))
        .into_response(),
        Err(reason) => refuse(r#"Bearer error="invalid_token""#, reason.to_string()),
    }
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

    let app = App { keys, policy: Arc::new(policy) };
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
