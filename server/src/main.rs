//! `tokenflow`: serve (the default) or run an operator command.

// The operator commands answer on stdout (the data) and stderr (the commentary).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use server::config::Settings;
use server::{Config, build_state, serve, shutdown_signal};
use tokenflow::dto::{Role, UserPatch, UserQuery};
use tokenflow::{Actor, AuthError, AuthService, RequestMeta};

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
    /// Accounts, as the operator (each change is in the audit log).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Send the JWT forgery catalogue (and DPoP misuse) to a protected URL with a valid token;
    /// report what it accepted. Exit 1 if it accepted any forgery, 2 if it could not judge.
    Probe(ProbeArgs),
    /// A DPoP client on the command line: make a key, sign proofs (for curl, scripts, benches).
    #[command(subcommand)]
    Dpop(DpopCommand),
}

#[derive(Subcommand)]
enum DpopCommand {
    /// Print a new P-256 proof key (PKCS#8 PEM; keep it private).
    Key,
    /// Print proofs by the key for METHOD URL, one per line, each with its own jti.
    Proof {
        /// The key file (`dpop key` wrote it).
        #[arg(long)]
        key: std::path::PathBuf,
        method: String,
        /// The URL as the server names itself: its AUTH_ISSUER followed by the path.
        url: String,
        /// The access token the proofs go with (their ath); none for sign-in and refresh.
        #[arg(long, env = "DPOP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// The protected URL.
    url: String,
    /// A token the URL accepts now.
    #[arg(long, env = "PROBE_TOKEN", hide_env_values = true)]
    token: String,
    /// The issuer's JWK set [default: the token's iss + /.well-known/jwks.json].
    #[arg(long)]
    jwks: Option<String>,
    #[arg(long, default_value = "GET")]
    method: String,
    /// The issuer's Ed25519 signing key (PKCS#8 PEM; a test issuer's): adds the forgeries
    /// whose signature holds and whose claims do not.
    #[arg(long)]
    signing_key: Option<std::path::PathBuf>,
    /// The key a DPoP-bound token is bound to (PKCS#8 PEM, P-256 or Ed25519).
    #[arg(long)]
    dpop_key: Option<std::path::PathBuf>,
    /// The URL as the target names itself in DPoP proofs' htu [default: URL].
    #[arg(long)]
    public_url: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key and retire the others (nobody is logged out).
    Rotate,
    /// Show the keys that still verify, and which one signs.
    List,
    /// Withdraw a (compromised) key at once: it leaves the JWKS and every instance's ring
    /// within 2 s, the tokens it signed are refused, and if it was signing a fresh key signs.
    Retire {
        /// The key id (as `keys list` shows it; it may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// List accounts, oldest first.
    List {
        /// Only emails containing this.
        #[arg(long, default_value = "")]
        q: String,
    },
    /// Create an account (email counted as verified). The password is read from stdin, or
    /// prompted for on a terminal: never from the command line, where `ps` would show it.
    Create {
        email: String,
        /// Make it an admin.
        #[arg(long)]
        admin: bool,
    },
    /// Make the account an admin (its tokens say so from their next refresh).
    Promote { email: String },
    /// Make the account a plain user again (refused for the last enabled admin).
    Demote { email: String },
    /// Disable the account: every session ends, and it cannot sign in until enabled.
    Disable { email: String },
    /// Enable a disabled account.
    Enable { email: String },
    /// Print a password reset link for the account (nothing is mailed): the way in for an
    /// operator without mail.
    ResetLink { email: String },
    /// Remove every second factor of the account (authenticator app, recovery codes,
    /// passkeys) and end its sessions: the way back in for someone who lost them all, the
    /// last admin included.
    ResetFactors { email: String },
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(tokenflow::sched::request_thread)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(tokenflow_main()),
        Err(e) => {
            eprintln!("tokenflow: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn tokenflow_main() -> ExitCode {
    let cli = parse_cli();
    match cli.command {
        Some(Command::Probe(args)) => return probe(args).await,
        Some(Command::Dpop(command)) => return dpop(command),
        _ => {}
    }
    let Ok(mut config) = load_config(cli.settings) else { return ExitCode::from(2) };
    if let Err(e) = config.load_key_encryption() {
        eprintln!("tokenflow: refusing to start: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return run(config).await,
        Command::Keys(command) => keys(command, &config).await,
        Command::Users(command) => users(command, &config).await,
        Command::Probe(_) | Command::Dpop(_) => unreachable!("handled before the configuration"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tokenflow dpop`: a proof key and its proofs, with no configuration.
fn dpop(command: DpopCommand) -> ExitCode {
    use std::io::Write;
    use tokenflow::dpop::ProofKey;
    let made = match command {
        DpopCommand::Key => ProofKey::generate_p256()
            .map_err(|e| e.to_string())
            .and_then(|key| key.to_pkcs8_pem().map_err(|e| e.to_string()))
            .map(|pem| pem.to_string()),
        DpopCommand::Proof { key, method, url, token, count } => std::fs::read_to_string(&key)
            .map_err(|e| format!("{}: {e}", key.display()))
            .and_then(|pem| {
                ProofKey::from_pkcs8_pem(&pem).ok_or_else(|| "--key: not a P-256 or Ed25519 PKCS#8 key".into())
            })
            .and_then(|key| {
                let now = tokenflow::time::now();
                let method = method.to_ascii_uppercase();
                (0..count)
                    .map(|_| key.proof(&method, &url, token.as_deref(), now).map(|p| p + "\n"))
                    .collect::<Result<String, _>>()
                    .map_err(|e| e.to_string())
            }),
    };
    match made.map(|text| std::io::stdout().lock().write_all(text.as_bytes())) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("tokenflow dpop: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tokenflow dpop: {e}");
            ExitCode::from(2)
        }
    }
}

/// `tokenflow probe`: needs no configuration, database or keys of its own.
async fn probe(args: ProbeArgs) -> ExitCode {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map(zeroize::Zeroizing::new).map_err(|e| format!("{}: {e}", path.display()))
    };
    let signing_key = match args.signing_key.as_deref().map(read).transpose() {
        Ok(pem) => pem.map(|pem| {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| format!("--signing-key: {e}"))
        }),
        Err(e) => Some(Err(e)),
    };
    let dpop_key = match args.dpop_key.as_deref().map(read).transpose() {
        Ok(pem) => pem.map(|pem| {
            tokenflow::dpop::ProofKey::from_pkcs8_pem(&pem)
                .ok_or("--dpop-key: not a PKCS#8 P-256 or Ed25519 key".into())
        }),
        Err(e) => Some(Err(e)),
    };
    let (signing_key, dpop_key) = match (signing_key.transpose(), dpop_key.transpose()) {
        (Ok(signing_key), Ok(dpop_key)) => (signing_key, dpop_key),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("tokenflow probe: {e}");
            return ExitCode::from(2);
        }
    };
    let probe = server::probe::Probe {
        url: args.url,
        method: args.method.to_ascii_uppercase(),
        token: args.token,
        jwks: args.jwks,
        signing_key,
        dpop_key,
        public_url: args.public_url,
    };
    match server::probe::run(&probe).await {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", report.table());
            }
            if report.accepted() > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("tokenflow probe: {e:#}");
            ExitCode::from(2)
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
    if let Some(addr) = config.metrics_addr {
        let Some(handle) = server::metrics::install() else {
            tracing::error!("cannot install the metrics recorder");
            return ExitCode::FAILURE;
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!("cannot listen on {addr} for metrics: {e}");
                return ExitCode::FAILURE;
            }
        };
        let auth = state.auth.clone();
        tokio::spawn(async move {
            if let Err(e) = server::metrics::serve(listener, auth, handle).await {
                tracing::error!("the metrics listener failed: {e}");
            }
        });
        tracing::info!("metrics on http://{addr}/metrics");
    }
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
    match command {
        KeysCommand::Rotate => {
            let db = open_db(config).await?;
            let kid =
                tokenflow::rotate_keys(&db, config.auth.key_encryption.as_ref()).await.context("rotating keys")?;
            println!("{kid}");
            eprintln!(
                "new signing key {kid}; running instances switch within their key reload (10 s), old keys verify until their tokens expire"
            );
            Ok(())
        }
        KeysCommand::List => list_keys(&open_db(config).await?, config).await,
        KeysCommand::Retire { kid } => {
            let service = server::start_auth(config).await?;
            let retired = service.retire_key(&kid).await.map_err(|e| match e {
                AuthError::NotFound => anyhow::anyhow!("no usable key {kid:?} (see tokenflow keys list)"),
                other => anyhow::Error::new(other).context("withdrawing the key"),
            })?;
            println!("{}", retired.kid);
            match retired.replaced_by {
                Some(new) => eprintln!(
                    "key withdrawn; it was signing: {new} signs now. Its tokens are refused everywhere within 2 s"
                ),
                None => eprintln!("key withdrawn; its tokens are refused everywhere within 2 s"),
            }
            Ok(())
        }
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

/// Operator commands on accounts, through the core (audited as the operator's).
async fn users(command: UsersCommand, config: &Config) -> anyhow::Result<()> {
    let service = server::start_auth(config).await?;
    let meta = RequestMeta::operator();
    let patch = |role, disabled| UserPatch { role, disabled };
    let (email, change) = match command {
        UsersCommand::List { q } => return list_users(&service, q).await,
        UsersCommand::Create { email, admin } => {
            let password = read_password()?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = service.create_user(&email, password, role).await.context("creating the account")?;
            print_user(&user);
            return Ok(());
        }
        UsersCommand::ResetLink { email } => {
            let link = service.operator_reset_link(&email).await.map_err(|e| no_account(e, &email))?;
            println!("{}", link.as_str());
            eprintln!("hand this link to the account's owner: it works once, within AUTH_RESET_TTL_SECS");
            return Ok(());
        }
        UsersCommand::ResetFactors { email } => {
            let target = service.user_by_email(&email).await.map_err(|e| no_account(e, &email))?;
            let revoked = service.reset_factors(Actor::Operator, target.id.as_str(), &meta).await?;
            eprintln!("second factors removed and {revoked} session(s) ended: the password alone signs in again");
            return Ok(());
        }
        UsersCommand::Promote { email } => (email, patch(Some(Role::Admin), None)),
        UsersCommand::Demote { email } => (email, patch(Some(Role::User), None)),
        UsersCommand::Disable { email } => (email, patch(None, Some(true))),
        UsersCommand::Enable { email } => (email, patch(None, Some(false))),
    };
    let target = service.user_by_email(&email).await.map_err(|e| no_account(e, &email))?;
    let user = service.update_user(Actor::Operator, target.id.as_str(), change, &meta).await.map_err(|e| match e {
        AuthError::LastAdmin => anyhow::anyhow!("{email} is the last enabled admin: promote another first"),
        other => no_account(other, &email),
    })?;
    print_user(&user);
    eprintln!("done; a role reaches the account's tokens at their next refresh, disabling ends its sessions at once");
    Ok(())
}

fn no_account(e: AuthError, email: &str) -> anyhow::Error {
    match e {
        AuthError::NotFound => anyhow::anyhow!("no account with email {email:?}"),
        other => anyhow::Error::new(other),
    }
}

fn print_user(user: &tokenflow::dto::User) {
    let verified = if user.email_verified { "verified" } else { "unverified" };
    let state = if user.disabled { "disabled" } else { "enabled" };
    println!("{}  {}  {}  {verified}  {state}  created {}", user.id, user.email, user.role.as_str(), user.created_at);
}

/// The new account's password: prompted for (without echo) on a terminal, else the first
/// line of stdin.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password for the new account: ").context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

async fn list_users(service: &AuthService, q: String) -> anyhow::Result<()> {
    let mut cursor = None;
    loop {
        let query = UserQuery { q: Some(q.clone()), limit: Some(200), cursor };
        let page = service.list_users(Actor::Operator, query).await.context("listing users")?;
        for user in &page.users {
            print_user(user);
        }
        let Some(next) = page.next_cursor else { return Ok(()) };
        cursor = Some(next);
    }
}
