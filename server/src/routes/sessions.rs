//! The caller's sessions: list them, revoke one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use tokenflow::dto::SessionList;

use crate::error::ApiError;
use axum::response::Response;

use crate::extract::{Authenticated, Json, with_token_timing};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, Authenticated(who): Authenticated) -> Result<Response, ApiError> {
    let sessions: SessionList = state.auth.sessions(&who).await?;
    Ok(with_token_timing(&who, Json(sessions)))
}

pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.auth.revoke_session(&who, &id).await?;
    Ok(with_token_timing(&who, StatusCode::NO_CONTENT))
}
