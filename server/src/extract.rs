//! Extractors that turn a request into what handlers need, with contract-shaped rejections.

use std::net::IpAddr;

use ipnet::IpNet;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tokenflow::{ClientAddr, Credentials, Identity, RequestMeta};
use tower::{Layer, Service};

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

/// What the request presents to authenticate: its token (`Bearer` or `DPoP`), its DPoP proof,
/// and its method and path, which the proof must name; two `Authorization` headers are a 400.
///
/// # Errors
/// [`tokenflow::AuthError::AmbiguousCredentials`].
pub fn credentials(parts: &Parts) -> Result<Credentials<'_>, tokenflow::AuthError> {
    let values = |name: HeaderName| parts.headers.get_all(name).iter().map(|v| v.to_str().ok());
    Credentials::parse(values(AUTHORIZATION), values(DPOP), parts.method.as_str(), parts.uri.path())
}

/// The header a DPoP proof travels in (RFC 9449 §4.1).
pub const DPOP: HeaderName = HeaderName::from_static("dpop");

/// A protected route: the access token (and its DPoP proof) is verified before the handler runs (401 otherwise);
/// a method the route does not serve is still a 405, not a 401.
pub fn protected(route: MethodRouter<AppState>, state: &AppState) -> MethodRouter<AppState> {
    route.route_layer(Authenticate(state.clone()))
}

/// The one auth layer of protected routes: verifies the bearer token, puts the caller's
/// [`Identity`] in the request's extensions for [`Caller`], and stamps a successful answer
/// with `Server-Timing` saying how the token was checked.
///
/// A token and a session this instance already knows (nearly every request) are checked
/// without a future: the handler is called at once and its future is the layer's, unboxed.
/// Anything else (a session to read, keys to reload) waits in a boxed future.
#[derive(Clone)]
pub struct Authenticate(AppState);

impl<S> Layer<S> for Authenticate {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Authenticated<S> {
        Authenticated { state: self.0.clone(), inner }
    }
}

/// [`Authenticate`] around a route's handler.
#[derive(Clone)]
pub struct Authenticated<S> {
    state: AppState,
    inner: S,
}

impl<S> Service<Request> for Authenticated<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (parts, body) = request.into_parts();
        let checked = match credentials(&parts) {
            Ok(creds) => self.state.auth.authenticate_now(&creds),
            Err(e) => Ok(Err(e)),
        };
        match checked {
            Ok(Ok(identity)) => {
                let timing = timing(&identity);
                AuthFuture::Ready { inner: self.inner.call(with_caller(parts, body, identity)), timing }
            }
            Ok(Err(e)) => {
                AuthFuture::Waiting { future: Box::pin(std::future::ready(ApiError::from(e).into_response())) }
            }
            Err(unfinished) => {
                // The ready inner service goes into the future; `self` keeps a fresh clone.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let auth = self.state.auth.clone();
                AuthFuture::Waiting {
                    future: Box::pin(async move {
                        // The headers parsed above, so they parse again.
                        let identity = match credentials(&parts) {
                            Ok(creds) => auth.authenticate_rest(&creds, unfinished).await,
                            Err(e) => Err(e),
                        };
                        let identity = match identity {
                            Ok(identity) => identity,
                            Err(e) => return ApiError::from(e).into_response(),
                        };
                        let timing = timing(&identity);
                        let Ok(mut response) = inner.call(with_caller(parts, body, identity)).await;
                        stamp(&mut response, timing);
                        response
                    }),
                }
            }
        }
    }
}

fn with_caller(mut parts: Parts, body: axum::body::Body, identity: Identity) -> Request {
    parts.extensions.insert(identity);
    Request::from_parts(parts, body)
}

fn timing(identity: &Identity) -> Option<HeaderValue> {
    HeaderValue::try_from(tokenflow::web::token_timing(&identity.check)).ok()
}

