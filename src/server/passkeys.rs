//! Passkeys (WebAuthn Level 3) through webauthn-rs: the relying party this server is, derived
//! from `AUTH_ISSUER` once at start, and the ceremony states kept between a challenge and its
//! answer. Every ceremony asks for user verification, so a passkey is two factors in one.

use url::Url;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, RequestChallengeResponse, Uuid,
    Webauthn, WebauthnBuilder,
};

use crate::error::AuthError;

/// The relying party, or why there is none.
pub enum RelyingParty {
    On(Box<Webauthn>, RpInfo),
    /// Passkeys are off; the reason, for the log and the API's answer.
    Off(String),
}

/// Who the browser must believe it is talking to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpInfo {
    /// The RP ID: the issuer's host (browsers refuse IP addresses; a loopback issuer's is
    /// `localhost`).
    pub id: String,
    /// The one origin whose pages may run the ceremonies.
    pub origin: String,
}

/// The relying party of `issuer`: its host and origin. A loopback IP address (the default
/// `http://127.0.0.1:3000`) maps to `localhost` on the same port, since browsers accept no IP
/// address as an RP ID; any other IP address leaves passkeys off.
pub fn relying_party(issuer: &str) -> RelyingParty {
    match rp_info(issuer) {
        Ok(info) => {
            let built = Url::parse(&info.origin).map_err(|e| e.to_string()).and_then(|origin| {
                WebauthnBuilder::new(&info.id, &origin)
                    .map(|b| b.rp_name("Tokenflow"))
                    .and_then(WebauthnBuilder::build)
                    .map_err(|e| e.to_string())
            });
            match built {
                Ok(webauthn) => RelyingParty::On(Box::new(webauthn), info),
                Err(e) => RelyingParty::Off(format!("AUTH_ISSUER is no WebAuthn relying party: {e}")),
            }
        }
        Err(reason) => RelyingParty::Off(reason),
    }
}

fn rp_info(issuer: &str) -> Result<RpInfo, String> {
    let url = Url::parse(issuer).map_err(|e| format!("AUTH_ISSUER is not a URL: {e}"))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let id = match url.host() {
        Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => "localhost".into(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => "localhost".into(),
        Some(_) => return Err("passkeys are off: AUTH_ISSUER's host is an IP address, which browsers refuse as a WebAuthn relying party; use a domain name".into()),
        None => return Err("AUTH_ISSUER has no host".into()),
    };
    Ok(RpInfo { origin: format!("{}://{id}{port}", url.scheme()), id })
}

/// The WebAuthn user handle of an account: its id (a random UUID, nothing personal).
///
/// # Errors
/// For an id that is no UUID (never for accounts of this server).
pub fn user_handle(user_id: &str) -> Result<Uuid, AuthError> {
    Uuid::parse_str(user_id).map_err(|e| AuthError::internal(format!("user id is no UUID: {e}")))
}

/// Registration options that ask for a discoverable credential (so it can sign in without an
/// email), user verification required, existing credentials excluded.
///
/// # Errors
/// webauthn-rs's, as internal errors.
pub fn start_registration(
    webauthn: &Webauthn,
    user: (Uuid, &str),
    existing: &[Passkey],
) -> Result<(serde_json::Value, PasskeyRegistration), AuthError> {
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
    let (options, state) = webauthn
        .start_passkey_registration(user.0, user.1, user.1, Some(exclude).filter(|e| !e.is_empty()))
        .map_err(|e| AuthError::internal(e.to_string()))?;
    // webauthn-rs discourages resident keys (they fill small security keys); a passkey that
    // signs in without an email must be one. The ceremony's state does not depend on it.
    let mut options = serde_json::to_value(&options).map_err(AuthError::internal)?;
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(|v| v.as_object_mut()) {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok((options, state))
}

/// Options for a sign-in with a passkey alone: no credentials listed (the authenticator
/// offers what it holds for this RP), user verification required. Modal, not conditional UI.
///
/// # Errors
/// webauthn-rs's, as internal errors.
pub fn start_discoverable(
    webauthn: &Webauthn,
) -> Result<(RequestChallengeResponse, DiscoverableAuthentication), AuthError> {
    let (mut options, state) =
        webauthn.start_discoverable_authentication().map_err(|e| AuthError::internal(e.to_string()))?;
    options.mediation = None;
    Ok((options, state))
}

/// Options for a passkey as the second factor of one account, listing its credentials.
///
/// # Errors
/// webauthn-rs's, as internal errors.
pub fn start_for_account(
    webauthn: &Webauthn,
    passkeys: &[Passkey],
) -> Result<(RequestChallengeResponse, PasskeyAuthentication), AuthError> {
    webauthn.start_passkey_authentication(passkeys).map_err(|e| AuthError::internal(e.to_string()))
}

/// A ceremony state as the challenge row keeps it.
///
/// # Errors
/// serde's, as internal errors.
pub fn state_to_text(state: &impl serde::Serialize) -> Result<String, AuthError> {
    serde_json::to_string(state).map_err(AuthError::internal)
}

/// A ceremony state back from its row.
///
/// # Errors
/// A row this build cannot read, as an internal error.
pub fn state_from_text<T: serde::de::DeserializeOwned>(text: Option<&str>) -> Result<T, AuthError> {
    serde_json::from_str(text.unwrap_or_default()).map_err(AuthError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuers_host_and_origin() {
        let info = |issuer: &str| match relying_party(issuer) {
            RelyingParty::On(_, info) => Ok((info.id, info.origin)),
            RelyingParty::Off(reason) => Err(reason),
        };
        assert_eq!(
            info("https://auth.example.com"),
            Ok(("auth.example.com".into(), "https://auth.example.com".into()))
        );
        assert_eq!(
            info("http://Tokenflow.test:8080/"),
            Ok(("tokenflow.test".into(), "http://tokenflow.test:8080".into()))
        );
        assert_eq!(info("http://127.0.0.1:3000"), Ok(("localhost".into(), "http://localhost:3000".into())));
        assert_eq!(info("http://[::1]:3000"), Ok(("localhost".into(), "http://localhost:3000".into())));
        assert!(info("http://10.0.0.7:3000").unwrap_err().contains("IP address"));
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential_with_user_verification() {
        let RelyingParty::On(webauthn, _) = relying_party("https://auth.example.com") else { panic!() };
        let handle = user_handle("0b6c1f8e-6a4f-4c4e-9d51-3e3f0f3c2a10").unwrap();
        let (options, state) = start_registration(&webauthn, (handle, "ada@example.com"), &[]).unwrap();
        let json = options;
        let selection = &json["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(json["publicKey"]["rp"]["id"], "auth.example.com");
        let text = state_to_text(&state).unwrap();
        let _: PasskeyRegistration = state_from_text(Some(&text)).unwrap();
        assert!(state_from_text::<PasskeyRegistration>(Some("{}")).is_err());
    }
}
