//! Cross-cutting layers: security headers, body limits, JSON error bodies, rate limits,
//! request ids and tracing.

pub mod body_limit;
pub mod json_errors;
pub mod rate_limit;
pub mod same_site;
pub mod security_headers;
pub mod telemetry;
