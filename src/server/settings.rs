//! The settings the core needs. The server fills them from the environment (see API.md).

use std::time::Duration;

use crate::error::InvalidSetting;

/// `AUTH_DPOP`: whether a sign-in (sign-up, login) with a DPoP proof binds its session to the
/// proof's key (RFC 9449). A binding is fixed at sign-in and honoured for the session's whole
/// life, whatever the mode later: `off` stops new bindings, it never unbinds a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopMode {
    /// Proofs on token requests are ignored; no new session is bound.
    Off,
    /// A sign-in with a proof is bound; one without stays a bearer session.
    Optional,
    /// A token request without a proof is refused, and so is an unbound session's token.
    Required,
}

/// Auth policy knobs. Validated by [`AuthSettings::validate`] before the service starts.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub leeway_secs: u64,
    /// A session's absolute life from sign-in: refreshes never extend it further.
    pub session_max_secs: u64,
    /// How long a spent refresh token may be retried for its (unused) successor; 0 disables.
    pub refresh_grace_secs: u64,
    /// Live sessions per user; a new sign-in beyond it revokes the oldest.
    pub max_sessions_per_user: u32,
    /// Password changes per user per hour (each costs two hashes).
    pub password_changes_per_hour: u32,
    /// Normalised (trimmed, lowercased) emails that become `admin` once the mailbox is proven
    /// (email verification, a later feature); until then `tokenflow users promote` does it.
    pub admin_emails: Vec<String>,
    /// Admins act only with a second factor (`AUTH_ADMIN_REQUIRE_MFA`): an admin token without
    /// `mfa` in its `amr` is asked to step up, even to read.
    pub admin_require_mfa: bool,
    /// Whether sign-ins bind their session to a DPoP key (`AUTH_DPOP`).
    pub dpop: DpopMode,
    /// DPoP proofs each instance remembers within the proof window (`AUTH_DPOP_REPLAY_CAPACITY`);
    /// beyond it a proof is refused as a replay, not forgotten.
    pub dpop_replay_capacity: usize,
    /// Resource servers allowed to introspect tokens (`AUTH_INTROSPECTION_CLIENTS`).
    pub introspection_clients: Vec<IntrospectionClient>,
    /// Failed logins per email within the window before every login is refused; 0 disables.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    /// `POST /api/auth/*` per client IP per minute; 0 disables.
    pub rate_limit_per_min: u32,
    /// Concurrent argon2id computations; the rest of the cores stay free for token checks.
    pub hash_workers: usize,
    /// Password checks allowed to wait for a worker before answering 503.
    pub hash_queue: usize,
    /// How often each instance looks for sessions revoked by other instances.
    pub revocation_poll: Duration,
    /// How far before its last successful poll each poll looks (late commits, clock skew); an
    /// instance that could not poll for longer than this drops its session cache.
    pub revocation_lookback: Duration,
    /// How often expired and revoked rows are purged.
    pub purge_interval: Duration,
    /// Encrypts private signing keys in the database (`AUTH_KEY_ENCRYPTION_KEY_FILE`).
    pub key_encryption: Option<crate::seal::SealKey>,
    /// How often each instance rereads the key ring (to follow a rotation made elsewhere).
    pub key_reload: Duration,
    /// Entries of the verified-token cache, and of the session cache (`AUTH_CACHE_CAPACITY`).
    pub token_cache_capacity: usize,
    /// Email verification links live this long (`AUTH_VERIFY_TTL_SECS`).
    pub verify_ttl_secs: u64,
    /// Password reset links live this long (`AUTH_RESET_TTL_SECS`).
    pub reset_ttl_secs: u64,
    /// Audit events are kept this many days (`AUTH_AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u64,
    /// Where mail goes, and from whom.
    pub mail: crate::mail::MailSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AuthSettings {
            issuer: "http://127.0.0.1:3000".into(),
            audience: "tokenflow".into(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 1_209_600,
            leeway_secs: 30,
            session_max_secs: 2_592_000,
            refresh_grace_secs: 10,
            max_sessions_per_user: 50,
            password_changes_per_hour: 10,
            admin_emails: Vec::new(),
            admin_require_mfa: false,
            dpop: DpopMode::Optional,
            dpop_replay_capacity: 1_000_000,
            introspection_clients: Vec::new(),
            login_max_failures: 5,
            login_window_secs: 900,
            rate_limit_per_min: 60,
            // Leave a core for token verification and I/O on small machines.
            hash_workers: cores.saturating_sub(1).max(1),
            hash_queue: 256,
            revocation_poll: Duration::from_millis(500),
            revocation_lookback: Duration::from_secs(60),
            purge_interval: Duration::from_secs(60),
            key_encryption: None,
            key_reload: Duration::from_secs(10),
            token_cache_capacity: 100_000,
            verify_ttl_secs: 86_400,
            reset_ttl_secs: 1800,
            audit_retention_days: 90,
            mail: crate::mail::MailSettings::default(),
        }
    }
}

