//! [`KeyRing`]: the signing keys of one issuer, rotated on a schedule, sealed at rest.
//!
//! ```
//! use iam_issuer::{KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
//! use iam_core::clock::SystemClock;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), iam_issuer::IssuerError> {
//! let ring = KeyRing::open(
//!     Arc::new(MemoryKeyStore::new()),
//!     KeyEncryptionKey::generate(),
//!     KeyAlgorithm::Es256,
//!     RotationPolicy::default(),
//!     SystemClock,
//! )
//! .await?;
//! let _rotation = ring.spawn_rotation(Duration::from_secs(60)); // keep the handle alive
//! assert!(ring.signing_kid().is_some());
//! # Ok(()) }
//! ```
//!
//! Every key goes `next` → `current` → `retired` → deleted. [`KeyRing::tick`] applies the
//! [`RotationPolicy`] to what the store holds, one step at a time, re-reading the store after
//! each change:
//! 1. a retired key `retain_after` past its retirement is deleted (and already left the JWKS);
//! 2. with no current key, the oldest `next` is promoted (or, in an empty store, a key is
//!    created as current: nothing can have cached a JWKS yet);
//! 3. when the current key has signed for `rotate_every` and the oldest `next` has been
//!    published for `publish_ahead`, the two change places in one transition;
//! 4. when there is no `next`, one is created: a ring always publishes its successor key.
//!
//! ## Several instances on one store
//! The store decides, the instances follow: a key is created with generation = highest + 1,
//! and the store refuses a second key of a generation or a second `current` key; a promotion
//! is one all-or-nothing transition that applies only if the keys are still in the states the
//! instance saw. An instance that loses a race re-reads the store and continues from what the
//! winner did, so N instances ticking together make exactly one change. Between its own ticks
//! an instance signs with the key it last saw as current; that key is published for at least
//! `retain_after` after any instance retired it, so run `tick` (or
//! [`spawn_rotation`](KeyRing::spawn_rotation)) well within `jwks_cache_ttl`.
//!
//! # Caveats
//! - Needs a Tokio runtime: key generation runs on the blocking pool (an RSA key takes
//!   hundreds of milliseconds).
//! - [`rotate_now`](KeyRing::rotate_now) promotes the `next` key whatever its age: a validator
//!   that cached the JWKS before that key was published and does not refetch on an unknown
//!   `kid` refuses the new tokens until its cache expires (iam-client's `RemoteJwks` refetches).
//!   A compromised key should also leave the JWKS: delete it from the store.
//! - Changing the algorithm affects keys created afterwards: the `next` key that already exists
//!   keeps its algorithm, so the change signs tokens from the second rotation on.
//! - Retired keys are never decrypted again; a key-encryption key can only be replaced by
//!   starting a new store (re-sealing is not implemented).
use crate::algorithm::{self, KeyAlgorithm, SigningKey};
use crate::error::{IssuerError, IssuerErrorKind};
use crate::kek::{random, KeyEncryptionKey};
use crate::policy::RotationPolicy;
use crate::store::{KeyState, KeyStore, StoredKey, Transition};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use iam_core::clock::Clock;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How many store changes one `tick` makes at most before reporting contention.
const MAX_STEPS: usize = 12;

/// A key as the ring last read it from the store (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key id.
    pub kid: String,
    /// Its generation (creation order).
    pub generation: i64,
    /// The JOSE algorithm name.
    pub algorithm: String,
    /// Its state.
    pub state: KeyState,
    /// Created (and published), Unix seconds.
    pub created_at: i64,
    /// Became current.
    pub activated_at: Option<i64>,
    /// Became retired.
    pub retired_at: Option<i64>,
}

/// What a [`KeyRing::tick`] or [`KeyRing::rotate_now`] changed in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationReport {
    /// Keys this instance created.
    pub created: Vec<String>,
    /// The key this instance made current.
    pub promoted: Option<String>,
    /// The key this instance retired.
    pub retired: Option<String>,
    /// Retired keys this instance deleted.
    pub deleted: Vec<String>,
}

impl RotationReport {
    /// True when this call changed nothing.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.promoted.is_none()
            && self.retired.is_none()
            && self.deleted.is_empty()
    }
}

/// A key in the JWKS.
#[derive(Debug, Clone)]
pub(crate) struct PublishedKey {
    pub(crate) algorithm: String,
    pub(crate) jwk: Value,
    /// When it leaves the JWKS (retired keys).
    pub(crate) unpublish_at: Option<i64>,
}

/// What the ring serves between ticks.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) signing: Option<Arc<SigningKey>>,
    /// Current first, then next keys (oldest first), then retired keys (newest first).
    pub(crate) published: Vec<PublishedKey>,
    pub(crate) keys: Vec<KeyInfo>,
}

