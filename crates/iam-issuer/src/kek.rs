//! [`KeyEncryptionKey`]: seals private signing keys before they reach a [`KeyStore`](crate::KeyStore).
//!
//! ```
//! use iam_issuer::KeyEncryptionKey;
//! let kek = KeyEncryptionKey::generate();
//! let text = kek.to_base64(); // persist this (a secret) in the deployment's configuration
//! let again = KeyEncryptionKey::from_base64(text.secret()).unwrap();
//! assert_eq!(kek.id(), again.id());
//! assert_eq!(format!("{kek:?}"), "KeyEncryptionKey(<redacted>)");
//! ```
//!
//! Sealed form: `0x01 || nonce (12 random bytes) || AES-256-GCM ciphertext and tag`, with
//! `iam-issuer/v1`, the key id and the algorithm as associated data, so a sealed key moved to
//! another key id (or relabelled with another algorithm) no longer opens.
//!
//! # Caveats
//! - Random 96-bit nonces: safe for far more keys than a key ring ever makes (NIST's limit is
//!   2^32 seals per key-encryption key).
//! - [`id`](KeyEncryptionKey::id) is an HMAC of a fixed label under the key: it tells a wrong
//!   key from a tampered record without revealing anything about the key.
use crate::algorithm::KeyAlgorithm;
use crate::error::{IssuerError, IssuerErrorKind};
use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use iam_core::Secret;
use std::fmt;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// A 32-byte AES-256-GCM key that seals the private signing keys at rest. Its `Debug` is
/// redacted; it is zeroed on drop.
#[derive(Clone)]
pub struct KeyEncryptionKey(Secret<[u8; 32]>);

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

