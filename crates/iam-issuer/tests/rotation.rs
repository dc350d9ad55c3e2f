//! The rotation schedule, driven by an injected clock (no sleeps), on the in-memory store:
//! publication before signing, retention after, agreement between instances, and the
//! key-encryption key checks at open.
use iam_core::clock::FixedClock;
use iam_issuer::{
    BoxFuture, Issuer, IssuerErrorKind, KeyAlgorithm, KeyEncryptionKey, KeyRing, KeyState,
    KeyStore, KeyStoreError, MemoryKeyStore, RotationPolicy, StoredKey, Transition,
};
use iam_testkit::keys::NOW;
use serde_json::Map;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn policy() -> RotationPolicy {
    // Rotate daily, tokens up to 10 minutes, JWKS cached up to an hour.
    RotationPolicy::new(
        Duration::from_secs(DAY as u64),
        Duration::from_secs(600),
        Duration::from_secs(HOUR as u64),
    )
}

async fn open(
    store: Arc<dyn KeyStore>,
    kek: &KeyEncryptionKey,
    clock: &Arc<FixedClock>,
    policy: RotationPolicy,
) -> KeyRing {
    KeyRing::open(
        store,
        kek.clone(),
        KeyAlgorithm::Es256,
        policy,
        clock.clone(),
    )
    .await
    .unwrap()
}

fn kids(issuer: &Issuer) -> Vec<String> {
    issuer.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn states(ring: &KeyRing) -> Vec<KeyState> {
    ring.keys().iter().map(|k| k.state).collect()
}

#[tokio::test]
async fn an_empty_store_gets_a_current_key_and_its_published_successor() {
    let clock = Arc::new(FixedClock::new(NOW));
    let store = Arc::new(MemoryKeyStore::new());
    let ring = open(
        store.clone(),
        &KeyEncryptionKey::generate(),
        &clock,
        policy(),
    )
    .await;
    assert_eq!(states(&ring), [KeyState::Current, KeyState::Next]);
    let keys = ring.keys();
    assert_eq!(ring.signing_kid().as_deref(), Some(keys[0].kid.as_str()));
    assert_eq!((keys[0].generation, keys[1].generation), (1, 2));
    assert_eq!(keys[0].activated_at, Some(NOW));
    // Reopening with the same key-encryption key finds them and creates nothing.
    let kek = KeyEncryptionKey::generate();
    let store = Arc::new(MemoryKeyStore::new());
    let ring = open(store.clone(), &kek, &clock, policy()).await;
    let again = open(store, &kek, &clock, policy()).await;
    assert_eq!(again.keys(), ring.keys());
}

#[tokio::test]
async fn keys_rotate_on_schedule_and_retired_keys_leave_the_jwks_after_retention() {
    let clock = Arc::new(FixedClock::new(NOW));
    let ring = open(
        Arc::new(MemoryKeyStore::new()),
        &KeyEncryptionKey::generate(),
        &clock,
        policy(),
    )
    .await;
    let issuer = Issuer::new("https://auth.example.com", ring.clone());
    let first = ring.keys();
    let (k1, k2) = (first[0].kid.clone(), first[1].kid.clone());

    clock.advance(DAY - 1);
    assert!(ring.tick().await.unwrap().is_empty(), "not due yet");
    assert_eq!(ring.signing_kid(), Some(k1.clone()));

    clock.advance(1);
    let report = ring.tick().await.unwrap();
    assert_eq!(report.retired, Some(k1.clone()));
    assert_eq!(report.promoted, Some(k2.clone()));
    assert_eq!(report.created.len(), 1, "a new successor");
    let k3 = report.created[0].clone();
    assert_eq!(ring.signing_kid(), Some(k2.clone()));
    assert_eq!(kids(&issuer), [k2.clone(), k3.clone(), k1.clone()]);
    let minted = issuer.mint(Map::new(), Duration::from_secs(60)).unwrap();
    assert_eq!(minted.kid, k2);

    // retain_after = 10 min + 1 h: published until then, even without a tick.
    let retain = 600 + HOUR;
    clock.advance(retain - 1);
    assert!(kids(&issuer).contains(&k1));
    clock.advance(1);
    assert_eq!(kids(&issuer), [k2.clone(), k3.clone()]);
    let report = ring.tick().await.unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&k1));
    assert!(ring.keys().iter().all(|k| k.kid != k1));
}

