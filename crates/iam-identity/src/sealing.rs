//! TOTP secrets sealed at rest with the key-encryption key machinery of iam-issuer
//! (AES-256-GCM, a random nonce per seal), so every repository (in-memory, SQL, a document
//! store) only ever receives the sealed form.
//!
//! ```
//! use iam_identity::sealing::TotpSecretSealing;
//! use iam_identity::model::SecretText;
//! use iam_issuer::KeyEncryptionKey;
//!
//! let old = KeyEncryptionKey::generate();
//! let sealed = TotpSecretSealing::new(old.clone())
//!     .seal("user-1", &SecretText::new("JBSWY3DPEHPK3PXP".into()))
//!     .unwrap();
//! assert!(!sealed.secret().contains("JBSWY3DPEHPK3PXP"));
//!
//! // After a rotation the old key still opens it, and says the record wants re-sealing.
//! let rotated = TotpSecretSealing::new(KeyEncryptionKey::generate()).with_retired([old]);
//! let opened = rotated.open("user-1", &sealed).unwrap();
//! assert_eq!(opened.secret_base32.secret(), "JBSWY3DPEHPK3PXP");
//! assert!(opened.needs_resealing);
//! ```
//!
//! Stored form: `$kek1$<key id>$<base64url of the sealed bytes>`, with `totp`, and the user
//! id as associated data (a sealed secret copied to another user's row does not open). The
//! key id (iam-issuer's public fingerprint of the key) tells which key sealed a record, so a
//! rotation re-seals records as they are read.
//!
//! # Caveats
//! - A stored value that does not start with `$` is taken as a secret written before
//!   sealing existed (plain base32); it is accepted once more and re-sealed under the current
//!   key by the read that finds it ([`Identity`](crate::Identity) does this).
//! - A record sealed by a key that is neither current nor retired cannot be opened: the
//!   user's TOTP check fails closed ([`IdentityError::SealedSecretRejected`]); keep retired
//!   keys until every record was read once (or reset those users' MFA).
use crate::error::IdentityError;
use crate::model::SecretText;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_issuer::KeyEncryptionKey;

const PREFIX: &str = "$kek1$";

/// The current key-encryption key (seals) and the retired ones (open only).
#[derive(Debug, Clone)]
pub struct TotpSecretSealing {
    current: (String, KeyEncryptionKey),
    retired: Vec<(String, KeyEncryptionKey)>,
}

/// A stored secret, opened.
#[derive(Debug)]
pub struct OpenedSecret {
    /// The secret, base32 (what an authenticator app holds).
    pub secret_base32: SecretText,
    /// Whether the record is plaintext or sealed by a retired key: write it back sealed.
    pub needs_resealing: bool,
}

fn context(user: &str) -> String {
    format!("totp\0{user}")
}

impl TotpSecretSealing {
    /// Seal with `current`.
    pub fn new(current: KeyEncryptionKey) -> Self {
        Self {
            current: (current.id(), current),
            retired: Vec::new(),
        }
    }

    /// Also open records sealed by these earlier keys (a rotation).
    pub fn with_retired(mut self, retired: impl IntoIterator<Item = KeyEncryptionKey>) -> Self {
        self.retired = retired.into_iter().map(|k| (k.id(), k)).collect();
        self
    }

    /// The id of the key that seals now.
    pub fn current_key_id(&self) -> &str {
        &self.current.0
    }

    /// The stored form of `user`'s secret (base32).
    pub fn seal(
        &self,
        user: &str,
        secret_base32: &SecretText,
    ) -> Result<SecretText, IdentityError> {
        let raw = zeroize::Zeroizing::new(crate::totp::decode(secret_base32)?);
        let sealed = self
            .current
            .1
            .seal_value(&context(user), &raw)
            .map_err(|_| IdentityError::SealedSecretRejected)?;
        Ok(SecretText::new(format!(
            "{PREFIX}{}${}",
            self.current.0,
            URL_SAFE_NO_PAD.encode(sealed)
        )))
    }

