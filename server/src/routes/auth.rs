//! Steps 1-4 and 10 of the flow: credentials in, tokens out; rotation; logout.

use std::time::Instant;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use tokenflow::dto::{
    Accepted, ForgotRequest, LinkRequest, LoginRequest, PasswordChangeRequest, RefreshRequest, ResetRequest,
    SignupRequest,
};
use tokenflow::web::{rotation_timing, server_timing};
use tokenflow::{Admitted, Timed};

use crate::error::ApiError;
use crate::extract::{Caller, Json, Meta, credentials, protected};
use crate::middleware::rate_limit;
use crate::state::AppState;

/// `/api/auth/*`: every request counted against its client's limit first (the admission that
/// password hashing needs); logout and password change also need a token.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", protected(post(logout), state))
        .route("/api/auth/password", protected(post(change_password), state))
        .route("/api/auth/email/verify/send", protected(post(send_verification), state))
        .route("/api/auth/email/verify", post(verify_email))
        .route("/api/auth/password/forgot", post(forgot_password))
        .route("/api/auth/password/reset", post(reset_password))
        .route_layer(from_fn_with_state(state.clone(), rate_limit::per_client))
}

const SERVER_TIMING: HeaderName = HeaderName::from_static(tokenflow::web::SERVER_TIMING);

/// Token responses must not be cached anywhere (RFC 6749 §5.1); `Server-Timing` tells the
/// client what the server spent on them.
pub fn token_response(status: StatusCode, body: impl serde::Serialize, timing: &str) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(timing) {
        headers.insert(SERVER_TIMING, value);
    }
    response
}

pub async fn signup(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Meta(meta): Meta,
    parts: Parts,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let Timed { value, argon2 } = state.auth.signup(req, &credentials(&parts)?, &meta, admitted).await?;
    Ok(token_response(StatusCode::CREATED, value, &server_timing(argon2)))
}

pub async fn login(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Meta(meta): Meta,
    parts: Parts,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // Tokens, or the challenge of an account with a second factor: both 200, never cached.
    let Timed { value, argon2 } = state.auth.login(req, &credentials(&parts)?, &meta, admitted).await?;
    Ok(token_response(StatusCode::OK, value, &server_timing(argon2)))
}

pub async fn refresh(
    State(state): State<AppState>,
    Meta(meta): Meta,
    parts: Parts,
    Json(req): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let tokens = state.auth.refresh(req, &credentials(&parts)?, &meta).await?;
    Ok(token_response(StatusCode::OK, tokens, &rotation_timing(started.elapsed())))
}

pub async fn logout(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&who, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn change_password(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Json(req): Json<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.change_password(&who, req, &meta, admitted).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn send_verification(State(state): State<AppState>, Caller(who): Caller) -> Result<StatusCode, ApiError> {
    state.auth.send_verification(&who).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn verify_email(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(req): Json<LinkRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.verify_email(req, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn forgot_password(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Meta(meta): Meta,
    Json(req): Json<ForgotRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.auth.forgot_password(req, &meta, admitted).await?)))
}

pub async fn reset_password(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Meta(meta): Meta,
    Json(req): Json<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.reset_password(req, &meta, admitted).await?;
    Ok(StatusCode::NO_CONTENT)
}
