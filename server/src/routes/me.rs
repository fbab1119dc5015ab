//! Steps 6-8: a bearer token in, the caller's identity out; and what the caller may do to
//! their own account: read its security activity, delete it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Extension, Router};
use tokenflow::dto::{DeleteAccountRequest, EventList, EventQuery, User};
use tokenflow::{Admitted, AuthError};

use crate::error::ApiError;
use crate::extract::{Caller, Json, Meta, protected};
use crate::middleware::rate_limit;
use crate::state::AppState;

/// `/api/me`, `/api/me/activity`. Deleting checks a password, so it is counted against the
/// client's limit like every request that hashes one.
pub fn router(state: &AppState) -> Router<AppState> {
    let delete =
        axum::routing::delete(delete_me).route_layer(from_fn_with_state(state.clone(), rate_limit::per_client));
    Router::new()
        .route("/api/me", protected(get(me).merge(delete), state))
        .route("/api/me/activity", protected(get(activity), state))
}

pub async fn me(Caller(who): Caller) -> Json<User> {
    Json(who.user.as_ref().clone())
}

pub async fn activity(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(query) = query.map_err(|_| paging_error())?;
    Ok(Json(state.auth.activity(&who, query).await?))
}

pub async fn delete_me(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Json(req): Json<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.delete_account(&who, req, &meta, admitted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A query string that does not parse: 422 naming the parameters.
pub fn paging_error() -> AuthError {
    AuthError::InvalidRequest("limit (a whole number), cursor and the filters are the query parameters".into())
}
