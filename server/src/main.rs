//! `tokenflow`: serve (the default) or run an operator command.

use std::process::ExitCode;

use server::{Config, build_state, serve, shutdown_signal};

const USAGE: &str = "usage: tokenflow [serve]        serve the app and the API (the default)
       tokenflow keys rotate   add a new signing key and retire the others (nobody is logged out)
       tokenflow keys list     show the keys that still verify, and which one signs

Configuration comes from environment variables (DATABASE_URL, ...); see README.md.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    match command.as_slice() {
        [] | ["serve"] => run().await,
        ["keys", "rotate"] => keys(KeysCommand::Rotate).await,
        ["keys", "list"] => keys(KeysCommand::List).await,
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

/// The configuration, with logging set up; or the reason it makes no sense.
fn load_config() -> Result<Config, ExitCode> {
    match Config::from_env() {
        Ok(config) => {
            server::middleware::telemetry::init(config.log_json);
            Ok(config)
        }
        Err(e) => {
            eprintln!("tokenflow: refusing to start: {e:#}");
            Err(ExitCode::from(2))
        }
    }
}

async fn run() -> ExitCode {
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
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

enum KeysCommand {
    Rotate,
    List,
}

/// Operator commands on the key ring in the database that every instance shares.
async fn keys(command: KeysCommand) -> ExitCode {
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    if config.signing_key_file.is_some() {
        eprintln!("tokenflow: AUTH_SIGNING_KEY_FILE is set: that key is managed outside Tokenflow; rotate it there");
        return ExitCode::from(2);
    }
    let db = match tokenflow::store::Db::connect(&config.database_url).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("tokenflow: opening the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        KeysCommand::Rotate => tokenflow::rotate_keys(&db).await.map(|kid| {
            println!("{kid}");
            eprintln!("new signing key {kid}; running instances switch within their key reload (10 s), old keys verify until their tokens expire");
        }),
        KeysCommand::List => list_keys(&db, &config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenflow: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn list_keys(db: &tokenflow::store::Db, config: &Config) -> Result<(), String> {
    let horizon = tokenflow::time::now() - i64::try_from(config.auth.retired_key_lifetime_secs()).unwrap_or(0);
    let keys = tokenflow::store::keys::list_usable(&db.pool, horizon).await.map_err(|e| e.to_string())?;
    for key in keys {
        let status = match key.retired_at {
            None => "signs".to_string(),
            Some(at) => format!("retired {} (verifies until its tokens expire)", tokenflow::time::rfc3339(at)),
        };
        println!("{}  created {}  {status}", key.kid, tokenflow::time::rfc3339(key.created_at));
    }
    Ok(())
}
