//! The validated-token cache: validating the same token twice does not redo the signature
//! check. An entry is ignored and dropped once its token expires or once the key that verified
//! it is no longer in the key set used for the lookup.
//!
//! Keyed by the token itself: a lookup hashes it with foldhash (seeded per process) and
//! compares it with the stored token in constant time, which costs a tenth of hashing it with
//! SHA-256 — the largest per-request cost of the middleware before (about 0.4 µs of 1.9 µs for
//! a 650-byte RS256 token). The price is that tokens the process has validated stay in its
//! memory until they are evicted or expire, as they would in any token cache keyed by the
//! token (Envoy's `jwt_authn`, Oathkeeper's); they are overwritten with zeros when the entry
//! goes, and never appear in `Debug`. Entries weigh 1 plus 1 per 2 KiB of token, so a cache of
//! N entries holds at most about 2·N KiB of tokens whatever their size.
use super::ValidatedToken;
use crate::jwks::{Fingerprint, JwkSet};
use crate::secret::Secret;
use std::hash::{Hash, Hasher};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub(crate) struct Entry {
    token: ValidatedToken,
    valid_until: i64,
    fingerprint: Fingerprint,
}

/// A cached token: zeroed when dropped (a [`Secret`]), compared in constant time.
pub(crate) struct TokenKey(Secret<Box<[u8]>>);

impl TokenKey {
    fn bytes(&self) -> &[u8] {
        self.0.secret()
    }
}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.bytes(), other.bytes())
    }
}

impl Eq for TokenKey {}

/// A presented token, to look a [`TokenKey`] up without copying it.
struct Lookup<'a>(&'a [u8]);

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl quick_cache::Equivalent<TokenKey> for Lookup<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        constant_time_eq(self.0, key.bytes())
    }
}

/// No early exit on the first differing byte: the time depends on the length only (not a
/// secret). `subtle`'s slice `ct_eq` puts an optimisation barrier after every byte, which made
/// a cache hit on a ~700-byte token ~0.5 µs slower (`cargo bench -p iam-client --bench
/// sessions`): here the bytes are folded eight at a time with XOR/OR (no branch on the data),
/// and only the folded word goes through `subtle`.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u64;
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_ne_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        diff |= x ^ y;
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        diff |= u64::from(x ^ y);
    }
    bool::from(diff.ct_eq(&0))
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<TokenKey, Entry> for Weight {
    fn weight(&self, key: &TokenKey, _: &Entry) -> u64 {
        1 + (key.bytes().len() / 2048) as u64
    }
}

pub(crate) struct TokenCache {
    inner: quick_cache::sync::Cache<TokenKey, Entry, Weight>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: quick_cache::sync::Cache::with_weighter(capacity, capacity as u64, Weight),
        }
    }

    pub(crate) fn get(&self, token: &[u8], now: i64, keys: &JwkSet) -> Option<ValidatedToken> {
        let entry = self.inner.get(&Lookup(token))?;
        if now < entry.valid_until && keys.contains_fingerprint(&entry.fingerprint) {
            Some(entry.token)
        } else {
            self.inner.remove(&Lookup(token));
            None
        }
    }

    pub(crate) fn insert(
        &self,
        token: &str,
        validated: ValidatedToken,
        valid_until: i64,
        fingerprint: Fingerprint,
    ) {
        self.inner.insert(
            TokenKey(Secret::new(token.as_bytes().into())),
            Entry {
                token: validated,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
        let long = b"0123456789abcdef0123456789abcdefXYZ";
        let mut other = *long;
        assert!(constant_time_eq(long, &other));
        other[33] ^= 1; // in the tail after the 8-byte chunks
        assert!(!constant_time_eq(long, &other));
        other[33] ^= 1;
        other[3] ^= 0x80; // inside a chunk
        assert!(!constant_time_eq(long, &other));
        let key = TokenKey(Secret::new(b"a.b.c"[..].into()));
        assert!(quick_cache::Equivalent::equivalent(&Lookup(b"a.b.c"), &key));
        assert!(!quick_cache::Equivalent::equivalent(
            &Lookup(b"a.b.d"),
            &key
        ));
    }
}
