//! Accounts and sessions: sign-up, login, refresh with rotation, retry grace and reuse
//! detection, logout, the session list, password change, the admin's user list.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::claims::{Claims, Confirmation};
use crate::dto::EventType;
use crate::dto::{
    AccessTokenResponse, LoginRequest, LoginResponse, PasswordChangeRequest, RefreshRequest, Role, SessionInfo,
    SessionList, SignupRequest, TokenResponse, User, UserList, UserQuery,
};
use crate::error::{AuthError, TokenError};
use crate::ids::{Email, SessionId, UserId};
use crate::mfa::{Factor, acr_of, amr_from_text, amr_of, amr_to_text};
use crate::password::check_password_policy;
use crate::seal::SealKey;
use crate::store::audit::{self, NewEvent};
use crate::store::links::Purpose;
use crate::store::sessions::Revocation;
use crate::store::users::UserRecord;
use crate::store::{factors as factor_store, is_unique_violation, sessions, users};
use crate::throttle;
use crate::time::{now, rfc3339};
use crate::token;
use crate::web::{Credentials, RequestMeta};

use super::audit::event;
use super::binding::EarlyProof;
use super::links::Delivery;
use super::{Actor, Admitted, AuthService, Identity, Timed};

const MAX_NAME_CHARS: usize = 100;
const MAX_USER_AGENT_CHARS: usize = 256;
const USER_PAGE_DEFAULT: u32 = 50;
const USER_PAGE_MAX: u32 = 200;
/// HKDF `info` of the key that seals a refresh successor under the spent token.
const SUCCESSOR_SEAL: &[u8] = b"tokenflow/refresh-successor/v1";

/// A new session: its id, its first refresh token, when it ends, the DPoP key it is bound to,
/// and the sessions it pushed out (beyond the per-user cap), to announce after commit.
pub(super) struct NewSession {
    pub sid: SessionId,
    refresh: Zeroizing<String>,
    expires_at: i64,
    dpop_jkt: Option<String>,
    /// How the user authenticated (`amr`), at creation (`auth_time`).
    amr: Vec<String>,
    created_at: i64,
    evicted: Vec<SessionId>,
}

/// The session an access token is issued for: its id, its end (the token never outlives
/// it), the DPoP key it is bound to, and how and when its user last authenticated.
#[derive(Clone, Copy)]
pub(super) struct Bound<'a> {
    pub sid: &'a SessionId,
    pub end: i64,
    pub dpop_jkt: Option<&'a str>,
    pub amr: &'a [String],
    pub auth_time: i64,
}

impl AuthService {
    /// Create an account and its first session, bound to the key of the request's DPoP proof
    /// if it has one. The role is always `user`: an address in `AUTH_ADMIN_EMAILS` proves
    /// nothing until its mailbox is proven.
    ///
    /// # Errors
    /// 422-class errors for bad input, [`AuthError::BadDpopProof`], [`AuthError::EmailTaken`],
    /// or unavailability.
    #[tracing::instrument(skip_all)]
    pub async fn signup(
        &self,
        req: SignupRequest,
        creds: &Credentials<'_>,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<Timed<TokenResponse>, AuthError> {
        let email = Email::parse(&req.email)?;
        check_password_policy(&req.password)?;
        let name = clean_name(req.name.as_deref())?;
        let dpop_jkt = self.new_session_binding(creds, now())?;
        let (password_hash, argon2) = self.inner.hasher.hash(req.password).await?;

        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let user = insert_account(&mut tx, email, name, Role::User, false, &password_hash, now).await?;
        let session = self.create_session(&mut tx, &user.id, dpop_jkt, amr_of(&[Factor::Password]), meta, now).await?;
        // The first verification link goes out with the account, or with neither.
        self.make_link(&mut tx, &user, Purpose::Verify, Delivery::Mail, None, now).await?;
        audit::insert(&mut *tx, &event(EventType::Signup, &user.id, meta).in_session(&session.sid), now).await?;
        tx.commit().await?;
        self.inner.wake_mailer();
        tracing::info!(user_id = %user.id, session_id = %session.sid, "signed up");
        Ok(Timed { value: self.open_session(user, session, now).await?, argon2 })
    }

