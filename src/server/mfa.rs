//! Second factors, the parts that need no storage: TOTP codes (RFC 6238: HMAC-SHA-1, six
//! digits, 30-second steps, one step of clock drift either way, each step accepted once),
//! recovery codes (ten, one-time, stored hashed), what a sign-in's factors make of the `amr`
//! and `acr` claims, when a sensitive action needs a step-up, and the enrolment QR code,
//! drawn as SVG here (no image service ever sees the secret).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::claims::{Claims, amr};
use crate::error::{AuthError, StepUp};

/// Seconds per TOTP step.
pub const STEP_SECS: i64 = 30;
/// Steps of clock drift accepted on either side of now.
pub const SKEW_STEPS: i64 = 1;
/// Digits per TOTP code.
pub const DIGITS: usize = 6;
/// Recovery codes per account.
pub const RECOVERY_CODES: usize = 10;
/// How long a challenge between two sign-in steps lives.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// Attempts (right or wrong) a challenge admits; the fifth wrong code kills it.
pub const CHALLENGE_MAX_ATTEMPTS: i64 = 5;
/// How recent the last authentication must be for a sensitive action (`max_age`, RFC 9470).
pub const STEP_UP_MAX_AGE_SECS: i64 = 600;
/// The `acr` of a sign-in with one factor, and with more than one.
pub const ACR_SINGLE: &str = "1";
pub const ACR_MULTI: &str = "2";

/// A TOTP shared secret: 160 random bits (RFC 4226 §4). Wiped from memory on drop; never
/// logged or serialised except as the base32 the user's app needs, once, at enrolment.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// # Errors
    /// When the operating system has no randomness.
    pub fn generate() -> Result<TotpSecret, AuthError> {
        let mut bytes = Zeroizing::new(vec![0u8; 20]);
        getrandom::fill(&mut bytes).map_err(AuthError::internal)?;
        Ok(TotpSecret(bytes))
    }

    /// The secret from its base32 text (as stored, or as an authenticator app shows it).
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let bytes = totp_rs::Secret::try_from_base32(text.trim()).ok()?;
        let bytes = Zeroizing::new(bytes.as_bytes().to_vec());
        (bytes.len() >= 16).then_some(TotpSecret(bytes))
    }

    /// Base32 without padding, as authenticator apps take it.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(totp_rs::Secret::new(self.0.to_vec().into_boxed_slice()).to_base32())
    }

    fn totp(&self, account: &str) -> totp_rs::Totp {
        // The label's parts may not hold a colon (Key Uri Format); an email rarely does.
        let account = account.replace(':', "_");
        totp_rs::Builder::new()
            .with_secret(totp_rs::Secret::new(self.0.to_vec().into_boxed_slice()))
            .with_account_name(account)
            .with_issuer(Some("Tokenflow"))
            .with_step_duration(STEP_SECS.unsigned_abs())
            .with_skew(0)
            .build_noncompliant()
    }

    /// The `otpauth://totp/…` URI that authenticator apps read from the QR code.
    ///
    /// # Errors
    /// Never for the secrets this module makes; an internal error otherwise.
    pub fn uri(&self, account: &str) -> Result<Zeroizing<String>, AuthError> {
        self.totp(account).to_url().map(Zeroizing::new).map_err(|e| AuthError::internal(e.to_string()))
    }

    /// The code for the step that contains `at` (tests, and the CLI's demonstration).
    pub fn code_at(&self, at: i64) -> String {
        self.totp("").generate(u64::try_from(at).unwrap_or(0)).to_string()
    }

    /// The step `code` belongs to, if it is the code of a step within [`SKEW_STEPS`] of `now`
    /// and newer than `last_step` (the newest step already accepted): a code works once, and
    /// after it no older code works. Spaces are ignored; anything but six digits matches
    /// nothing. Every candidate is compared in constant time.
    pub fn check(&self, code: &str, now: i64, last_step: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(STEP_SECS);
        let mut found = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            let expected = self.code_at(step * STEP_SECS);
            let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            if same && step > last_step && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// Ten fresh recovery codes, `xxxxx-xxxxx` in lowercase base32 (50 bits each).
///
/// # Errors
/// When the operating system has no randomness.
pub fn recovery_codes() -> Result<Vec<Zeroizing<String>>, AuthError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = Zeroizing::new([0u8; 10]);
            getrandom::fill(bytes.as_mut()).map_err(AuthError::internal)?;
            let mut code = Zeroizing::new(String::with_capacity(11));
            for (i, b) in bytes.iter().enumerate() {
                if i == 5 {
                    code.push('-');
                }
                code.push(char::from(ALPHABET[usize::from(b & 31)]));
            }
            Ok(code)
        })
        .collect()
}