#[tokio::test]
async fn a_key_never_signs_before_it_was_published_for_the_jwks_cache_ttl() {
    // Rotation every hour, but caches keep the JWKS for two: rotation waits for publication.
    let policy = RotationPolicy::new(
        Duration::from_secs(HOUR as u64),
        Duration::from_secs(600),
        Duration::from_secs(2 * HOUR as u64),
    );
    let clock = Arc::new(FixedClock::new(NOW));
    let ring = open(
        Arc::new(MemoryKeyStore::new()),
        &KeyEncryptionKey::generate(),
        &clock,
        policy,
    )
    .await;
    let first = ring.signing_kid();
    clock.advance(HOUR);
    assert!(ring.tick().await.unwrap().is_empty());
    assert_eq!(ring.signing_kid(), first);
    clock.advance(HOUR);
    assert!(ring.tick().await.unwrap().promoted.is_some());
    assert_ne!(ring.signing_kid(), first);
}

/// Over 30 days of ticks every 10 minutes, every token's key is in the JWKS from one cache
/// TTL before the token was signed until one cache TTL after it expired: a validator that
/// caches the JWKS for up to the TTL never meets a token whose key it lacks or lost.
#[tokio::test]
async fn the_publication_rule_holds_for_every_token_over_many_rotations() {
    let policy = policy();
    let ttl = HOUR;
    let clock = Arc::new(FixedClock::new(NOW));
    let ring = open(
        Arc::new(MemoryKeyStore::new()),
        &KeyEncryptionKey::generate(),
        &clock,
        policy,
    )
    .await;
    let issuer = Issuer::new("https://auth.example.com", ring.clone());
    let step = 600;
    let mut published: Vec<(i64, BTreeSet<String>)> = Vec::new();
    let mut minted: Vec<(i64, i64, String)> = Vec::new();
    let mut signing_keys = BTreeSet::new();
    for _ in 0..(30 * DAY / step) {
        ring.tick().await.unwrap();
        let now = clock.now();
        published.push((now, kids(&issuer).into_iter().collect()));
        let token = issuer.mint(Map::new(), Duration::from_secs(600)).unwrap();
        signing_keys.insert(token.kid.clone());
        minted.push((now, token.expires_at, token.kid));
        clock.advance(step);
    }
    assert!(
        signing_keys.len() >= 29,
        "{} keys signed",
        signing_keys.len()
    );
    for (signed_at, expires_at, kid) in &minted {
        // Samples are `step` apart from NOW: look at those within the window only.
        let first = ((signed_at - ttl - NOW).max(0) / step) as usize;
        let last = (((expires_at + ttl - NOW) / step) as usize).min(published.len() - 1);
        for (at, set) in &published[first..=last] {
            assert!(*at >= signed_at - ttl && *at <= expires_at + ttl);
            assert!(
                set.contains(kid),
                "{kid} missing at {at} (signed {signed_at})"
            );
        }
    }
    // And nothing stays forever: at most current + next + the retained ones.
    assert!(published.iter().all(|(_, set)| set.len() <= 3));
}

trait Now {
    fn now(&self) -> i64;
}
impl Now for FixedClock {
    fn now(&self) -> i64 {
        iam_core::Clock::now_unix(self)
    }
}

#[tokio::test]
async fn rotate_now_promotes_the_successor_at_once_and_publishes_a_new_one() {
    let clock = Arc::new(FixedClock::new(NOW));
    let ring = open(
        Arc::new(MemoryKeyStore::new()),
        &KeyEncryptionKey::generate(),
        &clock,
        policy(),
    )
    .await;
    let before = ring.keys();
    let report = ring.rotate_now().await.unwrap();
    assert_eq!(report.retired.as_ref(), Some(&before[0].kid));
    assert_eq!(report.promoted.as_ref(), Some(&before[1].kid));
    assert_eq!(
        states(&ring),
        [KeyState::Retired, KeyState::Current, KeyState::Next]
    );
    // The next rotation is a full period away, counted from this one.
    clock.advance(DAY - 1);
    assert_eq!(ring.tick().await.unwrap().promoted, None);
}

#[tokio::test]
async fn two_instances_ticking_together_on_one_store_make_one_rotation() {
    let clock = Arc::new(FixedClock::new(NOW));
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let kek = KeyEncryptionKey::generate();
    let (a, b) = tokio::join!(
        open(store.clone(), &kek, &clock, policy()),
        open(store.clone(), &kek, &clock, policy())
    );
    for round in 0..5 {
        clock.advance(DAY);
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(
            usize::from(ra.promoted.is_some()) + usize::from(rb.promoted.is_some()),
            1,
            "round {round}: {ra:?} {rb:?}"
        );
        let keys = store.load().await.unwrap();
        let current: Vec<_> = keys
            .iter()
            .filter(|k| k.state == KeyState::Current)
            .collect();
        assert_eq!(current.len(), 1);
        assert_eq!(keys.iter().filter(|k| k.state == KeyState::Next).count(), 1);
        assert_eq!(a.signing_kid(), b.signing_kid());
        assert_eq!(a.signing_kid().as_ref(), Some(&current[0].kid));
    }
}

