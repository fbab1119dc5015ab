//! Steps 1-4 and 10 of the flow: credentials in, tokens out; rotation; logout.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokenflow::dto::{LoginRequest, PasswordChangeRequest, RefreshRequest, SignupRequest, TokenResponse};

use crate::error::ApiError;
use crate::extract::{Authenticated, Json, UserAgent};
use crate::state::AppState;

/// Token responses must not be cached anywhere (RFC 6749 §5.1).
fn token_response(status: StatusCode, body: TokenResponse) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub async fn signup(
    State(state): State<AppState>,
    UserAgent(ua): UserAgent,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let tokens = state.auth.signup(req, ua.as_deref()).await?;
    Ok(token_response(StatusCode::CREATED, tokens))
}

pub async fn login(
    State(state): State<AppState>,
    UserAgent(ua): UserAgent,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let tokens = state.auth.login(req, ua.as_deref()).await?;
    Ok(token_response(StatusCode::OK, tokens))
}

pub async fn refresh(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> Result<Response, ApiError> {
    let tokens = state.auth.refresh(req).await?;
    Ok(token_response(StatusCode::OK, tokens))
}

pub async fn logout(State(state): State<AppState>, Authenticated(who): Authenticated) -> Result<StatusCode, ApiError> {
    state.auth.logout(&who).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(req): Json<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.change_password(&who, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
