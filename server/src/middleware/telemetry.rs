//! Logs: a request id in every span, the `Authorization` header never printed.

use axum::http::Request;
use tower_http::request_id::RequestId;
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber: `RUST_LOG` filters, `LOG_FORMAT=json` for JSON lines.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // stderr: stdout belongs to the CLI commands' output (`keys rotate` prints the new kid).
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    // A second init (tests start several servers) is harmless: keep the first.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// The span of one request: method, path and request id; never headers or bodies.
pub fn make_span<B>(request: &Request<B>) -> Span {
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
}
