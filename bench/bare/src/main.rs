//! The yardstick of `scripts/bench`: what a hand-written axum service with no middleware does
//! for Tokenflow's `/healthz` (answer) and `/api/me` (verify an EdDSA JWT on every request
//! with jsonwebtoken, then answer its claims). Tokenflow's numbers are reported as ratios to
//! this service's, measured in the same run on the same machine, so they are not remembered
//! from another day.
//!
//! `BARE_ADDR` (listen address), `BARE_PUBLIC_X` (the `x` of Tokenflow's JWK), `BARE_ISSUER`
//! and `BARE_AUDIENCE` (what the tokens must say).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

fn setting(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = setting("BARE_ADDR")?.parse()?;
    let key = DecodingKey::from_ed_components(&setting("BARE_PUBLIC_X")?)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[setting("BARE_ISSUER")?]);
    validation.set_audience(&[setting("BARE_AUDIENCE")?]);
    let verifier = Arc::new(Verifier { key, validation });
    let app = Router::new().route("/healthz", get(|| async { "ok" })).route("/api/me", get(me)).with_state(verifier);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn me(State(verifier): State<Arc<Verifier>>, headers: HeaderMap) -> Response {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else { return StatusCode::UNAUTHORIZED.into_response() };
    match jsonwebtoken::decode::<serde_json::Value>(token, &verifier.key, &verifier.validation) {
        Ok(data) => axum::Json(data.claims).into_response(),
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}
