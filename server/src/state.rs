//! What every handler shares. Handlers get it by value on every request (axum clones the
//! state into each call), so it is one `Arc`: a clone is one atomic increment.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use ipnet::IpNet;
use leptos::config::LeptosOptions;
use tokenflow::AuthService;

use crate::config::ConnectionLimits;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub auth: AuthService,
    pub leptos: LeptosOptions,
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// The origin pages are served from (`AUTH_ISSUER`'s), for the same-site check of `/fn/*`.
    pub origin: Arc<str>,
    pub connections: ConnectionLimits,
    /// `GET /api/outbox` and the `/outbox` page exist (see `Config::outbox_served`).
    pub outbox_served: bool,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
