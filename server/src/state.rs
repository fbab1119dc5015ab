//! What every handler shares.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokenflow::AuthService;

#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    pub leptos: LeptosOptions,
    pub trusted_proxies: Arc<Vec<IpAddr>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
