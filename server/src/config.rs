//! One typed configuration, read once at start from the environment (names in API.md),
//! validated so the server refuses to start on nonsense, printable without secrets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use tokenflow::AuthSettings;
use tokenflow::mail::{MailSettings, MailTransport};
use tokenflow::seal::SealKey;
use tokenflow::settings::IntrospectionClient;
use zeroize::Zeroizing;

/// How long and how many connections may be held (slow clients cannot pin the server).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request head (line and headers) must arrive within this, from the connection's start
    /// or the previous response.
    pub head_timeout: Duration,
    /// A connection with no traffic for this long is closed (idle keep-alive).
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub site_addr: SocketAddr,
    pub site_root: String,
    pub site_pkg_dir: String,
    pub database_url: String,
    pub auth: AuthSettings,
    /// Peers whose `X-Forwarded-For` we believe: addresses or CIDR ranges.
    pub trusted_proxies: Vec<IpNet>,
    pub signing_key_file: Option<PathBuf>,
    pub key_encryption_file: Option<PathBuf>,
    pub connections: ConnectionLimits,
    pub log_json: bool,
    /// `GET /api/outbox` and `/outbox` exist: mail goes to the outbox and the server listens
    /// on a loopback address only.
    pub outbox_served: bool,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
}

/// Printed at start: no secrets (the database URL may hold a password, so only its scheme).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        f.debug_struct("Config")
            .field("site_addr", &self.site_addr)
            .field("site_root", &self.site_root)
            .field("database", &scheme)
            .field("auth", &self.auth)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("signing_key_file", &self.signing_key_file)
            .field("key_encryption_file", &self.key_encryption_file)
            .field("connections", &self.connections)
            .field("outbox_served", &self.outbox_served)
            .field("metrics_addr", &self.metrics_addr)
            .finish()
    }
}

/// The core's defaults: the one source of every auth default below.
fn d() -> AuthSettings {
    AuthSettings::default()
}

/// An on/off setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `AUTH_DPOP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dpop {
    Off,
    Optional,
    Required,
}

