//! [`AuthService`]: every auth decision, in one place. REST handlers, server functions and
//! CLI commands are thin adapters over it.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::cache::{CachedSession, SessionCache};
use crate::claims::Claims;
use crate::dto::{
    LoginRequest, PasswordChangeRequest, RefreshRequest, Role, SessionInfo, SessionList, SignupRequest, TokenResponse,
    User, UserList,
};
use crate::error::{AuthError, TokenError};
use crate::keys::{Jwks, KeyMaterial, KeyRing};
use crate::password::{PasswordHasher, check_password_policy, normalize_email};
use crate::settings::AuthSettings;
use crate::store::keys::Origin;
use crate::store::{self, Db, is_unique_violation, limits, sessions, users};
use crate::throttle;
use crate::time::{now, rfc3339};
use crate::token::{self, Policy, TokenCache};

const MAX_NAME_CHARS: usize = 100;
const MAX_USER_AGENT_CHARS: usize = 256;
/// How far back each poll looks for revocations: generous, so that late commits and modest
/// clock differences between instances are still seen.
const REVOCATION_LOOKBACK_SECS: i64 = 60;
/// Unknown `kid`s trigger a key reload at most this often (a rotation on another instance).
const KEY_RELOAD_MIN_INTERVAL: Duration = Duration::from_secs(2);

/// Who is calling: a verified token and the live session behind it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub claims: Arc<Claims>,
    pub user: Arc<User>,
    /// The key that verified the token.
    pub kid: String,
    pub check: TokenCheck,
}

/// How the token was checked, for `Server-Timing` and the flow view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCheck {
    /// `true` when the verified-token cache answered instead of an Ed25519 verify.
    pub cached: bool,
    /// Signature (or cache) plus claims plus session, all of it.
    pub took: Duration,
}

/// Where signing keys come from.
enum KeySource {
    Database,
    /// `AUTH_SIGNING_KEY_FILE`: one operator-managed key. // a secret: never logged.
    Pem(String),
}

struct Inner {
    db: Db,
    settings: AuthSettings,
    policy: Policy,
    key_source: KeySource,
    ring: RwLock<Arc<KeyRing>>,
    last_key_reload: Mutex<Instant>,
    tokens: TokenCache,
    sessions: SessionCache,
    hasher: PasswordHasher,
    /// Verified against when the email is unknown, so that costs what a wrong password costs.
    dummy_hash: String,
}

/// A result and what its password hashing cost, for `Server-Timing` and the flow view.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub argon2: Duration,
}

/// Cheap to clone; one per process (or per test server).
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

impl AuthService {
    /// Validate settings, start the hashing pool, load (or create) the key ring, and start the
    /// background refresh of revocations and keys.
    ///
    /// # Errors
    /// A reason to refuse to start: nonsensical settings, an unusable key file, a database error.
    pub async fn start(db: Db, settings: AuthSettings, signing_key_pem: Option<String>) -> Result<AuthService, String> {
        settings.validate()?;
        let hasher = PasswordHasher::start(settings.hash_workers, settings.hash_queue)
            .map_err(|e| format!("starting hash workers: {e}"))?;
        let key_source = match signing_key_pem {
            Some(pem) => {
                KeyMaterial::from_pem(&pem).map_err(|e| format!("AUTH_SIGNING_KEY_FILE: {e}"))?;
                KeySource::Pem(pem)
            }
            None => KeySource::Database,
        };
        let ring = load_ring(&db, &settings, &key_source).await?;
        let random = URL_SAFE_NO_PAD.encode(random_bytes().map_err(|e| e.to_string())?);
        let (dummy_hash, _) = hasher.hash(random).await.map_err(|e| e.to_string())?;
        let policy = Policy {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_secs: settings.leeway_secs,
        };
        let inner = Arc::new(Inner {
            tokens: TokenCache::new(settings.token_cache_capacity),
            sessions: SessionCache::new(settings.token_cache_capacity),
            ring: RwLock::new(Arc::new(ring)),
            // So that the first unknown `kid` may reload at once.
            last_key_reload: Mutex::new(
                Instant::now().checked_sub(KEY_RELOAD_MIN_INTERVAL).unwrap_or_else(Instant::now),
            ),
            db,
            settings,
            policy,
            key_source,
            hasher,
            dummy_hash,
        });
        tokio::spawn(background(Arc::downgrade(&inner)));
        Ok(AuthService { inner })
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.inner.settings
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.inner.ring.read().map_or_else(|e| Arc::clone(&e.into_inner()), |r| Arc::clone(&r))
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        self.ring().jwks()
    }

