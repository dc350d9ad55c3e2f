//! The behaviour every storage backend must show, as scenarios run through [`Identity`]
//! (feature `conformance`). iam-identity runs them on its in-memory repositories, iam-store
//! on SQLite, PostgreSQL and MariaDB, with and without Redis.
//!
//! Each scenario creates its own tenant (a random id), so scenarios can share a database.
//! Test code: a failed expectation panics with what differed.
use crate::audit::{AuditKind, MemoryAudit};
use crate::hashing::{HashingConfig, PasswordHasher};
use crate::limiter::{LimiterPolicy, LoginLimiter, MemoryLimiter};
use crate::model::{new_id, Group, Role, RoleHolder};
use crate::repository::Repositories;
use crate::{
    Identity, IdentityError, IdentityPolicy, LoginOutcome, LoginRequest, MfaProof, Session,
};
use iam_core::{FixedClock, Secret};
use std::sync::Arc;

mod access;
mod login;
mod mfa;
mod refresh;

pub use access::*;
pub use login::*;
pub use mfa::*;
pub use refresh::*;

/// The start time of every scenario's clock.
pub const T0: i64 = 1_700_000_000;

/// An [`Identity`] on `repos` with a cheap hash, a fixed clock and a recording audit sink.
pub fn identity(
    repos: Repositories,
    limiter: Arc<dyn LoginLimiter>,
) -> (Arc<Identity>, Arc<FixedClock>, Arc<MemoryAudit>) {
    let clock = Arc::new(FixedClock::new(T0));
    let audit = Arc::new(MemoryAudit::default());
    let hasher = PasswordHasher::new(HashingConfig {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        workers: 2,
        queue: 64,
        ..HashingConfig::default()
    })
    .expect("cheap hashing settings");
    let identity = Identity::new(repos, Arc::new(hasher), limiter, IdentityPolicy::default())
        .clock(clock.clone())
        .audit(audit.clone());
    (Arc::new(identity), clock, audit)
}

/// The in-process limiter with its defaults.
pub fn memory_limiter() -> Arc<dyn LoginLimiter> {
    Arc::new(MemoryLimiter::new(LimiterPolicy::default()))
}

fn pw(s: &str) -> Secret {
    Secret::new(s.to_owned())
}

const PASSWORD: &str = "correct horse battery staple";

async fn tenant_with_alice(id: &Identity) -> (String, String) {
    let tenant = format!("t{}", &new_id()[..12]);
    id.create_tenant(&tenant, "Test").await.unwrap();
    let alice = id
        .create_user(
            &tenant,
            "Alice",
            Some("Alice@Example.com"),
            Some(&pw(PASSWORD)),
        )
        .await
        .unwrap();
    (tenant, alice.id)
}

async fn login(
    id: &Identity,
    tenant: &str,
    login: &str,
    password: &str,
) -> Result<LoginOutcome, IdentityError> {
    id.login(LoginRequest {
        tenant,
        login,
        password: &pw(password),
        client_ip: None,
    })
    .await
}

async fn session(id: &Identity, tenant: &str) -> Session {
    match login(id, tenant, "alice", PASSWORD).await.unwrap() {
        LoginOutcome::Session(s) => s,
        LoginOutcome::MfaRequired(_) => panic!("unexpected MFA"),
    }
}

/// Run every scenario on fresh parts from `parts` (called once per scenario).
pub async fn run_all<F>(parts: F)
where
    F: Fn() -> (Repositories, Arc<dyn LoginLimiter>),
{
    let (r, l) = parts();
    invalid_credentials_are_indistinguishable(r, l).await;
    let (r, l) = parts();
    logins_fold_case_and_accept_the_email(r, l).await;
    let (r, l) = parts();
    passwords_are_checked_before_hashing(r, l).await;
    let (r, l) = parts();
    effective_permissions_come_from_roles_and_groups(r, l).await;
    let (r, l) = parts();
    tenants_are_isolated(r, l).await;
    let (r, l) = parts();
    totp_login_is_single_use_replay_safe_and_dies_after_five_wrong_codes(r, l).await;
    let (r, l) = parts();
    totp_secrets_are_stored_sealed_and_plaintext_records_are_resealed(r, l).await;
    let (r, l) = parts();
    a_recovery_code_redeemed_concurrently_succeeds_once(r, l).await;
    let (r, l) = parts();
    refresh_rotates_is_idempotent_in_grace_and_revokes_the_family_on_reuse(r, l).await;
    let (r, l) = parts();
    refresh_ends_at_the_absolute_lifetime_and_on_logout(r, l).await;
    let (r, l) = parts();
    repeated_failures_lock_the_account(r, l).await;
    let (r, l) = parts();
    concurrent_writes_for_different_users_all_succeed(r, l).await;
}

/// Run futures concurrently on the current runtime, each as its own task.
async fn futures_join<T, Fut>(futs: impl Iterator<Item = Fut>) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

trait ClockExt {
    fn now_unix_u64(&self) -> u64;
}

impl ClockExt for FixedClock {
    fn now_unix_u64(&self) -> u64 {
        iam_core::clock::Clock::now_unix(self) as u64
    }
}
