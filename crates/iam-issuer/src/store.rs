//! Where keys live: the [`KeyStore`] trait and the in-process [`MemoryKeyStore`].
//!
//! A store keeps [`StoredKey`] records and makes the two decisions that keep several
//! instances sharing it in agreement:
//! - [`insert`](KeyStore::insert) refuses a key whose `kid` or `generation` is taken, or a
//!   second `current` key: two instances that both try to add generation 7 get one key;
//! - [`transition`](KeyStore::transition) applies a set of state changes all or nothing, each
//!   only if the key is still in the state the caller saw, and never leaves two `current`
//!   keys: two instances promoting at once get one promotion.
//!
//! The private key is only ever stored sealed (see [`KeyEncryptionKey`](crate::KeyEncryptionKey)).
//! The SQL implementation (SQLite, PostgreSQL, MariaDB) is `iam_store::SqlKeyStore` (feature
//! `issuer` of iam-store).
use iam_core::jwks::BoxFuture;
use std::fmt;
use std::sync::Mutex;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in the JWKS, not signing yet (so that caches know it before it signs).
    Next,
    /// Signing (at most one per store).
    Current,
    /// No longer signing; published until the policy's `retain_after` has passed.
    Retired,
}

impl KeyState {
    /// `next`, `current` or `retired` (the stored spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }

    /// The state of its stored spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "next" => Some(Self::Next),
            "current" => Some(Self::Current),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key as a store keeps it. Times are Unix seconds.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (`kid`), unique.
    pub kid: String,
    /// Increases by one with every key a ring creates; unique (the store refuses a second key
    /// of one generation, which is how concurrent creators agree).
    pub generation: i64,
    /// The JOSE algorithm name (`ES256`, `EdDSA`, `RS256`).
    pub algorithm: String,
    /// Its state.
    pub state: KeyState,
    /// When it was created (and published, as `next`).
    pub created_at: i64,
    /// When it became `current`.
    pub activated_at: Option<i64>,
    /// When it became `retired`.
    pub retired_at: Option<i64>,
    /// The public JWK, as JSON text.
    pub public_jwk: String,
    /// The private key, sealed with the key-encryption key (never the key itself).
    pub sealed_private_key: Vec<u8>,
    /// The [`KeyEncryptionKey::id`](crate::KeyEncryptionKey::id) that sealed it.
    pub kek_id: String,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .field(
                "sealed_private_key",
                &format_args!("<{} bytes sealed>", self.sealed_private_key.len()),
            )
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// One state change: `kid` from `from` to `to` at `at` (which sets `activated_at` when `to`
/// is `current`, `retired_at` when it is `retired`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The key.
    pub kid: String,
    /// The state the caller saw; the change applies only if the key is still in it.
    pub from: KeyState,
    /// The new state.
    pub to: KeyState,
    /// When (Unix seconds).
    pub at: i64,
}

/// Why a store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStoreErrorKind {
    /// The store could not be reached or refused the operation.
    Unavailable,
    /// A stored record cannot be read back (the detail names the field).
    Corrupt(&'static str),
}

/// A key store failed. Its message never carries key material (stores hold only sealed keys
/// and public JWKs anyway).
#[derive(Debug, thiserror::Error)]
#[error("{}", match .kind {
    KeyStoreErrorKind::Unavailable => "key store unavailable".to_owned(),
    KeyStoreErrorKind::Corrupt(what) => format!("unreadable stored key: {what}"),
})]
pub struct KeyStoreError {
    kind: KeyStoreErrorKind,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl KeyStoreError {
    /// The store failed; `source` says how (it must not hold secrets).
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: KeyStoreErrorKind::Unavailable,
            source: Some(source.into()),
        }
    }

    /// A stored record is unreadable; `what` names the field.
    pub fn corrupt(what: &'static str) -> Self {
        Self {
            kind: KeyStoreErrorKind::Corrupt(what),
            source: None,
        }
    }

    /// Why it failed.
    pub fn kind(&self) -> &KeyStoreErrorKind {
        &self.kind
    }
}

/// Where a [`KeyRing`](crate::KeyRing) keeps its keys; shared by every instance of a
/// deployment. Object-safe: use it as `Arc<dyn KeyStore>`.
pub trait KeyStore: Send + Sync {
    /// Every stored key, in any order.
    fn load(&self) -> BoxFuture<'_, Result<Vec<StoredKey>, KeyStoreError>>;

    /// Add `key`. `Ok(false)` when its `kid` or `generation` is taken, or when it is
    /// `current` and another key already is.
    fn insert<'a>(&'a self, key: &'a StoredKey) -> BoxFuture<'a, Result<bool, KeyStoreError>>;

    /// Apply `changes` all or nothing. `Ok(false)` (and nothing changed) when a key is
    /// missing or no longer in its `from` state, or when the result would have two `current`
    /// keys.
    fn transition<'a>(
        &'a self,
        changes: &'a [Transition],
    ) -> BoxFuture<'a, Result<bool, KeyStoreError>>;

    /// Remove a key (a retired key past its retention). Removing a missing key is not an
    /// error.
    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>>;
}