    /// `true` when the database answers.
    pub async fn ready(&self) -> bool {
        self.inner.db.ping().await
    }

    /// Count a request of `client` (e.g. an IP) against the per-minute limit.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] beyond the limit.
    pub async fn rate_limit(&self, client: &str) -> Result<(), AuthError> {
        let s = &self.inner.settings;
        throttle::check_rate(&self.inner.db, &format!("auth:{client}"), s.rate_limit_per_min, now()).await
    }

    /// Create an account and its first session.
    ///
    /// # Errors
    /// 422-class errors for bad input, [`AuthError::EmailTaken`], or unavailability.
    #[tracing::instrument(skip_all)]
    pub async fn signup(
        &self,
        req: SignupRequest,
        user_agent: Option<&str>,
    ) -> Result<Timed<TokenResponse>, AuthError> {
        let email = normalize_email(&req.email)?;
        check_password_policy(&req.password)?;
        let name = clean_name(req.name.as_deref())?;
        let role = if self.inner.settings.admin_emails.contains(&email) { Role::Admin } else { Role::User };
        let (password_hash, argon2) = self.inner.hasher.hash(req.password).await?;

        let now = now();
        let user = User { id: new_id(), email, name, role, created_at: rfc3339(now) };
        let mut tx = self.inner.db.pool.begin().await?;
        users::insert(&mut *tx, &user.id, &user.email, user.name.as_deref(), &password_hash, role, now)
            .await
            .map_err(|e| if is_unique_violation(&e) { AuthError::EmailTaken } else { e.into() })?;
        let (sid, refresh) = self.create_session(&mut tx, &user.id, user_agent, now).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, session_id = %sid, "signed up");
        Ok(Timed { value: self.token_response(user, &sid, refresh, now)?, argon2 })
    }

    /// Check credentials and open a session.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong password or unknown email alike;
    /// [`AuthError::RateLimited`] while the email is throttled.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, req: LoginRequest, user_agent: Option<&str>) -> Result<Timed<TokenResponse>, AuthError> {
        let email = normalize_email(&req.email)?;
        let (record, argon2) = self.check_password(&email, req.password).await?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let (sid, refresh) = self.create_session(&mut tx, &record.id, user_agent, now).await?;
        tx.commit().await?;
        tracing::info!(user_id = %record.id, session_id = %sid, "logged in");
        Ok(Timed { value: self.token_response(record, &sid, refresh, now)?, argon2 })
    }

    /// Throttle, then verify `password` for `email` (against a dummy hash when unknown).
    async fn check_password(&self, email: &str, password: String) -> Result<(User, Duration), AuthError> {
        let s = &self.inner.settings;
        let db = &self.inner.db;
        let recent_failures =
            throttle::check_login(db, email, s.login_max_failures, s.login_window_secs, now()).await?;
        let record = users::find_by_email(&db.pool, email).await?;
        let phc = record.as_ref().map_or_else(|| self.inner.dummy_hash.clone(), |r| r.password_hash.clone());
        let (matches, took) = self.inner.hasher.verify(password, phc).await?;
        tracing::debug!(hash_ms = took.as_millis(), "password checked");
        match record {
            Some(record) if matches => {
                if recent_failures > 0 {
                    limits::clear_login_failures(&db.pool, email).await?;
                }
                Ok((record.user, took))
            }
            _ => {
                limits::record_login_failure(&db.pool, email, now()).await?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    async fn create_session(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &str,
        user_agent: Option<&str>,
        now: i64,
    ) -> Result<(String, String), AuthError> {
        let sid = new_id();
        let expires = now + self.refresh_ttl();
        let user_agent = user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
        sessions::insert(&mut **tx, &sid, user_id, now, expires, user_agent.as_deref()).await?;
        let refresh = new_refresh_token()?;
        sessions::insert_refresh(&mut **tx, &hash_refresh(&refresh), &sid, now, expires).await?;
        Ok((sid, refresh))
    }

    fn refresh_ttl(&self) -> i64 {
        i64::try_from(self.inner.settings.refresh_ttl_secs).unwrap_or(i64::MAX / 2)
    }

    fn token_response(
        &self,
        user: User,
        sid: &str,
        refresh_token: String,
        now: i64,
    ) -> Result<TokenResponse, AuthError> {
        let s = &self.inner.settings;
        let ttl = s.access_ttl_secs;
        let claims = Claims {
            iss: s.issuer.clone(),
            aud: s.audience.clone(),
            sub: user.id.clone(),
            exp: now + i64::try_from(ttl).unwrap_or(0),
            nbf: now,
            iat: now,
            jti: new_id(),
            sid: sid.to_string(),
            email: user.email.clone(),
            role: user.role,
        };
        let access_token = token::issue(&claims, self.ring().signing_key()).map_err(AuthError::Internal)?;
        Ok(TokenResponse { access_token, token_type: "Bearer".into(), expires_in: ttl, refresh_token, user })
    }

    /// Rotate a refresh token: spend it and issue a successor. Presenting a spent token is
    /// reuse: the whole session is revoked.
    ///
    /// # Errors
    /// [`AuthError::InvalidGrant`] for an unknown, expired, spent or revoked token.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, req: RefreshRequest) -> Result<TokenResponse, AuthError> {
        let hash = hash_refresh(&req.refresh_token);
        let now = now();
        let db = &self.inner.db;
        let mut tx = db.pool.begin().await?;
        let Some(sid) = sessions::spend_refresh(&mut *tx, &hash, now).await? else {
            tx.rollback().await?;
            if let Some(sid) = sessions::find_spent_refresh(&db.pool, &hash).await? {
                tracing::warn!(session_id = %sid, "refresh token reused: revoking the session");
                if let Some(user_id) = sessions::user_of(&db.pool, &sid).await? {
                    self.revoke(&sid, &user_id).await?;
                }
            }
            return Err(AuthError::InvalidGrant);
        };
        let Some(user_id) = sessions::touch(&mut *tx, &sid, now, now + self.refresh_ttl()).await? else {
            return Err(AuthError::InvalidGrant);
        };
        let user = users::find_by_id(&mut *tx, &user_id).await?.ok_or(AuthError::InvalidGrant)?.user;
        let refresh = new_refresh_token()?;
        sessions::insert_refresh(&mut *tx, &hash_refresh(&refresh), &sid, now, now + self.refresh_ttl()).await?;
        tx.commit().await?;
        self.token_response(user, &sid, refresh, now)
    }

    /// Verify a bearer token: header, signature, claims, then the session, from memory.
    ///
    /// # Errors
    /// [`AuthError::MissingToken`] or [`AuthError::InvalidToken`] with the reason.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Identity, AuthError> {
        let token = bearer.ok_or(AuthError::MissingToken)?;
        let started = Instant::now();
        let now = now();
        let inner = &self.inner;
        let cached = inner.tokens.get(token, &inner.policy, now);
        let from_cache = cached.is_some();
        let (claims, kid) = match cached {
            Some(hit) => hit?,
            None => {
                let mut verified = token::verify(token, self.ring().keys(), &inner.policy, now);
                if verified == Err(TokenError::UnknownKeyId) && self.reload_keys_if_due().await {
                    verified = token::verify(token, self.ring().keys(), &inner.policy, now);
                }
                let (claims, kid) = verified?;
                let claims = Arc::new(claims);
                inner.tokens.insert(token, Arc::clone(&claims), kid.clone(), now);
                (claims, kid)
            }
        };
        let db = &inner.db;
        let session = inner.sessions.get_or_load(&claims.sid, || load_session(db, &claims.sid)).await?;
        let session = session.ok_or(TokenError::SessionRevoked)?;
        if session.user.id != claims.sub {
            return Err(TokenError::UnknownUser.into());
        }
        if session.is_revoked() {
            return Err(TokenError::SessionRevoked.into());
        }
        let check = TokenCheck { cached: from_cache, took: started.elapsed() };
        Ok(Identity { claims, user: Arc::clone(&session.user), kid, check })
    }

    /// 403 unless the token's role is `role` (or admin, which may do everything).
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`].
    pub fn authorize(&self, who: &Identity, role: Role) -> Result<(), AuthError> {
        if who.claims.role == role || who.claims.role == Role::Admin {
            Ok(())
        } else {
            Err(AuthError::InsufficientRole(role))
        }
    }

    async fn revoke(&self, sid: &str, user_id: &str) -> Result<bool, AuthError> {
        let found = sessions::revoke(&self.inner.db.pool, sid, user_id, now()).await?;
        self.inner.sessions.mark_revoked([sid]);
        Ok(found)
    }

    /// End the caller's session: its refresh token and every access token of it.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn logout(&self, who: &Identity) -> Result<(), AuthError> {
        self.revoke(&who.claims.sid, &who.user.id).await?;
        tracing::info!(user_id = %who.user.id, session_id = %who.claims.sid, "logged out");
        Ok(())
    }

    /// The caller's live sessions.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn sessions(&self, who: &Identity) -> Result<SessionList, AuthError> {
        let rows = sessions::list_live(&self.inner.db.pool, &who.user.id, now()).await?;
        let sessions = rows
            .into_iter()
            .map(|s| SessionInfo {
                current: s.id == who.claims.sid,
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_used_at: rfc3339(s.last_used_at),
                user_agent: s.user_agent,
            })
            .collect();
        Ok(SessionList { sessions })
    }

    /// Revoke one of the caller's sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for a session of someone else, or none.
    pub async fn revoke_session(&self, who: &Identity, sid: &str) -> Result<(), AuthError> {
        if self.revoke(sid, &who.user.id).await? { Ok(()) } else { Err(AuthError::NotFound) }
    }

    /// Revoke every session of the caller but the current one; returns how many.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn revoke_other_sessions(&self, who: &Identity) -> Result<u64, AuthError> {
        let revoked = sessions::revoke_others(&self.inner.db.pool, &who.user.id, &who.claims.sid, now()).await?;
        self.inner.sessions.mark_revoked(revoked.iter().map(String::as_str));
        Ok(revoked.len() as u64)
    }

    /// Change the caller's password; every other session of theirs is revoked in the same
    /// transaction.
    ///
    /// # Errors
    /// [`AuthError::WeakPassword`], [`AuthError::InvalidCredentials`], throttling.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn change_password(&self, who: &Identity, req: PasswordChangeRequest) -> Result<(), AuthError> {
        check_password_policy(&req.new_password)?;
        self.check_password(&who.user.email, req.current_password).await?;
        let (new_hash, _) = self.inner.hasher.hash(req.new_password).await?;
        let mut tx = self.inner.db.pool.begin().await?;
        if !users::set_password_hash(&mut *tx, &who.user.id, &new_hash).await? {
            return Err(TokenError::UnknownUser.into());
        }
        let revoked = sessions::revoke_others(&mut *tx, &who.user.id, &who.claims.sid, now()).await?;
        tx.commit().await?;
        self.inner.sessions.mark_revoked(revoked.iter().map(String::as_str));
        tracing::info!(revoked = revoked.len(), "password changed");
        Ok(())
    }

    /// Every user (admins only).
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`] for non-admins.
    pub async fn list_users(&self, who: &Identity) -> Result<UserList, AuthError> {
        self.authorize(who, Role::Admin)?;
        Ok(UserList { users: users::list(&self.inner.db.pool).await? })
    }

    /// Reload the key ring from the database if the last reload is old enough.
    async fn reload_keys_if_due(&self) -> bool {
        {
            let Ok(mut last) = self.inner.last_key_reload.lock() else { return false };
            if last.elapsed() < KEY_RELOAD_MIN_INTERVAL {
                return false;
            }
            *last = Instant::now();
        }
        self.inner.reload_keys().await.is_ok()
    }
}

