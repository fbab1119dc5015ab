//! `AUTH_RATE_LIMIT_PER_MIN` requests to `/api/auth/*` per client IP per minute, counted in
//! the database so that every instance and every restart sees the same count.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::state::AppState;

pub async fn per_client(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let ip = match ClientIp::from_request_parts(&mut parts, &state).await {
        Ok(ClientIp(ip)) => ip,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = state.auth.rate_limit(&ip.to_string()).await {
        return ApiError::from(e).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