struct Inner {
    store: Arc<dyn KeyStore>,
    kek: KeyEncryptionKey,
    kek_id: String,
    algorithm: KeyAlgorithm,
    policy: RotationPolicy,
    clock: Arc<dyn Clock>,
    view: RwLock<Arc<View>>,
    /// Decrypted signing keys by kid (current and next only).
    signers: Mutex<HashMap<String, Arc<SigningKey>>>,
    /// One rotation step at a time in this instance.
    step: tokio::sync::Mutex<()>,
}

/// The signing keys of one issuer. Cheap to clone; clones share everything. See the
/// [module docs](self).
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("algorithm", &self.inner.algorithm)
            .field("policy", &self.inner.policy)
            .field("kek", &self.inner.kek)
            .field("signing_kid", &self.signing_kid())
            .finish_non_exhaustive()
    }
}

enum Step {
    Done,
    Delete(String),
    Create(KeyState, i64),
    Transition(Vec<Transition>),
}

impl KeyRing {
    /// Open the ring on `store`: check that every `next` and `current` key opens with `kek`
    /// (a wrong key-encryption key is [`IssuerErrorKind::WrongKeyEncryptionKey`] here, before
    /// anything is written), then [`tick`](Self::tick) once, which creates the first keys in an
    /// empty store. New keys use `algorithm`.
    pub async fn open(
        store: Arc<dyn KeyStore>,
        kek: KeyEncryptionKey,
        algorithm: KeyAlgorithm,
        policy: RotationPolicy,
        clock: impl Clock,
    ) -> Result<Self, IssuerError> {
        policy.validate()?;
        let ring = Self {
            inner: Arc::new(Inner {
                store,
                kek_id: kek.id(),
                kek,
                algorithm,
                policy,
                clock: Arc::new(clock),
                view: RwLock::new(Arc::new(View::default())),
                signers: Mutex::new(HashMap::new()),
                step: tokio::sync::Mutex::new(()),
            }),
        };
        let stored = ring.inner.store.load().await?;
        for key in stored.iter().filter(|k| k.state != KeyState::Retired) {
            ring.signer(key)?;
        }
        ring.tick().await?;
        Ok(ring)
    }

    /// Apply the rotation schedule now (see the [module docs](self)) and refresh what this
    /// instance signs with and publishes. Safe to call from several instances at once.
    pub async fn tick(&self) -> Result<RotationReport, IssuerError> {
        self.run(false).await
    }

    /// Rotate now: the `next` key becomes current (created first if there is none), the
    /// current key retires, and a new `next` is created. Instances that call it at the same
    /// moment, having read the same current key, make one rotation in all: the call is done as
    /// soon as the current key differs from the one it first read, whoever changed it.
    pub async fn rotate_now(&self) -> Result<RotationReport, IssuerError> {
        self.run(true).await
    }

