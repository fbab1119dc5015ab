//! Second factors: enrolling an authenticator app (with recovery codes) or passkeys, the
//! second step of a sign-in, a sign-in with a passkey alone, step-up for sensitive actions,
//! and the admin's reset of an account's factors.
//!
//! Every answer to a challenge is counted before it is checked (at most five per challenge,
//! and codes also count against the account's throttle, as passwords do), every code is
//! accepted once (one conditional update), and the challenge is used up in the transaction
//! that opens the session, so two right answers in parallel open one session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration as RegistrationState,
    PublicKeyCredential, RegisterPublicKeyCredential, Webauthn,
};

use crate::dto::{
    AccessTokenResponse, EventType, FactorAnswer, FactorList, PasskeyChallenge, PasskeyInfo, PasskeyRegistration,
    RecoveryCodes, SecondFactorRequest, SecondFactorRequired, StepUpRequest, TokenResponse, TotpEnrolment,
};
use crate::error::AuthError;
use crate::ids::UserId;
use crate::mfa::{
    self, CHALLENGE_MAX_ATTEMPTS, CHALLENGE_TTL_SECS, Factor, TotpSecret, amr_from_text, amr_of, amr_to_text,
    check_step_up,
};
use crate::passkeys::{self, RelyingParty};
use crate::store::audit;
use crate::store::factors::{self as store, Challenge, PasskeyRow, Purpose};
use crate::store::{is_unique_violation, sessions, users};
use crate::throttle;
use crate::time::{now, rfc3339};
use crate::web::{Credentials, RequestMeta};

use super::accounts::{Bound, hash_refresh, new_refresh_token};
use super::audit::event;
use super::{Actor, Admitted, AuthService, Identity};

const SEALED_PREFIX: &str = "sealed:v1:";
const MAX_PASSKEY_NAME_CHARS: usize = 64;
/// Passkeys per account.
const MAX_PASSKEYS: usize = 10;

/// Which factor answered, and what it makes of the `amr`.
struct Answered {
    factor: Factor,
    /// A recovery code was spent (recorded in the audit log).
    recovery: bool,
}

impl AuthService {
    fn webauthn(&self) -> Result<&Webauthn, AuthError> {
        match &self.inner.rp {
            RelyingParty::On(webauthn, _) => Ok(webauthn),
            RelyingParty::Off(reason) => Err(AuthError::InvalidRequest(reason.clone())),
        }
    }

    /// The origin passkeys work at, or why they are off.
    pub fn passkey_origin(&self) -> Result<&str, &str> {
        match &self.inner.rp {
            RelyingParty::On(_, info) => Ok(&info.origin),
            RelyingParty::Off(reason) => Err(reason),
        }
    }

    /// A challenge row and the secret the client answers with (only its hash is stored).
    async fn new_challenge(&self, challenge: &Challenge) -> Result<String, AuthError> {
        let secret = new_refresh_token()?;
        store::insert_challenge(&self.inner.db.pool, &hash_refresh(&secret), challenge, now()).await?;
        Ok(secret.to_string())
    }

    /// After a right password, for an account with a second factor: the challenge to answer.
    pub(super) async fn second_factor_challenge(
        &self,
        user_id: &UserId,
        dpop_jkt: Option<String>,
    ) -> Result<SecondFactorRequired, AuthError> {
        let pool = &self.inner.db.pool;
        let totp = store::find_totp(pool, user_id).await?.is_some_and(|t| t.confirmed);
        let stored = store::passkeys_of(pool, user_id).await?;
        let mut factors = Vec::new();
        if totp {
            factors.extend(["totp".to_string(), "recovery_code".to_string()]);
        }
        let (passkey, state) = match (self.webauthn(), stored.is_empty()) {
            (Ok(webauthn), false) => {
                factors.push("passkey".into());
                let (options, state) = passkeys::start_for_account(webauthn, &parse_passkeys(&stored)?)?;
                (Some(to_json(&options)?), Some(passkeys::state_to_text(&state)?))
            }
            _ => (None, None),
        };
        let challenge = Challenge {
            purpose: Purpose::SecondFactor,
            user_id: Some(user_id.clone()),
            session_id: None,
            amr: amr_to_text(&amr_of(&[Factor::Password])),
            dpop_jkt,
            state,
            expires_at: now() + CHALLENGE_TTL_SECS,
        };
        let secret = self.new_challenge(&challenge).await?;
        Ok(SecondFactorRequired {
            second_factor_required: true,
            challenge: secret,
            expires_in: CHALLENGE_TTL_SECS.unsigned_abs(),
            factors,
            passkey,
        })
    }

