//! What every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use ipnet::IpNet;
use leptos::config::LeptosOptions;
use tokenflow::AuthService;

use crate::config::ConnectionLimits;

#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    pub leptos: LeptosOptions,
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// The origin pages are served from (`AUTH_ISSUER`'s), for the same-site check of `/fn/*`.
    pub origin: Arc<str>,
    pub connections: ConnectionLimits,
    /// `GET /api/outbox` and the `/outbox` page exist (see `Config::outbox_served`).
    pub outbox_served: bool,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
