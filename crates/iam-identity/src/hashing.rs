//! argon2id on a bounded pool with admission control.
//!
//! At most `workers` hashes run at once, each on one of `workers` dedicated threads (each
//! holding `memory_kib` of memory), at most `queue` more wait for a worker, and everything
//! beyond is refused at once with [`IdentityError::Overloaded`] (the service's 503 +
//! `Retry-After`). So memory stays bounded under any burst: `workers × memory_kib` for the
//! hashes plus a small, fixed amount per queued request. Dedicated threads rather than
//! Tokio's blocking pool: the allocator keeps a freed 19 MiB block per thread that used one,
//! and the blocking pool would spread the hashes over up to 512 threads.
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
//!   so an unknown user costs what a known one does.
use crate::error::IdentityError;
use crate::model::PasswordHash;
use argon2::password_hash::{PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use iam_core::Secret;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

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
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = dummy_hash(&config);
        if Phc::new(dummy.phc()).is_err() {
            return Err(HashingConfigError("argon2 parameters out of range"));
        }
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let running = Arc::new(AtomicUsize::new(0));
        for i in 0..config.workers {
            let (receiver, running, argon) =
                (Arc::clone(&receiver), Arc::clone(&running), argon.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let job = match receiver.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    running.fetch_add(1, Ordering::AcqRel);
                    job(&argon);
                    running.fetch_sub(1, Ordering::AcqRel);
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
        })
    }

    /// Hash a password (the caller checked the policy).
    pub async fn hash(&self, password: &Secret) -> Result<PasswordHash, IdentityError> {
        let password = Secret::new(password.secret().clone());
        self.run(move |argon| hash_with(argon, password.secret()).map_err(|_| ()))
            .await?
            .map_err(|_| IdentityError::Hashing)
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
            .run_admitted(admission, move |argon| {
                Phc::new(phc.phc()).is_ok_and(|parsed| {
                    argon
                        .verify_password(password.secret().as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await?;
        Ok(known && matched)
    }

    /// Requests admitted and not finished (running + waiting).
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Requests waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.admitted()
            .saturating_sub(self.running.load(Ordering::Acquire))
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        self.run_admitted(self.admit()?, job).await
    }

    async fn run_admitted<T: Send + 'static>(
        &self,
        admission: Admission,
        job: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let boxed: Job = Box::new(move |argon| {
            let result = job(argon);
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

fn hash_with(
    argon: &Argon2<'_>,
    password: &str,
) -> Result<PasswordHash, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&crate::random::bytes::<16>())?;
    Ok(PasswordHash::new(
        argon.hash_password(password.as_bytes(), &salt)?.to_string(),
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
