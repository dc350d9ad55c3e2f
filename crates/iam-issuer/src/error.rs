//! [`IssuerError`]: what went wrong while opening, rotating or minting. Messages are fixed
//! strings: they never carry a key, a token, a claim value or the key-encryption key.
use crate::store::KeyStoreError;

/// Why an issuer operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerErrorKind {
    /// The key-encryption key is not 32 bytes of base64.
    #[error("the key-encryption key must be 32 bytes, base64-encoded")]
    InvalidKeyEncryptionKey,
    /// The store holds keys sealed with another key-encryption key (a configuration mistake:
    /// the key-encryption key changed, or the store belongs to another deployment).
    #[error("the stored signing keys were sealed with a different key-encryption key")]
    WrongKeyEncryptionKey,
    /// A sealed private key failed authentication: its ciphertext, key id or algorithm was
    /// altered in the store.
    #[error("a sealed signing key failed authentication (altered in the store)")]
    SealedKeyRejected,
    /// A decrypted private key is not a usable key of its algorithm.
    #[error("a stored signing key is not a usable key")]
    UnusableKey,
    /// The rotation policy breaks a rule; the detail names it.
    #[error("invalid rotation policy: {0}")]
    InvalidPolicy(&'static str),
    /// An algorithm name this crate does not issue with.
    #[error("unknown key algorithm (ES256, EdDSA or RS256)")]
    UnknownAlgorithm,
    /// A token lifetime of zero, or longer than the policy's `max_token_lifetime`.
    #[error(
        "token lifetime must be at least one second and at most the policy's max_token_lifetime"
    )]
    InvalidLifetime,
    /// The ring has no current key (the store was emptied under it; `tick` creates one).
    #[error("the key ring has no current signing key")]
    NoSigningKey,
    /// The crypto library could not generate a key.
    #[error("key generation failed")]
    KeyGeneration,
    /// The crypto library could not sign.
    #[error("signing failed")]
    Signing,
    /// The claims do not serialize to JSON.
    #[error("the claims cannot be serialized")]
    InvalidClaims,
    /// The key store failed ([`std::error::Error::source`] has its error).
    #[error("the key store failed")]
    Store,
    /// Other instances kept changing the store during a rotation step; the next `tick`
    /// continues.
    #[error("the key store kept changing during rotation; retry on the next tick")]
    Contention,
}

/// An issuer operation failed. [`kind`](Self::kind) says why; a store failure carries the
/// store's error as its `source`.
#[derive(Debug, thiserror::Error)]
#[error("{kind}{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
pub struct IssuerError {
    kind: IssuerErrorKind,
    #[source]
    source: Option<KeyStoreError>,
}

impl IssuerError {
    /// Why it failed.
    pub fn kind(&self) -> &IssuerErrorKind {
        &self.kind
    }
}

impl From<IssuerErrorKind> for IssuerError {
    fn from(kind: IssuerErrorKind) -> Self {
        Self { kind, source: None }
    }
}

impl From<KeyStoreError> for IssuerError {
    fn from(e: KeyStoreError) -> Self {
        Self {
            kind: IssuerErrorKind::Store,
            source: Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_names_the_store_error_and_keeps_it_as_source() {
        let err = IssuerError::from(KeyStoreError::corrupt("state"));
        assert_eq!(err.kind(), &IssuerErrorKind::Store);
        assert_eq!(
            err.to_string(),
            "the key store failed: unreadable stored key: state"
        );
        assert!(std::error::Error::source(&err).is_some());
        let plain = IssuerError::from(IssuerErrorKind::NoSigningKey);
        assert_eq!(plain.to_string(), "the key ring has no current signing key");
        assert!(std::error::Error::source(&plain).is_none());
    }
}
