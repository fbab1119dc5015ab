//! Step 9: authorization by role. A valid token without role `admin` gets 403, not 401.

use axum::extract::State;
use tokenflow::dto::UserList;

use crate::error::ApiError;
use crate::extract::{Authenticated, Json};
use crate::state::AppState;

pub async fn users(State(state): State<AppState>, Authenticated(who): Authenticated) -> Result<Json<UserList>, ApiError> {
    Ok(Json(state.auth.list_users(&who).await?))
}