    /// Options for a sign-in with a passkey alone (a discoverable credential: no email).
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when passkeys are off; [`AuthError::BadDpopProof`].
    pub async fn passkey_sign_in_options(
        &self,
        creds: &Credentials<'_>,
        _: Admitted,
    ) -> Result<PasskeyChallenge, AuthError> {
        let dpop_jkt = self.new_session_binding(creds, now())?;
        let (options, state) = passkeys::start_discoverable(self.webauthn()?)?;
        let challenge = Challenge {
            purpose: Purpose::PasskeySignIn,
            user_id: None,
            session_id: None,
            amr: String::new(),
            dpop_jkt,
            state: Some(passkeys::state_to_text(&state)?),
            expires_at: now() + CHALLENGE_TTL_SECS,
        };
        let secret = self.new_challenge(&challenge).await?;
        Ok(PasskeyChallenge {
            challenge: secret,
            expires_in: CHALLENGE_TTL_SECS.unsigned_abs(),
            options: to_json(&options)?,
        })
    }

    /// Answer a sign-in challenge: the second factor after a password, or the passkey of a
    /// passkey sign-in. A right answer opens the session (bound to the DPoP key of this
    /// request's proof, which must be the key of the first step's, if it had one).
    ///
    /// # Errors
    /// [`AuthError::InvalidChallenge`] (unknown, used, expired, 5 attempts made);
    /// [`AuthError::InvalidCode`] for a wrong answer; [`AuthError::RateLimited`] while the
    /// account's codes are throttled; [`AuthError::InvalidRequest`] for not exactly one answer.
    #[tracing::instrument(skip_all)]
    pub async fn second_factor(
        &self,
        req: SecondFactorRequest,
        creds: &Credentials<'_>,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<TokenResponse, AuthError> {
        one_answer(&req.answer)?;
        let dpop_jkt = self.new_session_binding(creds, now())?;
        let hash = hash_refresh(&req.challenge);
        let pool = &self.inner.db.pool;
        let passkey_only = req.answer.passkey.is_some();
        let mut challenge =
            store::attempt_challenge(pool, &hash, Purpose::SecondFactor, CHALLENGE_MAX_ATTEMPTS, now()).await?;
        if challenge.is_none() && passkey_only {
            challenge =
                store::attempt_challenge(pool, &hash, Purpose::PasskeySignIn, CHALLENGE_MAX_ATTEMPTS, now()).await?;
        }
        let challenge = challenge.ok_or(AuthError::InvalidChallenge)?;
        if challenge.dpop_jkt.is_some() && challenge.dpop_jkt != dpop_jkt {
            return Err(AuthError::BadDpopProof(crate::dpop::ProofError::WrongKey));
        }
        let (user_id, answered) = match challenge.purpose {
            Purpose::PasskeySignIn => {
                let cred = req.answer.passkey.as_ref().ok_or(AuthError::InvalidCode)?;
                self.discoverable_answer(&challenge, cred, meta).await?
            }
            _ => {
                let user_id = challenge.user_id.clone().ok_or(AuthError::InvalidChallenge)?;
                let answered = self.answer(&user_id, &challenge, &req.answer, meta).await?;
                (user_id, answered)
            }
        };
        let mut factors: Vec<Factor> = amr_from_text(Some(&challenge.amr))
            .iter()
            .filter_map(|v| (v == crate::claims::amr::PWD).then_some(Factor::Password))
            .collect();
        factors.push(answered.factor);
        let amr = amr_of(&factors);

        let now = now();
        let mut tx = pool.begin().await?;
        if !store::consume_challenge(&mut *tx, &hash).await? {
            return Err(AuthError::InvalidChallenge);
        }
        let session = self.create_session(&mut tx, &user_id, dpop_jkt, amr.clone(), meta, now).await?;
        let user = users::find_by_id(&mut *tx, &user_id).await?.ok_or(AuthError::InvalidChallenge)?.user;
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let how = format!("signed in with {}", amr.join(" "));
        audit::insert(&mut *tx, &event(EventType::Login, &user.id, meta).in_session(&session.sid).detail(how), now)
            .await?;
        if answered.recovery {
            let left = store::recovery_codes_left(&mut *tx, &user.id).await?;
            let detail = format!("{left} recovery code(s) left");
            audit::insert(&mut *tx, &event(EventType::RecoveryCodeUsed, &user.id, meta).detail(detail), now).await?;
        }
        tx.commit().await?;
        tracing::info!(user_id = %user.id, amr = %amr.join(" "), "signed in with a second factor");
        self.open_session(user, session, now).await
    }

