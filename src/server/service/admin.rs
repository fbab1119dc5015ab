//! What admins (on `/admin` and `/api/admin/*`) and the operator (`tokenflow users …`,
//! `tokenflow keys retire`) may do to accounts and keys, and account deletion by its owner.
//! Each change is effective on every instance within the revocation poll, and recorded in the
//! audit log in its own transaction. The last enabled admin cannot be demoted, disabled or
//! deleted.

use zeroize::Zeroizing;

use crate::dto::{DeleteAccountRequest, EventType, Role, User, UserPatch};
use crate::error::AuthError;
use crate::ids::{Email, Kid, UserId};
use crate::password::check_password_policy;
use crate::store::audit::{self, NewEvent};
use crate::store::{keys as key_store, mail as mail_store, sessions, users};
use crate::time::now;
use crate::web::RequestMeta;

use super::accounts::{insert_account, still_verified};
use super::audit::event;
use super::links::Delivery;
use super::{Admitted, AuthService, Identity, KeySource, rotate_keys};

/// Who asks for an administrative action.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in admin (the role claim of the token decides).
    Admin(&'a Identity),
    /// The operator at the command line, who has the database and needs no account.
    Operator,
    /// Nobody in particular: the server on behalf of an anonymous request (forgot password).
    Nobody,
}

impl Actor<'_> {
    /// The acting account, for the audit log (`None`: the operator, or nobody).
    pub fn id(&self) -> Option<&UserId> {
        match self {
            Actor::Admin(who) => Some(&who.user.id),
            Actor::Operator | Actor::Nobody => None,
        }
    }
}

/// A key withdrawn by `tokenflow keys retire`.
#[derive(Debug, Clone)]
pub struct RetiredKey {
    pub kid: Kid,
    /// The key that signs now, if the withdrawn one was signing.
    pub replaced_by: Option<Kid>,
}

impl AuthService {
    /// # Errors
    /// [`AuthError::InsufficientRole`] unless the actor is an admin or the operator.
    pub fn authorize_actor(&self, actor: Actor<'_>) -> Result<(), AuthError> {
        match actor {
            Actor::Admin(who) => self.authorize(who, Role::Admin),
            Actor::Operator => Ok(()),
            Actor::Nobody => Err(AuthError::InsufficientRole(Role::Admin)),
        }
    }

    /// The account with `email` (for the operator's commands, which name accounts by email).
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; an invalid email.
    pub async fn user_by_email(&self, email: &str) -> Result<User, AuthError> {
        let email = Email::parse(email)?;
        Ok(users::find_by_email(&self.inner.db.pool, &email).await?.ok_or(AuthError::NotFound)?.user)
    }

