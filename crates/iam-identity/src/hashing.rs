//! argon2id on a bounded pool with admission control.
//!
//! At most `workers` hashes run at once, each on one of `workers` dedicated threads, at most
//! `queue` more wait for a worker, and everything beyond is refused at once with
//! [`IdentityError::Overloaded`] (the service's 503 + `Retry-After`). So memory stays bounded
//! under any burst by construction: each worker allocates its `memory_kib` of argon2 blocks
//! once, at its first job, and every hash and verification it runs reuses them
//! (`Argon2::hash_password_into_with_memory`); a queued request holds a boxed closure with
//! the password and the stored hash, never a buffer. Dedicated threads rather than Tokio's
//! blocking pool, which would spread the hashes over up to 512 threads.
//!
//! ```
//! use iam_identity::hashing::{HashingConfig, PasswordHasher};
//! use iam_core::Secret;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let hasher = PasswordHasher::new(HashingConfig { memory_kib: 64, iterations: 1, ..HashingConfig::default() }).unwrap();
//! let hash = hasher.hash(&Secret::new("correct horse battery staple".to_string())).await.unwrap();
//! assert!(hasher.verify(&Secret::new("correct horse battery staple".to_string()), Some(&hash)).await.unwrap());
//! # });
//! ```
//!
//! # Caveats
//! - A request cancelled while its hash waits or runs still gets its hash computed (a queued
//!   job is not withdrawn); its admission is released when the hash is done.
//! - A panic in argon2 would end its worker thread: the pool then runs with one worker
//!   fewer (callers get [`IdentityError::Hashing`], never a hang).
//! - `verify` with no stored hash checks the password against a dummy hash of the same cost,
//!   so an unknown user costs what a known one does; [`PasswordHasher::verifications`]
//!   counts every verification run, so tests can prove it.
//! - A stored hash of a higher memory cost than the pool's (written under older settings)
//!   is verified in a block allocated for that one verification.
use crate::error::IdentityError;
use crate::model::PasswordHash;
use argon2::password_hash::PasswordHash as Phc;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use iam_core::Secret;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq as _;

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// What a hashing thread owns: the pool's argon2 settings and its one block of memory.
struct Worker {
    argon: Argon2<'static>,
    params: Params,
    blocks: Vec<Block>,
    verifications: Arc<AtomicU64>,
}

impl Worker {
    /// The worker's block, allocated at its first job (an idle pool holds no argon2 memory)
    /// and kept for every later one.
    fn memory(&mut self) -> &mut [Block] {
        if self.blocks.is_empty() {
            self.blocks = vec![Block::new(); self.params.block_count()];
        }
        &mut self.blocks
    }

    /// A new PHC string for `password` at the pool's cost, in the worker's memory.
    fn hash(&mut self, password: &[u8]) -> Option<PasswordHash> {
        use base64::Engine as _;
        let salt = crate::random::bytes::<16>();
        let mut out = [0u8; 32];
        let argon = self.argon.clone();
        argon
            .hash_password_into_with_memory(password, &salt, &mut out, self.memory())
            .ok()?;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        Some(PasswordHash::new(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            b64.encode(salt),
            b64.encode(out),
        )))
    }

    /// Whether `password` matches the PHC string `phc` (argon2 only; anything malformed is
    /// a mismatch), computed in the worker's memory when the stored cost fits in it.
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let Ok(parsed) = Phc::new(phc) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::V0x13,
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let expected = expected.as_bytes();
        let mut out = [0u8; 64];
        let Some(out) = out.get_mut(..expected.len()) else {
            return false;
        };
        let argon = Argon2::new(algorithm, version, params.clone());
        let need = params.block_count();
        let computed = if need <= self.params.block_count() {
            argon.hash_password_into_with_memory(password, salt, out, &mut self.memory()[..need])
        } else {
            argon.hash_password_into_with_memory(password, salt, out, vec![Block::new(); need])
        };
        computed.is_ok() && bool::from(out.ct_eq(expected))
    }
}

/// The cost and the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingConfig {
    /// Memory per hash in KiB (OWASP: 19,456 = 19 MiB).
    pub memory_kib: u32,
    /// Passes (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
    /// Hashes running at once (default: the number of CPUs).
    pub workers: usize,
    /// Requests waiting for a worker before new ones are refused (default: 16 per worker).
    pub queue: usize,
    /// The `Retry-After` of a refusal (default 1 s).
    pub retry_after: Duration,
}

