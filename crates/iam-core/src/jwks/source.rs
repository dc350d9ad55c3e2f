//! Where keys come from: the [`KeySource`] trait and a fixed set as one ([`StaticKeys`]).
use super::JwkSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Where keys come from: a fixed [`JwkSet`], or a remote JWKS with a cache (iam-client's
/// `RemoteJwks`). Async, but needs no particular runtime.
pub trait KeySource: Send + Sync {
    /// The current key set. May wait for a first fetch; fails when no key set can be had
    /// at all (the caller answers 503).
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>>;

    /// The current key set when it is at hand without waiting (a fresh cache): lets the
    /// authenticator skip the future on the hot path. The default says "ask [`Self::keys`]".
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        None
    }

    /// Called when a token names a `kid` the current set does not have. A source that can
    /// refresh returns a newer set (subject to its own cooldown); the default has nothing newer.
    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        let _ = kid;
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// A boxed, sendable future (the async traits of iam-core need no runtime).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A key source could not produce any key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no key set available: {reason}")]
pub struct KeySourceError {
    reason: String,
}

impl KeySourceError {
    /// An error with a human-readable reason (never include secrets).
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        (**self).keys()
    }
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        (**self).cached_keys()
    }
    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        (**self).keys_after_unknown_kid(kid)
    }
}

/// A fixed key set as a [`KeySource`] (keys from a file or configuration).
#[derive(Debug, Clone)]
pub struct StaticKeys(Arc<JwkSet>);

impl StaticKeys {
    /// Serve `set` forever.
    pub fn new(set: JwkSet) -> Self {
        Self(Arc::new(set))
    }
}

impl From<JwkSet> for StaticKeys {
    fn from(set: JwkSet) -> Self {
        Self::new(set)
    }
}

impl KeySource for StaticKeys {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        Box::pin(std::future::ready(Ok(Arc::clone(&self.0))))
    }
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        Some(Arc::clone(&self.0))
    }
}