/// Keys in process memory: for tests, single-instance deployments that may lose their keys at
/// restart (every token then fails to validate), and as the reference behaviour of a store.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    keys: Mutex<Vec<StoredKey>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<StoredKey>) -> T) -> T {
        // A panic elsewhere while holding the lock leaves the vector whole (every change
        // below is applied to a copy first), so a poisoned lock is still consistent.
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut keys)
    }
}

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

impl KeyStore for MemoryKeyStore {
    fn load(&self) -> BoxFuture<'_, Result<Vec<StoredKey>, KeyStoreError>> {
        ready(Ok(self.with(|keys| keys.clone())))
    }

    fn insert<'a>(&'a self, key: &'a StoredKey) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        ready(Ok(self.with(|keys| {
            let taken = keys.iter().any(|k| {
                k.kid == key.kid
                    || k.generation == key.generation
                    || (key.state == KeyState::Current && k.state == KeyState::Current)
            });
            if !taken {
                keys.push(key.clone());
            }
            !taken
        })))
    }

    fn transition<'a>(
        &'a self,
        changes: &'a [Transition],
    ) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        ready(Ok(self.with(|keys| {
            let mut next = keys.clone();
            for change in changes {
                let Some(key) = next
                    .iter_mut()
                    .find(|k| k.kid == change.kid && k.state == change.from)
                else {
                    return false;
                };
                apply(key, change);
            }
            if next.iter().filter(|k| k.state == KeyState::Current).count() > 1 {
                return false;
            }
            *keys = next;
            true
        })))
    }

    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        self.with(|keys| keys.retain(|k| k.kid != kid));
        ready(Ok(()))
    }
}

/// What a transition does to a record (for stores that apply it in memory).
pub fn apply(key: &mut StoredKey, change: &Transition) {
    key.state = change.to;
    match change.to {
        KeyState::Current => key.activated_at = Some(change.at),
        KeyState::Retired => key.retired_at = Some(change.at),
        KeyState::Next => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, generation: i64, state: KeyState) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            generation,
            algorithm: "ES256".into(),
            state,
            created_at: 0,
            activated_at: None,
            retired_at: None,
            public_jwk: "{}".into(),
            sealed_private_key: vec![1, 2, 3],
            kek_id: "k".into(),
        }
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        futures_ready(f)
    }

    /// The memory store's futures are ready at once.
    fn futures_ready<T>(mut f: BoxFuture<'_, T>) -> T {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("memory store future pending"),
        }
    }

    #[test]
    fn a_taken_kid_or_generation_or_a_second_current_key_is_not_inserted() {
        let store = MemoryKeyStore::new();
        assert!(block(store.insert(&key("a", 1, KeyState::Current))).unwrap());
        assert!(!block(store.insert(&key("a", 2, KeyState::Next))).unwrap());
        assert!(!block(store.insert(&key("b", 1, KeyState::Next))).unwrap());
        assert!(!block(store.insert(&key("b", 2, KeyState::Current))).unwrap());
        assert!(block(store.insert(&key("b", 2, KeyState::Next))).unwrap());
        assert_eq!(block(store.load()).unwrap().len(), 2);
    }

    #[test]
    fn transitions_apply_all_or_nothing_and_only_from_the_state_seen() {
        let store = MemoryKeyStore::new();
        block(store.insert(&key("a", 1, KeyState::Current))).unwrap();
        block(store.insert(&key("b", 2, KeyState::Next))).unwrap();
        let t = |kid: &str, from, to| Transition {
            kid: kid.into(),
            from,
            to,
            at: 5,
        };
        // Promoting b without retiring a would make two current keys.
        assert!(!block(store.transition(&[t("b", KeyState::Next, KeyState::Current)])).unwrap());
        let rotate = [
            t("a", KeyState::Current, KeyState::Retired),
            t("b", KeyState::Next, KeyState::Current),
        ];
        assert!(block(store.transition(&rotate)).unwrap());
        // The same rotation again: a is no longer current, nothing changes.
        assert!(!block(store.transition(&rotate)).unwrap());
        let keys = block(store.load()).unwrap();
        let a = keys.iter().find(|k| k.kid == "a").unwrap();
        let b = keys.iter().find(|k| k.kid == "b").unwrap();
        assert_eq!((a.state, a.retired_at), (KeyState::Retired, Some(5)));
        assert_eq!((b.state, b.activated_at), (KeyState::Current, Some(5)));
        block(store.delete("a")).unwrap();
        block(store.delete("a")).unwrap();
        assert_eq!(block(store.load()).unwrap().len(), 1);
    }

    #[test]
    fn debug_of_a_stored_key_shows_no_sealed_bytes() {
        let shown = format!("{:?}", key("a", 1, KeyState::Next));
        assert!(shown.contains("<3 bytes sealed>"), "{shown}");
        assert!(!shown.contains("[1, 2, 3]"), "{shown}");
    }
}
