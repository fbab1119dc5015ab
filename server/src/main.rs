//! `tokenflow`: serve (the default) or run an operator command.

// The operator commands answer on stdout (the data) and stderr (the commentary).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use server::config::Settings;
use server::{Config, build_state, serve, shutdown_signal};
use tokenflow::dto::Role;

/// Tokenflow: JWT authentication, end to end. Every setting is a flag or its environment
/// variable (shown in brackets); see README.md and .env.example.
#[derive(Parser)]
#[command(name = "tokenflow", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app and the API (the default).
    Serve,
    /// The signing keys every instance shares.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Accounts, as the operator: the only way to make an admin until emails are verified.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key and retire the others (nobody is logged out).
    Rotate,
    /// Show the keys that still verify, and which one signs.
    List,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Make the account with this email an admin (its tokens say so from their next refresh).
    Promote { email: String },
    /// Make the account with this email a plain user again.
    Demote { email: String },
    /// List accounts, oldest first.
    List {
        /// Only emails containing this.
        #[arg(long, default_value = "")]
        q: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse_cli();
    let Ok(mut config) = load_config(cli.settings) else { return ExitCode::from(2) };
    if let Err(e) = config.load_key_encryption() {
        eprintln!("tokenflow: refusing to start: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return run(config).await,
        Command::Keys(command) => keys(command, &config).await,
        Command::Users(command) => users(command, &config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with the environment behind it. An empty variable (`AUTH_ADMIN_EMAILS=`
/// copied from .env.example) means "not set", as it does in a shell's `${VAR:-default}`.
fn parse_cli() -> Cli {
    let command = Cli::command().mut_args(|arg| {
        let empty = arg.get_env().and_then(std::env::var_os).is_some_and(|v| v.to_string_lossy().trim().is_empty());
        if empty { arg.env(None::<&str>) } else { arg }
    });
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

/// The configuration, with logging set up; or the reason it makes no sense.
fn load_config(settings: Settings) -> Result<Config, ()> {
    match Config::from_settings(settings) {
        Ok(config) => {
            server::middleware::telemetry::init(config.log_json);
            Ok(config)
        }
        Err(e) => {
            eprintln!("tokenflow: refusing to start: {e:#}");
            Err(())
        }
    }
}

async fn run(config: Config) -> ExitCode {
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

async fn open_db(config: &Config) -> anyhow::Result<tokenflow::store::Db> {
    tokenflow::store::Db::connect(&config.database_url).await.context("opening the database")
}

/// Operator commands on the key ring in the database that every instance shares.
async fn keys(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    if config.signing_key_file.is_some() {
        anyhow::bail!("AUTH_SIGNING_KEY_FILE is set: that key is managed outside Tokenflow; rotate it there");
    }
    let db = open_db(config).await?;
    match command {
        KeysCommand::Rotate => {
            let kid =
                tokenflow::rotate_keys(&db, config.auth.key_encryption.as_ref()).await.context("rotating keys")?;
            println!("{kid}");
            eprintln!(
                "new signing key {kid}; running instances switch within their key reload (10 s), old keys verify until their tokens expire"
            );
            Ok(())
        }
        KeysCommand::List => list_keys(&db, config).await,
    }
}

async fn list_keys(db: &tokenflow::store::Db, config: &Config) -> anyhow::Result<()> {
    let horizon = tokenflow::time::now() - i64::try_from(config.auth.retired_key_lifetime_secs()).unwrap_or(0);
    let keys = tokenflow::store::keys::list_usable(&db.pool, horizon).await.context("listing keys")?;
    for key in keys {
        let status = match key.retired_at {
            None => "signs".to_string(),
            Some(at) => format!("retired {} (verifies until its tokens expire)", tokenflow::time::rfc3339(at)),
        };
        println!("{}  created {}  {status}", key.kid, tokenflow::time::rfc3339(key.created_at));
    }
    Ok(())
}

/// Operator commands on accounts.
async fn users(command: UsersCommand, config: &Config) -> anyhow::Result<()> {
    let db = open_db(config).await?;
    let (email, role) = match command {
        UsersCommand::Promote { email } => (email, Role::Admin),
        UsersCommand::Demote { email } => (email, Role::User),
        UsersCommand::List { q } => return list_users(&db, &q).await,
    };
    let user = tokenflow::set_role(&db, &email, role).await.map_err(|e| match e {
        tokenflow::AuthError::NotFound => anyhow::anyhow!("no account with email {email:?}"),
        other => anyhow::Error::new(other).context("setting the role"),
    })?;
    println!("{}  {}  {}", user.id, user.email, user.role.as_str());
    eprintln!("role set; the account's tokens carry it from their next refresh (at most the access token lifetime)");
    Ok(())
}

async fn list_users(db: &tokenflow::store::Db, q: &str) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let page = tokenflow::store::users::page(&db.pool, &q.trim().to_lowercase(), after.as_ref(), 500)
            .await
            .context("listing users")?;
        let Some((_, last)) = page.last().cloned() else { return Ok(()) };
        for (user, _) in &page {
            println!("{}  {}  {}  created {}", user.id, user.email, user.role.as_str(), user.created_at);
        }
        after = Some(last);
    }
}
