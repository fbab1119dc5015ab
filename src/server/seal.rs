//! Authenticated encryption (ChaCha20-Poly1305) for the two secrets the database keeps:
//! private signing keys when `AUTH_KEY_ENCRYPTION_KEY_FILE` is set, and the refresh successor
//! kept for the retry grace, sealed with a key derived from the spent token (so only its
//! holder can open it).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{AuthError, KeyError};

const NONCE_LEN: usize = 12;

/// A 256-bit AEAD key. Not `Debug`-printable beyond its name, never serialised.
#[derive(Clone)]
pub struct SealKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// The contents of a key file: 32 random bytes in standard base64 (`openssl rand -base64 32`).
    ///
    /// # Errors
    /// [`KeyError::BadEncryptionKey`] when the text is not base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<SealKey, KeyError> {
        let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| KeyError::BadEncryptionKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::BadEncryptionKey)?;
        Ok(SealKey(Zeroizing::new(key)))
    }

    /// A key derived from a high-entropy secret (HKDF-SHA256), one per purpose (`info`).
    pub fn derive(secret: &[u8], info: &[u8]) -> SealKey {
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 8160, so expanding cannot fail.
        let _ = Hkdf::<Sha256>::new(None, secret).expand(info, key.as_mut());
        SealKey(key)
    }

    /// Encrypt and authenticate `plaintext`, bound to `aad`: base64url(nonce ‖ ciphertext).
    ///
    /// # Errors
    /// When the operating system has no randomness.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(AuthError::internal)?;
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.0));
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|e| AuthError::internal(format!("sealing failed: {e}")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of [`SealKey::seal`]'s output; `None` when the key, the `aad` or a
    /// single bit is wrong.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.0));
        cipher.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad }).ok().map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_aad() {
        let key = SealKey::derive(b"a spent refresh token", b"purpose");
        let sealed = key.seal(b"successor", b"row").unwrap();
        assert!(!sealed.contains("successor"));
        assert_eq!(key.open(&sealed, b"row").unwrap().as_slice(), b"successor");
        assert!(key.open(&sealed, b"other row").is_none());
        assert!(SealKey::derive(b"another token", b"purpose").open(&sealed, b"row").is_none());
        assert!(SealKey::derive(b"a spent refresh token", b"other purpose").open(&sealed, b"row").is_none());
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&URL_SAFE_NO_PAD.encode(tampered), b"row").is_none());
        assert!(key.open("", b"row").is_none());
    }

    #[test]
    fn key_files_hold_exactly_32_bytes_of_base64() {
        assert!(SealKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(SealKey::from_base64(&format!("{}\n", STANDARD.encode([7u8; 32]))).is_ok());
        assert!(SealKey::from_base64(&STANDARD.encode([7u8; 16])).is_err());
        assert!(SealKey::from_base64("not base64!").is_err());
        assert_eq!(format!("{:?}", SealKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()), "SealKey(..)");
    }
}
