//! One-time links: email verification and password reset, and the outbox that shows their
//! mails when no relay is configured. A link is 256 random bits, stored as its SHA-256; using
//! one is one conditional update inside the transaction of what it does.

use zeroize::Zeroizing;

use crate::dto::{
    Accepted, EventType, ForgotRequest, LinkRequest, Outbox, OutboxMessage, OutboxQuery, ResetRequest, Role, User,
};
use crate::error::AuthError;
use crate::ids::{Email, UserId};
use crate::mail::{MailKind, compose};
use crate::password::check_password_policy;
use crate::store::links::{self, Purpose};
use crate::store::mail::{self as mail_store, MailRow};
use crate::store::{audit, sessions, users};
use crate::throttle;
use crate::time::{now, rfc3339};
use crate::web::RequestMeta;

use super::accounts::{hash_refresh as hash_link, new_refresh_token as new_link_token, secs};
use super::audit::event;
use super::{Actor, Admitted, AuthService, Identity};

/// A new link of an account may be mailed this long after the previous one at the earliest.
const MAIL_COOLDOWN_SECS: i64 = 60;
/// Forgot-password requests per email per hour (the same for every email, known or not).
const FORGOT_PER_EMAIL_PER_HOUR: u32 = 10;
const OUTBOX_PAGE: i64 = 200;
/// The answer to every forgot-password request.
const FORGOT_ANSWER: &str = "If an account with this email exists, a link to reset its password is on its way. It works once, for a limited time.";

/// What becomes of a new link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued as a mail in the same transaction.
    Mail,
    /// Handed back to the caller (the operator's `tokenflow users reset-link`).
    Print,
}

/// A link made, or refused for coming too soon after the previous one.
pub(super) enum LinkOutcome {
    Made(Zeroizing<String>),
    TooSoon { retry_after: u64 },
}

impl AuthService {
    /// Make a link for `user` inside `tx` (and queue its mail): at most one per `cooldown`
    /// seconds. The caller holds the user's row lock (or has just inserted the user), so
    /// parallel requests cannot slip through the cooldown.
    pub(super) async fn make_link(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user: &User,
        purpose: Purpose,
        delivery: Delivery,
        cooldown: Option<i64>,
        now: i64,
    ) -> Result<LinkOutcome, AuthError> {
        let s = &self.inner.settings;
        if let Some(cooldown) = cooldown
            && let Some(newest) = links::newest(&mut **tx, &user.id, purpose).await?
            && newest + cooldown > now
        {
            return Ok(LinkOutcome::TooSoon { retry_after: u64::try_from(newest + cooldown - now).unwrap_or(1) });
        }
        let (ttl, page, kind) = match purpose {
            Purpose::Verify => (s.verify_ttl_secs, "verify-email", MailKind::Verify),
            Purpose::Reset => (s.reset_ttl_secs, "reset-password", MailKind::Reset),
        };
        let token = new_link_token()?;
        let expires_at = now + secs(ttl);
        links::insert(&mut **tx, &hash_link(&token), &user.id, purpose, now, expires_at).await?;
        let url = Zeroizing::new(format!("{}/{page}?token={}", s.issuer.trim_end_matches('/'), token.as_str()));
        if delivery == Delivery::Mail {
            let (subject, text) = compose(kind, &url, ttl);
            let mail = MailRow {
                id: uuid::Uuid::now_v7().to_string(),
                recipient: user.email.as_str().to_string(),
                subject: subject.to_string(),
                body: text,
                created_at: now,
                attempts: 0,
            };
            mail_store::enqueue(&mut **tx, &mail, expires_at, self.inner.mailer.is_outbox()).await?;
        }
        Ok(LinkOutcome::Made(url))
    }