    /// Change an account's role or disabled state (`PATCH /api/admin/users/{id}`). Disabling
    /// revokes every session of the account; a role change reaches its tokens at their next
    /// refresh (or at once, after [`AuthService::revoke_user_sessions`]).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such account, [`AuthError::LastAdmin`].
    pub async fn update_user(
        &self,
        actor: Actor<'_>,
        id: &str,
        patch: UserPatch,
        meta: &RequestMeta,
    ) -> Result<User, AuthError> {
        self.authorize_admin_action(actor).await?;
        let id = UserId::parse(id).ok_or(AuthError::NotFound)?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let demotes = patch.role == Some(Role::User) || patch.disabled == Some(true);
        // First, and in one statement: parallel demotions queue here in one order (no deadlock
        // on PostgreSQL), and on SQLite the transaction writes before it reads (a read first
        // could not be upgraded once another connection had written).
        let admins = users::lock_enabled_admins(&mut *tx).await?;
        users::lock(&mut *tx, &id).await?;
        let before = users::find_by_id(&mut *tx, &id).await?.ok_or(AuthError::NotFound)?.user;
        let was_enabled_admin = before.role == Role::Admin && !before.disabled;
        if demotes && was_enabled_admin && admins.iter().all(|a| *a == id) {
            return Err(AuthError::LastAdmin);
        }
        let change = users::Change { role: patch.role, disabled: patch.disabled, ..users::Change::default() };
        let after = users::update(&mut *tx, &id, &change, now).await?.ok_or(AuthError::NotFound)?;
        let by = actor.id();
        if after.role != before.role {
            let detail = format!("{} → {}", before.role.as_str(), after.role.as_str());
            audit::insert(&mut *tx, &event(EventType::RoleChanged, &id, meta).by(by).detail(detail), now).await?;
        }
        let mut revoked = Vec::new();
        if after.disabled != before.disabled {
            let kind = if after.disabled { EventType::AccountDisabled } else { EventType::AccountEnabled };
            if after.disabled {
                revoked = sessions::revoke_all(&mut *tx, &id, now).await?;
                crate::store::factors::delete_challenges_of(&mut *tx, &id).await?;
            }
            let detail = after.disabled.then(|| format!("{} session(s) revoked", revoked.len()));
            let event = NewEvent { detail, ..event(kind, &id, meta).by(by) };
            audit::insert(&mut *tx, &event, now).await?;
        }
        tx.commit().await?;
        self.inner.revoked(&revoked).await;
        self.inner.forget_users(std::slice::from_ref(&id));
        tracing::info!(user_id = %id, role = after.role.as_str(), disabled = after.disabled, "account changed by an admin");
        Ok(after)
    }

    /// Log an account out everywhere (`DELETE /api/admin/users/{id}/sessions`).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such account.
    pub async fn revoke_user_sessions(&self, actor: Actor<'_>, id: &str, meta: &RequestMeta) -> Result<u64, AuthError> {
        self.authorize_admin_action(actor).await?;
        let id = UserId::parse(id).ok_or(AuthError::NotFound)?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        if !users::lock(&mut *tx, &id).await? {
            return Err(AuthError::NotFound);
        }
        let revoked = sessions::revoke_all(&mut *tx, &id, now).await?;
        crate::store::factors::delete_challenges_of(&mut *tx, &id).await?;
        let detail = format!("{} session(s) revoked", revoked.len());
        audit::insert(
            &mut *tx,
            &event(EventType::SessionsRevokedByAdmin, &id, meta).by(actor.id()).detail(detail),
            now,
        )
        .await?;
        tx.commit().await?;
        self.inner.revoked(&revoked).await;
        Ok(revoked.len() as u64)
    }

    /// Mail an account a reset link (`POST /api/admin/users/{id}/password-reset`); within a
    /// minute of the previous one, nothing more is sent.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such account.
    pub async fn admin_send_reset(&self, actor: Actor<'_>, id: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        self.authorize_admin_action(actor).await?;
        let id = UserId::parse(id).ok_or(AuthError::NotFound)?;
        let user = users::find_by_id(&self.inner.db.pool, &id).await?.ok_or(AuthError::NotFound)?.user;
        self.issue_reset_link(&user, Delivery::Mail, actor, meta).await.map(drop)
    }

    /// A reset link for the operator to hand over (`tokenflow users reset-link`): printed, not
    /// mailed.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such account.
    pub async fn operator_reset_link(&self, email: &str) -> Result<Zeroizing<String>, AuthError> {
        let user = self.user_by_email(email).await?;
        let link = self.issue_reset_link(&user, Delivery::Print, Actor::Operator, &RequestMeta::operator()).await?;
        link.ok_or_else(|| AuthError::internal("a printed link has no cooldown"))
    }

