//! `AUTH_RATE_LIMIT_PER_MIN` requests to `/api/auth/*` per client IP per minute, counted in
//! the database so that every instance and every restart sees the same count.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokenflow::{AuthError, ClientAddr};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn per_client(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(ClientAddr(ip)) = request.extensions().get::<ClientAddr>().copied() else {
        return ApiError::from(AuthError::Internal("client address not resolved".into())).into_response();
    };
    if let Err(e) = state.auth.rate_limit(&ip.to_string()).await {
        return ApiError::from(e).into_response();
    }
    next.run(request).await
}
