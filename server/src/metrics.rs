//! Prometheus metrics at `METRICS_ADDR` (`GET /metrics`, text format), on a listener of their
//! own so that they are never exposed with the app. Requests are counted and timed by route
//! and status; the core counts logins, refreshes, reuse, revocations, token checks, hashing
//! and mail (`tokenflow::meter`); levels (queues, pool, caches) are read at each scrape.
//! Without `METRICS_ADDR` no recorder is installed and all of it costs an atomic load.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokenflow::AuthService;
use tower::{Layer, Service};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Latency buckets, in seconds: from a cached token check to a slow login.
const BUCKETS: &[f64] = &[0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Install the process-wide recorder (once; later calls return the same handle).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            ENABLED.store(true, Ordering::Release);
            Some(handle)
        })
        .clone()
}

/// Serve `GET /metrics` on `listener` until the process ends.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    auth: AuthService,
    handle: PrometheusHandle,
) -> std::io::Result<()> {
    let scrape = move || {
        let (auth, handle) = (auth.clone(), handle.clone());
        async move {
            auth.levels().await.record();
            handle.run_upkeep();
            ([(CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
    };
    axum::serve(listener, Router::new().route("/metrics", get(scrape))).await
}

/// Whether a recorder is installed (one atomic load).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Count and time one request by route (the matched pattern, never the raw path, so ids do not
/// multiply the series), method and status. Called by the edge, which times the whole request.
pub fn record_request(route: &str, method: &str, status: StatusCode, elapsed: Duration) {
    let labels =
        [("route", route.to_string()), ("method", method.to_string()), ("status", status.as_u16().to_string())];
    metrics::counter!("tokenflow_http_requests_total", &labels).increment(1);
    metrics::histogram!("tokenflow_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// A layer for every route (`Router::layer` wraps each one, where axum knows the matched
/// pattern): with metrics on, the route's [`MatchedPath`] travels out on the response for the
/// edge to label the request with. With metrics off it passes the request straight through.
#[derive(Clone, Copy, Default)]
pub struct RouteLabelLayer;

impl<S> Layer<S> for RouteLabelLayer {
    type Service = RouteLabel<S>;

    fn layer(&self, inner: S) -> RouteLabel<S> {
        RouteLabel { inner }
    }
}

#[derive(Clone)]
pub struct RouteLabel<S> {
    inner: S,
}

impl<S> Service<Request> for RouteLabel<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Labelled<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = if enabled() { request.extensions().get::<MatchedPath>().cloned() } else { None };
        Labelled { inner: self.inner.call(request), route }
    }
}

pin_project_lite::pin_project! {
    pub struct Labelled<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for Labelled<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}