    /// Mail the caller a new verification link (`POST /api/auth/email/verify/send`). A
    /// verified account gets nothing, and the same answer.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] within a minute of the previous link.
    pub async fn send_verification(&self, who: &Identity) -> Result<(), AuthError> {
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        // Write first (see `update_user`), then read under the lock.
        users::lock(&mut *tx, &who.user.id).await?;
        let user = users::find_by_id(&mut *tx, &who.user.id).await?.ok_or(AuthError::NotFound)?.user;
        if user.email_verified {
            return Ok(());
        }
        let outcome =
            self.make_link(&mut tx, &user, Purpose::Verify, Delivery::Mail, Some(MAIL_COOLDOWN_SECS), now).await?;
        if let LinkOutcome::TooSoon { retry_after } = outcome {
            return Err(AuthError::RateLimited { retry_after });
        }
        tx.commit().await?;
        self.inner.wake_mailer();
        Ok(())
    }

    /// Use a verification link (`POST /api/auth/email/verify`): the email is verified, and an
    /// address of `AUTH_ADMIN_EMAILS` becomes admin.
    ///
    /// # Errors
    /// [`AuthError::InvalidLink`] for an unknown, used or expired link.
    pub async fn verify_email(&self, req: LinkRequest, meta: &RequestMeta) -> Result<User, AuthError> {
        let hash = hash_link(&req.token);
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let user_id = links::consume(&mut *tx, &hash, Purpose::Verify, now).await?.ok_or(AuthError::InvalidLink)?;
        let user = self.prove_mailbox(&mut tx, &user_id, None, meta, now).await?;
        tx.commit().await?;
        self.inner.forget_users(std::slice::from_ref(&user.id));
        tracing::info!(user_id = %user.id, "email verified");
        Ok(user)
    }

    /// The mailbox of `user_id` is proven (by a verification or a reset link): mark it
    /// verified, promote an `AUTH_ADMIN_EMAILS` address, set `password_hash` if given, and
    /// record what changed.
    async fn prove_mailbox(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &UserId,
        password_hash: Option<&str>,
        meta: &RequestMeta,
        now: i64,
    ) -> Result<User, AuthError> {
        let before = users::find_by_id(&mut **tx, user_id).await?.ok_or(AuthError::InvalidLink)?.user;
        let promote =
            before.role != Role::Admin && self.inner.settings.admin_emails.iter().any(|e| e == before.email.as_str());
        let change = users::Change {
            role: promote.then_some(Role::Admin),
            email_verified: Some(true),
            password_hash,
            disabled: None,
        };
        let user = users::update(&mut **tx, user_id, &change, now).await?.ok_or(AuthError::InvalidLink)?;
        if !before.email_verified {
            let how = if password_hash.is_some() { "by a password reset link" } else { "by a verification link" };
            audit::insert(&mut **tx, &event(EventType::EmailVerified, user_id, meta).detail(how.into()), now).await?;
        }
        if promote {
            let detail = "user → admin (AUTH_ADMIN_EMAILS, mailbox proven)".to_string();
            audit::insert(&mut **tx, &event(EventType::RoleChanged, user_id, meta).detail(detail), now).await?;
        }
        Ok(user)
    }