    /// Check credentials and open a session, bound to the key of the request's DPoP proof if
    /// it has one.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for a wrong password or unknown email alike;
    /// [`AuthError::RateLimited`] while the email is throttled; [`AuthError::BadDpopProof`]
    /// (checked first: a bad proof counts no attempt).
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        req: LoginRequest,
        creds: &Credentials<'_>,
        meta: &RequestMeta,
        admitted: Admitted,
    ) -> Result<Timed<LoginResponse>, AuthError> {
        let result = self.try_login(req, creds, meta, admitted).await;
        crate::meter::login(&result);
        result
    }

    async fn try_login(
        &self,
        req: LoginRequest,
        creds: &Credentials<'_>,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<Timed<LoginResponse>, AuthError> {
        let email = Email::parse(&req.email)?;
        let dpop_jkt = self.new_session_binding(creds, now())?;
        let (record, argon2) = self.check_password(&email, req.password, meta).await?;
        if factor_store::has_second_factor(&self.inner.db.pool, &record.user.id).await? {
            if record.user.disabled {
                return Err(AuthError::AccountDisabled);
            }
            let challenge = self.second_factor_challenge(&record.user.id, dpop_jkt).await?;
            return Ok(Timed { value: LoginResponse::SecondFactor(challenge), argon2 });
        }
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let amr = amr_of(&[Factor::Password]);
        let session = self.create_session(&mut tx, &record.user.id, dpop_jkt, amr, meta, now).await?;
        // Under the user's row lock (taken by `create_session`): a reset, a disable or a
        // deletion that committed while the hash was being checked wins, and no session of the
        // old password outlives it.
        let current = still_verified(&mut tx, &record).await?;
        if current.user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        audit::insert(&mut *tx, &event(EventType::Login, &current.user.id, meta).in_session(&session.sid), now).await?;
        tx.commit().await?;
        tracing::info!(user_id = %current.user.id, session_id = %session.sid, "logged in");
        Ok(Timed { value: LoginResponse::Tokens(self.open_session(current.user, session, now).await?), argon2 })
    }

    /// Count the attempt (parallel-safe), then verify `password` for `email` (against a dummy
    /// hash when unknown). Returns the record whose hash verified. A wrong password or a
    /// throttled attempt on an account is audited off the request path, so an account's
    /// existence costs no time a client could measure.
    pub(super) async fn check_password(
        &self,
        email: &Email,
        password: String,
        meta: &RequestMeta,
    ) -> Result<(UserRecord, Duration), AuthError> {
        let s = &self.inner.settings;
        let db = &self.inner.db;
        let attempt =
            match throttle::begin_login(db, email.as_str(), s.login_max_failures, s.login_window_secs, now()).await {
                Ok(attempt) => attempt,
                Err(e) => {
                    if matches!(e, AuthError::RateLimited { .. }) {
                        self.audit_later(email.clone(), EventType::LoginThrottled, meta.clone());
                    }
                    return Err(e);
                }
            };
        let checked = async {
            let record = users::find_by_email(&db.pool, email).await?;
            let phc = record.as_ref().map_or_else(|| self.inner.dummy_hash.clone(), |r| r.password_hash.clone());
            let (matches, took) = self.inner.hasher.verify(password, phc).await?;
            Ok::<_, AuthError>((record.filter(|_| matches), took))
        };
        match checked.await {
            Ok((Some(record), took)) => {
                attempt.succeeded(db).await?;
                tracing::debug!(hash_ms = took.as_millis(), "password checked");
                Ok((record, took))
            }
            Ok((None, _)) => {
                attempt.failed();
                self.audit_later(email.clone(), EventType::LoginFailed, meta.clone());
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => {
                attempt.abandon(db).await;
                Err(e)
            }
        }
    }

    /// Insert a session and its first refresh token; beyond the per-user cap, the user's
    /// oldest live sessions are revoked (under the user's row lock, so parallel sign-ins of
    /// one user cannot all slip under the cap).
    pub(super) async fn create_session(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &UserId,
        dpop_jkt: Option<String>,
        amr: Vec<String>,
        meta: &RequestMeta,
        now: i64,
    ) -> Result<NewSession, AuthError> {
        let s = &self.inner.settings;
        let sid = SessionId::generate();
        let expires_at = now + secs(s.refresh_ttl_secs.min(s.session_max_secs));
        let user_agent = meta.user_agent.as_deref().map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
        users::lock(&mut **tx, user_id).await?;
        let amr_text = amr_to_text(&amr);
        let opened =
            sessions::Opened { user_agent: user_agent.as_deref(), dpop_jkt: dpop_jkt.as_deref(), amr: &amr_text };
        sessions::insert(&mut **tx, &sid, user_id, now, expires_at, &opened).await?;
        let refresh = new_refresh_token()?;
        sessions::insert_refresh(&mut **tx, &hash_refresh(&refresh), &sid, now, expires_at).await?;
        let keep_others = i64::from(s.max_sessions_per_user) - 1;
        let evicted = sessions::revoke_beyond(&mut **tx, user_id, &sid, keep_others, now).await?;
        Ok(NewSession { sid, refresh, expires_at, dpop_jkt, amr, created_at: now, evicted })
    }

    /// The token response of a committed new session, after announcing what it evicted.
    pub(super) async fn open_session(
        &self,
        user: User,
        session: NewSession,
        now: i64,
    ) -> Result<TokenResponse, AuthError> {
        if !session.evicted.is_empty() {
            tracing::info!(user_id = %user.id, evicted = session.evicted.len(), "session cap: oldest sessions revoked");
            self.inner.revoked(&session.evicted).await;
        }
        let bound = Bound {
            sid: &session.sid,
            end: session.expires_at,
            dpop_jkt: session.dpop_jkt.as_deref(),
            amr: &session.amr,
            auth_time: session.created_at,
        };
        self.token_response(user, &bound, &session.refresh, now)
    }

    /// An access token for a session, never outliving it, carrying its DPoP binding.
    fn token_response(
        &self,
        user: User,
        session: &Bound<'_>,
        refresh_token: &str,
        now: i64,
    ) -> Result<TokenResponse, AuthError> {
        let access = self.access_token(&user, session, now)?;
        Ok(TokenResponse {
            access_token: access.access_token,
            token_type: access.token_type,
            expires_in: access.expires_in,
            refresh_token: refresh_token.to_string(),
            user,
        })
    }

    /// A signed access token for `user` in `session`: its claims say who, with what role,
    /// how and when they authenticated, and the key it is bound to.
    pub(super) fn access_token(
        &self,
        user: &User,
        session: &Bound<'_>,
        now: i64,
    ) -> Result<AccessTokenResponse, AuthError> {
        let Bound { sid, end: session_end, dpop_jkt, amr, auth_time } = *session;
        let s = &self.inner.settings;
        let exp = (now + secs(s.access_ttl_secs)).min(session_end);
        if exp <= now {
            return Err(AuthError::InvalidGrant);
        }
        let claims = Claims {
            iss: s.issuer.clone(),
            aud: s.audience.clone(),
            sub: user.id.clone(),
            exp,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            role: user.role,
            cnf: dpop_jkt.map(|jkt| Confirmation { jkt: jkt.to_string() }),
            amr: amr.to_vec(),
            auth_time: Some(auth_time),
            acr: Some(acr_of(amr).to_string()),
        };
        let access_token = token::issue(&claims, self.ring().signing_key()).map_err(AuthError::internal)?;
        Ok(AccessTokenResponse {
            access_token,
            token_type: if dpop_jkt.is_some() { "DPoP" } else { "Bearer" }.into(),
            expires_in: u64::try_from(exp - now).unwrap_or(0),
        })
    }

    /// Rotate a refresh token: spend it and issue a successor. Presenting a spent token is
    /// reuse, and revokes the whole session, except within the retry grace while the
    /// successor is unused: then the same successor is answered again. A DPoP-bound session's
    /// token is refreshed only with a proof by its key; without one it is neither spent nor
    /// taken for reuse (it is worthless to whoever lacks the key).
    ///
    /// # Errors
    /// [`AuthError::InvalidGrant`] for an unknown, expired, spent or revoked token;
    /// [`AuthError::BadDpopProof`].
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        req: RefreshRequest,
        creds: &Credentials<'_>,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, AuthError> {
        let result = self.try_refresh(req, creds, meta).await;
        crate::meter::refresh(&result);
        result
    }

    async fn try_refresh(
        &self,
        req: RefreshRequest,
        creds: &Credentials<'_>,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, AuthError> {
        let presented = Zeroizing::new(req.refresh_token);
        let s = &self.inner.settings;
        let hash = hash_refresh(&presented);
        let now = now();
        let proof = self.early_proof(creds, now)?;
        let successor = new_refresh_token()?;
        let successor_hash = hash_refresh(&successor);
        let sealed = match s.refresh_grace_secs {
            0 => None,
            _ => Some(successor_key(&presented).seal(successor.as_bytes(), hash.as_bytes())?),
        };
        let db = &self.inner.db;
        let mut tx = db.pool.begin().await?;
        let Some(sid) = sessions::spend_refresh(&mut *tx, &hash, &successor_hash, sealed.as_deref(), now).await? else {
            tx.rollback().await?;
            return self.retry_or_reuse(&presented, &hash, (&proof, creds), now, meta).await;
        };
        let touched = sessions::touch(&mut *tx, &sid, now, secs(s.refresh_ttl_secs), secs(s.session_max_secs)).await?;
        let Some(touched) = touched.filter(|t| t.expires_at > now) else {
            return Err(AuthError::InvalidGrant);
        };
        // Dropping the transaction rolls the spending back: a refused proof spends nothing.
        self.session_proof(touched.dpop_jkt.as_deref(), &proof, creds, now)?;
        let user = users::find_by_id(&mut *tx, &touched.user_id).await?.ok_or(AuthError::InvalidGrant)?.user;
        if user.disabled {
            return Err(AuthError::InvalidGrant);
        }
        sessions::insert_refresh(&mut *tx, &successor_hash, &sid, now, touched.expires_at).await?;
        tx.commit().await?;
        let amr = amr_from_text(touched.amr.as_deref());
        let bound = Bound {
            sid: &sid,
            end: touched.expires_at,
            dpop_jkt: touched.dpop_jkt.as_deref(),
            amr: &amr,
            auth_time: touched.auth_time,
        };
        self.token_response(user, &bound, &successor, now)
    }

    /// A refresh token that could not be spent: a retry within the grace gets the same
    /// successor; any other spent token is reuse and revokes its session. For a bound
    /// session, either only with a proof by its key.
    async fn retry_or_reuse(
        &self,
        presented: &str,
        hash: &str,
        (proof, creds): (&EarlyProof, &Credentials<'_>),
        now: i64,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, AuthError> {
        let db = &self.inner.db;
        let Some(spent) = sessions::find_spent_refresh(&db.pool, hash).await? else {
            return Err(AuthError::InvalidGrant);
        };
        let Some(session) = sessions::find(&db.pool, &spent.session_id).await? else {
            return Err(AuthError::InvalidGrant);
        };
        if session.dpop_jkt.is_some() {
            self.session_proof(session.dpop_jkt.as_deref(), proof, creds, now)?;
        }
        let grace = secs(self.inner.settings.refresh_grace_secs);
        if grace > 0 && now - spent.spent_at <= grace && spent.successor_unused {
            let successor = spent
                .sealed_successor
                .as_deref()
                .and_then(|sealed| successor_key(presented).open(sealed, hash.as_bytes()))
                .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
                .map(Zeroizing::new)
                .filter(|s| spent.successor_hash.as_deref() == Some(hash_refresh(s).as_str()));
            if let Some(successor) = successor {
                if session.revoked || session.expires_at <= now {
                    return Err(AuthError::InvalidGrant);
                }
                let user = users::find_by_id(&db.pool, &session.user_id).await?.ok_or(AuthError::InvalidGrant)?.user;
                if user.disabled {
                    return Err(AuthError::InvalidGrant);
                }
                tracing::info!(session_id = %session.id, "refresh retried within the grace: same successor");
                let amr = amr_from_text(session.amr.as_deref());
                let bound = Bound {
                    sid: &session.id,
                    end: session.expires_at,
                    dpop_jkt: session.dpop_jkt.as_deref(),
                    amr: &amr,
                    auth_time: session.auth_time,
                };
                return self.token_response(user, &bound, &successor, now);
            }
        }
        tracing::warn!(session_id = %spent.session_id, "refresh token reused: revoking the session");
        crate::meter::refresh_reuse();
        let event = event(EventType::RefreshReuse, &session.user_id, meta)
            .in_session(&session.id)
            .detail("a spent refresh token was presented again: the session is revoked".into());
        self.revoke(&session.id, &session.user_id, &event).await?;
        Err(AuthError::InvalidGrant)
    }

    /// Revoke one session of `user_id`, recording `event` with it. Only a change is announced
    /// (in memory and to other instances) and recorded: an id that is not the user's changes
    /// nothing anywhere.
    async fn revoke(&self, sid: &SessionId, user_id: &UserId, event: &NewEvent<'_>) -> Result<Revocation, AuthError> {
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let outcome = sessions::revoke(&mut tx, sid, user_id, now).await?;
        if outcome == Revocation::Revoked {
            audit::insert(&mut *tx, event, now).await?;
        }
        tx.commit().await?;
        if outcome == Revocation::Revoked {
            self.inner.revoked(std::slice::from_ref(sid)).await;
        }
        Ok(outcome)
    }

    /// End the caller's session: its refresh token and every access token of it.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn logout(&self, who: &Identity, meta: &RequestMeta) -> Result<(), AuthError> {
        let sid = &who.claims.sid;
        self.revoke(sid, &who.user.id, &event(EventType::Logout, &who.user.id, meta).in_session(sid)).await?;
        tracing::info!(user_id = %who.user.id, session_id = %who.claims.sid, "logged out");
        Ok(())
    }

    /// The caller's live sessions (at most the per-user cap).
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn sessions(&self, who: &Identity) -> Result<SessionList, AuthError> {
        let cap = i64::from(self.inner.settings.max_sessions_per_user);
        let rows = sessions::list_live(&self.inner.db.pool, &who.user.id, now(), cap).await?;
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

    /// Revoke one of the caller's sessions (idempotent for the caller's own).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for a session of someone else, or none.
    pub async fn revoke_session(&self, who: &Identity, sid: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        // Not even a session id: no session of anyone's.
        let sid = SessionId::parse(sid).ok_or(AuthError::NotFound)?;
        let event = event(EventType::SessionRevoked, &who.user.id, meta)
            .in_session(&who.claims.sid)
            .detail(format!("session {sid}"));
        match self.revoke(&sid, &who.user.id, &event).await? {
            Revocation::NotFound => Err(AuthError::NotFound),
            Revocation::Revoked | Revocation::AlreadyRevoked => Ok(()),
        }
    }

    /// RFC 7009: end the session of `token`, an access token this server would accept now or
    /// a refresh token of its own (spent or not). Anything else changes nothing: the answer is
    /// the same either way, so a caller learns nothing about tokens it does not hold.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn revoke_token(&self, token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let (sid, user_id) = match self.authenticate(&Credentials::held(token)).await {
            Ok(who) => (who.claims.sid.clone(), who.user.id.clone()),
            Err(AuthError::InvalidToken(_) | AuthError::MissingToken) => {
                let pool = &self.inner.db.pool;
                let Some(sid) = sessions::session_of_refresh(pool, &hash_refresh(token)).await? else { return Ok(()) };
                let Some(user_id) = sessions::user_of(pool, &sid).await? else { return Ok(()) };
                (sid, user_id)
            }
            Err(e) => return Err(e),
        };
        let event = event(EventType::SessionRevoked, &user_id, meta)
            .in_session(&sid)
            .detail("revoked with one of its tokens at the revocation endpoint".into());
        if self.revoke(&sid, &user_id, &event).await? == Revocation::Revoked {
            tracing::info!(user_id = %user_id, session_id = %sid, "session revoked through the revocation endpoint");
        }
        Ok(())
    }

    /// Revoke every session of the caller but the current one; returns how many.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn revoke_other_sessions(&self, who: &Identity, meta: &RequestMeta) -> Result<u64, AuthError> {
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let revoked = sessions::revoke_others(&mut *tx, &who.user.id, &who.claims.sid, now).await?;
        if !revoked.is_empty() {
            let detail = format!("every other session ({})", revoked.len());
            let event = event(EventType::SessionRevoked, &who.user.id, meta).in_session(&who.claims.sid).detail(detail);
            audit::insert(&mut *tx, &event, now).await?;
        }
        tx.commit().await?;
        self.inner.revoked(&revoked).await;
        Ok(revoked.len() as u64)
    }

    /// Change the caller's password; every other session of theirs is revoked in the same
    /// transaction. Compare-and-swap: it commits only if the calling session is still live and
    /// the stored hash is still the one just verified.
    ///
    /// # Errors
    /// [`AuthError::WeakPassword`], [`AuthError::InvalidCredentials`], [`AuthError::Conflict`],
    /// throttling (per email, and per user: each change costs two hashes).
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn change_password(
        &self,
        who: &Identity,
        req: PasswordChangeRequest,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<(), AuthError> {
        check_password_policy(&req.new_password)?;
        self.require_recent_authentication(who).await?;
        let s = &self.inner.settings;
        let bucket = format!("password:{}", who.user.id);
        throttle::check_rate(&self.inner.db, &bucket, s.password_changes_per_hour, 3600, now()).await?;
        let (record, _) = self.check_password(&who.user.email, req.current_password, meta).await?;
        if record.user.id != who.user.id {
            return Err(TokenError::UnknownUser.into());
        }
        let (new_hash, _) = self.inner.hasher.hash(req.new_password).await?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let swapped =
            users::swap_password_hash(&mut *tx, &who.user.id, &record.password_hash, &new_hash, &who.claims.sid, now)
                .await?;
        if !swapped {
            tx.rollback().await?;
            return Err(AuthError::Conflict);
        }
        let revoked = sessions::revoke_others(&mut *tx, &who.user.id, &who.claims.sid, now).await?;
        // So does a sign-in waiting for its second factor, proven with the old password.
        factor_store::delete_challenges_of(&mut *tx, &who.user.id).await?;
        let detail = format!("{} other session(s) revoked", revoked.len());
        let event = event(EventType::PasswordChanged, &who.user.id, meta).in_session(&who.claims.sid).detail(detail);
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        self.inner.revoked(&revoked).await;
        tracing::info!(revoked = revoked.len(), "password changed");
        Ok(())
    }

    /// A page of users (admins only): `q` filters by email substring.
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`] for non-admins; [`AuthError::InvalidRequest`] for a
    /// limit out of range or a cursor this server did not make.
    pub async fn list_users(&self, actor: Actor<'_>, query: UserQuery) -> Result<UserList, AuthError> {
        self.authorize_actor(actor)?;
        let limit = query.limit.unwrap_or(USER_PAGE_DEFAULT);
        if !(1..=USER_PAGE_MAX).contains(&limit) {
            return Err(AuthError::InvalidRequest("limit must be between 1 and 200".into()));
        }
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let q = query.q.unwrap_or_default().trim().to_lowercase();
        let mut page = users::page(&self.inner.db.pool, &q, after.as_ref(), i64::from(limit) + 1).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_cursor = if more { page.last().map(|(_, cursor)| encode_cursor(cursor)) } else { None };
        Ok(UserList { users: page.into_iter().map(|(user, _)| user).collect(), next_cursor })
    }

    /// Record an event about the account with `email`, if there is one, after the response:
    /// a failed or throttled login costs the same time whether the account exists or not.
    /// A throttled login is recorded once per throttling window.
    fn audit_later(&self, email: Email, kind: EventType, meta: RequestMeta) {
        let service = self.clone();
        tokio::spawn(async move {
            let db = &service.inner.db;
            let write = async {
                let Some(record) = users::find_by_email(&db.pool, &email).await? else { return Ok(()) };
                let now = now();
                if kind == EventType::LoginThrottled {
                    let window = secs(service.inner.settings.login_window_secs);
                    if audit::count_since(&db.pool, &record.user.id, kind, now - window).await? > 0 {
                        return Ok(());
                    }
                }
                audit::insert(&db.pool, &event(kind, &record.user.id, &meta), now).await
            };
            if let Err(e) = write.await {
                tracing::warn!(error = %e, event = kind.as_str(), "recording an audit event failed");
            }
        });
    }
}

/// Insert a new account inside `tx` (a taken email is [`AuthError::EmailTaken`]).
pub(super) async fn insert_account(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    email: Email,
    name: Option<String>,
    role: Role,
    email_verified: bool,
    password_hash: &str,
    now: i64,
) -> Result<User, AuthError> {
    let user =
        User { id: UserId::generate(), email, name, role, email_verified, disabled: false, created_at: rfc3339(now) };
    users::insert(&mut **tx, &user, password_hash, now)
        .await
        .map_err(|e| if is_unique_violation(&e) { AuthError::EmailTaken } else { e.into() })?;
    Ok(user)
}

/// The account of `verified` as it is now, if its password is still the one just verified.
/// The caller holds the account's row lock, so a reset that committed meanwhile is seen and
/// wins.
///
/// # Errors
/// [`AuthError::InvalidCredentials`] when the password changed or the account is gone.
pub(super) async fn still_verified(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    verified: &UserRecord,
) -> Result<UserRecord, AuthError> {
    let current = users::find_by_id(&mut **tx, &verified.user.id).await?;
    current.filter(|c| c.password_hash == verified.password_hash).ok_or(AuthError::InvalidCredentials)
}

pub(super) fn encode_cursor((created_at, id): &(i64, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Result<(i64, String), AuthError> {
    let bad = || AuthError::InvalidRequest("cursor is not one this server made".into());
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

pub(super) fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

/// Display names: trimmed, at most 100 characters, no control or format characters (bidi
/// overrides and invisible marks would let a name impersonate another or reorder a page).
fn clean_name(name: Option<&str>) -> Result<Option<String>, AuthError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::InvalidRequest("name must be at most 100 characters".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest("name must not contain control characters".into()));
    }
    if name.chars().any(is_format_char) {
        return Err(AuthError::InvalidRequest(
            "name must not contain invisible or direction-changing characters".into(),
        ));
    }
    Ok(Some(name.to_string()))
}

/// Unicode general category Cf (format characters): bidi controls, zero-width characters,
/// invisible operators, tags.
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

pub(super) fn random_bytes() -> Result<[u8; 32], AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AuthError::internal)?;
    Ok(bytes)
}

/// 256 random bits, base64url: opaque to clients; wiped from memory when dropped.
pub(super) fn new_refresh_token() -> Result<Zeroizing<String>, AuthError> {
    let bytes = Zeroizing::new(random_bytes()?);
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

pub(super) fn hash_refresh(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The key that seals a spent token's successor: only the holder of the spent token has it.
fn successor_key(spent: &str) -> SealKey {
    SealKey::derive(spent.as_bytes(), SUCCESSOR_SEAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_bidi_overrides_and_invisible_characters() {
        assert_eq!(clean_name(Some("  Ada Lovelace ")).unwrap().as_deref(), Some("Ada Lovelace"));
        assert_eq!(clean_name(Some("Zoë 李")).unwrap().as_deref(), Some("Zoë 李"));
        for bad in ["admin\u{202E}nimda", "a\u{200B}b", "a\u{2066}b", "a\u{FEFF}b", "a\u{E0041}b", "a\u{00AD}b", "a\nb"]
        {
            assert!(matches!(clean_name(Some(bad)), Err(AuthError::InvalidRequest(_))), "{bad:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = (1_795_331_376, "0b6c-id".to_string());
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        for bad in ["", "!!", &URL_SAFE_NO_PAD.encode("no-colon"), &URL_SAFE_NO_PAD.encode("x:id")] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
