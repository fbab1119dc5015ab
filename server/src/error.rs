//! Every error the HTTP layer answers, mapped to status, headers and the contract's
//! `{"error", "message"}` body in this one place, axum's own rejections included.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokenflow::AuthError;
use tokenflow::dto::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("request body is not valid JSON")]
    Malformed,
    #[error("request body is over 16 KiB")]
    PayloadTooLarge,
    #[error("request body must be application/json")]
    UnsupportedMediaType,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::Malformed => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Auth(e) => e.code(),
            ApiError::Malformed => "malformed_request",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
        }
    }
}

/// The body of an error, for responses built outside a handler (fallbacks, middleware).
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody { error: code.to_string(), message: message.to_string() };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Auth(e) => {
                match e {
                    // Logged once, here, with its cause; the client learns nothing of it.
                    AuthError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
                    AuthError::InvalidToken(reason) => tracing::debug!(%reason, "token refused"),
                    _ => {}
                }
                e.public_message()
            }
            other => other.to_string(),
        };
        let mut response = error_response(status, self.code(), &message);
        if let ApiError::Auth(e) = &self {
            let headers = response.headers_mut();
            if let Some(challenge) = e.challenge() {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            if let Some(seconds) = e.retry_after() {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                ApiError::Auth(AuthError::InvalidRequest(describe_data_error(&e.body_text())))
            }
            JsonRejection::JsonSyntaxError(_) => ApiError::Malformed,
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => ApiError::Malformed,
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::Auth(AuthError::NotFound)
    }
}

/// serde's text for a missing field names only the field; for a wrong type it quotes the
/// value, which may be a password, so that case gets a generic sentence.
fn describe_data_error(text: &str) -> String {
    match text.find("missing field `") {
        Some(at) => {
            let rest = &text[at..];
            let end = rest[15..].find('`').map_or(rest.len(), |i| i + 16);
            rest[..end].to_string()
        }
        None => "a field is of the wrong type".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_data_error;

    #[test]
    fn data_errors_name_fields_but_never_echo_values() {
        let missing =
            "Failed to deserialize the JSON body into the target type: missing field `password` at line 1 column 20";
        assert_eq!(describe_data_error(missing), "missing field `password`");
        let wrong = "Failed to deserialize the JSON body into the target type: password: invalid type: integer `12345678`, expected a string";
        assert!(!describe_data_error(wrong).contains("12345678"));
    }
}