    /// Ask for a reset link (`POST /api/auth/password/forgot`). The answer and its timing are
    /// the same for every email: the lookup and the mail happen after the response.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmail`]; [`AuthError::RateLimited`] beyond the per-email limit
    /// (which counts unknown emails alike).
    pub async fn forgot_password(
        &self,
        req: ForgotRequest,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<Accepted, AuthError> {
        let email = Email::parse(&req.email)?;
        let bucket = format!("forgot:{email}");
        throttle::check_rate(&self.inner.db, &bucket, FORGOT_PER_EMAIL_PER_HOUR, 3600, now()).await?;
        let service = self.clone();
        let meta = meta.clone();
        tokio::spawn(async move {
            if let Err(e) = service.mail_reset_link(&email, &meta).await {
                tracing::warn!(error = %e, "mailing a reset link failed");
            }
        });
        Ok(Accepted { message: FORGOT_ANSWER.into() })
    }

    async fn mail_reset_link(&self, email: &Email, meta: &RequestMeta) -> Result<(), AuthError> {
        let Some(record) = users::find_by_email(&self.inner.db.pool, email).await? else { return Ok(()) };
        if record.user.disabled {
            return Ok(());
        }
        self.issue_reset_link(&record.user, Delivery::Mail, Actor::Nobody, meta).await.map(drop)
    }

    /// A reset link for `user`, mailed or handed back, with its audit event; at most one
    /// mailed per minute (a refused one is `Ok(None)`).
    pub(super) async fn issue_reset_link(
        &self,
        user: &User,
        delivery: Delivery,
        actor: Actor<'_>,
        meta: &RequestMeta,
    ) -> Result<Option<Zeroizing<String>>, AuthError> {
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        if !users::lock(&mut *tx, &user.id).await? {
            return Err(AuthError::NotFound);
        }
        let cooldown = (delivery == Delivery::Mail).then_some(MAIL_COOLDOWN_SECS);
        let LinkOutcome::Made(url) = self.make_link(&mut tx, user, Purpose::Reset, delivery, cooldown, now).await?
        else {
            return Ok(None);
        };
        let how = match (delivery, actor) {
            (Delivery::Print, _) => "link printed for the operator",
            (Delivery::Mail, Actor::Nobody) => "link mailed (forgot password)",
            (Delivery::Mail, _) => "link mailed by an admin",
        };
        let event = event(EventType::PasswordResetRequested, &user.id, meta).by(actor.id()).detail(how.into());
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        self.inner.wake_mailer();
        Ok(Some(url))
    }

    /// Use a reset link (`POST /api/auth/password/reset`): the password is set, the email
    /// verified, and every session of the user revoked, in one transaction. It does not log in.
    ///
    /// # Errors
    /// [`AuthError::WeakPassword`]; [`AuthError::InvalidLink`].
    pub async fn reset_password(&self, req: ResetRequest, meta: &RequestMeta, _: Admitted) -> Result<(), AuthError> {
        check_password_policy(&req.new_password)?;
        let hash = hash_link(&req.token);
        // Refuse a dead link before paying for a hash; the update below decides for real.
        links::peek(&self.inner.db.pool, &hash, Purpose::Reset, now()).await?.ok_or(AuthError::InvalidLink)?;
        let (password_hash, _) = self.inner.hasher.hash(req.new_password).await?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        let user_id = links::consume(&mut *tx, &hash, Purpose::Reset, now).await?.ok_or(AuthError::InvalidLink)?;
        let user = self.prove_mailbox(&mut tx, &user_id, Some(&password_hash), meta, now).await?;
        let revoked = sessions::revoke_all(&mut *tx, &user_id, now).await?;
        // A sign-in waiting for its second factor was proven with the old password: it dies.
        crate::store::factors::delete_challenges_of(&mut *tx, &user_id).await?;
        links::spend_all(&mut *tx, &user_id, Purpose::Reset, now).await?;
        let detail = format!("password set by a reset link; {} session(s) revoked", revoked.len());
        audit::insert(&mut *tx, &event(EventType::PasswordReset, &user_id, meta).detail(detail), now).await?;
        tx.commit().await?;
        self.inner.revoked(&revoked).await;
        self.inner.forget_users(std::slice::from_ref(&user.id));
        tracing::info!(user_id = %user.id, revoked = revoked.len(), "password reset");
        Ok(())
    }

    /// `true` when mail stays in the built-in outbox (no SMTP relay).
    pub fn mail_is_outbox(&self) -> bool {
        self.inner.mailer.is_outbox()
    }

    /// The built-in outbox, newest first (`GET /api/outbox`; the server serves it only on a
    /// loopback address).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] while mail goes to a relay.
    pub async fn outbox(&self, query: OutboxQuery) -> Result<Outbox, AuthError> {
        if !self.mail_is_outbox() {
            return Err(AuthError::NotFound);
        }
        let to = query.to.as_deref().filter(|t| !t.trim().is_empty()).map(Email::parse).transpose()?;
        let rows = mail_store::outbox(&self.inner.db.pool, to.as_ref().map(Email::as_str), OUTBOX_PAGE).await?;
        let messages = rows
            .into_iter()
            .map(|m| OutboxMessage {
                id: m.id,
                to: m.recipient,
                subject: m.subject,
                text: m.body,
                created_at: rfc3339(m.created_at),
            })
            .collect();
        Ok(Outbox { messages })
    }
}