    /// Open `user`'s stored secret (sealed, or plaintext from before sealing).
    pub fn open(&self, user: &str, stored: &SecretText) -> Result<OpenedSecret, IdentityError> {
        let text = stored.secret();
        let Some(rest) = text.strip_prefix(PREFIX) else {
            if text.starts_with('$') {
                return Err(IdentityError::SealedSecretRejected);
            }
            // Written before sealing: plain base32; must decode like one.
            crate::totp::decode(stored).map_err(|_| IdentityError::SealedSecretRejected)?;
            return Ok(OpenedSecret {
                secret_base32: stored.clone(),
                needs_resealing: true,
            });
        };
        let (key_id, body) = rest
            .split_once('$')
            .ok_or(IdentityError::SealedSecretRejected)?;
        let (key, retired) = if key_id == self.current.0 {
            (&self.current.1, false)
        } else {
            let (_, key) = self
                .retired
                .iter()
                .find(|(id, _)| id == key_id)
                .ok_or(IdentityError::SealedSecretRejected)?;
            (key, true)
        };
        let sealed = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| IdentityError::SealedSecretRejected)?;
        let raw = key
            .open_value(&context(user), &sealed)
            .map_err(|_| IdentityError::SealedSecretRejected)?;
        Ok(OpenedSecret {
            secret_base32: crate::totp::encode(raw.secret()),
            needs_resealing: retired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretText {
        crate::totp::generate_secret()
    }

    #[test]
    fn the_stored_form_names_the_key_and_never_holds_the_secret() {
        let kek = KeyEncryptionKey::generate();
        let sealing = TotpSecretSealing::new(kek.clone());
        let s = secret();
        let stored = sealing.seal("u1", &s).unwrap();
        assert!(stored.secret().starts_with(&format!("$kek1${}$", kek.id())));
        assert!(!stored.secret().contains(s.secret()));
        assert!(stored.secret().len() <= 128, "fits the column");
        let opened = sealing.open("u1", &stored).unwrap();
        assert_eq!(opened.secret_base32.secret(), s.secret());
        assert!(!opened.needs_resealing);
        // A fresh nonce each time.
        assert_ne!(sealing.seal("u1", &s).unwrap().secret(), stored.secret());
    }

    #[test]
    fn another_users_row_an_unknown_key_and_tampering_are_refused() {
        let sealing = TotpSecretSealing::new(KeyEncryptionKey::generate());
        let stored = sealing.seal("u1", &secret()).unwrap();
        let refused = |s: &TotpSecretSealing, user: &str, text: String| {
            matches!(
                s.open(user, &SecretText::new(text)),
                Err(IdentityError::SealedSecretRejected)
            )
        };
        assert!(refused(&sealing, "u2", stored.secret().to_owned()));
        let stranger = TotpSecretSealing::new(KeyEncryptionKey::generate());
        assert!(refused(&stranger, "u1", stored.secret().to_owned()));
        let text = stored.secret();
        for i in 0..text.len() {
            let mut bad = text.as_bytes().to_vec();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            if let Ok(bad) = String::from_utf8(bad) {
                assert!(refused(&sealing, "u1", bad), "byte {i}");
            }
            assert!(refused(&sealing, "u1", text[..i].to_owned()) || i == 0);
        }
        for hostile in [
            "$",
            "$kek1$",
            "$kek1$$",
            "$kek2$x$y",
            "not base32!",
            "$kek1$zz$!!",
        ] {
            assert!(refused(&sealing, "u1", hostile.to_owned()), "{hostile:?}");
        }
    }

    #[test]
    fn plaintext_and_retired_key_records_open_and_ask_for_resealing() {
        let old = KeyEncryptionKey::generate();
        let s = secret();
        let by_old = TotpSecretSealing::new(old.clone()).seal("u1", &s).unwrap();
        let rotated = TotpSecretSealing::new(KeyEncryptionKey::generate()).with_retired([old]);
        for stored in [by_old, s.clone()] {
            let opened = rotated.open("u1", &stored).unwrap();
            assert_eq!(opened.secret_base32.secret(), s.secret());
            assert!(opened.needs_resealing);
        }
    }

    #[test]
    fn debug_shows_no_key() {
        let sealing = TotpSecretSealing::new(KeyEncryptionKey::from_bytes([0x41; 32]));
        let shown = format!("{sealing:?}");
        assert!(!shown.contains("QUFB") && !shown.contains("65,"), "{shown}");
    }
}
