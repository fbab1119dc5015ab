//! The edge: what every request passes through, in one layer around the router and one future
//! (not boxed) instead of a stack of a dozen. In order:
//!
//! 1. `Authorization` and `Cookie` are marked sensitive (never printed by `Debug`);
//! 2. the request gets an id (`X-Request-Id`: the client's if it sent one, else a cheap unique
//!    one), in its span and echoed on the response;
//! 3. a declared body over 16 KiB is a 413, a cross-site call of a server function a 403, before
//!    anything reads the request; a chunked body is held to the same limit by the extractors;
//! 4. the router runs inside a span (built only when a subscriber wants it), a timeout (a
//!    timer is armed only if the handler does not finish on its first poll) and a panic guard;
//! 5. the response is made contract-shaped: JSON errors on API paths, `Cache-Control: no-store`
//!    on `/api/*` and `/fn/*`, the security headers on everything; counted and timed by route
//!    when metrics are on.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::{self, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use tokenflow::dto::ErrorCode;
use tokio::time::Sleep;
use tower::{Layer, Service};

use super::{request_id, same_site};
use crate::error::error_response;
use crate::metrics;

/// Bodies over this are refused: by a declared `Content-Length` here, by the extractors (told
/// through axum's `DefaultBodyLimit`) for a chunked body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// No request may hold a connection longer; the password queue drains far faster.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the edge needs to know of the deployment.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// The origin pages are served from, for the same-site check of `/fn/*`.
    pub origin: Arc<str>,
    /// Served over https: responses carry `Strict-Transport-Security`.
    pub https: bool,
    /// A request that takes longer is answered 408.
    pub timeout: Duration,
}

/// Where a path lives decides what its responses must look like.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Area {
    /// `/api/*`: JSON errors, never cached (unless the handler said otherwise).
    Api,
    /// `/.well-known/*`, `/healthz`, `/readyz`: JSON errors.
    Public,
    /// `/fn/*`: this site's pages only; answers may carry tokens, never cached.
    ServerFn,
    /// Pages and static files.
    Site,
}

impl Area {
    fn of(path: &str) -> Area {
        if path == "/api" || path.starts_with("/api/") {
            Area::Api
        } else if path.starts_with("/fn/") {
            Area::ServerFn
        } else if path.starts_with("/.well-known/") || path == "/healthz" || path == "/readyz" {
            Area::Public
        } else {
            Area::Site
        }
    }

    fn json_errors(self) -> bool {
        matches!(self, Area::Api | Area::Public)
    }
}

#[derive(Clone)]
pub struct EdgeLayer {
    config: Arc<EdgeConfig>,
}

impl EdgeLayer {
    pub fn new(config: EdgeConfig) -> EdgeLayer {
        EdgeLayer { config: Arc::new(config) }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner, config: Arc::clone(&self.config) }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    config: Arc<EdgeConfig>,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let config = &*self.config;
        let area = Area::of(request.uri().path());
        mark_sensitive(request.headers_mut());
        // Only a body can outgrow the limit (hyper knows a bodiless request for what it is).
        if axum::body::HttpBody::size_hint(request.body()).exact() != Some(0) {
            DefaultBodyLimit::max(MAX_BODY_BYTES).apply(&mut request);
        }
        let request_id = request.headers().get(X_REQUEST_ID).cloned().unwrap_or_else(request_id::next);
        let metered = metrics::enabled().then(|| Metered::of(&request));
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id.to_str().unwrap_or_default(),
        );
        // A disabled span would still be entered and left on every poll.
        let span = (!span.is_disabled()).then_some(span);
        let finish = Finish { area, request_id, https: config.https, metered };

        let state = match refusal(&request, area, &config.origin) {
            Some(refused) => State::Answered { response: Some(refused) },
            None => {
                // Ready was polled on `self.inner`; this clone takes its place for the next call.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                // The router's synchronous part (routing, a handler's first steps) may panic too.
                let _entered = span.as_ref().map(tracing::Span::enter);
                match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
                    Ok(future) => State::Running {
                        handler: AssertUnwindSafe(future).catch_unwind(),
                        limit: config.timeout,
                        timer: None,
                    },
                    Err(_) => State::Answered { response: Some(panicked()) },
                }
            }
        };
        EdgeFuture { state, span, finish: Some(finish) }
    }
}

pin_project_lite::pin_project! {
    /// The edge's answer: the router's future under the panic guard and the timeout, then made
    /// contract-shaped. Not boxed: the router's own future is the only allocation on the way.
    pub struct EdgeFuture<F> {
        #[pin]
        state: State<F>,
        span: Option<tracing::Span>,
        finish: Option<Finish>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        /// Refused or panicked before the router returned a future.
        Answered { response: Option<Response> },
        /// The handler runs; a timer is armed only if it does not finish on its first poll.
        Running {
            #[pin]
            handler: CatchUnwind<AssertUnwindSafe<F>>,
            limit: Duration,
            timer: Option<Pin<Box<Sleep>>>,
        },
    }
}

