//! `GET /api/outbox`: the built-in outbox, for development. Mounted only while mail goes to
//! the outbox and the server listens on a loopback address (see `Config::outbox_served`).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use tokenflow::AuthError;
use tokenflow::dto::{Outbox, OutboxQuery};

use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/outbox", get(outbox))
}

pub async fn outbox(
    State(state): State<AppState>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<Outbox>, ApiError> {
    let Query(query) = query.map_err(|_| AuthError::InvalidRequest("to is the one query parameter".into()))?;
    Ok(Json(state.auth.outbox(query).await?))
}
