//! `tokenflow`: serve (the default) or run an operator command.

use std::process::ExitCode;

use server::{Config, build_state, serve, shutdown_signal};

const USAGE: &str = "usage: tokenflow [serve]\n\nConfiguration comes from environment variables; see README.md.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    match command.as_slice() {
        [] | ["serve"] => run().await,
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tokenflow: refusing to start: {e:#}");
            return ExitCode::from(2);
        }
    };
    server::middleware::telemetry::init(config.log_json);
    tracing::info!(?config, "starting");
    let state = match build_state(&config).await {
        Ok(state) => state,
        Err(e) => {
            tracing::error!("refusing to start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.site_addr).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", config.site_addr);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("listening on http://{}", config.site_addr);
    match serve(state, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