    /// Check one answer for `user_id`: a TOTP code, a recovery code (both throttled per
    /// account), or a passkey of theirs for `challenge`'s ceremony.
    async fn answer(
        &self,
        user_id: &UserId,
        challenge: &Challenge,
        answer: &FactorAnswer,
        meta: &RequestMeta,
    ) -> Result<Answered, AuthError> {
        if let Some(cred) = &answer.passkey {
            let state: PasskeyAuthentication = passkeys::state_from_text(challenge.state.as_deref())
                .map_err(|_| AuthError::InvalidRequest("this challenge takes no passkey".into()))?;
            let cred = parse_credential(cred)?;
            let result = self.webauthn()?.finish_passkey_authentication(&cred, &state);
            let synced =
                self.passkey_used(Some(user_id), &cred, result.map_err(|_| AuthError::InvalidCode), meta).await?;
            return Ok(Answered { factor: Factor::Passkey { synced }, recovery: false });
        }
        self.check_code(user_id, answer, meta).await
    }

    /// A TOTP code or a recovery code of `user_id`, counted against the account's throttle
    /// before it is checked; a wrong one is recorded.
    async fn check_code(
        &self,
        user_id: &UserId,
        answer: &FactorAnswer,
        meta: &RequestMeta,
    ) -> Result<Answered, AuthError> {
        let pool = &self.inner.db.pool;
        let checked = async {
            let now = now();
            let right = if let Some(code) = &answer.code {
                let Some(row) = store::find_totp(pool, user_id).await?.filter(|t| t.confirmed) else {
                    return Ok(None);
                };
                let secret = self.open_totp(user_id, &row.secret).await?;
                let Some(step) = secret.check(code, now, row.last_step) else { return Ok(None) };
                store::accept_totp_step(pool, user_id, step, false, now).await?
            } else {
                let code = answer.recovery_code.as_deref().unwrap_or_default();
                let hash = mfa::recovery_code_hash(user_id.as_str(), code);
                store::use_recovery_code(pool, user_id, &hash, now).await?
            };
            Ok(right.then_some(()))
        };
        match self.counted(user_id, checked).await {
            Ok(()) => Ok(Answered { factor: Factor::Otp, recovery: answer.code.is_none() }),
            Err(AuthError::InvalidCode) => {
                let event = event(EventType::SecondFactorFailed, user_id, meta).detail("a wrong or used code".into());
                audit::insert(pool, &event, now()).await?;
                Err(AuthError::InvalidCode)
            }
            Err(e) => Err(e),
        }
    }

    /// Count a code attempt of `user_id` against the account's throttle (before it is
    /// checked, so a parallel burst gets no extra guesses), then settle it by what `check`
    /// found: a right code forgives the account's failures, a wrong one stays counted, one
    /// that could not be checked is taken back.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`], [`AuthError::InvalidCode`], or the check's own error.
    async fn counted<T>(
        &self,
        user_id: &UserId,
        check: impl std::future::Future<Output = Result<Option<T>, AuthError>>,
    ) -> Result<T, AuthError> {
        let s = &self.inner.settings;
        let db = &self.inner.db;
        let bucket = format!("factor {user_id}");
        let attempt = throttle::begin_login(db, &bucket, s.login_max_failures, s.login_window_secs, now()).await?;
        match check.await {
            Ok(Some(found)) => {
                attempt.succeeded(db).await?;
                Ok(found)
            }
            Ok(None) => {
                attempt.failed();
                Err(AuthError::InvalidCode)
            }
            Err(e) => {
                attempt.abandon(db).await;
                Err(e)
            }
        }
    }