/// A shared store whose next two loads wait for each other: two instances that read the same
/// state, then act.
struct GatedStore {
    inner: MemoryKeyStore,
    gate: tokio::sync::Barrier,
    gated: std::sync::atomic::AtomicUsize,
}

impl KeyStore for GatedStore {
    fn load(&self) -> BoxFuture<'_, Result<Vec<StoredKey>, KeyStoreError>> {
        Box::pin(async move {
            let keys = self.inner.load().await;
            let gated = self
                .gated
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if gated {
                self.gate.wait().await;
            }
            keys
        })
    }
    fn insert<'a>(&'a self, key: &'a StoredKey) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        self.inner.insert(key)
    }
    fn transition<'a>(
        &'a self,
        changes: &'a [Transition],
    ) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        self.inner.transition(changes)
    }
    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        self.inner.delete(kid)
    }
}

#[tokio::test]
async fn two_instances_rotating_now_from_the_same_state_make_one_rotation() {
    let clock = Arc::new(FixedClock::new(NOW));
    let store = Arc::new(GatedStore {
        inner: MemoryKeyStore::new(),
        gate: tokio::sync::Barrier::new(2),
        gated: std::sync::atomic::AtomicUsize::new(0),
    });
    let kek = KeyEncryptionKey::generate();
    let a = open(store.clone(), &kek, &clock, policy()).await;
    let b = open(store.clone(), &kek, &clock, policy()).await;
    let before = a.signing_kid();
    store.gated.store(2, Ordering::SeqCst);
    let (ra, rb) = tokio::join!(a.rotate_now(), b.rotate_now());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let promoted: Vec<_> = [ra.promoted, rb.promoted].into_iter().flatten().collect();
    assert_eq!(promoted.len(), 1, "one forced rotation");
    let keys = store.inner.load().await.unwrap();
    let retired: Vec<_> = keys
        .iter()
        .filter(|k| k.state == KeyState::Retired)
        .collect();
    assert_eq!(retired.len(), 1);
    assert_eq!(Some(retired[0].kid.clone()), before);
    assert_eq!(a.signing_kid(), Some(promoted[0].clone()));
    assert_eq!(b.signing_kid(), Some(promoted[0].clone()));
}

#[tokio::test]
async fn a_wrong_key_encryption_key_is_a_clear_error_at_open() {
    let clock = Arc::new(FixedClock::new(NOW));
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    open(
        store.clone(),
        &KeyEncryptionKey::generate(),
        &clock,
        policy(),
    )
    .await;
    let before = store.load().await.unwrap();
    let err = KeyRing::open(
        store.clone(),
        KeyEncryptionKey::generate(),
        KeyAlgorithm::Es256,
        policy(),
        clock.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), &IssuerErrorKind::WrongKeyEncryptionKey);
    assert_eq!(
        err.to_string(),
        "the stored signing keys were sealed with a different key-encryption key"
    );
    assert_eq!(store.load().await.unwrap(), before, "nothing written");
}

/// A copy of `keys` in a new store, with `alter` applied to each record.
async fn altered(keys: &[StoredKey], alter: impl Fn(&mut StoredKey)) -> Arc<dyn KeyStore> {
    let store = Arc::new(MemoryKeyStore::new());
    for key in keys {
        let mut key = key.clone();
        alter(&mut key);
        assert!(store.insert(&key).await.unwrap());
    }
    store
}

#[tokio::test]
async fn tampered_or_swapped_sealed_keys_are_refused() {
    let clock = Arc::new(FixedClock::new(NOW));
    let kek = KeyEncryptionKey::generate();
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    open(store.clone(), &kek, &clock, policy()).await;
    let keys = store.load().await.unwrap();
    let sealed: HashMap<String, Vec<u8>> = keys
        .iter()
        .map(|k| (k.kid.clone(), k.sealed_private_key.clone()))
        .collect();
    let other_kid = |kid: &str| sealed.keys().find(|k| *k != kid).unwrap().clone();
    type Alteration<'a> = Box<dyn Fn(&mut StoredKey) + 'a>;
    let cases: Vec<(&str, Alteration<'_>)> = vec![
        (
            "flipped bit",
            Box::new(|k: &mut StoredKey| {
                let last = k.sealed_private_key.len() - 1;
                k.sealed_private_key[last] ^= 1;
            }),
        ),
        (
            "truncated",
            Box::new(|k: &mut StoredKey| k.sealed_private_key.truncate(20)),
        ),
        (
            "empty",
            Box::new(|k: &mut StoredKey| k.sealed_private_key.clear()),
        ),
        (
            "swapped between keys",
            Box::new(|k: &mut StoredKey| {
                k.sealed_private_key = sealed[&other_kid(&k.kid)].clone();
            }),
        ),
        (
            "relabelled algorithm",
            Box::new(|k: &mut StoredKey| k.algorithm = "EdDSA".into()),
        ),
    ];
    for (name, alter) in cases {
        let err = KeyRing::open(
            altered(&keys, alter).await,
            kek.clone(),
            KeyAlgorithm::Es256,
            policy(),
            clock.clone(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), &IssuerErrorKind::SealedKeyRejected, "{name}");
    }
}