/// `Server-Timing` on a successful answer only: an error says nothing about the token check.
fn stamp(response: &mut Response, timing: Option<HeaderValue>) {
    if let Some(timing) = timing.filter(|_| response.status().is_success()) {
        response.headers_mut().insert(HeaderName::from_static(tokenflow::web::SERVER_TIMING), timing);
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Authenticated`].
    #[project = AuthFutureProj]
    pub enum AuthFuture<F> {
        /// Authenticated from memory: the handler's own future.
        Ready { #[pin] inner: F, timing: Option<HeaderValue> },
        /// Refused, or authenticating with the database.
        Waiting { future: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for AuthFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AuthFutureProj::Ready { inner, timing } => {
                let Ok(mut response) = std::task::ready!(inner.poll(cx));
                stamp(&mut response, timing.take());
                Poll::Ready(Ok(response))
            }
            AuthFutureProj::Waiting { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

/// The caller of a protected route, as [`authenticate`] found it.
pub struct Caller(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let identity = parts.extensions.get::<Identity>().cloned();
        // A handler that asks for a caller on a route without the auth layer is a bug.
        identity
            .map(Caller)
            .ok_or_else(|| tokenflow::AuthError::internal("protected route without the auth layer").into())
    }
}

/// The client's address: the TCP peer, or the rightmost untrusted `X-Forwarded-For` hop when
/// the peer is a trusted proxy, so a spoofed header from anyone else changes nothing. The
/// connection loop (`serve`) resolves it once per request; handlers and server functions read
/// the [`ClientAddr`] extension.
///
/// Walk `X-Forwarded-For` from the right (the hop our trusted proxy added) while each hop is a
/// trusted proxy; the first untrusted hop is the client. A hop that does not parse ends the
/// walk at the last address we could vouch for: what lies left of it is the client's to
/// invent. IPv4-mapped IPv6 addresses count as the IPv4 address they are.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = tokenflow::web::canonical_ip(peer);
    if !is_trusted(&client) {
        return client;
    }
    let values: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    for hop in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else { return client };
        client = tokenflow::web::canonical_ip(ip);
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

/// Where the request came from (client address and `User-Agent`), for the session list and
/// the audit log.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(RequestMeta {
            ip: parts.extensions.get::<ClientAddr>().map(|c| c.0),
            user_agent: parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
        }))
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse::<IpNet>().unwrap_or_else(|_| IpNet::from(ip(n)))).collect()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer = ip("10.0.0.1");
        let p = parts(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2")]);
        assert_eq!(client_ip(peer, &p.headers, &[]), peer, "untrusted peer: header ignored");
        assert_eq!(client_ip(peer, &p.headers, &nets(&["10.0.0.1"])), ip("2.2.2.2"));
        assert_eq!(client_ip(peer, &p.headers, &nets(&["10.0.0.1", "2.2.2.2"])), ip("1.1.1.1"));
        assert_eq!(client_ip(peer, &parts(&[]).headers, &nets(&["10.0.0.1"])), peer);
    }

    #[test]
    fn trusted_proxies_may_be_cidr_ranges() {
        let p = parts(&[("x-forwarded-for", "7.7.7.7, 10.1.2.3")]);
        assert_eq!(client_ip(ip("10.9.9.9"), &p.headers, &nets(&["10.0.0.0/8"])), ip("7.7.7.7"));
    }

    #[test]
    fn an_unparsable_hop_ends_the_walk() {
        // Left of "junk" is whatever the client wrote; right of it, what our proxies vouch for.
        let p = parts(&[("x-forwarded-for", "6.6.6.6, junk, 10.0.0.2")]);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &p.headers, &trusted), ip("10.0.0.2"));
        let p = parts(&[("x-forwarded-for", "6.6.6.6, junk")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &p.headers, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_ipv4_client() {
        let trusted = nets(&["10.0.0.1"]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), &parts(&[]).headers, &trusted), ip("10.0.0.1"));
        let p = parts(&[("x-forwarded-for", "::ffff:8.8.8.8")]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), &p.headers, &trusted), ip("8.8.8.8"));
        assert_eq!(client_ip(ip("::ffff:9.9.9.9"), &parts(&[]).headers, &[]), ip("9.9.9.9"));
    }
}
