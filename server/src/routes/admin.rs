//! Step 9: authorization by role. A valid token without role `admin` gets 403, not 401.
//! What admins may do to accounts: list, change role or disabled state, log out everywhere,
//! mail a reset link; and read everyone's audit log.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use tokenflow::dto::{EventList, EventQuery, User, UserList, UserPatch, UserQuery};
use tokenflow::{Actor, AuthError};

use crate::error::ApiError;
use crate::extract::{Caller, Json, Meta, protected};
use crate::routes::me::paging_error;
use crate::state::AppState;

/// `/api/admin/*` (the role is the service's to check).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/admin/users", protected(get(users), state))
        .route("/api/admin/users/{id}", protected(patch(update_user), state))
        .route("/api/admin/users/{id}/sessions", protected(delete(revoke_sessions), state))
        .route("/api/admin/users/{id}/password-reset", protected(post(send_reset), state))
        .route("/api/admin/audit", protected(get(audit), state))
}

pub async fn users(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let Query(query) = query.map_err(|_| {
        AuthError::InvalidRequest("q, limit (a whole number) and cursor are the query parameters".into())
    })?;
    Ok(Json(state.auth.list_users(Actor::Admin(&who), query).await?))
}

pub async fn update_user(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Json(change): Json<UserPatch>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.auth.update_user(Actor::Admin(&who), &id, change, &meta).await?))
}

pub async fn revoke_sessions(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_user_sessions(Actor::Admin(&who), &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn send_reset(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.admin_send_reset(Actor::Admin(&who), &id, &meta).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn audit(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(query) = query.map_err(|_| paging_error())?;
    Ok(Json(state.auth.audit(Actor::Admin(&who), query).await?))
}
