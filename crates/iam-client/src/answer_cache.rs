//! One bounded cache of answers about credentials, shared by token introspection, Kratos
//! sessions and the remote credential service.
//!
//! - Keyed by a SHA-256 digest of the credential: the credential itself is never stored.
//! - Each entry lives until its own deadline: a positive answer for the cache's TTL, never
//!   past what the credential itself has left ([`AnswerCache::positive_until`]); a refusal
//!   for the negative TTL ([`AnswerCache::negative_until`]), so a flood of junk credentials
//!   reaches the upstream once per distinct credential per negative TTL at most.
//! - Bounded (quick_cache, approximately `capacity` entries): past it, entries are evicted.
//! - Concurrent misses for one key may wait for the first lookup's answer instead of each
//!   asking the upstream ([`AnswerCache::get_or_guard`], single flight).
//!
//! What an answer is (a principal, a refusal, an outage that is not cached) is the caller's
//! business: this module only keeps answers and their deadlines.
// Each user needs a part of the API (Kratos the single flight and `retain`).
#![cfg_attr(
    not(all(feature = "kratos", feature = "introspection")),
    allow(dead_code)
)]
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// The digest a credential is cached under.
pub(crate) type Key = [u8; 32];

/// An answer and the moment it stops being served.
#[derive(Clone)]
pub(crate) struct Cached<A> {
    pub(crate) answer: A,
    pub(crate) until: Instant,
}

type Inner<A> = quick_cache::sync::Cache<Key, Cached<A>>;

/// The slot of one key while its answer is being fetched: other lookups of the key wait for
/// it to be filled (or dropped).
pub(crate) type Guard<'a, A> = quick_cache::sync::PlaceholderGuard<
    'a,
    Key,
    Cached<A>,
    quick_cache::UnitWeighter,
    quick_cache::DefaultHashBuilder,
    quick_cache::sync::DefaultLifecycle<Key, Cached<A>>,
>;

/// A bounded cache of answers, each with its own deadline; see the [module docs](self).
pub(crate) struct AnswerCache<A> {
    cache: Inner<A>,
    ttl: Duration,
    negative_ttl: Duration,
}

impl<A: Clone> AnswerCache<A> {
    /// About `capacity` entries (at least one); positive answers kept at most `ttl`,
    /// refusals `negative_ttl`.
    pub(crate) fn new(capacity: usize, ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            cache: Inner::new(capacity.max(1)),
            ttl,
            negative_ttl,
        }
    }

    /// The key of a credential.
    pub(crate) fn key(credential: &[u8]) -> Key {
        Sha256::digest(credential).into()
    }

    /// The key of a credential of one kind (`tag`), so equal values of different kinds (a
    /// cookie and a token) never share an entry.
    pub(crate) fn tagged_key(tag: u8, credential: &[u8]) -> Key {
        let mut h = Sha256::new();
        h.update([tag, 0]);
        h.update(credential);
        h.finalize().into()
    }

    /// The longest a positive answer is kept.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When a positive answer obtained at `from` stops being served: after the TTL, or
    /// sooner when the credential has only `left`.
    pub(crate) fn positive_until(&self, from: Instant, left: Option<Duration>) -> Instant {
        from + left.map_or(self.ttl, |l| l.min(self.ttl))
    }

    /// When a refusal obtained at `from` stops being served.
    pub(crate) fn negative_until(&self, from: Instant) -> Instant {
        from + self.negative_ttl
    }

    /// The answer for `key` while its deadline is after `now`; a stale entry is dropped.
    pub(crate) fn get(&self, key: &Key, now: Instant) -> Option<A> {
        let entry = self.cache.get(key)?;
        if entry.until > now {
            return Some(entry.answer);
        }
        self.cache.remove_if(key, |e| e.until <= now);
        None
    }

    /// The entry for `key`, stale or not (for callers with further freshness rules).
    pub(crate) fn entry(&self, key: &Key) -> Option<Cached<A>> {
        self.cache.get(key)
    }

    /// The entry for `key`, or the guard of its slot: concurrent callers for the same key
    /// wait until the guard is filled or dropped.
    pub(crate) async fn get_or_guard(&self, key: &Key) -> Result<Cached<A>, Guard<'_, A>> {
        self.cache.get_value_or_guard_async(key).await
    }

    /// Keep `answer` until `until` (not at all when that has passed already).
    pub(crate) fn insert(&self, key: Key, answer: A, until: Instant) {
        if until > Instant::now() {
            self.cache.insert(key, Cached { answer, until });
        }
    }

    /// Forget the answer for `key`.
    pub(crate) fn remove(&self, key: &Key) {
        self.cache.remove(key);
    }

    /// Forget every answer.
    pub(crate) fn clear(&self) {
        self.cache.clear();
    }

    /// Keep only the answers `keep` approves.
    pub(crate) fn retain(&self, keep: impl Fn(&A) -> bool) {
        self.cache.retain(|_, e| keep(&e.answer));
    }

    /// Number of entries (stale ones included until evicted or looked up).
    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_served_until_their_deadline_and_no_longer() {
        let cache = AnswerCache::new(10, Duration::from_secs(60), Duration::from_secs(5));
        let key = AnswerCache::<u8>::key(b"token");
        let now = Instant::now();
        cache.insert(key, 1u8, cache.negative_until(now));
        assert_eq!(cache.get(&key, now), Some(1));
        assert_eq!(cache.get(&key, now + Duration::from_secs(5)), None);
        assert_eq!(cache.len(), 0, "a stale entry is dropped when found");
    }

    #[test]
    fn a_positive_answer_never_outlives_the_credential() {
        let cache = AnswerCache::<u8>::new(10, Duration::from_secs(60), Duration::from_secs(5));
        let now = Instant::now();
        assert_eq!(
            cache.positive_until(now, None),
            now + Duration::from_secs(60)
        );
        assert_eq!(
            cache.positive_until(now, Some(Duration::from_secs(7))),
            now + Duration::from_secs(7)
        );
    }

    #[test]
    fn kinds_of_credential_never_share_a_key() {
        let cookie = AnswerCache::<u8>::tagged_key(b'c', b"same");
        let token = AnswerCache::<u8>::tagged_key(b't', b"same");
        assert_ne!(cookie, token);
        assert_ne!(cookie, AnswerCache::<u8>::key(b"same"));
    }

    #[test]
    fn an_answer_already_past_its_deadline_is_not_kept() {
        let cache = AnswerCache::new(10, Duration::ZERO, Duration::ZERO);
        let key = AnswerCache::<u8>::key(b"token");
        cache.insert(key, 1u8, cache.positive_until(Instant::now(), None));
        assert_eq!(cache.len(), 0);
    }
}
