//! Step 9: authorization by role. A valid token without role `admin` gets 403, not 401.

use axum::extract::State;
use tokenflow::dto::UserList;

use crate::error::ApiError;
use axum::response::Response;

use crate::extract::{Authenticated, Json, with_token_timing};
use crate::state::AppState;

pub async fn users(State(state): State<AppState>, Authenticated(who): Authenticated) -> Result<Response, ApiError> {
    let users: UserList = state.auth.list_users(&who).await?;
    Ok(with_token_timing(&who, Json(users)))
}
