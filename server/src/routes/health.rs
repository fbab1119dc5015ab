//! Liveness and readiness for load balancers.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::error::error_response;
use crate::state::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// A constant answer: the process is up and serving.
pub async fn healthz() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.auth.ready().await {
        axum::Json(json!({"status": "ready"})).into_response()
    } else {
        let mut response = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            tokenflow::dto::ErrorCode::Unavailable,
            "database unavailable",
        );
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, 5.into());
        response
    }
}
