//! One typed configuration, read once at start from the environment (names in API.md),
//! validated so the server refuses to start on nonsense, printable without secrets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::IpNet;
use tokenflow::AuthSettings;
use tokenflow::seal::SealKey;
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
            .finish()
    }
}

impl Config {
    /// Read from the process environment.
    ///
    /// # Errors
    /// The first variable that does not parse or makes no sense.
    pub fn from_env() -> anyhow::Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Read through `get`, so tests can configure a server without touching the environment.
    ///
    /// # Errors
    /// The first variable that does not parse or makes no sense.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            get(name).map_or(Ok(default), |v| {
                v.trim().parse().with_context(|| format!("{name} must be a whole number, got {v:?}"))
            })
        };
        let site_addr: SocketAddr = get("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .context("LEPTOS_SITE_ADDR must be host:port")?;
        let defaults = AuthSettings::default();
        let auth = AuthSettings {
            issuer: get("AUTH_ISSUER").unwrap_or_else(|| format!("http://{site_addr}")),
            audience: get("AUTH_AUDIENCE").unwrap_or_else(|| "tokenflow".into()),
            access_ttl_secs: number("AUTH_ACCESS_TTL_SECS", 900)?,
            refresh_ttl_secs: number("AUTH_REFRESH_TTL_SECS", 1_209_600)?,
            leeway_secs: number("AUTH_LEEWAY_SECS", 30)?,
            session_max_secs: number("AUTH_SESSION_MAX_SECS", 2_592_000)?,
            refresh_grace_secs: number("AUTH_REFRESH_GRACE_SECS", 10)?,
            max_sessions_per_user: u32::try_from(number("AUTH_MAX_SESSIONS_PER_USER", 50)?)
                .context("AUTH_MAX_SESSIONS_PER_USER too large")?,
            admin_emails: get("AUTH_ADMIN_EMAILS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    tokenflow::password::normalize_email(e)
                        .map_err(|_| anyhow::anyhow!("AUTH_ADMIN_EMAILS: {e:?} is not an email"))
                })
                .collect::<anyhow::Result<_>>()?,
            login_max_failures: u32::try_from(number("AUTH_LOGIN_MAX_FAILURES", 5)?)
                .context("AUTH_LOGIN_MAX_FAILURES too large")?,
            login_window_secs: number("AUTH_LOGIN_WINDOW_SECS", 900)?,
            rate_limit_per_min: u32::try_from(number("AUTH_RATE_LIMIT_PER_MIN", 60)?)
                .context("AUTH_RATE_LIMIT_PER_MIN too large")?,
            ..defaults
        };
        auth.validate()?;
        let trusted_proxies = get("AUTH_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                    .with_context(|| format!("AUTH_TRUSTED_PROXIES: {p:?} is not an IP address or CIDR range"))
            })
            .collect::<anyhow::Result<_>>()?;
        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://data/tokenflow.db?mode=rwc".into());
        tokenflow::store::Backend::from_url(&database_url)?;
        let log_json = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("LOG_FORMAT must be json or text, got {other:?}"),
        };
        Ok(Config {
            site_addr,
            site_root: get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            site_pkg_dir: get("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()),
            database_url,
            auth,
            trusted_proxies,
            signing_key_file: get("AUTH_SIGNING_KEY_FILE").map(PathBuf::from),
            key_encryption_file: get("AUTH_KEY_ENCRYPTION_KEY_FILE").map(PathBuf::from),
            connections: ConnectionLimits::default(),
            log_json,
        })
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
            ("LOG_FORMAT", "xml"),
        ] {
            assert!(config(&[bad]).is_err(), "{bad:?} accepted");
        }
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
    fn debug_output_hides_the_database_url() {
        let c = config(&[("DATABASE_URL", "postgres://app:hunter2@db/tokenflow")]).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres"));
    }
}
