//! Extractors that turn a request into what handlers need, with contract-shaped rejections.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use tokenflow::{ClientAddr, Identity};

use crate::error::ApiError;
use crate::state::AppState;

/// `axum::Json` whose rejections are the contract's 400/413/415/422.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// The bearer token of the request, if any.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    tokenflow::bearer_token(parts.headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// A caller whose bearer token verified and whose session is live.
pub struct Authenticated(pub Identity);

/// A response with `Server-Timing` saying how the caller's token was checked.
pub fn with_token_timing(who: &Identity, response: impl axum::response::IntoResponse) -> Response {
    let mut response = response.into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&tokenflow::web::token_timing(&who.check)) {
        response.headers_mut().insert(axum::http::HeaderName::from_static("server-timing"), value);
    }
    response
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let identity = state.auth.authenticate(bearer_token(parts)).await?;
        Ok(Authenticated(identity))
    }
}

/// The client's address: the TCP peer, or the rightmost untrusted `X-Forwarded-For` hop when
/// the peer is a trusted proxy, so a spoofed header from anyone else changes nothing.
/// Runs for every request; handlers and server functions read the [`ClientAddr`] extension.
pub async fn resolve_client_addr(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let addr = client_ip(peer, request.headers(), &state.trusted_proxies);
        request.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(request).await
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    hops.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer)
}

/// The `User-Agent`, for the session list.
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let p = parts(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2")]);
        assert_eq!(client_ip(peer, &p.headers, &[]), peer, "untrusted peer: header ignored");
        assert_eq!(client_ip(peer, &p.headers, &[peer]), "2.2.2.2".parse::<IpAddr>().unwrap());
        let two: IpAddr = "2.2.2.2".parse().unwrap();
        assert_eq!(client_ip(peer, &p.headers, &[peer, two]), "1.1.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &parts(&[]).headers, &[peer]), peer);
    }
}