    /// Create an account from the command line (`tokenflow users create`): its email counts
    /// as verified (the operator vouches for it).
    ///
    /// # Errors
    /// Bad email or weak password, [`AuthError::EmailTaken`].
    pub async fn create_user(&self, email: &str, password: String, role: Role) -> Result<User, AuthError> {
        let email = Email::parse(email)?;
        check_password_policy(&password)?;
        let (password_hash, _) = self.inner.hasher.hash(password).await?;
        let now = now();
        let meta = RequestMeta::operator();
        let mut tx = self.inner.db.pool.begin().await?;
        let user = insert_account(&mut tx, email, None, role, true, &password_hash, now).await?;
        let detail = format!("created by the operator as {}", role.as_str());
        audit::insert(&mut *tx, &event(EventType::Signup, &user.id, &meta).detail(detail), now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Delete the caller's account (`DELETE /api/me`) after checking the password: its
    /// sessions (refused everywhere within the poll), links and queued mail go with it. Its
    /// audit events stay, without the email, until retention ends.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`]; [`AuthError::LastAdmin`].
    pub async fn delete_account(
        &self,
        who: &Identity,
        req: DeleteAccountRequest,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<(), AuthError> {
        self.require_recent_authentication(who).await?;
        let (record, _) = self.check_password(&who.user.email, req.password, meta).await?;
        let id = record.user.id.clone();
        if id != who.user.id {
            return Err(AuthError::InvalidCredentials);
        }
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let admins = users::lock_enabled_admins(&mut *tx).await?;
        if admins.contains(&id) && admins.len() == 1 {
            return Err(AuthError::LastAdmin);
        }
        // A sign-in in flight (it holds this lock while it adds its session) finishes first, so
        // its session is buried with the others; a password reset that committed while the
        // password was being checked wins (the old password deletes nothing).
        users::lock(&mut *tx, &id).await?;
        still_verified(&mut tx, &record).await?;
        let buried = sessions::bury_all(&mut *tx, &id, now).await?;
        mail_store::drop_pending_to(&mut *tx, record.user.email.as_str()).await?;
        users::delete(&mut *tx, &id).await?;
        let detail = format!("deleted by its owner; {} session(s) ended", buried.len());
        let event =
            event(EventType::AccountDeleted, &id, meta).by(Some(&id)).in_session(&who.claims.sid).detail(detail);
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        self.inner.revoked(&buried).await;
        self.inner.forget_users(std::slice::from_ref(&id));
        tracing::info!(user_id = %id, "account deleted");
        Ok(())
    }

    /// Withdraw a signing key (`tokenflow keys retire KID`), as after a compromise: it leaves
    /// the JWKS and every instance's ring (each notices within its revocation poll), tokens it
    /// signed are refused, and if it was signing a fresh key takes over.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such (usable) key; [`AuthError::InvalidRequest`] while
    /// keys come from `AUTH_SIGNING_KEY_FILE`.
    pub async fn retire_key(&self, kid: &str) -> Result<RetiredKey, AuthError> {
        if matches!(self.inner.key_source, KeySource::Pem(_)) {
            return Err(AuthError::InvalidRequest(
                "the signing key comes from AUTH_SIGNING_KEY_FILE: replace that file instead".into(),
            ));
        }
        let kid = Kid::from_trusted(kid.trim());
        let db = &self.inner.db;
        let now = now();
        let meta = RequestMeta::operator();
        let mut tx = db.pool.begin().await?;
        let was_signing = key_store::withdraw(&mut *tx, &kid, now).await?.ok_or(AuthError::NotFound)?;
        let detail = format!("key {kid} withdrawn{}", if was_signing { " while it was signing" } else { "" });
        let event = NewEvent {
            kind: EventType::KeyRetired,
            user_id: None,
            actor_id: None,
            meta: &meta,
            session_id: None,
            detail: Some(detail),
        };
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        // Had it been signing, the ring is without a signer until this rotation (an instance
        // reloading meanwhile makes one itself: either way a fresh key signs).
        let replaced_by = if was_signing {
            Some(rotate_keys(db, self.inner.settings.key_encryption.as_ref()).await.map_err(AuthError::internal)?)
        } else {
            None
        };
        self.inner.reload_keys().await.map_err(AuthError::internal)?;
        tracing::warn!(kid = %kid, "signing key withdrawn by the operator");
        Ok(RetiredKey { kid, replaced_by })
    }
}