impl AuthSettings {
    /// How long a retired key keeps verifying (and stays in the JWKS): until the last token it
    /// can have signed has expired. An instance may sign with a key until its next key reload,
    /// so that interval counts too.
    pub fn retired_key_lifetime_secs(&self) -> u64 {
        self.access_ttl_secs + self.leeway_secs + self.key_reload.as_secs().saturating_add(1)
    }

    /// # Errors
    /// A human-readable reason when a value makes no sense, so the server refuses to start.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.check().map_err(InvalidSetting::new)
    }

    fn check(&self) -> Result<(), std::borrow::Cow<'static, str>> {
        if self.issuer.trim().is_empty() {
            return Err("AUTH_ISSUER must not be empty".into());
        }
        if self.audience.trim().is_empty() {
            return Err("AUTH_AUDIENCE must not be empty".into());
        }
        if self.access_ttl_secs == 0 || self.access_ttl_secs > 86_400 {
            return Err("AUTH_ACCESS_TTL_SECS must be between 1 and 86400".into());
        }
        if self.refresh_ttl_secs < self.access_ttl_secs {
            return Err("AUTH_REFRESH_TTL_SECS must be at least AUTH_ACCESS_TTL_SECS".into());
        }
        if self.refresh_ttl_secs > 31_536_000 {
            return Err("AUTH_REFRESH_TTL_SECS must be at most one year".into());
        }
        if self.session_max_secs < self.access_ttl_secs {
            return Err("AUTH_SESSION_MAX_SECS must be at least AUTH_ACCESS_TTL_SECS".into());
        }
        if self.refresh_grace_secs > 300 {
            return Err("AUTH_REFRESH_GRACE_SECS must be at most 300".into());
        }
        if self.max_sessions_per_user == 0 {
            return Err("AUTH_MAX_SESSIONS_PER_USER must be at least 1".into());
        }
        if self.revocation_lookback < self.revocation_poll || self.revocation_lookback > Duration::from_secs(3600) {
            return Err("the revocation look-back must lie between the poll interval and one hour".into());
        }
        if self.leeway_secs > 300 {
            return Err("AUTH_LEEWAY_SECS must be at most 300".into());
        }
        if self.login_max_failures > 0 && self.login_window_secs == 0 {
            return Err("AUTH_LOGIN_WINDOW_SECS must be positive when throttling is on".into());
        }
        if self.hash_workers == 0 || self.hash_queue == 0 {
            return Err("password hashing needs at least one worker and one queue slot".into());
        }
        if !(60..=30 * 86_400).contains(&self.verify_ttl_secs) {
            return Err("AUTH_VERIFY_TTL_SECS must be between 60 and 2592000".into());
        }
        if !(60..=86_400).contains(&self.reset_ttl_secs) {
            return Err("AUTH_RESET_TTL_SECS must be between 60 and 86400".into());
        }
        if self.audit_retention_days == 0 || self.audit_retention_days > 36_500 {
            return Err("AUTH_AUDIT_RETENTION_DAYS must be between 1 and 36500".into());
        }
        if let Some(bad) = self.admin_emails.iter().find(|e| crate::password::normalize_email(e).is_err()) {
            return Err(format!("AUTH_ADMIN_EMAILS holds an invalid address: {bad:?}").into());
        }
        let clients = &self.introspection_clients;
        if let Some((i, c)) = clients.iter().enumerate().find(|(i, c)| clients[..*i].iter().any(|o| o.id == c.id)) {
            return Err(format!("AUTH_INTROSPECTION_CLIENTS names client {:?} twice (entry {})", c.id, i + 1).into());
        }
        Ok(())
    }
}

/// A resource server allowed to call the introspection endpoint: its id and the SHA-256 of
/// its secret. The secret itself is not kept, and `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionClient {
    pub id: String,
    secret_hash: [u8; 32],
}

/// The shortest secret accepted: guessing it must be hopeless (16 characters of base64 are
/// 96 bits).
pub const MIN_CLIENT_SECRET_LEN: usize = 16;

impl IntrospectionClient {
    /// One `id:secret` pair of `AUTH_INTROSPECTION_CLIENTS`.
    ///
    /// # Errors
    /// No colon, an id that is empty, long or not `[A-Za-z0-9._-]`, or a short secret.
    pub fn parse(pair: &str) -> Result<IntrospectionClient, String> {
        let (id, secret) = pair.trim().split_once(':').ok_or("an introspection client is id:secret")?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err("an introspection client id is 1 to 64 of A-Z a-z 0-9 . _ -".into());
        }
        if secret.chars().count() < MIN_CLIENT_SECRET_LEN {
            return Err(format!("the secret of introspection client {id:?} is shorter than {MIN_CLIENT_SECRET_LEN}"));
        }
        Ok(IntrospectionClient { id: id.to_string(), secret_hash: sha256(secret) })
    }

    /// Whether `id` and `secret` are this client's; the secret is compared in constant time.
    pub fn matches(&self, id: &str, secret: &str) -> bool {
        use subtle::ConstantTimeEq;
        let secret_ok: bool = self.secret_hash.ct_eq(&sha256(secret)).into();
        secret_ok && self.id == id
    }
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient").field("id", &self.id).finish_non_exhaustive()
    }
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}
