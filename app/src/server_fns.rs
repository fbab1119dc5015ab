//! Server functions: the browser's way into the core. Each is a thin adapter over
//! `tokenflow::AuthService` and checks the bearer token itself, because the server-side render
//! may call it in-process with no header at all. Errors carry the contract's code and message
//! and set the same HTTP status, `WWW-Authenticate` and `Retry-After` as the REST API.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use tokenflow::claims::Claims;
use tokenflow::dto::{
    Accepted, AccessTokenResponse, CeremonyStart, EventList, FactorList, LoginOutcome, Outbox, PasskeyInfo,
    RecoveryCodes, Role, SessionList, TokenResponse, TotpEnrolment, User, UserList,
};
use tokenflow::ids::Kid;

pub use crate::error::ApiFailure;
use crate::transport::{BearerClient, PublicClient, TamperClient};

/// Who the server says I am: the user, the claims it extracted, and the key that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub user: User,
    pub claims: Claims,
    pub kid: Kid,
}

#[server(prefix = "/fn", endpoint = "signup", client = PublicClient)]
pub async fn signup(email: String, password: String, name: Option<String>) -> Result<TokenResponse, ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let req = tokenflow::dto::SignupRequest { email, password, name };
    let timed = call.auth.signup(req, &call.credentials()?, &call.meta(), admitted).await.map_err(ssr::fail)?;
    ssr::server_timing(timed.argon2);
    Ok(timed.value)
}

#[server(prefix = "/fn", endpoint = "login", client = PublicClient)]
pub async fn login(email: String, password: String) -> Result<LoginOutcome, ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let req = tokenflow::dto::LoginRequest { email, password };
    let timed = call.auth.login(req, &call.credentials()?, &call.meta(), admitted).await.map_err(ssr::fail)?;
    ssr::server_timing(timed.argon2);
    Ok(timed.value.into())
}

/// The second step of a sign-in: a TOTP code, a recovery code, or a passkey's answer (the
/// `PublicKeyCredential` as JSON text).
#[server(prefix = "/fn", endpoint = "second_factor", client = PublicClient)]
pub async fn second_factor(
    challenge: String,
    code: Option<String>,
    recovery_code: Option<String>,
    passkey: Option<String>,
) -> Result<TokenResponse, ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let passkey = passkey
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|_| ssr::fail(tokenflow::AuthError::InvalidRequest("passkey is no PublicKeyCredential".into())))?;
    let answer = tokenflow::dto::FactorAnswer { code, recovery_code, passkey };
    let req = tokenflow::dto::SecondFactorRequest { challenge, answer };
    call.auth.second_factor(req, &call.credentials()?, &call.meta(), admitted).await.map_err(ssr::fail)
}

/// A sign-in with a passkey alone: the challenge and WebAuthn options.
#[server(prefix = "/fn", endpoint = "passkey_sign_in", client = PublicClient)]
pub async fn passkey_sign_in() -> Result<CeremonyStart, ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    call.auth.passkey_sign_in_options(&call.credentials()?, admitted).await.map(Into::into).map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "refresh", client = PublicClient)]
pub async fn refresh(refresh_token: String) -> Result<TokenResponse, ApiFailure> {
    let call = ssr::Call::new().await?;
    call.admit().await?;
    let req = tokenflow::dto::RefreshRequest { refresh_token };
    call.auth.refresh(req, &call.credentials()?, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "logout", client = BearerClient)]
pub async fn logout() -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.logout(&who, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "whoami", client = BearerClient)]
pub async fn whoami() -> Result<WhoAmI, ApiFailure> {
    ssr::whoami().await
}

/// `whoami` for the tamper lab: the same check, with whatever token it was handed.
#[server(prefix = "/fn", endpoint = "probe", client = TamperClient)]
pub async fn probe() -> Result<WhoAmI, ApiFailure> {
    ssr::whoami().await
}

#[server(prefix = "/fn", endpoint = "sessions", client = BearerClient)]
pub async fn list_sessions() -> Result<SessionList, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.sessions(&who).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "revoke_session", client = BearerClient)]
pub async fn revoke_session(id: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.revoke_session(&who, &id, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "revoke_other_sessions", client = BearerClient)]
pub async fn revoke_other_sessions() -> Result<u64, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.revoke_other_sessions(&who, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "change_password", client = BearerClient)]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    // Two password hashes: counted against the client like every hashing request.
    let admitted = call.admit().await?;
    let who = call.identity().await?;
    let req = tokenflow::dto::PasswordChangeRequest { current_password, new_password };
    call.auth.change_password(&who, req, &call.meta(), admitted).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "send_verification", client = BearerClient)]
pub async fn send_verification() -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.send_verification(&who).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "verify_email", client = PublicClient)]
pub async fn verify_email(token: String) -> Result<User, ApiFailure> {
    let call = ssr::Call::new().await?;
    call.auth.verify_email(tokenflow::dto::LinkRequest { token }, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "forgot_password", client = PublicClient)]
