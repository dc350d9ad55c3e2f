//! [`IssuerError`]: what went wrong while opening, rotating or minting. Messages are fixed
//! strings: they never carry a key, a token, a claim value or the key-encryption key.
use crate::store::KeyStoreError;
use std::fmt;

/// Why an issuer operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerErrorKind {
    /// The key-encryption key is not 32 bytes of base64.
    InvalidKeyEncryptionKey,
    /// The store holds keys sealed with another key-encryption key (a configuration mistake:
    /// the key-encryption key changed, or the store belongs to another deployment).
    WrongKeyEncryptionKey,
    /// A sealed private key failed authentication: its ciphertext, key id or algorithm was
    /// altered in the store.
    SealedKeyRejected,
    /// A decrypted private key is not a usable key of its algorithm.
    UnusableKey,
    /// The rotation policy breaks a rule; the detail names it.
    InvalidPolicy(&'static str),
    /// An algorithm name this crate does not issue with.
    UnknownAlgorithm,
    /// A token lifetime of zero, or longer than the policy's `max_token_lifetime`.
    InvalidLifetime,
    /// The ring has no current key (the store was emptied under it; `tick` creates one).
    NoSigningKey,
    /// The crypto library could not generate a key.
    KeyGeneration,
    /// The crypto library could not sign.
    Signing,
    /// The claims do not serialize to JSON.
    InvalidClaims,
    /// The key store failed ([`std::error::Error::source`] has its error).
    Store,
    /// Other instances kept changing the store during a rotation step; the next `tick`
    /// continues.
    Contention,
}

impl fmt::Display for IssuerErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKeyEncryptionKey => {
                f.write_str("the key-encryption key must be 32 bytes, base64-encoded")
            }
            Self::WrongKeyEncryptionKey => f.write_str(
                "the stored signing keys were sealed with a different key-encryption key",
            ),
            Self::SealedKeyRejected => {
                f.write_str("a sealed signing key failed authentication (altered in the store)")
            }
            Self::UnusableKey => f.write_str("a stored signing key is not a usable key"),
            Self::InvalidPolicy(rule) => write!(f, "invalid rotation policy: {rule}"),
            Self::UnknownAlgorithm => f.write_str("unknown key algorithm (ES256, EdDSA or RS256)"),
            Self::InvalidLifetime => f.write_str(
                "token lifetime must be at least one second and at most the policy's max_token_lifetime",
            ),
            Self::NoSigningKey => f.write_str("the key ring has no current signing key"),
            Self::KeyGeneration => f.write_str("key generation failed"),
            Self::Signing => f.write_str("signing failed"),
            Self::InvalidClaims => f.write_str("the claims cannot be serialized"),
            Self::Store => f.write_str("the key store failed"),
            Self::Contention => {
                f.write_str("the key store kept changing during rotation; retry on the next tick")
            }
        }
    }
}

/// An issuer operation failed. [`kind`](Self::kind) says why.
#[derive(Debug)]
pub struct IssuerError {
    kind: IssuerErrorKind,
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

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.kind),
            None => self.kind.fmt(f),
        }
    }
}

impl std::error::Error for IssuerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
