//! The caller's sessions: list them, revoke one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use tokenflow::dto::SessionList;

use crate::error::ApiError;
use crate::extract::{Authenticated, Json};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, Authenticated(who): Authenticated) -> Result<Json<SessionList>, ApiError> {
    Ok(Json(state.auth.sessions(&who).await?))
}

pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_session(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