impl Default for HashingConfig {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            workers,
            queue: workers * 16,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// An invalid [`HashingConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hashing settings: {0}")]
pub struct HashingConfigError(&'static str);

/// The hashing pool. Cheap to share behind an `Arc`.
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    running: Arc<AtomicUsize>,
    worker_count: usize,
    admitted: Arc<AtomicUsize>,
    capacity: usize,
    retry_after: Duration,
    dummy: PasswordHash,
    verifications: Arc<AtomicU64>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("workers", &self.worker_count)
            .field("capacity", &self.capacity)
            .field("admitted", &self.admitted.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A place in the pool (running or queued), taken before any other work of a request so
/// that a burst is refused before it costs anything; released on drop.
pub struct Admission(Arc<AtomicUsize>);

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission")
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// A pool with these settings.
    pub fn new(config: HashingConfig) -> Result<Self, HashingConfigError> {
        if config.workers == 0 {
            return Err(HashingConfigError("workers must be at least 1"));
        }
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|_| HashingConfigError("argon2 parameters out of range"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy = dummy_hash(&config);
        if Phc::new(dummy.phc()).is_err() {
            return Err(HashingConfigError("argon2 parameters out of range"));
        }
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let running = Arc::new(AtomicUsize::new(0));
        let verifications = Arc::new(AtomicU64::new(0));
        for i in 0..config.workers {
            let (receiver, running) = (Arc::clone(&receiver), Arc::clone(&running));
            let (argon, params) = (argon.clone(), params.clone());
            let verifications = Arc::clone(&verifications);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut worker = Worker {
                        argon,
                        params,
                        blocks: Vec::new(),
                        verifications,
                    };
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match receiver.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        running.fetch_add(1, Ordering::AcqRel);
                        job(&mut worker);
                        running.fetch_sub(1, Ordering::AcqRel);
                    }
                })
                .map_err(|_| HashingConfigError("cannot start a hashing thread"))?;
        }
        Ok(Self {
            jobs: sender,
            running,
            worker_count: config.workers,
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: config.workers + config.queue,
            retry_after: config.retry_after,
            dummy,
            verifications,
        })
    }

    /// Hash a password (the caller checked the policy).
    pub async fn hash(&self, password: &Secret) -> Result<PasswordHash, IdentityError> {
        let password = Secret::new(password.secret().clone());
        self.run(move |worker| worker.hash(password.secret().as_bytes()))
            .await?
            .ok_or(IdentityError::Hashing)
    }

    /// Whether `password` matches `hash`; with `None`, the same work against a dummy hash
    /// and `false`. A stored hash that does not parse is a mismatch.
    pub async fn verify(
        &self,
        password: &Secret,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, IdentityError> {
        self.verify_admitted(self.admit()?, password, hash).await
    }

    /// [`verify`](Self::verify) in a place taken earlier with [`admit`](Self::admit).
    pub async fn verify_admitted(
        &self,
        admission: Admission,
        password: &Secret,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, IdentityError> {
        let known = hash.is_some();
        let phc = hash.unwrap_or(&self.dummy).clone();
        let password = Secret::new(password.secret().clone());
        let matched = self
            .run_admitted(admission, move |worker| {
                worker.verify(password.secret().as_bytes(), phc.phc())
            })
            .await?;
        Ok(known && matched)
    }

    /// Requests admitted and not finished (running + waiting).
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Password verifications run since the pool started (against stored and dummy hashes
    /// alike): one per login attempt that reached the pool.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Requests waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.admitted()
            .saturating_sub(self.running.load(Ordering::Acquire))
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        self.run_admitted(self.admit()?, job).await
    }

    async fn run_admitted<T: Send + 'static>(
        &self,
        admission: Admission,
        job: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let boxed: Job = Box::new(move |worker| {
            let result = job(worker);
            // Released before the caller sees the result, so a caller never counts its own
            // finished job as still admitted.
            drop(admission);
            let _ = tx.send(result);
        });
        self.jobs.send(boxed).map_err(|_| IdentityError::Hashing)?;
        // A worker that panicked drops the sender: an error, not a hang.
        rx.await.map_err(|_| IdentityError::Hashing)
    }

    /// Take a place in the pool now, or [`IdentityError::Overloaded`] when it is full.
    pub fn admit(&self) -> Result<Admission, IdentityError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(Arc::clone(&self.admitted));
        if before >= self.capacity {
            return Err(IdentityError::Overloaded {
                retry_after: self.retry_after,
            });
        }
        Ok(admission)
    }
}

