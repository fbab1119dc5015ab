//! The REST API of API.md, one module per part of the flow.

pub mod admin;
pub mod auth;
pub mod factors;
pub mod health;
pub mod jwks;
pub mod me;
pub mod oauth;
pub mod outbox;
pub mod sessions;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;

use crate::error::error_response;
use crate::state::AppState;

/// Everything under `/api`: each module's router (with full paths: one router to match, no
/// nesting to strip), merged here. Protected routes pass the one auth layer
/// (`extract::protected`); a path no route knows is a JSON 404.
pub fn api(state: &AppState) -> Router<AppState> {
    let router = Router::new()
        .merge(auth::router(state))
        .merge(me::router(state))
        .merge(factors::router(state))
        .merge(sessions::router(state))
        .merge(admin::router(state))
        .merge(oauth::router(state));
    let router = if state.outbox_served { router.merge(outbox::router()) } else { router };
    // `{*rest}` matches no empty path, so `/api/` needs its own route.
    router.route("/api", any(not_found)).route("/api/", any(not_found)).route("/api/{*rest}", any(not_found))
}

async fn not_found() -> axum::response::Response {
    error_response(StatusCode::NOT_FOUND, tokenflow::dto::ErrorCode::NotFound, "no such endpoint")
}