    /// Run [`tick`](Self::tick) every `every` (at least one second) on the Tokio runtime until
    /// the returned handle is dropped. Failures are logged (`tracing`, warn) and retried at the
    /// next interval; meanwhile the ring keeps signing with the key it has.
    ///
    /// # Panics
    /// Outside a Tokio runtime (like `tokio::spawn`).
    pub fn spawn_rotation(&self, every: Duration) -> RotationTask {
        let ring = self.clone();
        let every = every.max(Duration::from_secs(1));
        let handle = tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                match ring.tick().await {
                    Ok(report) if !report.is_empty() => {
                        tracing::info!(?report, "signing keys rotated");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "signing key rotation failed"),
                }
            }
        });
        RotationTask { handle }
    }

    /// The key id tokens are signed with now, if any.
    pub fn signing_kid(&self) -> Option<String> {
        self.view().signing.as_ref().map(|k| k.kid.clone())
    }

    /// The keys as of the last tick (no key material).
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.view().keys.clone()
    }

    /// The algorithm new keys are created with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm
    }

    /// The rotation policy.
    pub fn policy(&self) -> &RotationPolicy {
        &self.inner.policy
    }

    /// Now on the ring's clock (Unix seconds): what minted tokens' `iat` and `exp` count from.
    pub fn now(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    pub(crate) fn view(&self) -> Arc<View> {
        self.inner
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn run(&self, force: bool) -> Result<RotationReport, IssuerError> {
        let _one_at_a_time = self.inner.step.lock().await;
        let mut report = RotationReport::default();
        let mut first_current: Option<Option<String>> = None;
        for _ in 0..MAX_STEPS {
            let keys = self.inner.store.load().await?;
            let now = self.now();
            let current = current_of(&keys).map(|k| k.kid.clone());
            let initial = first_current.get_or_insert_with(|| current.clone());
            // A forced rotation is done once the current key changed, by anyone.
            let force_pending = force && *initial == current && current.is_some();
            match self.plan(&keys, now, force_pending) {
                Step::Done => {
                    self.refresh(&keys, now)?;
                    return Ok(report);
                }
                Step::Delete(kid) => {
                    self.inner.store.delete(&kid).await?;
                    report.deleted.push(kid);
                }
                Step::Create(state, generation) => {
                    let key = self.create(state, generation, now).await?;
                    if self.inner.store.insert(&key).await? {
                        if state == KeyState::Current {
                            report.promoted = Some(key.kid.clone());
                        }
                        report.created.push(key.kid);
                    }
                }
                Step::Transition(changes) => {
                    if self.inner.store.transition(&changes).await? {
                        for change in changes {
                            match change.to {
                                KeyState::Current => report.promoted = Some(change.kid),
                                KeyState::Retired => report.retired = Some(change.kid),
                                KeyState::Next => {}
                            }
                        }
                    }
                }
            }
        }
        Err(IssuerErrorKind::Contention.into())
    }

    /// The next change the schedule asks for, given the store's keys.
    fn plan(&self, keys: &[StoredKey], now: i64, force: bool) -> Step {
        let policy = &self.inner.policy;
        let retain = RotationPolicy::secs(policy.retain_after);
        if let Some(old) = keys.iter().find(|k| {
            k.state == KeyState::Retired
                && k.retired_at.unwrap_or(k.created_at).saturating_add(retain) <= now
        }) {
            return Step::Delete(old.kid.clone());
        }
        let mut currents: Vec<&StoredKey> = keys
            .iter()
            .filter(|k| k.state == KeyState::Current)
            .collect();
        currents.sort_by_key(|k| k.generation);
        if currents.len() > 1 {
            // Only a store that breaks its contract gets here: keep the newest.
            return Step::Transition(vec![Transition {
                kid: currents[0].kid.clone(),
                from: KeyState::Current,
                to: KeyState::Retired,
                at: now,
            }]);
        }
        let mut nexts: Vec<&StoredKey> =
            keys.iter().filter(|k| k.state == KeyState::Next).collect();
        nexts.sort_by_key(|k| k.generation);
        let generation = keys.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
        let Some(current) = currents.first() else {
            return match nexts.first() {
                Some(next) => Step::Transition(vec![Transition {
                    kid: next.kid.clone(),
                    from: KeyState::Next,
                    to: KeyState::Current,
                    at: now,
                }]),
                None => Step::Create(KeyState::Current, generation),
            };
        };
        let since = current.activated_at.unwrap_or(current.created_at);
        let due = force || since.saturating_add(RotationPolicy::secs(policy.rotate_every)) <= now;
        match nexts.first() {
            None => Step::Create(KeyState::Next, generation),
            Some(next)
                if due
                    && (force
                        || next
                            .created_at
                            .saturating_add(RotationPolicy::secs(policy.publish_ahead))
                            <= now) =>
            {
                Step::Transition(vec![
                    Transition {
                        kid: current.kid.clone(),
                        from: KeyState::Current,
                        to: KeyState::Retired,
                        at: now,
                    },
                    Transition {
                        kid: next.kid.clone(),
                        from: KeyState::Next,
                        to: KeyState::Current,
                        at: now,
                    },
                ])
            }
            Some(_) => Step::Done,
        }
    }

    /// A new key, sealed, its signer cached.
    async fn create(
        &self,
        state: KeyState,
        generation: i64,
        now: i64,
    ) -> Result<StoredKey, IssuerError> {
        let mut id = [0u8; 16];
        random(&mut id);
        let kid = URL_SAFE_NO_PAD.encode(id);
        let algorithm = self.inner.algorithm;
        let generated = {
            let kid = kid.clone();
            tokio::task::spawn_blocking(move || algorithm::generate(algorithm, &kid))
                .await
                .map_err(|_| IssuerErrorKind::KeyGeneration)??
        };
        let der = generated.private_der.secret();
        let sealed = self.inner.kek.seal(&kid, algorithm, der)?;
        let signer = SigningKey::load(&kid, algorithm, der)?;
        self.signers().insert(kid.clone(), Arc::new(signer));
        Ok(StoredKey {
            kid,
            generation,
            algorithm: algorithm.as_str().to_owned(),
            state,
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
            public_jwk: Value::Object(generated.public_jwk).to_string(),
            sealed_private_key: sealed,
            kek_id: self.inner.kek_id.clone(),
        })
    }

    fn signers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SigningKey>>> {
        self.inner.signers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signer of a stored key: from the cache, or opened with the key-encryption key.
    fn signer(&self, key: &StoredKey) -> Result<Arc<SigningKey>, IssuerError> {
        if let Some(signer) = self.signers().get(&key.kid) {
            return Ok(signer.clone());
        }
        if key.kek_id != self.inner.kek_id {
            return Err(IssuerErrorKind::WrongKeyEncryptionKey.into());
        }
        let algorithm: KeyAlgorithm = key
            .algorithm
            .parse()
            .map_err(|_| crate::KeyStoreError::corrupt("algorithm"))?;
        let der = self
            .inner
            .kek
            .open(&key.kid, algorithm, &key.sealed_private_key)?;
        let signer = Arc::new(SigningKey::load(&key.kid, algorithm, der.secret())?);
        self.signers().insert(key.kid.clone(), signer.clone());
        Ok(signer)
    }

    /// Serve what the store holds now: sign with its current key, publish its live keys.
    fn refresh(&self, keys: &[StoredKey], now: i64) -> Result<(), IssuerError> {
        let retain = RotationPolicy::secs(self.inner.policy.retain_after);
        let signing = current_of(keys).map(|k| self.signer(k)).transpose()?;
        let mut live: Vec<&StoredKey> = keys
            .iter()
            .filter(|k| {
                k.state != KeyState::Retired
                    || k.retired_at.unwrap_or(k.created_at).saturating_add(retain) > now
            })
            .collect();
        let rank = |k: &StoredKey| match k.state {
            KeyState::Current => (0, 0),
            KeyState::Next => (1, k.generation),
            KeyState::Retired => (2, -k.generation),
        };
        live.sort_by_key(|k| rank(k));
        let mut published = Vec::with_capacity(live.len());
        for key in live {
            let jwk: Value = serde_json::from_str(&key.public_jwk)
                .map_err(|_| crate::KeyStoreError::corrupt("public_jwk"))?;
            if !jwk.is_object() {
                return Err(crate::KeyStoreError::corrupt("public_jwk").into());
            }
            published.push(PublishedKey {
                algorithm: key.algorithm.clone(),
                jwk,
                unpublish_at: (key.state == KeyState::Retired).then(|| {
                    key.retired_at
                        .unwrap_or(key.created_at)
                        .saturating_add(retain)
                }),
            });
        }
        let mut infos: Vec<KeyInfo> = keys
            .iter()
            .map(|k| KeyInfo {
                kid: k.kid.clone(),
                generation: k.generation,
                algorithm: k.algorithm.clone(),
                state: k.state,
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
            })
            .collect();
        infos.sort_by_key(|k| k.generation);
        // Keep decrypted keys only for keys that may sign.
        self.signers().retain(|kid, _| {
            keys.iter()
                .any(|k| &k.kid == kid && k.state != KeyState::Retired)
        });
        let view = View {
            signing,
            published,
            keys: infos,
        };
        *self.inner.view.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(view);
        Ok(())
    }
}

/// The current key (the newest, should a faulty store hold several).
fn current_of(keys: &[StoredKey]) -> Option<&StoredKey> {
    keys.iter()
        .filter(|k| k.state == KeyState::Current)
        .max_by_key(|k| k.generation)
}

/// The background task of [`KeyRing::spawn_rotation`]; dropping it stops the task.
#[must_use = "the rotation task stops when this handle is dropped"]
#[derive(Debug)]
pub struct RotationTask {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for RotationTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryKeyStore;
    use iam_core::clock::FixedClock;

    #[tokio::test]
    async fn the_store_holds_only_ciphertext_never_the_private_key_bytes() {
        for algorithm in KeyAlgorithm::ALL {
            let store = Arc::new(MemoryKeyStore::new());
            let kek = KeyEncryptionKey::generate();
            KeyRing::open(
                store.clone(),
                kek.clone(),
                algorithm,
                RotationPolicy::default(),
                FixedClock::new(1_800_000_000),
            )
            .await
            .unwrap();
            let stored = store.load().await.unwrap();
            assert_eq!(stored.len(), 2);
            for key in &stored {
                let der = kek
                    .open(&key.kid, algorithm, &key.sealed_private_key)
                    .unwrap();
                let der = der.secret();
                assert!(der.len() > 32, "{algorithm}");
                // No 16-byte run of the private key document in the ciphertext; the JWK has
                // no private member (it does share the public key with the document).
                for window in der.windows(16) {
                    assert!(
                        !key.sealed_private_key.windows(16).any(|w| w == window),
                        "{algorithm}: plaintext run in the ciphertext"
                    );
                }
                let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
                for private in ["d", "p", "q", "dp", "dq", "qi"] {
                    assert!(jwk.get(private).is_none(), "{algorithm}: {private}");
                }
            }
        }
    }
}
