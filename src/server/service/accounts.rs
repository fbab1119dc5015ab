//! Accounts and sessions: sign-up, login, refresh with rotation and reuse detection, logout,
//! the session list, password change, the admin's user list.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::claims::Claims;
use crate::dto::{
    LoginRequest, PasswordChangeRequest, RefreshRequest, Role, SessionInfo, SessionList, SignupRequest, TokenResponse,
    User, UserList,
};
use crate::error::{AuthError, TokenError};
use crate::password::{check_password_policy, normalize_email};
use crate::store::{is_unique_violation, limits, sessions, users};
use crate::throttle;
use crate::time::{now, rfc3339};
use crate::token;

use super::{AuthService, Identity, Timed};

const MAX_NAME_CHARS: usize = 100;
const MAX_USER_AGENT_CHARS: usize = 256;

impl AuthService {
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

    async fn revoke(&self, sid: &str, user_id: &str) -> Result<bool, AuthError> {
        let found = sessions::revoke(&self.inner.db.pool, sid, user_id, now()).await?;
        self.inner.revoked(&[sid]).await;
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
        self.inner.revoked(&revoked.iter().map(String::as_str).collect::<Vec<_>>()).await;
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
        self.inner.revoked(&revoked.iter().map(String::as_str).collect::<Vec<_>>()).await;
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

pub(super) fn random_bytes() -> Result<[u8; 32], AuthError> {
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
