//! Bodies over 16 KiB are refused before anyone reads them. A declared `Content-Length`
//! is refused here; a chunked body is cut off by axum's `DefaultBodyLimit` in the extractor,
//! whose rejection `ApiError` maps to the same 413.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::error_response;

pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub async fn declared_length(request: Request, next: Next) -> Response {
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            tokenflow::dto::ErrorCode::PayloadTooLarge,
            "request body is over 16 KiB",
        );
    }
    next.run(request).await
}
