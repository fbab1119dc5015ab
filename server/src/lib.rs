//! Tokenflow's HTTP server: the REST API of API.md, the Leptos pages, and the layers around
//! them. `main.rs` reads the configuration and calls [`serve`]; tests call it on port 0.

#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod assets;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod probe;
pub mod routes;
pub mod state;
mod timeouts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::{App, shell};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokenflow::store::Db;
use tokenflow::{AuthService, ClientAddr};

pub use config::Config;
use middleware::edge::{Edge, EdgeConfig, EdgeLayer, REQUEST_TIMEOUT};
pub use state::AppState;

/// Connect to the database, run migrations, load keys: everything before listening.
///
/// # Errors
/// Anything that should stop the server from starting, with its reason.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    let mut config = config.clone();
    config.load_key_encryption()?;
    let auth = start_auth(&config).await?;
    let leptos = LeptosOptions::builder()
        .output_name(assets::bundle_name(&config.site_root, &config.site_pkg_dir))
        .site_root(config.site_root.as_str())
        .site_pkg_dir(config.site_pkg_dir.as_str())
        .site_addr(config.site_addr)
        .build();
    Ok(AppState::new(state::Shared {
        origin: origin_of(&config.auth.issuer).into(),
        auth,
        leptos,
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        connections: config.connections,
        outbox_served: config.outbox_served,
    }))
}

/// The auth core on the configured database and keys, as the server and the operator
/// commands both run it (`config`'s key-encryption key already loaded).
///
/// # Errors
/// An unreachable database, a failed migration, an unusable key file or setting.
pub async fn start_auth(config: &Config) -> anyhow::Result<AuthService> {
    let db = Db::connect(&config.database_url).await.context("opening the database")?;
    let signing_key_pem = match &config.signing_key_file {
        Some(path) => Some(config::read_secret_file(path, "AUTH_SIGNING_KEY_FILE")?),
        None => None,
    };
    AuthService::start(db, config.auth.clone(), signing_key_pem).await.context("starting the auth core")
}

/// `scheme://host[:port]` of a URL: what a browser sends as `Origin`.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase())
}

/// The whole application: API, JWKS, health, pages and static files, behind the edge.
///
/// The edge wraps the router from outside: a layer added with `Router::layer` would wrap every
/// route on its own, and each such layer costs every request a boxed service clone and a boxed
/// future. Only the metrics' route label must sit inside (where axum knows the matched
/// pattern), and only when metrics are on.
pub fn router(state: AppState) -> Edge<Router> {
    let pages = generate_route_list(App);
    let options = state.leptos.clone();
    // Pages and server functions reach the core through Leptos context.
    let auth = state.auth.clone();
    let outbox = app::server_fns::OutboxServed(state.outbox_served);
    let provide_auth = move || {
        leptos::prelude::provide_context(auth.clone());
        leptos::prelude::provide_context(outbox);
    };
    let edge = EdgeLayer::new(EdgeConfig {
        origin: Arc::clone(&state.origin),
        https: state.origin.starts_with("https://"),
        timeout: REQUEST_TIMEOUT,
    });
    let pkg = format!("/{}", state.leptos.site_pkg_dir);
    let bundle_dir = std::path::Path::new(&*state.leptos.site_root).join(&*state.leptos.site_pkg_dir);
    let bundle = state.leptos.output_name.to_string();
    let routes = Router::new()
        .nest_service(&pkg, assets::router(&bundle_dir, &bundle))
        .merge(routes::health::router())
        .merge(routes::jwks::router())
        .merge(routes::api(&state))
        .leptos_routes_with_context(&state, pages, provide_auth.clone(), move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide_auth, shell));
    let routes = if metrics::enabled() { routes.layer(metrics::RouteLabelLayer) } else { routes };
    tower::Layer::layer(&edge, routes.with_state(state))
}

/// Serve until `shutdown` resolves, then finish in-flight requests.
///
/// Each connection must send a request head within `head_timeout` (from its start, and from
/// each response on a kept-alive connection), is closed after `idle_timeout` without traffic,
/// and at most `max_connections` are served at once (the rest wait in the listen backlog): a
/// client that trickles bytes or holds sockets open cannot pin the server.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.connections;
    let trusted_proxies = Arc::clone(&state.trusted_proxies);
    let app = router(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // No timer for hyper: its head timeout would arm one for every request. `timeouts` keeps
    // both clocks of a connection with one timer for its whole life.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(None).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin or exit.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let trusted_proxies = Arc::clone(&trusted_proxies);
        let peer = peer.ip();
        let requests = Arc::new(timeouts::Requests::default());
        let io = timeouts::Watched::new(
            hyper_util::rt::TokioIo::new(stream),
            Arc::clone(&requests),
            limits.idle_timeout,
            limits.head_timeout,
        );
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            let in_flight = requests.start();
            // The client's address, once: behind a trusted proxy, from `X-Forwarded-For`.
            let client = extract::client_ip(peer, request.headers(), &trusted_proxies);
            request.extensions_mut().insert(ClientAddr(client));
            let answer = tower::ServiceExt::oneshot(app.clone(), request.map(axum::body::Body::new));
            timeouts::Counted::new(answer, in_flight)
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
    // Give a load balancer a moment to notice; in-flight requests finish regardless.
    tokio::time::sleep(Duration::from_millis(50)).await;
}