/// How a recovery code is stored: SHA-256 over the user id and the code as typed, lowercased
/// and without spaces or dashes. Codes carry 50 random bits and guessing is throttled per
/// account, so a fast hash is enough; the user id keeps equal codes of two users apart.
pub fn recovery_code_hash(user_id: &str, code: &str) -> String {
    let normal: Zeroizing<String> =
        Zeroizing::new(code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect());
    let mut hasher = Sha256::new();
    hasher.update(user_id.as_bytes());
    hasher.update(b":");
    hasher.update(normal.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// A factor presented in a sign-in or a step-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Password,
    /// A TOTP code or a recovery code (both one-time passwords).
    Otp,
    /// A passkey, with user verification (so two factors in one: the key and the PIN or
    /// biometric that unlocked it). `synced`: backup-eligible, kept by a password manager
    /// (`swk`) rather than bound to one device (`hwk`).
    Passkey {
        synced: bool,
    },
}

/// The RFC 8176 `amr` values of a set of factors, in a fixed order: `pwd`, `otp`, `hwk` or
/// `swk`, then `mfa` when more than one factor was proven (a verified passkey is two).
pub fn amr_of(factors: &[Factor]) -> Vec<String> {
    let has = |f: &dyn Fn(&Factor) -> bool| factors.iter().any(f);
    let mut out = Vec::with_capacity(3);
    if has(&|f| *f == Factor::Password) {
        out.push(amr::PWD);
    }
    if has(&|f| *f == Factor::Otp) {
        out.push(amr::OTP);
    }
    if has(&|f| *f == Factor::Passkey { synced: false }) {
        out.push(amr::HWK);
    }
    if has(&|f| *f == Factor::Passkey { synced: true }) {
        out.push(amr::SWK);
    }
    let passkey = has(&|f| matches!(f, Factor::Passkey { .. }));
    if passkey || out.len() > 1 {
        out.push(amr::MFA);
    }
    out.into_iter().map(String::from).collect()
}

/// `amr` as the store keeps it (space-separated) and back.
pub fn amr_to_text(amr: &[String]) -> String {
    amr.join(" ")
}

pub fn amr_from_text(text: Option<&str>) -> Vec<String> {
    match text {
        Some(text) => text.split_whitespace().map(String::from).collect(),
        None => vec![amr::PWD.to_string()],
    }
}

/// The `acr` of a sign-in with these `amr` values.
pub fn acr_of(amr_values: &[String]) -> &'static str {
    if amr_values.iter().any(|v| v == amr::MFA) { ACR_MULTI } else { ACR_SINGLE }
}

/// Whether `claims` are recent and strong enough for a sensitive action at `now`: a factor
/// presented within [`STEP_UP_MAX_AGE_SECS`], and more than one when `needs_mfa`.
///
/// # Errors
/// The [`StepUp`] to ask for.
pub fn check_step_up(claims: &Claims, needs_mfa: bool, now: i64) -> Result<(), StepUp> {
    let recent = claims.auth_time.is_some_and(|at| at <= now && now - at <= STEP_UP_MAX_AGE_SECS);
    let strong = !needs_mfa || claims.amr.iter().any(|v| v == amr::MFA);
    if recent && strong { Ok(()) } else { Err(StepUp { mfa: needs_mfa, dpop: claims.cnf.is_some() }) }
}