/// A store that can be switched off.
struct FlakyStore {
    inner: MemoryKeyStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), KeyStoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(KeyStoreError::unavailable("connection refused"))
        } else {
            Ok(())
        }
    }
}

impl KeyStore for FlakyStore {
    fn load(&self) -> BoxFuture<'_, Result<Vec<StoredKey>, KeyStoreError>> {
        match self.check() {
            Ok(()) => self.inner.load(),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
    fn insert<'a>(&'a self, key: &'a StoredKey) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        match self.check() {
            Ok(()) => self.inner.insert(key),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
    fn transition<'a>(
        &'a self,
        changes: &'a [Transition],
    ) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        match self.check() {
            Ok(()) => self.inner.transition(changes),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        match self.check() {
            Ok(()) => self.inner.delete(kid),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

#[tokio::test]
async fn a_store_outage_fails_ticks_but_the_ring_keeps_signing_with_its_key() {
    let clock = Arc::new(FixedClock::new(NOW));
    let store = Arc::new(FlakyStore {
        inner: MemoryKeyStore::new(),
        down: AtomicBool::new(true),
    });
    let err = KeyRing::open(
        store.clone(),
        KeyEncryptionKey::generate(),
        KeyAlgorithm::Es256,
        policy(),
        clock.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), &IssuerErrorKind::Store);
    assert!(std::error::Error::source(&err).is_some());

    store.down.store(false, Ordering::SeqCst);
    let ring = open(
        store.clone(),
        &KeyEncryptionKey::generate(),
        &clock,
        policy(),
    )
    .await;
    let issuer = Issuer::new("https://auth.example.com", ring.clone());
    let kid = ring.signing_kid();
    store.down.store(true, Ordering::SeqCst);
    clock.advance(DAY);
    assert_eq!(
        ring.tick().await.unwrap_err().kind(),
        &IssuerErrorKind::Store
    );
    assert_eq!(ring.signing_kid(), kid);
    issuer.mint(Map::new(), Duration::from_secs(60)).unwrap();
    assert_eq!(kids(&issuer).len(), 2);
    store.down.store(false, Ordering::SeqCst);
    assert!(ring.tick().await.unwrap().promoted.is_some());
}

async fn current_kid(store: &MemoryKeyStore) -> String {
    let keys = store.load().await.unwrap();
    keys.into_iter()
        .find(|k| k.state == KeyState::Current)
        .unwrap()
        .kid
}

#[tokio::test(flavor = "current_thread")]
async fn the_rotation_task_ticks_in_the_background_until_dropped() {
    let clock = Arc::new(FixedClock::new(NOW));
    let store = Arc::new(MemoryKeyStore::new());
    let ring = open(
        store.clone(),
        &KeyEncryptionKey::generate(),
        &clock,
        policy(),
    )
    .await;
    let first = current_kid(&store).await;
    clock.advance(DAY);
    tokio::time::pause();
    let task = ring.spawn_rotation(Duration::from_secs(60));
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(61)).await;
        tokio::task::yield_now().await;
    }
    // The promotion is in the store as soon as the task's tick made it.
    let second = current_kid(&store).await;
    assert_ne!(second, first, "the task rotated");
    drop(task);
    clock.advance(DAY);
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(61)).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(current_kid(&store).await, second, "stopped with its handle");
}

#[tokio::test]
async fn policies_breaking_the_publication_rule_are_refused_at_open() {
    let bad = RotationPolicy {
        retain_after: Duration::from_secs(60),
        ..policy()
    };
    let err = KeyRing::open(
        Arc::new(MemoryKeyStore::new()),
        KeyEncryptionKey::generate(),
        KeyAlgorithm::Es256,
        bad,
        Arc::new(FixedClock::new(NOW)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.kind(), IssuerErrorKind::InvalidPolicy(_)));
}
