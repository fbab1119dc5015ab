//! Step 9: authorization by role. A valid token without role `admin` gets 403, not 401.

use axum::extract::{Query, State};
use tokenflow::dto::{UserList, UserQuery};

use crate::error::ApiError;
use axum::response::Response;

use crate::extract::{Authenticated, Json, with_token_timing};
use crate::state::AppState;

pub async fn users(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| {
        tokenflow::AuthError::InvalidRequest("q, limit (a whole number) and cursor are the query parameters".into())
    })?;
    let users: UserList = state.auth.list_users(&who, query).await?;
    Ok(with_token_timing(&who, Json(users)))
}
