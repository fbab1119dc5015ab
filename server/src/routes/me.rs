//! Steps 6-8: a bearer token in, the caller's identity out.

use axum::response::Response;

use crate::extract::{Authenticated, Json, with_token_timing};

pub async fn me(Authenticated(who): Authenticated) -> Response {
    with_token_timing(&who, Json(who.user.as_ref().clone()))
}
