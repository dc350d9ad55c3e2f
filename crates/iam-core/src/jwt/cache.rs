//! The validated-token cache: validating the same token twice does not redo the signature
//! check. Keyed by the SHA-256 of the token (the token itself is not stored), bounded in
//! entries, an entry ignored and dropped once its token expires or once the key that verified
//! it is no longer in the key set used for the lookup.
use super::ValidatedToken;
use crate::jwks::{Fingerprint, JwkSet};
use sha2::{Digest, Sha256};

#[derive(Clone)]
struct Entry {
    token: ValidatedToken,
    valid_until: i64,
    fingerprint: Fingerprint,
}

pub(crate) struct TokenCache {
    inner: quick_cache::sync::Cache<[u8; 32], Entry>,
}

pub(crate) type CacheKey = [u8; 32];

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: quick_cache::sync::Cache::new(capacity),
        }
    }

    pub(crate) fn key(token: &str) -> CacheKey {
        Sha256::digest(token.as_bytes()).into()
    }

    pub(crate) fn get(&self, key: &CacheKey, now: i64, keys: &JwkSet) -> Option<ValidatedToken> {
        let entry = self.inner.get(key)?;
        if now < entry.valid_until && keys.contains_fingerprint(&entry.fingerprint) {
            Some(entry.token)
        } else {
            self.inner.remove(key);
            None
        }
    }

    pub(crate) fn insert(
        &self,
        key: CacheKey,
        token: ValidatedToken,
        valid_until: i64,
        fingerprint: Fingerprint,
    ) {
        self.inner.insert(
            key,
            Entry {
                token,
                valid_until,
                fingerprint,
            },
        );
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    pub(crate) fn clear(&self) {
        self.inner.clear();
    }
}
