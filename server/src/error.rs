//! Every error the HTTP layer answers, mapped to status, headers and the contract's
//! `{"error", "message"}` body in this one place, axum's own rejections included.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokenflow::AuthError;
use tokenflow::dto::{ErrorBody, ErrorCode};
use tokenflow::web::ErrorResponse;

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
    #[error("request body must be application/x-www-form-urlencoded")]
    NotAForm,
}

impl ApiError {
    /// The error as HTTP says it: a core error through the core's one projection (the same
    /// one the server functions use), the body errors here.
    fn project(&self) -> ErrorResponse {
        let own = |status: StatusCode, error: ErrorCode| ErrorResponse {
            status: status.as_u16(),
            challenge: None,
            retry_after: None,
            body: ErrorBody { error, message: self.to_string() },
        };
        match self {
            ApiError::Auth(e) => e.to_response(),
            ApiError::Malformed => own(StatusCode::BAD_REQUEST, ErrorCode::MalformedRequest),
            ApiError::PayloadTooLarge => own(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            ApiError::UnsupportedMediaType | ApiError::NotAForm => {
                own(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType)
            }
        }
    }
}

/// The body of an error, for responses built outside a handler (fallbacks, middleware).
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = ErrorBody { error: code, message: message.to_string() };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let projected = self.project();
        let status = StatusCode::from_u16(projected.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(projected.body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = projected.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(seconds) = projected.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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