pub async fn forgot_password(email: String) -> Result<Accepted, ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let req = tokenflow::dto::ForgotRequest { email };
    call.auth.forgot_password(req, &call.meta(), admitted).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "reset_password", client = PublicClient)]
pub async fn reset_password(token: String, new_password: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let req = tokenflow::dto::ResetRequest { token, new_password };
    call.auth.reset_password(req, &call.meta(), admitted).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "activity", client = BearerClient)]
pub async fn activity(cursor: Option<String>) -> Result<EventList, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    let query = tokenflow::dto::EventQuery { cursor, limit: Some(20), ..tokenflow::dto::EventQuery::default() };
    call.auth.activity(&who, query).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "delete_account", client = BearerClient)]
pub async fn delete_account(password: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let who = call.identity().await?;
    let req = tokenflow::dto::DeleteAccountRequest { password };
    call.auth.delete_account(&who, req, &call.meta(), admitted).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "factors", client = BearerClient)]
pub async fn factors() -> Result<FactorList, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.factors(&who).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "begin_totp", client = BearerClient)]
pub async fn begin_totp() -> Result<TotpEnrolment, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.begin_totp(&who).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "confirm_totp", client = BearerClient)]
pub async fn confirm_totp(code: String) -> Result<RecoveryCodes, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.confirm_totp(&who, &code, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "remove_totp", client = BearerClient)]
pub async fn remove_totp() -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.remove_totp(&who, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "renew_recovery_codes", client = BearerClient)]
pub async fn renew_recovery_codes() -> Result<RecoveryCodes, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.renew_recovery_codes(&who, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "passkey_options", client = BearerClient)]
pub async fn passkey_options() -> Result<CeremonyStart, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.passkey_registration_options(&who).await.map(Into::into).map_err(ssr::fail)
}

/// Register a passkey: `credential` is the `PublicKeyCredential` of the ceremony as JSON text.
#[server(prefix = "/fn", endpoint = "register_passkey", client = BearerClient)]
pub async fn register_passkey(challenge: String, name: String, credential: String) -> Result<PasskeyInfo, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    let credential = ssr::credential(&credential)?;
    let req = tokenflow::dto::PasskeyRegistration { challenge, name: Some(name), credential };
    call.auth.register_passkey(&who, req, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "remove_passkey", client = BearerClient)]
pub async fn remove_passkey(id: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.remove_passkey(&who, &id, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "step_up_options", client = BearerClient)]
pub async fn step_up_options() -> Result<CeremonyStart, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.step_up_options(&who).await.map(Into::into).map_err(ssr::fail)
}

/// Authenticate again in this session: the password (and a code), or a passkey's answer to
/// a step-up challenge. A fresh access token.
#[server(prefix = "/fn", endpoint = "step_up", client = BearerClient)]
pub async fn step_up(
    password: Option<String>,
    code: Option<String>,
    challenge: Option<String>,
    passkey: Option<String>,
) -> Result<AccessTokenResponse, ApiFailure> {
    let call = ssr::Call::new().await?;
    let admitted = call.admit().await?;
    let who = call.identity().await?;
    let passkey = passkey.as_deref().map(ssr::credential).transpose()?;
    let answer = tokenflow::dto::FactorAnswer { code, recovery_code: None, passkey };
    let req = tokenflow::dto::StepUpRequest { password, challenge, answer };
    call.auth.step_up(&who, req, &call.meta(), admitted).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "admin_users", client = BearerClient)]
pub async fn admin_users(q: Option<String>, cursor: Option<String>) -> Result<UserList, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    let query = tokenflow::dto::UserQuery { q, limit: Some(20), cursor };
    call.auth.list_users(tokenflow::Actor::Admin(&who), query).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "admin_update_user", client = BearerClient)]
pub async fn admin_update_user(id: String, role: Option<Role>, disabled: Option<bool>) -> Result<User, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    let patch = tokenflow::dto::UserPatch { role, disabled };
    call.auth.update_user(tokenflow::Actor::Admin(&who), &id, patch, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "admin_revoke_sessions", client = BearerClient)]
pub async fn admin_revoke_sessions(id: String) -> Result<u64, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.revoke_user_sessions(tokenflow::Actor::Admin(&who), &id, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "admin_reset_factors", client = BearerClient)]
pub async fn admin_reset_factors(id: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.reset_factors(tokenflow::Actor::Admin(&who), &id, &call.meta()).await.map(|_| ()).map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "admin_send_reset", client = BearerClient)]
pub async fn admin_send_reset(id: String) -> Result<(), ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    call.auth.admin_send_reset(tokenflow::Actor::Admin(&who), &id, &call.meta()).await.map_err(ssr::fail)
}

#[server(prefix = "/fn", endpoint = "admin_audit", client = BearerClient)]
pub async fn admin_audit(
    user_id: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
) -> Result<EventList, ApiFailure> {
    let call = ssr::Call::new().await?;
    let who = call.identity().await?;
    let query = tokenflow::dto::EventQuery { user_id, kind, cursor, limit: Some(20) };
    call.auth.audit(tokenflow::Actor::Admin(&who), query).await.map_err(ssr::fail)
}

