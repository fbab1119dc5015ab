//! Second factors: the second step of a sign-in, a sign-in with a passkey alone, the caller's
//! authenticator app, recovery codes and passkeys, step-up, and the admin's reset.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use tokenflow::dto::{
    CodeRequest, FactorList, PasskeyChallenge, PasskeyInfo, PasskeyRegistration, RecoveryCodes, SecondFactorRequest,
    StepUpRequest, TotpEnrolment,
};
use tokenflow::{Actor, Admitted};

use crate::error::ApiError;
use crate::extract::{Caller, Json, Meta, credentials, protected};
use crate::middleware::rate_limit;
use crate::routes::auth::token_response;
use crate::state::AppState;

/// `/api/auth/second-factor`, `/api/auth/passkey` (counted per client, as sign-ins are),
/// `/api/me/…` factor management and step-up, `/api/admin/users/{id}/factors`.
pub fn router(state: &AppState) -> Router<AppState> {
    let per_client = from_fn_with_state(state.clone(), rate_limit::per_client);
    let public = Router::new()
        .route("/api/auth/second-factor", post(second_factor))
        .route("/api/auth/passkey", post(passkey_sign_in))
        .route_layer(per_client.clone());
    Router::new()
        .merge(public)
        .route("/api/me/factors", protected(get(factors), state))
        .route("/api/me/totp", protected(post(begin_totp).delete(remove_totp), state))
        .route("/api/me/totp/confirm", protected(post(confirm_totp), state))
        .route("/api/me/recovery-codes", protected(post(renew_recovery_codes), state))
        .route("/api/me/passkeys/options", protected(post(passkey_options), state))
        .route("/api/me/passkeys", protected(post(register_passkey), state))
        .route("/api/me/passkeys/{id}", protected(delete(remove_passkey), state))
        .route("/api/me/step-up/options", protected(post(step_up_options), state))
        .route("/api/me/step-up", protected(post(step_up).route_layer(per_client), state))
        .route("/api/admin/users/{id}/factors", protected(delete(reset_factors), state))
}

pub async fn second_factor(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Meta(meta): Meta,
    parts: Parts,
    Json(req): Json<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    let tokens = state.auth.second_factor(req, &credentials(&parts)?, &meta, admitted).await?;
    Ok(token_response(StatusCode::OK, tokens, "second-factor;desc=\"challenge answered\""))
}

pub async fn passkey_sign_in(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let challenge = state.auth.passkey_sign_in_options(&credentials(&parts)?, admitted).await?;
    Ok(token_response(StatusCode::OK, challenge, "passkey;desc=\"challenge issued\""))
}

pub async fn factors(State(state): State<AppState>, Caller(who): Caller) -> Result<Json<FactorList>, ApiError> {
    Ok(Json(state.auth.factors(&who).await?))
}

pub async fn begin_totp(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<(StatusCode, Json<TotpEnrolment>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.auth.begin_totp(&who).await?)))
}

pub async fn confirm_totp(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Json(req): Json<CodeRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    Ok(Json(state.auth.confirm_totp(&who, &req.code, &meta).await?))
}

pub async fn remove_totp(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
) -> Result<StatusCode, ApiError> {
    state.auth.remove_totp(&who, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
) -> Result<Json<RecoveryCodes>, ApiError> {
    Ok(Json(state.auth.renew_recovery_codes(&who, &meta).await?))
}

pub async fn passkey_options(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<PasskeyChallenge>, ApiError> {
    Ok(Json(state.auth.passkey_registration_options(&who).await?))
}

pub async fn register_passkey(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Json(req): Json<PasskeyRegistration>,
) -> Result<(StatusCode, Json<PasskeyInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.auth.register_passkey(&who, req, &meta).await?)))
}

pub async fn remove_passkey(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.remove_passkey(&who, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn step_up_options(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<PasskeyChallenge>, ApiError> {
    Ok(Json(state.auth.step_up_options(&who).await?))
}

pub async fn step_up(
    State(state): State<AppState>,
    Extension(admitted): Extension<Admitted>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Json(req): Json<StepUpRequest>,
) -> Result<Response, ApiError> {
    let token = state.auth.step_up(&who, req, &meta, admitted).await?;
    Ok(token_response(StatusCode::OK, token, "step-up;desc=\"authenticated again\""))
}

pub async fn reset_factors(
    State(state): State<AppState>,
    Caller(who): Caller,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.reset_factors(Actor::Admin(&who), &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
