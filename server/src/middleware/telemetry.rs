//! Logs: the subscriber. The edge opens a span per request with its id (`middleware::edge`).

use tracing_subscriber::EnvFilter;

/// Install the global subscriber: `RUST_LOG` filters, `LOG_FORMAT=json` for JSON lines.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // stderr: stdout belongs to the CLI commands' output (`keys rotate` prints the new kid).
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    // A second init (tests start several servers) is harmless: keep the first.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