/// Whether the server shows its outbox (mail kept in the database, loopback listen address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxServed(pub bool);

#[server(prefix = "/fn", endpoint = "outbox", client = PublicClient)]
pub async fn read_outbox(to: Option<String>) -> Result<Outbox, ApiFailure> {
    let call = ssr::Call::new().await?;
    if !use_context::<OutboxServed>().is_some_and(|served| served.0) {
        return Err(ssr::fail(tokenflow::AuthError::NotFound));
    }
    call.auth.outbox(tokenflow::dto::OutboxQuery { to }).await.map_err(ssr::fail)
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::time::Duration;

    use http::header::{AUTHORIZATION, RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE};
    use http::request::Parts;
    use http::{HeaderName, HeaderValue, StatusCode};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use tokenflow::{Admitted, AuthError, AuthService, ClientAddr, Credentials, Identity, RequestMeta};

    use crate::error::ApiFailure;

    /// One server-function call: the core, and the request it came with.
    pub struct Call {
        pub auth: AuthService,
        parts: Parts,
    }

    impl Call {
        pub async fn new() -> Result<Call, ApiFailure> {
            let auth =
                use_context::<AuthService>().ok_or_else(|| fail(AuthError::internal("no AuthService in context")))?;
            let parts: Parts = leptos_axum::extract().await.map_err(|e| fail(AuthError::internal(e)))?;
            Ok(Call { auth, parts })
        }

        fn header(&self, name: http::HeaderName) -> Option<&str> {
            self.parts.headers.get(name).and_then(|v| v.to_str().ok())
        }

        /// Where the call came from, for the session list and the audit log.
        pub fn meta(&self) -> RequestMeta {
            RequestMeta {
                ip: self.parts.extensions.get::<ClientAddr>().map(|c| c.0),
                user_agent: self.header(USER_AGENT).map(str::to_string),
            }
        }

        /// What the call presents: its token (`Bearer` or `DPoP`) and DPoP proof, for its
        /// method and path, as the REST API reads them.
        pub fn credentials(&self) -> Result<Credentials<'_>, ApiFailure> {
            let values = |name: HeaderName| self.parts.headers.get_all(name).iter().map(|v| v.to_str().ok());
            let (method, path) = (self.parts.method.as_str(), self.parts.uri.path());
            Credentials::parse(values(AUTHORIZATION), values(HeaderName::from_static("dpop")), method, path)
                .map_err(fail)
        }

        /// The caller's identity; the server-side render has no token and gets 401.
        pub async fn identity(&self) -> Result<Identity, ApiFailure> {
            let who = self.auth.authenticate(&self.credentials()?).await.map_err(fail)?;
            set_header(tokenflow::web::SERVER_TIMING, &tokenflow::web::token_timing(&who.check));
            Ok(who)
        }

        /// The same per-client limit as `POST /api/auth/*`.
        pub async fn admit(&self) -> Result<Admitted, ApiFailure> {
            let client = self
                .parts
                .extensions
                .get::<ClientAddr>()
                .ok_or_else(|| fail(AuthError::internal("client address not resolved")))?;
            self.auth.admit(client).await.map_err(fail)
        }
    }

    pub async fn whoami() -> Result<super::WhoAmI, ApiFailure> {
        let call = Call::new().await?;
        let who = call.identity().await?;
        Ok(super::WhoAmI { user: who.user.as_ref().clone(), claims: who.claims.as_ref().clone(), kid: who.kid })
    }

    /// Answer a core error exactly as the REST API does, through the same projection:
    /// status, challenge, `Retry-After`, body.
    pub fn fail(e: AuthError) -> ApiFailure {
        let projected = e.to_response();
        if let Some(response) = use_context::<ResponseOptions>() {
            response.set_status(StatusCode::from_u16(projected.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            if let Some(challenge) = projected.challenge {
                response.insert_header(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            if let Some(seconds) = projected.retry_after {
                response.insert_header(RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        ApiFailure {
            status: projected.status,
            error: projected.body.error,
            message: projected.body.message,
            retry_after: projected.retry_after,
        }
    }

    /// `Server-Timing` for the password hash, as on the REST endpoints.
    /// A `PublicKeyCredential` sent as JSON text.
    pub fn credential(text: &str) -> Result<serde_json::Value, ApiFailure> {
        serde_json::from_str(text)
            .map_err(|_| fail(AuthError::InvalidRequest("the passkey's answer is no PublicKeyCredential".into())))
    }

    pub fn server_timing(argon2: Duration) {
        set_header(tokenflow::web::SERVER_TIMING, &tokenflow::web::server_timing(argon2));
    }

    fn set_header(name: &'static str, value: &str) {
        if let (Some(response), Ok(value)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(value)) {
            response.insert_header(http::HeaderName::from_static(name), value);
        }
    }
}