impl Inner {
    async fn reload_keys(&self) -> Result<(), String> {
        let ring = load_ring(&self.db, &self.settings, &self.key_source).await?;
        self.tokens.retain_keys(ring.keys());
        if let Ok(mut current) = self.ring.write() {
            *current = Arc::new(ring);
        }
        Ok(())
    }
}

async fn load_session(db: &Db, sid: &str) -> Result<Option<CachedSession>, AuthError> {
    let Some(row) = sessions::find(&db.pool, sid).await? else { return Ok(None) };
    let Some(user) = users::find_by_id(&db.pool, &row.user_id).await? else { return Ok(None) };
    Ok(Some(CachedSession::new(user.user, row.revoked)))
}

/// The key ring: the operator's key, or the database's keys (creating the first one).
async fn load_ring(db: &Db, settings: &AuthSettings, source: &KeySource) -> Result<KeyRing, String> {
    if let KeySource::Pem(pem) = source {
        return Ok(KeyRing::new(KeyMaterial::from_pem(pem)?, Vec::new()));
    }
    // A retired key verifies until every token it signed has expired.
    let horizon = now() - i64::try_from(settings.retired_key_lifetime_secs()).unwrap_or(0);
    let mut rows = store::keys::list_usable(&db.pool, horizon).await.map_err(|e| format!("loading keys: {e}"))?;
    if !rows.iter().any(|k| k.retired_at.is_none()) {
        let key = KeyMaterial::generate()?;
        // An empty ring gets its one bootstrap key: whoever wins the race, every instance then
        // reads the same keys. If a bootstrap key existed but every key has been retired, the
        // new key joins as a rotation would.
        for origin in [Origin::Bootstrap, Origin::Rotation] {
            let stored = store::keys::insert(&db.pool, &key.kid, &key.private_pem, &key.x, origin, now())
                .await
                .map_err(|e| format!("storing a new key: {e}"))?;
            if stored {
                tracing::info!(kid = %key.kid, "generated a signing key");
            }
            rows = store::keys::list_usable(&db.pool, horizon).await.map_err(|e| format!("loading keys: {e}"))?;
            if rows.iter().any(|k| k.retired_at.is_none()) {
                break;
            }
        }
    }
    let signer_index = rows
        .iter()
        .enumerate()
        .filter(|(_, k)| k.retired_at.is_none())
        .max_by(|(_, a), (_, b)| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
        .map(|(i, _)| i)
        .ok_or("no signing key")?;
    let signer = KeyMaterial::from_pem(&rows.swap_remove(signer_index).private_pem)?;
    let others = rows.iter().map(|k| KeyMaterial::from_pem(&k.private_pem)).collect::<Result<Vec<_>, _>>()?;
    Ok(KeyRing::new(signer, others))
}

/// Keep this instance's view fresh: revocations made elsewhere, rotated keys, old counters.
async fn background(inner: Weak<Inner>) {
    const PRUNE_EVERY: Duration = Duration::from_secs(60);
    let (mut keys_reloaded, mut pruned) = (Instant::now(), Instant::now());
    loop {
        let Some(poll) = inner.upgrade().map(|i| i.settings.revocation_poll) else { return };
        tokio::time::sleep(poll).await;
        let Some(inner) = inner.upgrade() else { return };
        match sessions::revoked_since(&inner.db.pool, now() - REVOCATION_LOOKBACK_SECS).await {
            Ok(revoked) => inner.sessions.mark_revoked(revoked.iter().map(String::as_str)),
            Err(e) => tracing::warn!(error = %e, "polling revocations failed"),
        }
        if keys_reloaded.elapsed() >= inner.settings.key_reload {
            keys_reloaded = Instant::now();
            if let Err(e) = inner.reload_keys().await {
                tracing::warn!(error = %e, "reloading keys failed");
            }
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            let keep = i64::try_from(inner.settings.login_window_secs.max(120)).unwrap_or(i64::MAX);
            if let Err(e) = limits::prune(&inner.db.pool, now() - keep).await {
                tracing::warn!(error = %e, "pruning throttling counters failed");
            }
        }
    }
}

/// Add a new signing key and retire the others, in one transaction. Retired keys keep
/// verifying (and stay in the JWKS) until every token they signed has expired; every instance
/// starts signing with the new key at its next key reload. Nobody is logged out.
///
/// # Errors
/// A database error, with its reason.
pub async fn rotate_keys(db: &Db) -> Result<String, String> {
    let key = KeyMaterial::generate()?;
    let now = now();
    let run = async {
        let mut tx = db.pool.begin().await?;
        store::keys::insert(&mut *tx, &key.kid, &key.private_pem, &key.x, Origin::Rotation, now).await?;
        let retired = store::keys::retire_all_but(&mut *tx, &key.kid, now).await?;
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(retired)
    };
    let retired = run.await.map_err(|e| format!("rotating keys: {e}"))?;
    tracing::info!(kid = %key.kid, retired, "rotated the signing key");
    Ok(key.kid)
}

fn clean_name(name: Option<&str>) -> Result<Option<String>, AuthError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::InvalidRequest("name must be at most 100 characters".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest("name must not contain control characters".into()));
    }
    Ok(Some(name.to_string()))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn random_bytes() -> Result<[u8; 32], AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Internal(format!("getrandom: {e}")))?;
    Ok(bytes)
}

/// 256 random bits, base64url: opaque to clients.
fn new_refresh_token() -> Result<String, AuthError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes()?))
}

fn hash_refresh(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}
