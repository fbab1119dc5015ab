//! The REST API of API.md, one module per part of the flow.

pub mod admin;
pub mod auth;
pub mod health;
pub mod jwks;
pub mod me;
pub mod outbox;
pub mod sessions;

use axum::Router;
use axum::http::StatusCode;

use crate::error::error_response;
use crate::state::AppState;

/// Everything under `/api`: each module's router, merged here. Protected routes pass the one
/// auth layer (`extract::protected`).
pub fn api(state: &AppState) -> Router<AppState> {
    let router = Router::new()
        .nest("/auth", auth::router(state))
        .merge(me::router(state))
        .merge(sessions::router(state))
        .merge(admin::router(state));
    let router = if state.outbox_served { router.merge(outbox::router()) } else { router };
    router.fallback(|| async {
        error_response(StatusCode::NOT_FOUND, tokenflow::dto::ErrorCode::NotFound, "no such endpoint")
    })
}
