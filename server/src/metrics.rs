//! Prometheus metrics at `METRICS_ADDR` (`GET /metrics`, text format), on a listener of their
//! own so that they are never exposed with the app. Requests are counted and timed by route
//! and status; the core counts logins, refreshes, reuse, revocations, token checks, hashing
//! and mail (`tokenflow::meter`); levels (queues, pool, caches) are read at each scrape.
//! Without `METRICS_ADDR` no recorder is installed and all of it costs an atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokenflow::AuthService;

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

/// Count and time each request by route (the matched pattern, never the raw path, so ids do
/// not multiply the series) and status.
pub async fn record(request: Request, next: Next) -> Response {
    if !ENABLED.load(Ordering::Acquire) {
        return next.run(request).await;
    }
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("tokenflow_http_requests_total", &labels).increment(1);
    metrics::histogram!("tokenflow_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