/// What the response needs once the handler is done.
struct Finish {
    area: Area,
    request_id: HeaderValue,
    https: bool,
    metered: Option<Metered>,
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        let response = match this.state.project() {
            StateProj::Answered { response } => response.take().unwrap_or_else(panicked),
            StateProj::Running { handler, limit, timer } => match handler.poll(cx) {
                Poll::Ready(Ok(Ok(response))) => response,
                Poll::Ready(Ok(Err(never))) => match never {},
                Poll::Ready(Err(_)) => panicked(),
                Poll::Pending => {
                    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(*limit)));
                    std::task::ready!(timer.as_mut().poll(cx));
                    tracing::warn!(limit_secs = limit.as_secs_f64(), "request timed out");
                    StatusCode::REQUEST_TIMEOUT.into_response()
                }
            },
        };
        let Some(Finish { area, request_id, https, metered }) = this.finish.take() else {
            return Poll::Ready(Ok(response));
        };
        let response = finish(response, area, request_id, https);
        if let Some(metered) = metered {
            metered.record(&response);
        }
        Poll::Ready(Ok(response))
    }
}

/// A bug must not drop the connection or leak a backtrace: a plain 500, which `finish` turns
/// into the contract's JSON on API paths.
fn panicked() -> Response {
    tracing::error!("a handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// What is refused before the router sees it.
fn refusal(request: &Request, area: Area, origin: &str) -> Option<Response> {
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Some(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "request body is over 16 KiB",
        ));
    }
    if area == Area::ServerFn && same_site::is_cross_site(request.headers(), origin) {
        return Some(error_response(
            StatusCode::FORBIDDEN,
            ErrorCode::CrossSite,
            "server functions answer this site's pages only",
        ));
    }
    None
}

