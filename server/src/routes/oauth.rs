//! For resource servers: RFC 8414 metadata, RFC 7662 introspection (does this token still
//! hold, now?) and RFC 7009 revocation. Both OAuth endpoints take a form body
//! (`application/x-www-form-urlencoded`), as their RFCs require.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tokenflow::AuthError;
use tokenflow::dto::ServerMetadata;

use crate::error::ApiError;
use crate::extract::Meta;
use crate::middleware::rate_limit;
use crate::state::AppState;

pub const INTROSPECT: &str = "/api/oauth/introspect";
pub const REVOKE: &str = "/api/oauth/revoke";

/// `/.well-known/oauth-authorization-server` and `/api/oauth/*`. Revocation needs no client
/// credentials (holding the token is the proof), so it is counted against its client's
/// per-IP limit like `/api/auth/*`; introspection is for the configured clients only.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(INTROSPECT, post(introspect))
        .route(REVOKE, post(revoke).route_layer(from_fn_with_state(state.clone(), rate_limit::per_client)))
}

pub async fn metadata(State(state): State<AppState>) -> Response {
    // `issuer` is exactly the tokens' `iss` (RFC 8414 §3.3); the URLs are built on it.
    let base = state.auth.public_base();
    let body = ServerMetadata {
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        introspection_endpoint: format!("{base}{INTROSPECT}"),
        introspection_endpoint_auth_methods_supported: vec!["client_secret_basic".to_string()],
        revocation_endpoint: format!("{base}{REVOKE}"),
        revocation_endpoint_auth_methods_supported: vec!["none".to_string()],
        dpop_signing_alg_values_supported: state.auth.dpop_algorithms().iter().map(ToString::to_string).collect(),
        issuer: state.auth.issuer().to_string(),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// The form both endpoints take; `token_type_hint` is allowed and, as RFC 7009 permits,
/// not needed: a token is tried as an access token, then as a refresh token.
#[derive(Deserialize)]
pub struct TokenForm {
    token: Option<String>,
    #[serde(rename = "token_type_hint")]
    _token_type_hint: Option<String>,
}

fn token(form: Result<Form<TokenForm>, FormRejection>) -> Result<String, ApiError> {
    match form {
        Ok(Form(TokenForm { token: Some(token), .. })) if !token.is_empty() => Ok(token),
        Ok(_) => Err(AuthError::InvalidForm("the form has no token").into()),
        Err(FormRejection::InvalidFormContentType(_)) => Err(ApiError::NotAForm),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge),
        Err(_) => Err(AuthError::InvalidForm("the body is not a form").into()),
    }
}

/// RFC 7662 §2: HTTP Basic with a client of `AUTH_INTROSPECTION_CLIENTS`, then the token.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, ApiError> {
    // RFC 6749 §2.3.1 has clients form-encode both parts first; `curl -u` and most HTTP
    // libraries do not. Either spelling of the one pair is accepted.
    let is_client = |(id, secret): &(String, String)| state.auth.introspection_client(id, secret);
    let (raw, decoded) = basic_credentials(&headers).ok_or(AuthError::InvalidClient)?;
    if !is_client(&raw) && !decoded.as_ref().is_some_and(is_client) {
        tokenflow::meter::introspection("invalid_client");
        return Err(AuthError::InvalidClient.into());
    }
    let answer = state.auth.introspect(&token(form)?).await?;
    tokenflow::meter::introspection(if answer.active { "active" } else { "inactive" });
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// RFC 7009 §2: 200 whether or not the token was one (§2.2), once its session is revoked.
pub async fn revoke(
    State(state): State<AppState>,
    Meta(meta): Meta,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, ApiError> {
    state.auth.revoke_token(&token(form)?, &meta).await?;
    Ok(StatusCode::OK.into_response())
}

/// `Authorization: Basic base64(id:secret)`: the pair as sent, and as RFC 6749 §2.3.1 would
/// have it (each part form-urlencoded) if it decodes so; `None` for anything else, or for
/// two `Authorization` headers.
type Credentials = (String, String);

fn basic_credentials(headers: &HeaderMap) -> Option<(Credentials, Option<Credentials>)> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (value, None) = (values.next()?, values.next()) else { return None };
    let (scheme, encoded) = value.to_str().ok()?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let form_decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " ")).decode_utf8().ok().map(|s| s.into_owned())
    };
    let decoded = form_decode(id).zip(form_decode(secret));
    Some(((id.to_string(), secret.to_string()), decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn basic_credentials_are_read_as_rfc_6749_writes_them() {
        let pair = |id: &str, secret: &str| (id.to_string(), secret.to_string());
        let encoded = STANDARD.encode("rs.one:s3cret%3Awith+colon");
        assert_eq!(
            basic_credentials(&headers(&[&format!("Basic {encoded}")])),
            Some((pair("rs.one", "s3cret%3Awith+colon"), Some(pair("rs.one", "s3cret:with colon"))))
        );
        let lower = basic_credentials(&headers(&[&format!("basic  {encoded}")]));
        assert_eq!(lower.map(|c| c.0.0), Some("rs.one".into()));
        // Not form-encoded and not decodable as such: only the pair as sent.
        let raw = basic_credentials(&headers(&[&format!("Basic {}", STANDARD.encode("id:100%"))]));
        assert_eq!(raw, Some((pair("id", "100%"), Some(pair("id", "100%")))));
        let raw = basic_credentials(&headers(&[&format!("Basic {}", STANDARD.encode("id:%ff"))]));
        assert_eq!(raw, Some((pair("id", "%ff"), None)));
        for bad in [
            vec![format!("Bearer {encoded}")],
            vec!["Basic".to_string()],
            vec!["Basic !!!".to_string()],
            vec![format!("Basic {}", STANDARD.encode("no-colon"))],
            vec![format!("Basic {encoded}"), format!("Basic {encoded}")],
            vec![],
        ] {
            let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
            assert_eq!(basic_credentials(&headers(&bad)), None, "{bad:?}");
        }
    }
}
