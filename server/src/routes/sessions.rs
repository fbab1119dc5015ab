//! The caller's sessions: list them, revoke one.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use tokenflow::dto::SessionList;

use crate::error::ApiError;
use crate::extract::{Caller, Json, Meta, protected};
use crate::state::AppState;

/// `/api/sessions`.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/sessions", protected(get(list), state))
        .route("/api/sessions/{id}", protected(delete(revoke), state))
}

pub async fn list(State(state): State<AppState>, Caller(who): Caller) -> Result<Json<SessionList>, ApiError> {
    Ok(Json(state.auth.sessions(&who).await?))
}

pub async fn revoke(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_session(&who, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