    /// A passkey's answer in a passkey sign-in: the credential names its account (the user
    /// handle) and must be a passkey of that account.
    async fn discoverable_answer(
        &self,
        challenge: &Challenge,
        cred: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<(UserId, Answered), AuthError> {
        let webauthn = self.webauthn()?;
        let state: DiscoverableAuthentication = passkeys::state_from_text(challenge.state.as_deref())?;
        let cred = parse_credential(cred)?;
        let (handle, cred_id) =
            webauthn.identify_discoverable_authentication(&cred).map_err(|_| AuthError::InvalidCode)?;
        let stored = store::find_passkey(&self.inner.db.pool, &URL_SAFE_NO_PAD.encode(cred_id)).await?;
        let stored = stored.filter(|row| row.user_id.as_str() == handle.to_string()).ok_or(AuthError::InvalidCode)?;
        let passkey = parse_passkey(&stored)?;
        let result = webauthn.finish_discoverable_authentication_v2(&cred, state, &passkey);
        let synced =
            self.passkey_used(Some(&stored.user_id), &cred, result.map_err(|_| AuthError::InvalidCode), meta).await?;
        Ok((stored.user_id, Answered { factor: Factor::Passkey { synced }, recovery: false }))
    }

    /// Record a verified passkey use: its new counter and backup state. A counter that did not
    /// grow (a cloned authenticator) or a parallel use that moved it first is refused.
    async fn passkey_used(
        &self,
        owner: Option<&UserId>,
        cred: &PublicKeyCredential,
        result: Result<webauthn_rs::prelude::AuthenticationResult, AuthError>,
        meta: &RequestMeta,
    ) -> Result<bool, AuthError> {
        let pool = &self.inner.db.pool;
        let id = URL_SAFE_NO_PAD.encode(cred.get_credential_id());
        let Some(mut row) = store::find_passkey(pool, &id).await?.filter(|r| Some(&r.user_id) == owner) else {
            return Err(AuthError::InvalidCode);
        };
        let result = match result {
            Ok(result) => result,
            Err(e) => {
                let event =
                    event(EventType::SecondFactorFailed, &row.user_id, meta).detail(format!("passkey {}", row.name));
                audit::insert(pool, &event, now()).await?;
                return Err(e);
            }
        };
        let previous = row.sign_count;
        let mut passkey = parse_passkey(&row)?;
        passkey.update_credential(&result);
        row.credential = serde_json::to_string(&passkey).map_err(AuthError::internal)?;
        row.sign_count = i64::from(result.counter());
        row.backed_up = result.backup_state();
        if !store::passkey_used(pool, &row, previous, now()).await? {
            return Err(AuthError::InvalidCode);
        }
        Ok(result.backup_eligible())
    }

    /// The caller's factors.
    ///
    /// # Errors
    /// Database unavailability.
    pub async fn factors(&self, who: &Identity) -> Result<FactorList, AuthError> {
        let pool = &self.inner.db.pool;
        let totp = store::find_totp(pool, &who.user.id).await?.is_some_and(|t| t.confirmed);
        let left = store::recovery_codes_left(pool, &who.user.id).await?;
        let passkeys = store::passkeys_of(pool, &who.user.id).await?.into_iter().map(passkey_info).collect();
        Ok(FactorList {
            totp,
            recovery_codes_left: u32::try_from(left).unwrap_or(0),
            passkeys,
            passkey_origin: self.passkey_origin().ok().map(String::from),
        })
    }

    /// 401 `insufficient_user_authentication` unless the caller authenticated within the last
    /// 10 minutes, with a second factor if their account has one. (An admin held to MFA by
    /// `AUTH_ADMIN_REQUIRE_MFA` without a factor yet may still enrol one: the admin role is
    /// what needs it, see [`AuthService::authorize`].)
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`].
    pub async fn require_recent_authentication(&self, who: &Identity) -> Result<(), AuthError> {
        let needs_mfa = store::has_second_factor(&self.inner.db.pool, &who.user.id).await?;
        check_step_up(&who.claims, needs_mfa, now()).map_err(AuthError::StepUpRequired)
    }

    /// Start enrolling an authenticator app: a new secret, its URI and QR code. Replaces an
    /// unconfirmed one; an account with a confirmed app must remove it first.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`]; [`AuthError::Conflict`] when an app is confirmed.
    pub async fn begin_totp(&self, who: &Identity) -> Result<TotpEnrolment, AuthError> {
        self.require_recent_authentication(who).await?;
        let secret = TotpSecret::generate()?;
        let stored = self.seal_totp(&who.user.id, &secret)?;
        if !store::put_pending_totp(&self.inner.db.pool, &who.user.id, &stored, now()).await? {
            return Err(AuthError::InvalidRequest("an authenticator app is already set up: remove it first".into()));
        }
        let uri = secret.uri(who.user.email.as_str())?;
        Ok(TotpEnrolment {
            secret: secret.base32().to_string(),
            qr_svg: mfa::qr_svg(&uri)?,
            otpauth_uri: uri.to_string(),
        })
    }

