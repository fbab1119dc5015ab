//! A safety net: an error answered on an API path by something other than our handlers
//! (axum's 405, a layer's 413 or 408, a panic caught by a layer) still gets the contract's
//! JSON body instead of plain text or nothing.

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;

use tokenflow::dto::ErrorCode;

use crate::error::error_response;

fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path == "/api"
        || path.starts_with("/.well-known/")
        || path == "/healthz"
        || path == "/readyz"
}

pub async fn ensure_json(request: Request, next: Next) -> Response {
    let api = is_api_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status.as_u16() {
        400 => (ErrorCode::MalformedRequest, "bad request"),
        404 => (ErrorCode::NotFound, "not found"),
        405 => (ErrorCode::MethodNotAllowed, "method not allowed"),
        408 => (ErrorCode::Timeout, "request timed out"),
        413 => (ErrorCode::PayloadTooLarge, "request body is over 16 KiB"),
        415 => (ErrorCode::UnsupportedMediaType, "request body must be application/json"),
        422 => (ErrorCode::InvalidRequest, "invalid request"),
        429 => (ErrorCode::RateLimited, "too many requests"),
        503 => (ErrorCode::Unavailable, "service unavailable"),
        s if s >= 500 => (ErrorCode::InternalError, "internal error"),
        _ => (ErrorCode::InvalidRequest, "request refused"),
    };
    let mut fixed = error_response(status, code, message);
    // Keep what the original said about retrying or authenticating.
    let (parts, _) = response.into_parts();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed
}
