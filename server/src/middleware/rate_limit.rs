//! `AUTH_RATE_LIMIT_PER_MIN` requests to `/api/auth/*` per client IP per minute, counted in
//! the database so that every instance and every restart sees the same count. The proof of
//! admission goes into the request's extensions: handlers that hash a password need it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokenflow::{AuthError, ClientAddr};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn per_client(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(client) = request.extensions().get::<ClientAddr>().copied() else {
        return ApiError::from(AuthError::internal("client address not resolved")).into_response();
    };
    match state.auth.admit(&client).await {
        Ok(admitted) => {
            request.extensions_mut().insert(admitted);
            next.run(request).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
