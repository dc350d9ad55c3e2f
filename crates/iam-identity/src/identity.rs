//! [`Identity`]: the flows, assembled from repositories, the hashing pool, the limiter, the
//! audit sink and a clock.
use crate::audit::{AuditEvent, AuditSink};
use crate::error::{IdentityError, PasswordRejection};
use crate::hashing::PasswordHasher;
use crate::limiter::LoginLimiter;
use crate::repository::Repositories;
use crate::sealing::TotpSecretSealing;
use crate::totp::TotpSettings;
use iam_core::clock::Clock;
use iam_core::Secret;
use std::sync::Arc;
use std::time::Duration;

/// Password rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (default 12).
    pub min_chars: usize,
    /// Maximum length in bytes (default 1,024), checked before any hashing.
    pub max_bytes: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 12,
            max_bytes: 1024,
        }
    }
}

impl PasswordPolicy {
    /// Whether a new password is acceptable.
    pub fn check_new(&self, password: &str) -> Result<(), PasswordRejection> {
        self.check_length(password)?;
        if password.chars().count() < self.min_chars {
            return Err(PasswordRejection::TooShort {
                min: self.min_chars,
            });
        }
        Ok(())
    }

    /// Whether a presented password may be hashed at all.
    pub fn check_length(&self, password: &str) -> Result<(), PasswordRejection> {
        if password.len() > self.max_bytes {
            return Err(PasswordRejection::TooLong {
                max: self.max_bytes,
            });
        }
        Ok(())
    }
}

/// The settings of the flows.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Password rules.
    pub passwords: PasswordPolicy,
    /// TOTP settings.
    pub totp: TotpSettings,
    /// Lifetime of an MFA challenge (default 5 min).
    pub mfa_challenge_ttl: Duration,
    /// Wrong codes before a challenge dies (default 5).
    pub mfa_max_failures: u32,
    /// The absolute lifetime of a refresh family (default 30 days).
    pub refresh_lifetime: Duration,
    /// How long a spent refresh token still yields the same successor (default 10 s).
    pub refresh_grace: Duration,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self {
            passwords: PasswordPolicy::default(),
            totp: TotpSettings::default(),
            mfa_challenge_ttl: Duration::from_secs(300),
            mfa_max_failures: 5,
            refresh_lifetime: Duration::from_secs(30 * 86_400),
            refresh_grace: Duration::from_secs(10),
        }
    }
}

/// The identity flows: login, MFA, refresh, logout, self-service and administration.
///
/// ```
/// use iam_identity::{Identity, IdentityPolicy, LoginOutcome, LoginRequest};
/// use iam_identity::hashing::{HashingConfig, PasswordHasher};
/// use iam_identity::memory::{MemoryChallenges, MemoryRepositories};
/// use iam_identity::limiter::{LimiterPolicy, MemoryLimiter};
/// use iam_identity::repository::Repositories;
/// use iam_core::Secret;
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let repos = Repositories::from_store(Arc::new(MemoryRepositories::new()), Arc::new(MemoryChallenges::default()));
/// let hasher = PasswordHasher::new(HashingConfig { memory_kib: 64, iterations: 1, ..HashingConfig::default() }).unwrap();
/// let identity = Identity::new(repos, Arc::new(hasher), Arc::new(MemoryLimiter::new(LimiterPolicy::default())), IdentityPolicy::default());
/// identity.create_tenant("acme", "Acme").await.unwrap();
/// let pw = Secret::new("a long enough password".to_string());
/// identity.create_user("acme", "alice", Some("alice@example.com"), Some(&pw)).await.unwrap();
/// let outcome = identity.login(LoginRequest { tenant: "acme", login: "Alice@Example.com", password: &pw, client_ip: None }).await.unwrap();
/// let LoginOutcome::Session(session) = outcome else { panic!("no MFA enrolled") };
/// assert_eq!(session.claims.tenant, "acme");
/// # });
/// ```
pub struct Identity {
    pub(crate) repos: Repositories,
    pub(crate) hasher: Arc<PasswordHasher>,
    pub(crate) limiter: Arc<dyn LoginLimiter>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) policy: IdentityPolicy,
    pub(crate) refresh_secret: Secret<Vec<u8>>,
    pub(crate) sealing: TotpSecretSealing,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Unix seconds from the system clock.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Identity {
    /// The flows on these parts, with a [`crate::audit::TracingAudit`], the system clock, a
    /// random refresh secret (see [`Identity::refresh_secret`]) and a random TOTP sealing key
    /// (see [`Identity::totp_sealing`]).
    pub fn new(
        repos: Repositories,
        hasher: Arc<PasswordHasher>,
        limiter: Arc<dyn LoginLimiter>,
        policy: IdentityPolicy,
    ) -> Self {
        Self {
            repos,
            hasher,
            limiter,
            audit: Arc::new(crate::audit::TracingAudit),
            clock: Arc::new(unix_now),
            policy,
            refresh_secret: Secret::new(crate::random::bytes::<32>().to_vec()),
            sealing: TotpSecretSealing::new(iam_issuer::KeyEncryptionKey::generate()),
        }
    }

    /// Send audit events here.
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Take the time from this clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The key that derives a refresh token's successor (so that concurrent refreshes with
    /// one token get one successor). Give every instance of a deployment the same secret
    /// (at least 32 bytes), or concurrent refreshes that reach two instances count as reuse.
    pub fn refresh_secret(mut self, secret: Secret<Vec<u8>>) -> Result<Self, IdentityError> {
        if secret.secret().len() < 32 {
            return Err(IdentityError::InvalidInput("refresh secret"));
        }
        self.refresh_secret = secret;
        Ok(self)
    }

    /// Seal TOTP secrets at rest with these key-encryption keys (see [`crate::sealing`]).
    /// Give every instance and every restart the same current key: the default, a random
    /// key of this process, suits in-memory repositories only (a restart could no longer
    /// open what it sealed).
    pub fn totp_sealing(mut self, sealing: TotpSecretSealing) -> Self {
        self.sealing = sealing;
        self
    }

    /// The repositories (for reads the flows do not wrap).
    pub fn repositories(&self) -> &Repositories {
        &self.repos
    }

    /// The hashing pool (for its queue depth).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The limiter (the service asks it per client IP).
    pub fn limiter(&self) -> &Arc<dyn LoginLimiter> {
        &self.limiter
    }

    /// The settings.
    pub fn policy(&self) -> &IdentityPolicy {
        &self.policy
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    pub(crate) fn emit(&self, event: AuditEvent) {
        self.audit.record(&event);
    }
}
