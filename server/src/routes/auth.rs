//! Steps 1-4 and 10 of the flow: credentials in, tokens out; rotation; logout.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderName;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
use tokenflow::Timed;
use tokenflow::dto::{LoginRequest, PasswordChangeRequest, RefreshRequest, SignupRequest, TokenResponse};

use crate::error::ApiError;
use crate::extract::{Authenticated, Json, UserAgent};
use crate::state::AppState;

/// Token responses must not be cached anywhere (RFC 6749 §5.1). Where a password was hashed,
/// `Server-Timing` tells the client what that cost.
fn token_response(status: StatusCode, body: TokenResponse, argon2: Option<Duration>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(argon2) = argon2
        && let Ok(value) = HeaderValue::from_str(&tokenflow::web::server_timing(argon2))
    {
        headers.insert(SERVER_TIMING, value);
    }
    response
}

pub async fn signup(
    State(state): State<AppState>,
    UserAgent(ua): UserAgent,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let Timed { value, argon2 } = state.auth.signup(req, ua.as_deref()).await?;
    Ok(token_response(StatusCode::CREATED, value, Some(argon2)))
}

pub async fn login(
    State(state): State<AppState>,
    UserAgent(ua): UserAgent,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let Timed { value, argon2 } = state.auth.login(req, ua.as_deref()).await?;
    Ok(token_response(StatusCode::OK, value, Some(argon2)))
}

pub async fn refresh(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> Result<Response, ApiError> {
    let tokens = state.auth.refresh(req).await?;
    Ok(token_response(StatusCode::OK, tokens, None))
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
