//! Cross-cutting layers. Every request passes the one `edge` layer (request ids, client
//! address, body limit, same-site check of server functions, tracing, timeout, panic guard, JSON
//! errors, security headers, metrics); the auth routes add the per-client rate limit.

pub mod edge;
pub mod rate_limit;
mod request_id;
mod same_site;
pub mod telemetry;
