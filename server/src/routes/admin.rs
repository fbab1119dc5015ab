//! Step 9: authorization by role. A valid token without role `admin` gets 403, not 401.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use tokenflow::AuthError;
use tokenflow::dto::{UserList, UserQuery};

use crate::error::ApiError;
use crate::extract::{Caller, Json, protected};
use crate::state::AppState;

/// `/api/admin/*` (the role is the service's to check).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route("/admin/users", protected(get(users), state))
}

pub async fn users(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let Query(query) = query.map_err(|_| {
        AuthError::InvalidRequest("q, limit (a whole number) and cursor are the query parameters".into())
    })?;
    Ok(Json(state.auth.list_users(&who, query).await?))
}
