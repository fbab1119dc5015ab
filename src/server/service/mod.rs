//! [`AuthService`]: every auth decision, in one place. REST handlers, server functions and
//! CLI commands are thin adapters over it. This module holds the service and the token check;
//! [`accounts`] the credential and session flows; [`keyring`] the signing keys; [`sync`] the
//! background tasks that follow what other instances change and purge old rows.

mod accounts;
mod admin;
mod audit;
mod binding;
mod factors;
mod keyring;
mod links;
mod mail;
mod sync;

use accounts::random_bytes;
use keyring::load_ring;
use sync::{listen_for_revocations, maintain, poll_revocations};

pub use admin::{Actor, RetiredKey};
pub use keyring::rotate_keys;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::cache::{CachedSession, SessionCache};
use crate::claims::Claims;
use crate::dto::{Introspection, Role, User};
use crate::error::{AuthError, KeyError, StartError, TokenError};
use crate::ids::UserId;
use crate::ids::{Kid, SessionId};
use crate::keys::{Jwks, KeyMaterial, KeyRing};
use crate::mail::Mailer;
use crate::password::PasswordHasher;
use crate::settings::AuthSettings;
use crate::store::{Db, sessions, users};
use crate::throttle::RefusedBuckets;
use crate::time::now;
use crate::token::{self, Policy, TokenCache, TokenCheck};
use crate::web::{ClientAddr, Credentials, Scheme};

/// Unknown `kid`s trigger a key reload at most this often (a rotation on another instance).
const KEY_RELOAD_MIN_INTERVAL: Duration = Duration::from_secs(2);

/// Who is calling: a verified token and the live session behind it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub claims: Arc<Claims>,
    pub user: Arc<User>,
    /// The key that verified the token.
    pub kid: Kid,
    pub check: TokenCheck,
}

/// Proof that a request was counted against its client's per-IP limit: every entry point
/// that hashes a password takes one, so none can forget the limit. Only
/// [`AuthService::admit`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct Admitted(());

/// Where signing keys come from.
enum KeySource {
    Database,
    /// `AUTH_SIGNING_KEY_FILE`: one operator-managed key, wiped from memory on drop. A
    /// secret: never logged.
    Pem(zeroize::Zeroizing<String>),
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
    /// The WebAuthn relying party (from `AUTH_ISSUER`), or why passkeys are off.
    rp: crate::passkeys::RelyingParty,
    /// DPoP proofs seen by this instance within the proof window.
    replays: crate::dpop::Replays,
    hasher: PasswordHasher,
    /// Verified against when the email is unknown, so that costs what a wrong password costs.
    dummy_hash: String,
    refused: RefusedBuckets,
    mailer: Mailer,
    /// Wakes the mail sender when this instance queues mail.
    mail_queued: tokio::sync::Notify,
    /// Test hook: behave as if the database could not be polled (a partitioned instance).
    partitioned: AtomicBool,
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
    pub async fn start(
        db: Db,
        settings: AuthSettings,
        signing_key_pem: Option<zeroize::Zeroizing<String>>,
    ) -> Result<AuthService, StartError> {
        settings.validate()?;
        let mailer = Mailer::new(&settings.mail, &settings.issuer)?;
        let hasher = PasswordHasher::start(settings.hash_workers, settings.hash_queue)?;
        let key_source = match signing_key_pem {
            Some(pem) => {
                KeyMaterial::from_pem(&pem)?;
                KeySource::Pem(pem)
            }
            None => KeySource::Database,
        };
        let ring = load_ring(&db, &settings, &key_source).await?;
        let random = URL_SAFE_NO_PAD.encode(random_bytes()?);
        let (dummy_hash, _) = hasher.hash(random).await?;
        let policy = Policy {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_secs: settings.leeway_secs,
        };
        let rp = crate::passkeys::relying_party(&settings.issuer);
        if let crate::passkeys::RelyingParty::Off(reason) = &rp {
            tracing::warn!(%reason, "passkeys are off");
        }
        let inner = Arc::new(Inner {
            rp,
            tokens: TokenCache::new(settings.token_cache_capacity),
            sessions: SessionCache::new(settings.token_cache_capacity),
            replays: crate::dpop::Replays::new(settings.dpop_replay_capacity),
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
            refused: RefusedBuckets::default(),
            mailer,
            mail_queued: tokio::sync::Notify::new(),
            partitioned: AtomicBool::new(false),
        });
        tokio::spawn(poll_revocations(Arc::downgrade(&inner)));
        tokio::spawn(maintain(Arc::downgrade(&inner)));
        tokio::spawn(listen_for_revocations(Arc::downgrade(&inner)));
        tokio::spawn(mail::deliver(Arc::downgrade(&inner)));
        Ok(AuthService { inner })
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.inner.ring.read().map_or_else(|e| Arc::clone(&e.into_inner()), |r| Arc::clone(&r))
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        self.ring().jwks()
    }