    /// Confirm the pending app with its first code; answers ten recovery codes, shown once.
    ///
    /// # Errors
    /// [`AuthError::InvalidCode`]; [`AuthError::InvalidRequest`] when nothing is pending.
    pub async fn confirm_totp(
        &self,
        who: &Identity,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<RecoveryCodes, AuthError> {
        let db = &self.inner.db;
        let row = store::find_totp(&db.pool, &who.user.id).await?.filter(|t| !t.confirmed);
        let row =
            row.ok_or_else(|| AuthError::InvalidRequest("no authenticator app is waiting for its first code".into()))?;
        let now = now();
        let checked = async { Ok(self.open_totp(&who.user.id, &row.secret).await?.check(code, now, row.last_step)) };
        let step = self.counted(&who.user.id, checked).await?;
        let codes = mfa::recovery_codes()?;
        let mut tx = db.pool.begin().await?;
        if !store::accept_totp_step(&mut *tx, &who.user.id, step, true, now).await? {
            return Err(AuthError::InvalidCode);
        }
        replace_recovery_codes(&mut tx, &who.user.id, &codes).await?;
        audit::insert(&mut *tx, &event(EventType::TotpEnabled, &who.user.id, meta).in_session(&who.claims.sid), now)
            .await?;
        tx.commit().await?;
        Ok(RecoveryCodes { recovery_codes: codes.iter().map(|c| c.to_string()).collect() })
    }

    /// Remove the caller's app and its recovery codes.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`]; [`AuthError::NotFound`] without an app.
    pub async fn remove_totp(&self, who: &Identity, meta: &RequestMeta) -> Result<(), AuthError> {
        self.require_recent_authentication(who).await?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        if !store::delete_totp(&mut *tx, &who.user.id).await? {
            return Err(AuthError::NotFound);
        }
        store::delete_recovery_codes(&mut *tx, &who.user.id).await?;
        audit::insert(&mut *tx, &event(EventType::TotpRemoved, &who.user.id, meta).in_session(&who.claims.sid), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ten new recovery codes; the old ones stop working.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`]; [`AuthError::NotFound`] without a confirmed app.
    pub async fn renew_recovery_codes(&self, who: &Identity, meta: &RequestMeta) -> Result<RecoveryCodes, AuthError> {
        self.require_recent_authentication(who).await?;
        let db = &self.inner.db;
        if !store::find_totp(&db.pool, &who.user.id).await?.is_some_and(|t| t.confirmed) {
            return Err(AuthError::NotFound);
        }
        let codes = mfa::recovery_codes()?;
        let now = now();
        let mut tx = db.pool.begin().await?;
        replace_recovery_codes(&mut tx, &who.user.id, &codes).await?;
        let event = event(EventType::RecoveryCodesRenewed, &who.user.id, meta).in_session(&who.claims.sid);
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        Ok(RecoveryCodes { recovery_codes: codes.iter().map(|c| c.to_string()).collect() })
    }

    /// Options to register a passkey, for this session only.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`]; [`AuthError::InvalidRequest`] when passkeys are off or
    /// the account has the most it may.
    pub async fn passkey_registration_options(&self, who: &Identity) -> Result<PasskeyChallenge, AuthError> {
        self.require_recent_authentication(who).await?;
        let webauthn = self.webauthn()?;
        let existing = store::passkeys_of(&self.inner.db.pool, &who.user.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(AuthError::InvalidRequest(format!("at most {MAX_PASSKEYS} passkeys per account")));
        }
        let handle = passkeys::user_handle(who.user.id.as_str())?;
        let (options, state) =
            passkeys::start_registration(webauthn, (handle, who.user.email.as_str()), &parse_passkeys(&existing)?)?;
        self.session_ceremony(Purpose::PasskeyRegistration, who, &state, options).await
    }

    /// The challenge of a WebAuthn ceremony for `who`'s session alone (a registration, a
    /// step-up): its state kept in the row, its options for the browser.
    async fn session_ceremony(
        &self,
        purpose: Purpose,
        who: &Identity,
        state: &impl serde::Serialize,
        options: serde_json::Value,
    ) -> Result<PasskeyChallenge, AuthError> {
        let challenge = Challenge {
            purpose,
            user_id: Some(who.user.id.clone()),
            session_id: Some(who.claims.sid.clone()),
            amr: String::new(),
            dpop_jkt: None,
            state: Some(passkeys::state_to_text(state)?),
            expires_at: now() + CHALLENGE_TTL_SECS,
        };
        let secret = self.new_challenge(&challenge).await?;
        Ok(PasskeyChallenge { challenge: secret, expires_in: CHALLENGE_TTL_SECS.unsigned_abs(), options })
    }

    /// Register the passkey that answers a registration challenge of this session.
    ///
    /// # Errors
    /// [`AuthError::InvalidChallenge`]; [`AuthError::InvalidCode`] for a credential that does
    /// not verify; [`AuthError::Conflict`] for one registered before.
    pub async fn register_passkey(
        &self,
        who: &Identity,
        req: PasskeyRegistration,
        meta: &RequestMeta,
    ) -> Result<PasskeyInfo, AuthError> {
        let name = passkey_name(req.name.as_deref())?;
        let pool = &self.inner.db.pool;
        let hash = hash_refresh(&req.challenge);
        let challenge =
            store::attempt_challenge(pool, &hash, Purpose::PasskeyRegistration, CHALLENGE_MAX_ATTEMPTS, now())
                .await?
                .filter(|c| c.session_id.as_ref() == Some(&who.claims.sid) && c.user_id.as_ref() == Some(&who.user.id))
                .ok_or(AuthError::InvalidChallenge)?;
        let state: RegistrationState = passkeys::state_from_text(challenge.state.as_deref())?;
        let cred: RegisterPublicKeyCredential = serde_json::from_value(req.credential)
            .map_err(|e| AuthError::InvalidRequest(format!("credential is no PublicKeyCredential: {e}")))?;
        let passkey = self.webauthn()?.finish_passkey_registration(&cred, &state).map_err(|e| {
            tracing::debug!(error = %e, "passkey registration refused");
            AuthError::InvalidCode
        })?;
        let credential = serde_json::to_value(&passkey).map_err(AuthError::internal)?;
        let flag = |name: &str| credential["cred"][name].as_bool().unwrap_or(false);
        let now = now();
        let row = PasskeyRow {
            id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            user_id: who.user.id.clone(),
            name,
            sign_count: credential["cred"]["counter"].as_i64().unwrap_or(0),
            backup_eligible: flag("backup_eligible"),
            backed_up: flag("backup_state"),
            credential: credential.to_string(),
            created_at: now,
            last_used_at: None,
        };
        let mut tx = pool.begin().await?;
        if !store::consume_challenge(&mut *tx, &hash).await? {
            return Err(AuthError::InvalidChallenge);
        }
        store::insert_passkey(&mut *tx, &row)
            .await
            .map_err(|e| if is_unique_violation(&e) { AuthError::Conflict } else { e.into() })?;
        let event =
            event(EventType::PasskeyAdded, &who.user.id, meta).in_session(&who.claims.sid).detail(row.name.clone());
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        Ok(passkey_info(row))
    }

    /// Remove one of the caller's passkeys.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`]; [`AuthError::NotFound`] for a passkey not theirs.
    pub async fn remove_passkey(&self, who: &Identity, id: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        self.require_recent_authentication(who).await?;
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        if !store::delete_passkey(&mut *tx, &who.user.id, id).await? {
            return Err(AuthError::NotFound);
        }
        let event =
            event(EventType::PasskeyRemoved, &who.user.id, meta).in_session(&who.claims.sid).detail(id.to_string());
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Options for a passkey step-up of this session.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] when passkeys are off or the account has none.
    pub async fn step_up_options(&self, who: &Identity) -> Result<PasskeyChallenge, AuthError> {
        let webauthn = self.webauthn()?;
        let stored = store::passkeys_of(&self.inner.db.pool, &who.user.id).await?;
        if stored.is_empty() {
            return Err(AuthError::InvalidRequest("this account has no passkey".into()));
        }
        let (options, state) = passkeys::start_for_account(webauthn, &parse_passkeys(&stored)?)?;
        self.session_ceremony(Purpose::StepUp, who, &state, to_json(&options)?).await
    }

    /// Authenticate again in this session: the password (with a code where the account has a
    /// second factor), or a passkey alone. Answers a fresh access token whose `auth_time` is
    /// now; the session's later tokens carry it too.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::InvalidCode`],
    /// [`AuthError::InvalidChallenge`]; [`AuthError::InvalidRequest`] when the answers do not
    /// fit the account (a second factor is needed, or none is set up).
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn step_up(
        &self,
        who: &Identity,
        req: StepUpRequest,
        meta: &RequestMeta,
        _: Admitted,
    ) -> Result<AccessTokenResponse, AuthError> {
        let pool = &self.inner.db.pool;
        let has_second = store::has_second_factor(pool, &who.user.id).await?;
        let mut factors = Vec::new();
        if let Some(cred) = &req.answer.passkey {
            let hash = hash_refresh(req.challenge.as_deref().unwrap_or_default());
            let challenge = store::attempt_challenge(pool, &hash, Purpose::StepUp, CHALLENGE_MAX_ATTEMPTS, now())
                .await?
                .filter(|c| c.session_id.as_ref() == Some(&who.claims.sid))
                .ok_or(AuthError::InvalidChallenge)?;
            let answered = self
                .answer(
                    &who.user.id,
                    &challenge,
                    &FactorAnswer { passkey: Some(cred.clone()), ..FactorAnswer::default() },
                    meta,
                )
                .await?;
            if !store::consume_challenge(pool, &hash).await? {
                return Err(AuthError::InvalidChallenge);
            }
            factors.push(answered.factor);
        } else {
            let password = req.password.ok_or_else(|| AuthError::InvalidRequest("password is required".into()))?;
            let (record, _) = self.check_password(&who.user.email, password, meta).await?;
            if record.user.id != who.user.id {
                return Err(AuthError::InvalidCredentials);
            }
            factors.push(Factor::Password);
            let code_given = req.answer.code.is_some() || req.answer.recovery_code.is_some();
            if has_second && !code_given {
                return Err(AuthError::InvalidRequest(
                    "this account has a second factor: send code or recovery_code".into(),
                ));
            }
            if code_given {
                factors.push(self.check_code(&who.user.id, &req.answer, meta).await?.factor);
            }
        }
        let amr = amr_of(&factors);
        let now = now();
        let mut tx = pool.begin().await?;
        let (end, dpop_jkt) = sessions::reauthenticated(&mut *tx, &who.claims.sid, &amr_to_text(&amr), now)
            .await?
            .ok_or(AuthError::InvalidGrant)?;
        let event = event(EventType::StepUp, &who.user.id, meta).in_session(&who.claims.sid).detail(amr.join(" "));
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        let bound = Bound { sid: &who.claims.sid, end, dpop_jkt: dpop_jkt.as_deref(), amr: &amr, auth_time: now };
        self.access_token(&who.user, &bound, now)
    }

    /// Remove every factor of an account (it lost its phone and its codes): app, recovery
    /// codes, passkeys and open challenges go, and every session of it is revoked.
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`], [`AuthError::StepUpRequired`], [`AuthError::NotFound`].
    pub async fn reset_factors(&self, actor: Actor<'_>, id: &str, meta: &RequestMeta) -> Result<u64, AuthError> {
        self.authorize_admin_action(actor).await?;
        let id = UserId::from_trusted(id);
        let now = now();
        let mut tx = self.inner.db.pool.begin().await?;
        if !users::lock(&mut *tx, &id).await? {
            return Err(AuthError::NotFound);
        }
        let had_totp = store::delete_totp(&mut *tx, &id).await?;
        store::delete_recovery_codes(&mut *tx, &id).await?;
        let passkeys = store::delete_passkeys(&mut *tx, &id).await?;
        store::delete_challenges_of(&mut *tx, &id).await?;
        let revoked = sessions::revoke_all(&mut *tx, &id, now).await?;
        let detail = format!(
            "{}{passkeys} passkey(s) removed; {} session(s) revoked",
            if had_totp { "authenticator app and recovery codes, " } else { "" },
            revoked.len()
        );
        let event = event(EventType::FactorsReset, &id, meta).by(actor.id()).detail(detail);
        audit::insert(&mut *tx, &event, now).await?;
        tx.commit().await?;
        self.inner.revoked(&revoked).await;
        tracing::info!(user_id = %id, passkeys, revoked = revoked.len(), "second factors reset by an admin");
        Ok(revoked.len() as u64)
    }

    /// An admin's change: the role, and a recent authentication (with a second factor where
    /// the admin has one or `AUTH_ADMIN_REQUIRE_MFA` asks for one). The operator needs neither.
    ///
    /// # Errors
    /// [`AuthError::InsufficientRole`], [`AuthError::StepUpRequired`].
    pub async fn authorize_admin_action(&self, actor: Actor<'_>) -> Result<(), AuthError> {
        self.authorize_actor(actor)?;
        match actor {
            Actor::Admin(who) => self.require_recent_authentication(who).await,
            Actor::Operator | Actor::Nobody => Ok(()),
        }
    }

    /// The stored text of a TOTP secret: sealed under the key-encryption key when there is one.
    fn seal_totp(&self, user_id: &UserId, secret: &TotpSecret) -> Result<String, AuthError> {
        match &self.inner.settings.key_encryption {
            Some(kek) => {
                Ok(format!("{SEALED_PREFIX}{}", kek.seal(secret.base32().as_bytes(), user_id.as_str().as_bytes())?))
            }
            None => Ok(secret.base32().to_string()),
        }
    }

    /// A stored TOTP secret, opened; one stored in plaintext while a key-encryption key is
    /// set is sealed in place.
    async fn open_totp(&self, user_id: &UserId, stored: &str) -> Result<TotpSecret, AuthError> {
        let kek = self.inner.settings.key_encryption.as_ref();
        let secret = match (stored.strip_prefix(SEALED_PREFIX), kek) {
            (Some(sealed), Some(kek)) => {
                let text = kek.open(sealed, user_id.as_str().as_bytes()).ok_or_else(|| {
                    AuthError::internal("a TOTP secret does not open with AUTH_KEY_ENCRYPTION_KEY_FILE")
                })?;
                TotpSecret::from_base32(&String::from_utf8_lossy(&text))
            }
            (Some(_), None) => {
                return Err(AuthError::internal("TOTP secrets are sealed: set AUTH_KEY_ENCRYPTION_KEY_FILE"));
            }
            (None, _) => TotpSecret::from_base32(stored),
        };
        let secret = secret.ok_or_else(|| AuthError::internal("a stored TOTP secret is no base32"))?;
        if kek.is_some() && !stored.starts_with(SEALED_PREFIX) {
            store::reseal_totp(&self.inner.db.pool, user_id, &self.seal_totp(user_id, &secret)?).await?;
        }
        Ok(secret)
    }
}

/// Exactly one of code, recovery code, passkey.
fn one_answer(answer: &FactorAnswer) -> Result<(), AuthError> {
    let given = [answer.code.is_some(), answer.recovery_code.is_some(), answer.passkey.is_some()];
    if given.iter().filter(|g| **g).count() == 1 {
        Ok(())
    } else {
        Err(AuthError::InvalidRequest("send exactly one of code, recovery_code, passkey".into()))
    }
}

async fn replace_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &UserId,
    codes: &[zeroize::Zeroizing<String>],
) -> Result<(), AuthError> {
    store::delete_recovery_codes(&mut **tx, user_id).await?;
    for code in codes {
        store::insert_recovery_code(&mut **tx, user_id, &mfa::recovery_code_hash(user_id.as_str(), code)).await?;
    }
    Ok(())
}

fn parse_credential(value: &serde_json::Value) -> Result<PublicKeyCredential, AuthError> {
    serde_json::from_value(value.clone())
        .map_err(|e| AuthError::InvalidRequest(format!("passkey is no PublicKeyCredential: {e}")))
}

fn parse_passkey(row: &PasskeyRow) -> Result<Passkey, AuthError> {
    serde_json::from_str(&row.credential).map_err(AuthError::internal)
}

fn parse_passkeys(rows: &[PasskeyRow]) -> Result<Vec<Passkey>, AuthError> {
    rows.iter().map(parse_passkey).collect()
}

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, AuthError> {
    serde_json::to_value(value).map_err(AuthError::internal)
}

fn passkey_info(row: PasskeyRow) -> PasskeyInfo {
    PasskeyInfo {
        id: row.id,
        name: row.name,
        created_at: rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(rfc3339),
        sign_count: u32::try_from(row.sign_count).unwrap_or(0),
        backup_eligible: row.backup_eligible,
        backed_up: row.backed_up,
    }
}

/// A passkey's name: trimmed, "Passkey" when empty, at most 64 characters, no control
/// characters.
fn passkey_name(name: Option<&str>) -> Result<String, AuthError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Passkey");
    if name.chars().count() > MAX_PASSKEY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest("name must be at most 64 characters, without control characters".into()));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_answer_is_taken() {
        let code = || Some("123456".to_string());
        assert!(one_answer(&FactorAnswer { code: code(), ..FactorAnswer::default() }).is_ok());
        assert!(one_answer(&FactorAnswer::default()).is_err());
        assert!(one_answer(&FactorAnswer { code: code(), recovery_code: code(), passkey: None }).is_err());
    }

    #[test]
    fn passkey_names_are_short_and_printable() {
        assert_eq!(passkey_name(None).unwrap(), "Passkey");
        assert_eq!(passkey_name(Some("  Laptop ")).unwrap(), "Laptop");
        assert!(passkey_name(Some(&"x".repeat(65))).is_err());
        assert!(passkey_name(Some("a\u{7}b")).is_err());
    }

    #[test]
    fn the_code_throttle_cannot_be_an_emails() {
        // Codes count in "factor <user id>"; emails hold no space, so no email shares it.
        assert!(crate::ids::Email::parse("factor x@y.example").is_err());
    }
}