impl From<Dpop> for tokenflow::settings::DpopMode {
    fn from(mode: Dpop) -> Self {
        match mode {
            Dpop::Off => tokenflow::settings::DpopMode::Off,
            Dpop::Optional => tokenflow::settings::DpopMode::Optional,
            Dpop::Required => tokenflow::settings::DpopMode::Required,
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting, declared once: its flag, its environment variable, its default, its range
/// and the line `tokenflow --help` shows.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: SocketAddr,
    /// Where the built bundle, CSS and assets are.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// The bundle's folder under the site root.
    #[arg(long, env = "LEPTOS_SITE_PKG_DIR", default_value = "pkg")]
    pub site_pkg_dir: String,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`; migrations run at start.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/tokenflow.db?mode=rwc", hide_env_values = true)]
    pub database_url: String,
    /// `iss` of issued tokens, required of presented ones [default: http://<site addr>].
    #[arg(long, env = "AUTH_ISSUER")]
    pub issuer: Option<String>,
    /// `aud` of issued tokens, required of presented ones.
    #[arg(long, env = "AUTH_AUDIENCE", default_value_t = d().audience)]
    pub audience: String,
    /// Access token lifetime, in seconds.
    #[arg(long, env = "AUTH_ACCESS_TTL_SECS", default_value_t = d().access_ttl_secs,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub access_ttl_secs: u64,
    /// Refresh token (and idle session) lifetime, in seconds.
    #[arg(long, env = "AUTH_REFRESH_TTL_SECS", default_value_t = d().refresh_ttl_secs,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub refresh_ttl_secs: u64,
    /// A session's absolute life from sign-in, in seconds; no refresh extends it.
    #[arg(long, env = "AUTH_SESSION_MAX_SECS", default_value_t = d().session_max_secs,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub session_max_secs: u64,
    /// Seconds within which a spent refresh token, retried while its successor is unused,
    /// gets the same successor again; 0 disables.
    #[arg(long, env = "AUTH_REFRESH_GRACE_SECS", default_value_t = d().refresh_grace_secs,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub refresh_grace_secs: u64,
    /// Live sessions per account; a sign-in beyond it revokes the oldest.
    #[arg(long, env = "AUTH_MAX_SESSIONS_PER_USER", default_value_t = d().max_sessions_per_user,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions_per_user: u32,
    /// Verified tokens, and sessions, each instance keeps in memory (each cache; the coldest
    /// are dropped beyond it and read again when used).
    #[arg(long, env = "AUTH_CACHE_CAPACITY", default_value_t = d().token_cache_capacity as u64,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub cache_capacity: u64,
    /// Password changes per account per hour (each costs two hashes).
    #[arg(long, env = "AUTH_PASSWORD_CHANGES_PER_HOUR", default_value_t = d().password_changes_per_hour)]
    pub password_changes_per_hour: u32,
    /// Clock leeway for `exp`, `nbf`, `iat`, in seconds.
    #[arg(long, env = "AUTH_LEEWAY_SECS", default_value_t = d().leeway_secs,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub leeway_secs: u64,
    /// Comma-separated emails that become admin once their mailbox is proven (a verification
    /// or reset link); `tokenflow users promote` makes an admin of anyone.
    #[arg(long, env = "AUTH_ADMIN_EMAILS", value_delimiter = ',', value_parser = parse_email)]
    pub admin_emails: Vec<String>,
    /// Failed logins per email within the window before every login for it gets 429; 0 disables.
    #[arg(long, env = "AUTH_LOGIN_MAX_FAILURES", default_value_t = d().login_max_failures)]
    pub login_max_failures: u32,
    /// The window of the per-email login limit, in seconds.
    #[arg(long, env = "AUTH_LOGIN_WINDOW_SECS", default_value_t = d().login_window_secs)]
    pub login_window_secs: u64,
    /// `POST /api/auth/*` (and server functions that hash) per client IP per minute; 0 disables.
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_MIN", default_value_t = d().rate_limit_per_min)]
    pub rate_limit_per_min: u32,
    /// Comma-separated proxy addresses or CIDR ranges whose `X-Forwarded-For` is believed.
    #[arg(long, env = "AUTH_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<IpNet>,
    /// `true`: admins act only after signing in with a second factor (an admin token without
    /// `mfa` in its `amr` gets 401 `insufficient_user_authentication`, even to read).
    #[arg(long, env = "AUTH_ADMIN_REQUIRE_MFA", default_value_t = false, action = clap::ArgAction::Set)]
    pub admin_require_mfa: bool,
    /// DPoP (RFC 9449): `optional` binds the sessions of sign-ins that send a proof, `required`
    /// refuses token requests and tokens without one, `off` binds no new session.
    #[arg(long, env = "AUTH_DPOP", value_enum, default_value_t = Dpop::Optional)]
    pub dpop: Dpop,
    /// DPoP proofs each instance remembers for the proof window (about 24 bytes each); a proof
    /// beyond it is refused as a replay. Size it above the peak of proofs per 61 s.
    #[arg(long, env = "AUTH_DPOP_REPLAY_CAPACITY", default_value_t = d().dpop_replay_capacity as u64,
          value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub dpop_replay_capacity: u64,
    /// Comma-separated `id:secret` pairs of the resource servers allowed to introspect tokens
    /// (HTTP Basic at `POST /api/oauth/introspect`); secrets of 16 characters or more.
    #[arg(long, env = "AUTH_INTROSPECTION_CLIENTS", value_delimiter = ',', hide_env_values = true,
          value_parser = IntrospectionClient::parse)]
    pub introspection_clients: Vec<IntrospectionClient>,
    /// A PKCS#8 PEM Ed25519 private key to sign with instead of the database's keys.
    #[arg(long, env = "AUTH_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// A file of 32 random bytes in base64 that encrypts private signing keys at rest.
    #[arg(long, env = "AUTH_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_file: Option<PathBuf>,
    /// The mail relay: `smtp://host:port`, `smtp+starttls://user:pass@host:587` or
    /// `smtps://user:pass@host:465`; unset: mail goes to the built-in outbox.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of mail [default: Tokenflow <no-reply@HOST of AUTH_ISSUER>].
    #[arg(long, env = "MAIL_FROM")]
    pub mail_from: Option<String>,
    /// `on`: allow the built-in outbox (no SMTP_URL) on a listen address that is not loopback
    /// (the outbox is then not served over HTTP).
    #[arg(long, env = "MAIL_OUTBOX", value_enum, default_value_t = Switch::Off)]
    pub mail_outbox: Switch,
    /// Lifetime of email verification links, in seconds.
    #[arg(long, env = "AUTH_VERIFY_TTL_SECS", default_value_t = d().verify_ttl_secs,
          value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
    pub verify_ttl_secs: u64,
    /// Lifetime of password reset links, in seconds.
    #[arg(long, env = "AUTH_RESET_TTL_SECS", default_value_t = d().reset_ttl_secs,
          value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub reset_ttl_secs: u64,
    /// Days the audit log keeps each event.
    #[arg(long, env = "AUTH_AUDIT_RETENTION_DAYS", default_value_t = d().audit_retention_days,
          value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub audit_retention_days: u64,
    /// Serve Prometheus metrics at http://<this>/metrics (e.g. 127.0.0.1:9464); unset: none.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Seconds within which a request head must arrive.
    #[arg(long, env = "HTTP_HEAD_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub head_timeout_secs: u64,
    /// Seconds without traffic after which a connection is closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Log lines as text or JSON (`RUST_LOG` filters them).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

fn parse_email(raw: &str) -> Result<String, String> {
    tokenflow::password::normalize_email(raw).map_err(|e| e.to_string())
}

fn parse_net(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| "not an IP address or CIDR range".to_string())
}

impl Config {
    /// Read from the command line and the process environment (see [`Settings`]).
    ///
    /// # Errors
    /// The first setting that does not parse or makes no sense.
    pub fn from_settings(s: Settings) -> anyhow::Result<Config> {
        let auth = AuthSettings {
            issuer: s.issuer.unwrap_or_else(|| format!("http://{}", s.site_addr)),
            audience: s.audience,
            access_ttl_secs: s.access_ttl_secs,
            refresh_ttl_secs: s.refresh_ttl_secs,
            leeway_secs: s.leeway_secs,
            session_max_secs: s.session_max_secs,
            refresh_grace_secs: s.refresh_grace_secs,
            max_sessions_per_user: s.max_sessions_per_user,
            password_changes_per_hour: s.password_changes_per_hour,
            token_cache_capacity: usize::try_from(s.cache_capacity).unwrap_or(usize::MAX),
            admin_emails: s.admin_emails,
            admin_require_mfa: s.admin_require_mfa,
            dpop: s.dpop.into(),
            dpop_replay_capacity: usize::try_from(s.dpop_replay_capacity).unwrap_or(usize::MAX),
            introspection_clients: s.introspection_clients,
            login_max_failures: s.login_max_failures,
            login_window_secs: s.login_window_secs,
            rate_limit_per_min: s.rate_limit_per_min,
            verify_ttl_secs: s.verify_ttl_secs,
            reset_ttl_secs: s.reset_ttl_secs,
            audit_retention_days: s.audit_retention_days,
            mail: MailSettings {
                transport: match s.smtp_url.filter(|u| !u.trim().is_empty()) {
                    Some(url) => MailTransport::Smtp(Zeroizing::new(url)),
                    None => MailTransport::Outbox,
                },
                from: s.mail_from,
            },
            ..AuthSettings::default()
        };
        auth.validate()?;
        let loopback = s.site_addr.ip().is_loopback();
        if matches!(auth.mail.transport, MailTransport::Outbox) && !loopback && s.mail_outbox != Switch::On {
            anyhow::bail!(
                "no SMTP_URL on a listen address that is not loopback: verification and reset mail would reach                  nobody. Set SMTP_URL, or MAIL_OUTBOX=on to keep mail in the database (not served over HTTP)"
            );
        }
        let outbox_served = matches!(auth.mail.transport, MailTransport::Outbox) && loopback;
        tokenflow::store::Backend::from_url(&s.database_url)?;
        Ok(Config {
            site_addr: s.site_addr,
            site_root: s.site_root,
            site_pkg_dir: s.site_pkg_dir,
            database_url: s.database_url,
            auth,
            trusted_proxies: s.trusted_proxies,
            signing_key_file: s.signing_key_file,
            key_encryption_file: s.key_encryption_file,
            connections: ConnectionLimits {
                head_timeout: Duration::from_secs(s.head_timeout_secs),
                idle_timeout: Duration::from_secs(s.idle_timeout_secs),
                max_connections: usize::try_from(s.max_connections).unwrap_or(usize::MAX),
            },
            log_json: s.log_format == LogFormat::Json,
            outbox_served,
            metrics_addr: s.metrics_addr,
        })
    }

    /// Read through `get` (variable name → value) alone, ignoring the process environment, so
    /// tests configure a server without touching it. The same declarations, the same checks.
    ///
    /// # Errors
    /// The first variable that does not parse or makes no sense.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        use clap::{Args, FromArgMatches};
        let mut args = vec!["tokenflow".to_string()];
        let command = Settings::augment_args(clap::Command::new("tokenflow"));
        for arg in command.get_arguments() {
            let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) else { continue };
            if let Some(value) = name.to_str().and_then(&get).filter(|v| !v.trim().is_empty()) {
                args.push(format!("--{long}={value}"));
            }
        }
        let command = command.mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(args).map_err(|e| anyhow::anyhow!("{e}"))?;
        Config::from_settings(Settings::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{e}"))?)
    }

    /// The key-encryption key from `AUTH_KEY_ENCRYPTION_KEY_FILE`, if set, into the settings.
    ///
    /// # Errors
    /// When the file cannot be read or does not hold 32 bytes of base64.
    pub fn load_key_encryption(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.key_encryption_file {
            let text = read_secret_file(path, "AUTH_KEY_ENCRYPTION_KEY_FILE")?;
            let key = SealKey::from_base64(&text)
                .map_err(|e| anyhow::anyhow!("AUTH_KEY_ENCRYPTION_KEY_FILE {}: {e}", path.display()))?;
            self.auth.key_encryption = Some(key);
        }
        Ok(())
    }
}

/// Read a file that holds a secret, wiped from memory when dropped; warn when anyone but the
/// owner may read it.
///
/// # Errors
/// When it cannot be read.
pub fn read_secret_file(path: &Path, variable: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Some(warning) = loose_permissions(path) {
        tracing::warn!("{variable} {}: {warning}", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {variable} {}", path.display()))?;
    Ok(Zeroizing::new(text))
}

/// A warning when a secret file is readable or writable by group or others.
pub fn loose_permissions(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0)
            .then(|| format!("mode {mode:o} lets group or others read it; chmod 600 it (it holds a private key)"))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://data/tokenflow.db?mode=rwc");
        assert_eq!(c.auth.issuer, "http://127.0.0.1:3000");
        assert_eq!((c.auth.access_ttl_secs, c.auth.refresh_ttl_secs, c.auth.leeway_secs), (900, 1_209_600, 30));
        assert_eq!((c.auth.login_max_failures, c.auth.login_window_secs, c.auth.rate_limit_per_min), (5, 900, 60));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            ("AUTH_ACCESS_TTL_SECS", "0"),
            ("AUTH_ACCESS_TTL_SECS", "ten"),
            ("AUTH_REFRESH_TTL_SECS", "10"),
            ("AUTH_LEEWAY_SECS", "-1"),
            ("DATABASE_URL", "mysql://x"),
            ("LEPTOS_SITE_ADDR", "localhost"),
            ("AUTH_TRUSTED_PROXIES", "10.0.0.1,proxy"),
            ("AUTH_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("AUTH_SESSION_MAX_SECS", "60"),
            ("AUTH_REFRESH_GRACE_SECS", "3600"),
            ("AUTH_MAX_SESSIONS_PER_USER", "0"),
            ("AUTH_ADMIN_EMAILS", "root"),
            ("AUTH_INTROSPECTION_CLIENTS", "rs-no-secret"),
            ("AUTH_INTROSPECTION_CLIENTS", "rs:too-short"),
            ("AUTH_INTROSPECTION_CLIENTS", ":0123456789abcdef"),
            ("AUTH_INTROSPECTION_CLIENTS", "r s:0123456789abcdef"),
            ("AUTH_INTROSPECTION_CLIENTS", "rs:0123456789abcdef,rs:fedcba9876543210"),
            ("LOG_FORMAT", "xml"),
        ] {
            assert!(config(&[bad]).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn introspection_clients_are_id_secret_pairs_whose_secrets_are_not_kept() {
        let c =
            config(&[("AUTH_INTROSPECTION_CLIENTS", "rs-one:0123456789abcdef, rs.two:a:secret:with:colons")]).unwrap();
        let clients = &c.auth.introspection_clients;
        assert_eq!(clients.len(), 2);
        assert!(clients[0].matches("rs-one", "0123456789abcdef"));
        assert!(!clients[0].matches("rs-one", "0123456789abcdeF"));
        assert!(!clients[0].matches("rs.two", "0123456789abcdef"));
        assert!(clients[1].matches("rs.two", "a:secret:with:colons"));
        assert!(!format!("{clients:?}").contains("0123456789abcdef"), "the secret is not printed");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidr_ranges() {
        let c = config(&[("AUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,2001:db8::/32")]).unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(c.trusted_proxies.iter().any(|n| n.contains(&ip("10.20.30.40"))));
        assert!(c.trusted_proxies.iter().any(|n| n.contains(&ip("192.0.2.1"))));
        assert!(!c.trusted_proxies.iter().any(|n| n.contains(&ip("192.0.2.2"))));
        assert!(c.trusted_proxies.iter().any(|n| n.contains(&ip("2001:db8:ffff::1"))));
    }

    #[test]
    fn a_key_file_open_to_group_or_others_gets_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("tokenflow-perm-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "secret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(loose_permissions(&path).is_some_and(|w| w.contains("644")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_permissions(&path), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn every_setting_has_its_variable_a_help_line_and_a_line_in_the_env_example() {
        use clap::Args;
        let example = include_str!("../../.env.example");
        for arg in Settings::augment_args(clap::Command::new("t")).get_arguments() {
            let name = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default().to_string();
            assert!(!name.is_empty(), "--{:?} has no environment variable", arg.get_long());
            assert!(arg.get_help().is_some(), "{name} has no help line");
            assert!(example.lines().any(|l| l.starts_with(&format!("{name}="))), "{name} missing from .env.example");
        }
    }

    #[test]
    fn the_outbox_is_served_on_loopback_only_and_elsewhere_needs_smtp_or_consent() {
        assert!(config(&[]).unwrap().outbox_served);
        let public = ("LEPTOS_SITE_ADDR", "0.0.0.0:3000");
        let refused = config(&[public]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("SMTP_URL"), "{refused}");
        let consent = config(&[public, ("MAIL_OUTBOX", "on")]).unwrap();
        assert!(!consent.outbox_served, "the outbox is never served off loopback");
        let relay = config(&[public, ("SMTP_URL", "smtp://127.0.0.1:2525")]).unwrap();
        assert!(!relay.outbox_served && matches!(relay.auth.mail.transport, MailTransport::Smtp(_)));
        assert!(!config(&[("SMTP_URL", "smtp://127.0.0.1:2525")]).unwrap().outbox_served);
    }

    #[test]
    fn debug_output_hides_the_database_url() {
        let c = config(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/tokenflow"),
            ("SMTP_URL", "smtps://mailer:swordfish@mail.example.com"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("swordfish"), "{printed}");
        assert!(printed.contains("postgres"));
    }
}
