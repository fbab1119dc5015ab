//! Steps 6-8: a bearer token in, the caller's identity out.

use axum::Router;
use axum::routing::get;
use tokenflow::dto::User;

use crate::extract::{Caller, Json, protected};
use crate::state::AppState;

/// `/api/me`.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route("/me", protected(get(me), state))
}

pub async fn me(Caller(who): Caller) -> Json<User> {
    Json(who.user.as_ref().clone())
}
