//! The REST API of API.md, one module per part of the flow.

pub mod admin;
pub mod auth;
pub mod health;
pub mod jwks;
pub mod me;
pub mod sessions;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};

use crate::error::error_response;
use crate::middleware::rate_limit;
use crate::state::AppState;

/// Everything under `/api`.
pub fn api(state: &AppState) -> Router<AppState> {
    let auth = Router::new()
        .route("/signup", post(auth::signup))
        .route("/login", post(auth::login))
        .route("/refresh", post(auth::refresh))
        .route("/logout", post(auth::logout))
        .route("/password", post(auth::change_password))
        .route_layer(from_fn_with_state(state.clone(), rate_limit::per_client));
    Router::new()
        .nest("/auth", auth)
        .route("/me", get(me::me))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", delete(sessions::revoke))
        .route("/admin/users", get(admin::users))
        .fallback(|| async {
            error_response(StatusCode::NOT_FOUND, tokenflow::dto::ErrorCode::NotFound, "no such endpoint")
        })
}