/// The QR code of `text` as a standalone SVG (black modules on white, a four-module quiet
/// zone), drawn here so the secret in it never leaves the server but to its user.
///
/// # Errors
/// When `text` is too long for any QR code (never for an `otpauth` URI of ours).
pub fn qr_svg(text: &str) -> Result<String, AuthError> {
    use qrcodegen::{QrCode, QrCodeEcc};
    use std::fmt::Write as _;
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|e| AuthError::internal(e.to_string()))?;
    let size = qr.size();
    let border = 4;
    let dim = size + 2 * border;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {dim} {dim}" shape-rendering="crispEdges" role="img" aria-label="QR code for an authenticator app"><rect width="100%" height="100%" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> TotpSecret {
        // RFC 6238 Appendix B's SHA-1 secret: "12345678901234567890".
        TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap()
    }

    #[test]
    fn codes_follow_rfc_6238() {
        // Appendix B, truncated to six digits.
        assert_eq!(secret().code_at(59), "287082");
        assert_eq!(secret().code_at(1_111_111_109), "081804");
        assert_eq!(secret().code_at(2_000_000_000), "279037");
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let s = secret();
        let now = 1_800_000_015;
        let step = now / STEP_SECS;
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = s.code_at((step + offset) * STEP_SECS);
            assert_eq!(s.check(&code, now, 0), accepted.then_some(step + offset), "offset {offset}");
        }
    }

    #[test]
    fn a_code_works_once_and_then_no_older_code_works() {
        let s = secret();
        let now = 1_800_000_015;
        let step = now / STEP_SECS;
        let current = s.code_at(now);
        let used = s.check(&current, now, 0).unwrap();
        assert_eq!(s.check(&current, now, used), None, "the same code again");
        assert_eq!(s.check(&s.code_at(now - STEP_SECS), now, used), None, "an older one");
        assert_eq!(s.check(&s.code_at(now + STEP_SECS), now, used), Some(step + 1), "the next one");
    }

    #[test]
    fn codes_are_six_digits_and_spaces_are_ignored() {
        let s = secret();
        let now = 1_800_000_015;
        let code = s.code_at(now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(s.check(&spaced, now, 0).is_some());
        for bad in ["", "12345", "1234567", "abcdef", &format!("{code}0"), &format!("+{}", &code[1..])] {
            assert_eq!(s.check(bad, now, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_round_trip_through_base32_and_uris_name_the_account() {
        let s = TotpSecret::generate().unwrap();
        let again = TotpSecret::from_base32(&s.base32()).unwrap();
        assert_eq!(s.code_at(1_800_000_000), again.code_at(1_800_000_000));
        let uri = s.uri("ada:x@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/Tokenflow:ada_x%40example.com?"), "{}", uri.as_str());
        assert!(uri.contains(&format!("secret={}", s.base32().as_str())));
        assert!(TotpSecret::from_base32("not base32!").is_none());
        assert!(TotpSecret::from_base32("GEZDGNBV").is_none(), "40 bits is too short");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_hash_as_typed_loosely() {
        let codes = recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().map(|c| c.as_str()).collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        let code = codes[0].as_str();
        let hash = recovery_code_hash("user-1", code);
        assert_eq!(recovery_code_hash("user-1", &code.to_uppercase().replace('-', " ")), hash);
        assert_ne!(recovery_code_hash("user-2", code), hash, "salted by user");
        assert_ne!(recovery_code_hash("user-1", codes[1].as_str()), hash);
    }

    #[test]
    fn amr_names_each_factor_and_mfa_when_more_than_one() {
        let amr = |f: &[Factor]| amr_of(f).join(" ");
        assert_eq!(amr(&[Factor::Password]), "pwd");
        assert_eq!(amr(&[Factor::Password, Factor::Otp]), "pwd otp mfa");
        assert_eq!(amr(&[Factor::Passkey { synced: false }]), "hwk mfa");
        assert_eq!(amr(&[Factor::Passkey { synced: true }]), "swk mfa");
        assert_eq!(amr(&[Factor::Password, Factor::Passkey { synced: true }]), "pwd swk mfa");
        assert_eq!(acr_of(&amr_of(&[Factor::Password])), ACR_SINGLE);
        assert_eq!(acr_of(&amr_of(&[Factor::Password, Factor::Otp])), ACR_MULTI);
        assert_eq!(amr_from_text(Some(&amr_to_text(&amr_of(&[Factor::Password, Factor::Otp])))), ["pwd", "otp", "mfa"]);
        assert_eq!(amr_from_text(None), ["pwd"], "sessions from before amr");
    }

    fn claims(amr: &[&str], auth_time: Option<i64>) -> Claims {
        use crate::ids::{Email, SessionId, UserId};
        Claims {
            iss: "http://issuer.test".into(),
            aud: "tokenflow".into(),
            sub: UserId::from_trusted("user-1"),
            exp: 1_800_000_900,
            nbf: 1_800_000_000,
            iat: 1_800_000_000,
            jti: "j".into(),
            sid: SessionId::from_trusted("s"),
            email: Email::from_trusted("a@b.co"),
            email_verified: true,
            role: crate::dto::Role::User,
            cnf: None,
            amr: amr.iter().map(|s| s.to_string()).collect(),
            auth_time,
            acr: None,
        }
    }

    #[test]
    fn step_up_needs_a_recent_factor_and_a_second_one_where_enrolled() {
        let now = 1_800_000_000;
        let fresh = now - STEP_UP_MAX_AGE_SECS;
        let stale = fresh - 1;
        assert_eq!(check_step_up(&claims(&["pwd"], Some(fresh)), false, now), Ok(()));
        assert_eq!(check_step_up(&claims(&["pwd"], Some(stale)), false, now), Err(StepUp { mfa: false, dpop: false }));
        assert_eq!(check_step_up(&claims(&["pwd"], None), false, now), Err(StepUp { mfa: false, dpop: false }));
        assert_eq!(
            check_step_up(&claims(&["pwd"], Some(now + 60)), false, now),
            Err(StepUp { mfa: false, dpop: false })
        );
        assert_eq!(check_step_up(&claims(&["pwd"], Some(now)), true, now), Err(StepUp { mfa: true, dpop: false }));
        assert_eq!(check_step_up(&claims(&["pwd", "otp", "mfa"], Some(now)), true, now), Ok(()));
        assert_eq!(
            check_step_up(&claims(&["pwd", "otp", "mfa"], Some(stale)), true, now),
            Err(StepUp { mfa: true, dpop: false })
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_of_black_modules() {
        let svg = qr_svg("otpauth://totp/Tokenflow:a%40b.example?secret=GEZDGNBVGY3TQOJQ&issuer=Tokenflow").unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(svg.matches('z').count() > 100, "modules drawn");
        assert!(!svg.contains("GEZDGNBV"), "the secret is drawn, not written");
    }
}
