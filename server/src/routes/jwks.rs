//! The public keys, for anyone who wants to verify a Tokenflow token.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// `/.well-known/jwks.json`.
pub fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.auth.jwks()).into_response();
    // Short: a verifier that meets an unknown `kid` refetches anyway.
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}