impl KeyEncryptionKey {
    /// A key from 32 bytes encoded in base64 (standard or URL-safe alphabet, padded or not;
    /// surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, IssuerError> {
        let text = text.trim();
        let bytes = Secret::new(
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(IssuerErrorKind::InvalidKeyEncryptionKey)?,
        );
        let key: [u8; 32] = bytes
            .secret()
            .as_slice()
            .try_into()
            .map_err(|_| IssuerErrorKind::InvalidKeyEncryptionKey)?;
        Ok(Self::from_bytes(key))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Secret::new(bytes))
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        random(&mut bytes);
        let key = Self::from_bytes(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// The key in standard base64 (padded), to persist; a secret.
    pub fn to_base64(&self) -> Secret<String> {
        Secret::new(STANDARD.encode(self.0.secret()))
    }

    /// A short public fingerprint of the key (16 hex digits), stored beside every sealed key
    /// so that a wrong key-encryption key is told apart from a tampered record.
    pub fn id(&self) -> String {
        let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.0.secret());
        let tag = aws_lc_rs::hmac::sign(&mac_key, b"iam-issuer key-encryption-key id v1");
        tag.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn aad(kid: &str, algorithm: KeyAlgorithm) -> Vec<u8> {
        format!("iam-issuer/v1\0{kid}\0{}", algorithm.as_str()).into_bytes()
    }

    /// Seal a private key for `kid`.
    pub(crate) fn seal(
        &self,
        kid: &str,
        algorithm: KeyAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, IssuerError> {
        self.seal_with(&Self::aad(kid, algorithm), plaintext)
    }

    /// Open a sealed private key of `kid`; any alteration is [`IssuerErrorKind::SealedKeyRejected`].
    pub(crate) fn open(
        &self,
        kid: &str,
        algorithm: KeyAlgorithm,
        sealed: &[u8],
    ) -> Result<Secret<Vec<u8>>, IssuerError> {
        self.open_with(&Self::aad(kid, algorithm), sealed)
    }

    fn value_aad(context: &str) -> Vec<u8> {
        // A prefix no signing key's associated data starts with: a sealed value never opens
        // as a key, nor a key as a value.
        format!("iam-sealed-value/v1\0{context}").into_bytes()
    }

    /// Seal a secret other than a signing key (a TOTP secret, say), bound to `context`: the
    /// sealed form opens only with this key and the same `context` (name the kind of secret
    /// and its owner, e.g. `"totp\0<user id>"`, so a sealed value copied to another row
    /// does not open). Same format as a sealed signing key.
    ///
    /// ```
    /// use iam_issuer::KeyEncryptionKey;
    /// let kek = KeyEncryptionKey::generate();
    /// let sealed = kek.seal_value("totp\0user-1", b"raw secret").unwrap();
    /// assert_eq!(kek.open_value("totp\0user-1", &sealed).unwrap().secret(), b"raw secret");
    /// assert!(kek.open_value("totp\0user-2", &sealed).is_err());
    /// ```
    pub fn seal_value(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, IssuerError> {
        self.seal_with(&Self::value_aad(context), plaintext)
    }

    /// Open what [`seal_value`](Self::seal_value) sealed with `context`; a wrong key, a
    /// wrong context or any alteration is [`IssuerErrorKind::SealedKeyRejected`].
    pub fn open_value(&self, context: &str, sealed: &[u8]) -> Result<Secret<Vec<u8>>, IssuerError> {
        self.open_with(&Self::value_aad(context), sealed)
    }

    fn seal_with(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, IssuerError> {
        let cipher = Aes256Gcm::new(self.0.secret().into());
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| IssuerErrorKind::KeyGeneration)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn open_with(&self, aad: &[u8], sealed: &[u8]) -> Result<Secret<Vec<u8>>, IssuerError> {
        let rejected = || IssuerError::from(IssuerErrorKind::SealedKeyRejected);
        let (&version, rest) = sealed.split_first().ok_or_else(rejected)?;
        if version != VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(rejected());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| rejected())?;
        let cipher = Aes256Gcm::new(self.0.secret().into());
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Secret::new)
            .map_err(|_| rejected())
    }
}

/// Fill `out` from the operating system's generator (aws-lc-rs).
pub(crate) fn random(out: &mut [u8]) {
    // SystemRandom fails only when the OS generator is unavailable, which no supported
    // platform allows after start; a zero key would be far worse than stopping.
    aws_lc_rs::rand::fill(out).expect("the operating system's random generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_kid_algorithm_and_key() {
        let kek = KeyEncryptionKey::generate();
        let sealed = kek.seal("k1", KeyAlgorithm::Es256, b"private").unwrap();
        assert_eq!(
            kek.open("k1", KeyAlgorithm::Es256, &sealed)
                .unwrap()
                .secret(),
            b"private"
        );
        for (kid, alg) in [("k2", KeyAlgorithm::Es256), ("k1", KeyAlgorithm::Rs256)] {
            let err = kek.open(kid, alg, &sealed).unwrap_err();
            assert_eq!(err.kind(), &IssuerErrorKind::SealedKeyRejected);
        }
        let other = KeyEncryptionKey::generate();
        assert_ne!(other.id(), kek.id());
        let err = other.open("k1", KeyAlgorithm::Es256, &sealed).unwrap_err();
        assert_eq!(err.kind(), &IssuerErrorKind::SealedKeyRejected);
    }

    #[test]
    fn a_sealed_value_never_opens_as_a_key_nor_in_another_context() {
        let kek = KeyEncryptionKey::generate();
        let value = kek.seal_value("totp\0u1", b"secret").unwrap();
        assert_eq!(
            kek.open_value("totp\0u1", &value).unwrap().secret(),
            b"secret"
        );
        assert!(kek.open_value("totp\0u2", &value).is_err());
        assert!(kek.open("totp\0u1", KeyAlgorithm::Es256, &value).is_err());
        let key = kek.seal("k1", KeyAlgorithm::Es256, b"private").unwrap();
        assert!(kek.open_value("k1\0ES256", &key).is_err());
        assert!(KeyEncryptionKey::generate()
            .open_value("totp\0u1", &value)
            .is_err());
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_of_a_sealed_key_is_refused() {
        let kek = KeyEncryptionKey::generate();
        let sealed = kek.seal("k1", KeyAlgorithm::EdDsa, b"0123456789").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                kek.open("k1", KeyAlgorithm::EdDsa, &bad).is_err(),
                "bit at {i}"
            );
            assert!(kek.open("k1", KeyAlgorithm::EdDsa, &sealed[..i]).is_err());
        }
    }

    #[test]
    fn key_encryption_keys_must_be_32_bytes_of_base64() {
        let kek = KeyEncryptionKey::from_bytes([7; 32]);
        let padded = kek.to_base64();
        let url = URL_SAFE_NO_PAD.encode([7u8; 32]);
        for text in [padded.secret().as_str(), &url, &format!(" {url}\n")] {
            assert_eq!(KeyEncryptionKey::from_base64(text).unwrap().id(), kek.id());
        }
        let short = STANDARD.encode([1u8; 31]);
        let long = STANDARD.encode([1u8; 33]);
        for bad in ["", "not base64!", short.as_str(), long.as_str()] {
            let err = KeyEncryptionKey::from_base64(bad).unwrap_err();
            assert_eq!(err.kind(), &IssuerErrorKind::InvalidKeyEncryptionKey);
            assert!(!err.to_string().contains(bad) || bad.is_empty());
        }
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let kek = KeyEncryptionKey::from_bytes([0x41; 32]);
        let shown = format!("{kek:?} {:?}", kek.to_base64());
        assert!(!shown.contains("QUFB"), "{shown}");
        assert!(!shown.contains("65"), "{shown}");
    }
}