fn mark_sensitive(headers: &mut HeaderMap) {
    for name in [header::AUTHORIZATION, header::COOKIE] {
        if let header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

/// The response as the contract and the browser need it.
fn finish(response: Response, area: Area, request_id: HeaderValue, https: bool) -> Response {
    let status = response.status();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), "server error");
    }
    let mut response = if area.json_errors() { json_error(response) } else { response };
    let headers = response.headers_mut();
    // Room for what follows, so the map grows once instead of twice.
    headers.reserve(10);
    match area {
        Area::Api => {
            if !headers.contains_key(CACHE_CONTROL) {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
        }
        Area::ServerFn => {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Area::Public | Area::Site => {}
    }
    headers.insert(X_REQUEST_ID, request_id);
    security_headers(headers, https);
    response
}

/// Every response: the strictest CSP unless the page set its own (with the nonce of its
/// hydration script), no sniffing, no framing, no referrer, no opener, no powerful features;
/// over https, never plain http again for two years.
fn security_headers(headers: &mut HeaderMap, https: bool) {
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if https {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
}

/// A safety net: an error answered on an API path by something other than our handlers (axum's
/// 405, the 413 of a chunked body, a 408, a caught panic) still gets the contract's JSON body.
/// What the original said about retrying or authenticating is kept.
fn json_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
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
    let (parts, _) = response.into_parts();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed
}

/// A request being counted: when it started and what it was.
struct Metered {
    method: axum::http::Method,
    started: Instant,
}

impl Metered {
    fn of(request: &Request) -> Metered {
        Metered { method: request.method().clone(), started: Instant::now() }
    }

    fn record(self, response: &Response) {
        let route = response.extensions().get::<MatchedPath>().map_or("other", MatchedPath::as_str);
        metrics::record_request(route, self.method.as_str(), response.status(), self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    fn edge(https: bool, timeout: Duration) -> Edge<Router> {
        let routes = Router::new()
            .route("/api/ok", get(|| async { "ok" }))
            .route("/api/panic", get(panics))
            .route("/api/slow", get(|| async { tokio::time::sleep(Duration::from_secs(60)).await }))
            .route("/api/echo", post(|body: String| async move { body }))
            .route("/fn/whoami", post(|| async { "me" }))
            .route("/page", get(|| async { (StatusCode::NOT_FOUND, "no such page") }))
            .route("/api/cached", get(|| async { ([(CACHE_CONTROL, "max-age=60")], "cached") }));
        EdgeLayer::new(EdgeConfig { origin: "https://auth.example".into(), https, timeout }).layer(routes)
    }

    #[allow(clippy::panic)]
    async fn panics() -> &'static str {
        panic!("a bug")
    }

    async fn send(app: Edge<Router>, request: Request) -> (StatusCode, HeaderMap, String) {
        let response = app.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get_req(path: &str) -> Request {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn every_response_gets_a_request_id_and_the_security_headers() {
        let (status, h, _) = send(edge(true, REQUEST_TIMEOUT), get_req("/api/ok")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!h["x-request-id"].is_empty());
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(h["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
        assert_eq!(h["cache-control"], "no-store");
        let (_, h, _) = send(edge(false, REQUEST_TIMEOUT), get_req("/page")).await;
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain http");
        assert!(h.get("cache-control").is_none(), "pages decide their own caching");
    }

    #[tokio::test]
    async fn a_clients_request_id_is_kept_and_generated_ones_differ() {
        let request = Request::get("/api/ok").header("x-request-id", "trace-me-42").body(Body::empty()).unwrap();
        let (_, h, _) = send(edge(false, REQUEST_TIMEOUT), request).await;
        assert_eq!(h["x-request-id"], "trace-me-42");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let (_, h, _) = send(edge(false, REQUEST_TIMEOUT), get_req("/api/ok")).await;
            assert!(seen.insert(h["x-request-id"].clone()), "a request id repeated");
        }
    }

    #[tokio::test]
    async fn a_panic_is_a_json_500_and_the_next_request_is_served() {
        let app = edge(false, REQUEST_TIMEOUT);
        let (status, h, body) = send(app.clone(), get_req("/api/panic")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(body, r#"{"error":"internal_error","message":"internal error"}"#);
        assert!(!body.contains("a bug"), "no panic message leaks");
        assert!(h.get("x-request-id").is_some());
        let (status, _, _) = send(app, get_req("/api/ok")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_slow_handler_is_a_json_408() {
        let (status, _, body) = send(edge(false, Duration::from_millis(50)), get_req("/api/slow")).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body, r#"{"error":"timeout","message":"request timed out"}"#);
    }

    #[tokio::test]
    async fn a_declared_body_over_the_limit_is_refused_before_the_handler() {
        let request = Request::post("/api/echo")
            .header("content-length", (MAX_BODY_BYTES + 1).to_string())
            .body(Body::from(vec![b'x'; MAX_BODY_BYTES + 1]))
            .unwrap();
        let (status, h, body) = send(edge(false, REQUEST_TIMEOUT), request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("payload_too_large"), "{body}");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }

    #[tokio::test]
    async fn an_undeclared_body_over_the_limit_is_refused_by_the_extractor() {
        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(vec![b'x'; MAX_BODY_BYTES + 1])]);
        let request = Request::post("/api/echo").body(Body::from_stream(chunks)).unwrap();
        assert!(request.headers().get(CONTENT_LENGTH).is_none());
        let (status, h, body) = send(edge(false, REQUEST_TIMEOUT), request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("payload_too_large"), "{body}");
        assert_eq!(h["content-type"], "application/json");
        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(vec![b'x'; MAX_BODY_BYTES])]);
        let request = Request::post("/api/echo").body(Body::from_stream(chunks)).unwrap();
        let (status, _, body) = send(edge(false, REQUEST_TIMEOUT), request).await;
        assert_eq!((status, body.len()), (StatusCode::OK, MAX_BODY_BYTES), "a body at the limit is read whole");
    }

    #[tokio::test]
    async fn server_functions_refuse_other_sites_and_are_never_cached() {
        let request = Request::post("/fn/whoami").header("origin", "https://evil.example").body(Body::empty()).unwrap();
        let (status, _, body) = send(edge(false, REQUEST_TIMEOUT), request).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("cross_site"), "{body}");
        let request = Request::post("/fn/whoami").header("origin", "https://auth.example").body(Body::empty()).unwrap();
        let (status, h, _) = send(edge(false, REQUEST_TIMEOUT), request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["cache-control"], "no-store");
    }

    #[tokio::test]
    async fn api_errors_are_json_pages_are_not_and_handlers_keep_their_caching() {
        let (status, h, body) = send(edge(false, REQUEST_TIMEOUT), get_req("/api/nowhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(h["content-type"], "application/json");
        assert!(body.contains("not_found"), "{body}");
        let (status, _, body) = send(edge(false, REQUEST_TIMEOUT), get_req("/page")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, "no such page");
        let (_, h, _) = send(edge(false, REQUEST_TIMEOUT), get_req("/api/cached")).await;
        assert_eq!(h["cache-control"], "max-age=60");
    }

    #[test]
    fn areas() {
        assert_eq!(Area::of("/api"), Area::Api);
        assert_eq!(Area::of("/api/me"), Area::Api);
        assert_eq!(Area::of("/apiary"), Area::Site);
        assert_eq!(Area::of("/fn/login"), Area::ServerFn);
        assert_eq!(Area::of("/.well-known/jwks.json"), Area::Public);
        assert_eq!(Area::of("/healthz"), Area::Public);
        assert_eq!(Area::of("/login"), Area::Site);
    }
}