    /// The levels the metrics show (hash queue, mail queue, pool, caches), read now.
    pub async fn levels(&self) -> crate::meter::Levels {
        let inner = &self.inner;
        crate::meter::Levels {
            hash_jobs_waiting: inner.hasher.waiting(),
            mail_waiting: crate::store::mail::waiting(&inner.db.pool).await.unwrap_or(-1),
            db_connections: inner.db.pool.size(),
            db_connections_idle: inner.db.pool.num_idle(),
            token_cache_entries: inner.tokens.len(),
            session_cache_entries: inner.sessions.len(),
        }
    }

    /// `true` when the database answers.
    pub async fn ready(&self) -> bool {
        self.inner.db.ping().await
    }

    /// Count a request of `client` against the per-minute limit (`AUTH_RATE_LIMIT_PER_MIN`).
    /// A client already refused in this minute is refused from memory, without a write.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] beyond the limit.
    pub async fn admit(&self, client: &ClientAddr) -> Result<Admitted, AuthError> {
        let bucket = format!("auth:{}", client.bucket());
        let per_min = self.inner.settings.rate_limit_per_min;
        self.inner.refused.check(&self.inner.db, &bucket, per_min, now()).await?;
        Ok(Admitted(()))
    }

    /// Test hook: `true` makes this instance behave as if cut off from revocations (no poll
    /// succeeds, notifications are lost), as during a network partition.
    #[doc(hidden)]
    pub fn simulate_partition(&self, partitioned: bool) {
        self.inner.partitioned.store(partitioned, Ordering::Release);
    }

    /// [`Self::authenticate`] as far as memory takes it: `Ok` with the answer when the token
    /// was seen before or verifies with a key this instance holds and its session is known
    /// here (nearly every request: no future, no allocation); `Err` with what is left to do
    /// (read the session, reload keys) for [`Self::authenticate_rest`].
    ///
    /// # Errors
    /// `Err` is not a refusal: a refusal is `Ok(Err(_))`.
    pub fn authenticate_now(&self, creds: &Credentials<'_>) -> Result<Result<Identity, AuthError>, Unfinished> {
        let started = Instant::now();
        let now = now();
        let checked = match self.token_claims(creds.access_token(), now) {
            Ok(Some(claims)) => match self.check_binding(&claims.0, creds, now) {
                Ok(()) => match self.inner.sessions.peek(&claims.0.sid) {
                    Some(session) => identity(claims, session, started),
                    None => return Err(Unfinished { claims: Some(claims), started }),
                },
                Err(e) => Err(e),
            },
            Ok(None) => return Err(Unfinished { claims: None, started }),
            Err(e) => Err(e),
        };
        let checked = in_scheme(checked, creds);
        meter_token_check(&checked);
        Ok(checked)
    }

    /// Finish what [`Self::authenticate_now`] left: reload the keys for a key id this instance
    /// does not know (another instance may have rotated), read the session.
    ///
    /// # Errors
    /// As [`Self::authenticate`].
    pub async fn authenticate_rest(
        &self,
        creds: &Credentials<'_>,
        unfinished: Unfinished,
    ) -> Result<Identity, AuthError> {
        let checked = in_scheme(self.finish_check(creds, unfinished).await, creds);
        meter_token_check(&checked);
        checked
    }

