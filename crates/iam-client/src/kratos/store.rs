//! The cache a fleet of proxies shares: session bodies by credential hash, with indexes by
//! session and identity so revocation can purge them, and a purge broadcast so a revocation
//! on one instance empties the in-process cache of every instance.
use iam_core::jwks::BoxFuture;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A shared store failed (unreachable, timeout, protocol error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("session store: {0}")]
pub struct StoreError(pub String);

/// A session body read back from a [`SessionStore`], with what is left of its lifetime there.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSession {
    body: Vec<u8>,
    remaining: Duration,
}

impl StoredSession {
    /// `body` as kept by the store, which drops it `remaining` from now.
    pub fn new(body: Vec<u8>, remaining: Duration) -> Self {
        Self { body, remaining }
    }
    /// The Kratos `whoami` body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// What is left of the entry's lifetime in the store: an instance that reads it keeps it
    /// in process no longer than that (never a fresh TTL of its own).
    pub fn remaining(&self) -> Duration {
        self.remaining
    }
}

impl fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body holds identity traits (personal data): only its size is shown.
        f.debug_struct("StoredSession")
            .field("body_len", &self.body.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// What a purge watch (see [`SessionStore::watch_purges`]) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurgeEvent {
    /// The watch is (again) connected: purges from now on are delivered. Purges announced
    /// while it was not may have been missed, so the in-process cache starts empty.
    Live,
    /// The watch lost its connection: purges may be missed until the next [`PurgeEvent::Live`],
    /// so the in-process cache is not trusted meanwhile.
    Lost,
    /// Forget this session (by session id).
    Session(String),
    /// Forget every session of this identity (by identity id).
    Identity(String),
}

/// Where a purge watch delivers its events.
pub type PurgeSink = Arc<dyn Fn(PurgeEvent) + Send + Sync>;

/// A cache shared between instances. Keys are SHA-256 hashes of credentials; values are
/// Kratos `whoami` bodies (they hold identity traits, no credential).
pub trait SessionStore: Send + Sync {
    /// The session body cached for `key`, with the time the store still keeps it.
    fn get<'a>(
        &'a self,
        key: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<StoredSession>, StoreError>>;
    /// Keep `body` for `ttl`, indexed by session and identity.
    fn put<'a>(
        &'a self,
        key: &'a [u8; 32],
        body: &'a [u8],
        ttl: Duration,
        session_id: &'a str,
        identity_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Drop every entry of a session, and announce it to every watcher (see
    /// [`SessionStore::watch_purges`]) when the store offers a watch.
    fn purge_session<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Drop every entry of an identity, and announce it like [`SessionStore::purge_session`].
    fn purge_identity<'a>(&'a self, identity_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// A task that delivers every purge announced by any instance to `sink`, reconnecting
    /// after failures (reporting [`PurgeEvent::Lost`] and [`PurgeEvent::Live`]) and running
    /// until it is dropped. `None` (the default) when the store has no broadcast: each
    /// instance then keeps its in-process entries until their TTL.
    fn watch_purges(&self, sink: PurgeSink) -> Option<BoxFuture<'static, ()>> {
        let _ = sink;
        None
    }
}