/// A well-formed hash of these parameters that no password matches (random salt and output),
/// built without hashing: verifying against it costs a real verification.
fn dummy_hash(config: &HashingConfig) -> PasswordHash {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    PasswordHash::new(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        config.memory_kib,
        config.iterations,
        config.parallelism,
        b64.encode(crate::random::bytes::<16>()),
        b64.encode(crate::random::bytes::<32>()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap(workers: usize, queue: usize) -> PasswordHasher {
        PasswordHasher::new(HashingConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            workers,
            queue,
            retry_after: Duration::from_secs(2),
        })
        .unwrap()
    }

    fn pw(s: &str) -> Secret {
        Secret::new(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let h = cheap(1, 1);
        let hash = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(hash.phc().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.dummy.phc().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h
            .verify(&pw("correct horse battery"), Some(&hash))
            .await
            .unwrap());
        assert!(!h
            .verify(&pw("wrong horse battery"), Some(&hash))
            .await
            .unwrap());
        assert!(!h.verify(&pw("correct horse battery"), None).await.unwrap());
        let garbage = PasswordHash::new("not a phc string".into());
        assert!(!h.verify(&pw("x"), Some(&garbage)).await.unwrap());
    }

    #[tokio::test]
    async fn every_verification_is_counted_and_the_dummy_costs_what_a_real_hash_does() {
        let h = cheap(1, 1);
        let hash = h.hash(&pw("correct horse battery")).await.unwrap();
        let before = h.verifications();
        assert!(!h.verify(&pw("wrong"), Some(&hash)).await.unwrap());
        assert!(!h.verify(&pw("wrong"), None).await.unwrap());
        assert_eq!(h.verifications() - before, 2);
        let cost = |phc: &str| {
            let p = Phc::new(phc).unwrap();
            let params = Params::try_from(&p).unwrap();
            (
                p.algorithm.to_string(),
                p.version,
                (params.m_cost(), params.t_cost(), params.p_cost()),
                params.output_len(),
                p.salt.unwrap().len(),
            )
        };
        assert_eq!(cost(hash.phc()), cost(h.dummy.phc()));
    }

    #[tokio::test]
    async fn hashes_of_the_argon2_crate_verify_at_their_own_cost() {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let h = cheap(1, 1);
        for (m, t) in [(64, 1), (256, 3), (32, 2)] {
            let argon = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, 1, None).unwrap(),
            );
            let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
            let phc = argon
                .hash_password(b"older password", &salt)
                .unwrap()
                .to_string();
            let stored = PasswordHash::new(phc);
            assert!(h
                .verify(&pw("older password"), Some(&stored))
                .await
                .unwrap());
            assert!(!h
                .verify(&pw("older passwore"), Some(&stored))
                .await
                .unwrap());
        }
        for hostile in [
            "$argon2id$v=19$m=64,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$",
            "$argon2id$v=99$m=64,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$AAAA",
            "$scrypt$ln=1,r=1,p=1$c2FsdA$AAAA",
            "$argon2id$v=19$m=1,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let stored = PasswordHash::new(hostile.into());
            assert!(!h.verify(&pw("x"), Some(&stored)).await.unwrap(), "{hostile}");
        }
    }

    #[test]
    fn the_default_cost_is_owasp_argon2id() {
        let c = HashingConfig::default();
        assert_eq!((c.memory_kib, c.iterations, c.parallelism), (19_456, 2, 1));
        assert!(PasswordHasher::new(HashingConfig { workers: 0, ..c }).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_workers_plus_queue_is_refused_at_once_and_the_rest_succeed() {
        let h = Arc::new(cheap(2, 3));
        let hash = h.hash(&pw("burst password 1")).await.unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (h, hash) = (Arc::clone(&h), hash.clone());
                tokio::spawn(async move { h.verify(&pw("burst password 1"), Some(&hash)).await })
            })
            .collect();
        let (mut ok, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(true) => ok += 1,
                Err(IdentityError::Overloaded { retry_after }) => {
                    assert_eq!(retry_after, Duration::from_secs(2));
                    refused += 1
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ok + refused, 50);
        assert!(ok >= 5, "at least workers + queue are served: {ok}");
        assert!(refused > 0, "some are refused");
        assert_eq!(h.admitted(), 0, "every admission is released");
    }
}