    /// Check what a request presents: the token's header, signature and claims, its DPoP
    /// binding (a bound token only with a proof by its key), then its session, from memory.
    ///
    /// # Errors
    /// [`AuthError::MissingToken`], [`AuthError::InvalidToken`] (or
    /// [`AuthError::InvalidDpopToken`] when the `DPoP` scheme was used or is needed) with the
    /// reason, [`AuthError::InvalidDpopProof`].
    pub async fn authenticate(&self, creds: &Credentials<'_>) -> Result<Identity, AuthError> {
        match self.authenticate_now(creds) {
            Ok(checked) => checked,
            Err(unfinished) => self.authenticate_rest(creds, unfinished).await,
        }
    }

    async fn finish_check(&self, creds: &Credentials<'_>, unfinished: Unfinished) -> Result<Identity, AuthError> {
        let Unfinished { claims, started } = unfinished;
        let claims = match claims {
            Some(claims) => claims,
            None => {
                let token = creds.access_token().ok_or(AuthError::MissingToken)?;
                if !self.reload_keys_if_due().await {
                    return Err(TokenError::UnknownKeyId.into());
                }
                let inner = &self.inner;
                let now = now();
                let (claims, kid) = token::verify(token, self.ring().keys(), &inner.policy, now)?;
                let claims = Arc::new(claims);
                inner.tokens.insert(token, Arc::clone(&claims), kid.clone());
                self.check_binding(&claims, creds, now)?;
                (claims, kid, false)
            }
        };
        let db = &self.inner.db;
        let session = self.inner.sessions.get_or_load(&claims.0.sid, || load_session(db, &claims.0.sid)).await?;
        identity(claims, session, started)
    }

    /// The token's verified claims and key id, and whether they came from the cache; `None`
    /// when it names a key this instance does not have (a reload may find it).
    fn token_claims(&self, bearer: Option<&str>, now: i64) -> Result<Option<VerifiedClaims>, AuthError> {
        let token = bearer.ok_or(AuthError::MissingToken)?;
        let inner = &self.inner;
        if let Some(hit) = inner.tokens.get(token, &inner.policy, now) {
            let (claims, kid) = hit?;
            return Ok(Some((claims, kid, true)));
        }
        match token::verify(token, self.ring().keys(), &inner.policy, now) {
            Ok((claims, kid)) => {
                let claims = Arc::new(claims);
                inner.tokens.insert(token, Arc::clone(&claims), kid.clone());
                Ok(Some((claims, kid, false)))
            }
            Err(TokenError::UnknownKeyId) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// RFC 7662: what an introspecting resource server is told of `token`. Active exactly
    /// when the token would be accepted here right now (its session live).
    ///
    /// # Errors
    /// Database unavailability (a session that cannot be read is neither active nor not).
    pub async fn introspect(&self, token: &str) -> Result<Introspection, AuthError> {
        match self.authenticate(&Credentials::held(token)).await {
            Ok(who) => {
                let claims = &who.claims;
                let token_type = if claims.cnf.is_some() { "DPoP" } else { "Bearer" };
                Ok(Introspection {
                    active: true,
                    sub: Some(claims.sub.as_str().to_string()),
                    sid: Some(claims.sid.as_str().to_string()),
                    exp: Some(claims.exp),
                    iat: Some(claims.iat),
                    iss: Some(claims.iss.clone()),
                    aud: Some(claims.aud.clone()),
                    token_type: Some(token_type.into()),
                    cnf: claims.cnf.clone(),
                })
            }
            Err(AuthError::InvalidToken(_) | AuthError::MissingToken) => Ok(Introspection::default()),
            Err(e) => Err(e),
        }
    }

    /// `AUTH_ISSUER`: the `iss` of every token, and the base of this server's public URLs.
    pub fn issuer(&self) -> &str {
        &self.inner.settings.issuer
    }

    /// Whether `id` and `secret` are those of an introspection client
    /// (`AUTH_INTROSPECTION_CLIENTS`).
    pub fn introspection_client(&self, id: &str, secret: &str) -> bool {
        self.inner.settings.introspection_clients.iter().any(|client| client.matches(id, secret))
    }

    /// 403 unless the token's role is `role` (or admin, which may do everything).
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`].
    /// Under `AUTH_ADMIN_REQUIRE_MFA`, the admin role counts only in a token with `mfa` in its
    /// `amr` (401 `insufficient_user_authentication` otherwise: sign in with a second factor).
    pub fn authorize(&self, who: &Identity, role: Role) -> Result<(), AuthError> {
        if who.claims.role != role && who.claims.role != Role::Admin {
            return Err(AuthError::InsufficientRole(role));
        }
        let admin_needs_mfa = who.claims.role == Role::Admin && self.inner.settings.admin_require_mfa;
        if admin_needs_mfa && !who.claims.amr.iter().any(|v| v == crate::claims::amr::MFA) {
            return Err(AuthError::StepUpRequired(crate::error::StepUp { mfa: true, dpop: who.claims.cnf.is_some() }));
        }
        Ok(())
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
    /// Sessions just revoked here: refuse them in this instance at once, and tell the others
    /// (PostgreSQL NOTIFY; the poll catches whatever a notification misses).
    async fn revoked(&self, sids: &[SessionId]) {
        crate::meter::revocations(sids.len());
        self.sessions.mark_revoked(sids);
        if let Err(e) = self.db.notify_revoked(sids).await {
            tracing::warn!(error = %e, "announcing revocations failed; other instances will see them at their next poll");
        }
    }

    /// Users changed here: forget what this instance cached about them (the others do at
    /// their next poll).
    fn forget_users(&self, ids: &[UserId]) {
        let now = now();
        self.sessions.forget_users(&ids.iter().map(|id| (id.clone(), now)).collect::<Vec<_>>());
    }

    /// Mail was queued here: deliver it now rather than at the next tick.
    fn wake_mailer(&self) {
        self.mail_queued.notify_one();
    }

    async fn reload_keys(&self) -> Result<(), KeyError> {
        let ring = load_ring(&self.db, &self.settings, &self.key_source).await?;
        self.tokens.retain_keys(ring.keys());
        if let Ok(mut current) = self.ring.write() {
            *current = Arc::new(ring);
        }
        Ok(())
    }
}

impl Inner {
    fn partitioned(&self) -> bool {
        self.partitioned.load(Ordering::Acquire)
    }
}

/// Verified claims, their key id, and whether the verified-token cache answered.
type VerifiedClaims = (Arc<Claims>, String, bool);

/// A token check that memory could not finish (see [`AuthService::authenticate_now`]).
#[derive(Debug)]
pub struct Unfinished {
    /// The verified claims, or `None` when the token names a key this instance lacks.
    claims: Option<VerifiedClaims>,
    started: Instant,
}

/// The caller, from verified claims and their session as this instance knows it.
fn identity(
    (claims, kid, cached): VerifiedClaims,
    session: Option<Arc<CachedSession>>,
    started: Instant,
) -> Result<Identity, AuthError> {
    let session = session.ok_or(TokenError::SessionRevoked)?;
    if session.user.id != claims.sub {
        return Err(TokenError::UnknownUser.into());
    }
    if session.is_revoked() || session.user.disabled {
        return Err(TokenError::SessionRevoked.into());
    }
    let check = TokenCheck { cached, took: started.elapsed() };
    Ok(Identity { claims, user: Arc::clone(&session.user), kid: Kid::from_trusted(kid), check })
}

/// A refusal of a request that used the `DPoP` scheme carries a DPoP challenge (RFC 9449 §7.1).
fn in_scheme(checked: Result<Identity, AuthError>, creds: &Credentials<'_>) -> Result<Identity, AuthError> {
    match checked {
        Err(AuthError::InvalidToken(e)) if matches!(creds.token, Some((Scheme::Dpop, _))) => {
            Err(AuthError::InvalidDpopToken(e))
        }
        other => other,
    }
}

fn meter_token_check(checked: &Result<Identity, AuthError>) {
    crate::meter::token_check(match checked {
        Ok(who) if who.check.cached => "cache",
        Ok(_) => "verify",
        Err(_) => "refused",
    });
}

async fn load_session(db: &Db, sid: &SessionId) -> Result<Option<CachedSession>, AuthError> {
    // Before reading: a change committed while we read is newer than what we hold.
    let read_at = now();
    let Some(row) = sessions::find(&db.pool, sid).await? else { return Ok(None) };
    let Some(user) = users::find_by_id(&db.pool, &row.user_id).await? else { return Ok(None) };
    Ok(Some(CachedSession::new(user.user, row.revoked, read_at)))
}
