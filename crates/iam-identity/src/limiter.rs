//! The brute-force limiter: failures per (tenant, login) with a growing lock, and attempts
//! per client IP.
//!
//! ```
//! use iam_identity::limiter::{LimitDecision, LimiterPolicy, LoginLimiter, MemoryLimiter};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let limiter = MemoryLimiter::new(LimiterPolicy { free_failures: 1, ..LimiterPolicy::default() });
//! assert_eq!(limiter.check_account("acme", "alice", 0).await.unwrap(), LimitDecision::Allowed);
//! limiter.record_failure("acme", "alice", 0).await.unwrap();
//! limiter.record_failure("acme", "alice", 0).await.unwrap();
//! assert!(matches!(limiter.check_account("acme", "alice", 0).await.unwrap(), LimitDecision::Limited { .. }));
//! # });
//! ```
//!
//! # Caveats
//! - The account key is the login as typed after folding, known user or not, so the limiter
//!   tells nobody whether an account exists.
//! - The in-process limiter holds at most `max_keys` keys per kind; when full, expired keys
//!   go first, then the least recently touched (an attacker cycling keys can only evict, never
//!   unlock, keys it does not touch for longer than a lock).
use crate::error::RepositoryError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitDecision {
    /// Go ahead.
    Allowed,
    /// Refused; try again after this long.
    Limited {
        /// The `Retry-After`.
        retry_after: Duration,
    },
}

/// Limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterPolicy {
    /// Failures of one account without a lock (default 5).
    pub free_failures: u32,
    /// The first lock (default 1 s); each further failure doubles it.
    pub base_lock: Duration,
    /// The longest lock (default 15 min).
    pub max_lock: Duration,
    /// Failures are forgotten after this long without one (default 15 min).
    pub forget_after: Duration,
    /// Attempts per client IP per minute (default 10).
    pub ip_attempts_per_minute: u32,
    /// Keys held per kind by the in-process limiter (default 100,000).
    pub max_keys: usize,
}

impl Default for LimiterPolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_lock: Duration::from_secs(1),
            max_lock: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(15 * 60),
            ip_attempts_per_minute: 10,
            max_keys: 100_000,
        }
    }
}

impl LimiterPolicy {
    /// The lock after `failures` failures (zero while free).
    pub fn lock_after(&self, failures: u32) -> Duration {
        if failures <= self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures - 1).min(30);
        self.base_lock
            .saturating_mul(1u32 << doublings)
            .min(self.max_lock)
    }
}

/// The limiter; times are Unix seconds from the caller's clock.
#[async_trait]
pub trait LoginLimiter: Send + Sync + 'static {
    /// Whether the account may try now.
    async fn check_account(
        &self,
        tenant: &str,
        login: &str,
        now: i64,
    ) -> Result<LimitDecision, RepositoryError>;
    /// Count a failure of the account.
    async fn record_failure(
        &self,
        tenant: &str,
        login: &str,
        now: i64,
    ) -> Result<(), RepositoryError>;
    /// Forget the account's failures (after a success).
    async fn record_success(&self, tenant: &str, login: &str) -> Result<(), RepositoryError>;
    /// Count an attempt from a client IP and say whether it may go ahead.
    async fn hit_ip(&self, ip: &str, now: i64) -> Result<LimitDecision, RepositoryError>;
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    count: u32,
}

/// The in-process limiter (per instance).
#[derive(Debug)]
pub struct MemoryLimiter {
    policy: LimiterPolicy,
    accounts: Mutex<HashMap<String, Failures>>,
    ips: Mutex<HashMap<String, Window>>,
}

impl MemoryLimiter {
    /// With these limits.
    pub fn new(policy: LimiterPolicy) -> Self {
        Self {
            policy,
            accounts: Mutex::new(HashMap::new()),
            ips: Mutex::new(HashMap::new()),
        }
    }

    fn account_key(tenant: &str, login: &str) -> String {
        format!("{tenant}\u{0}{login}")
    }

    fn live(&self, f: &Failures, now: i64) -> bool {
        now - f.last < self.policy.forget_after.as_secs() as i64
    }
}

fn make_room<V: Copy>(
    map: &mut HashMap<String, V>,
    max: usize,
    live: impl Fn(&V) -> bool,
    age: impl Fn(&V) -> i64,
) {
    if map.len() < max {
        return;
    }
    map.retain(|_, v| live(v));
    while map.len() >= max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        map.remove(&oldest);
    }
}

#[async_trait]
impl LoginLimiter for MemoryLimiter {
    async fn check_account(
        &self,
        tenant: &str,
        login: &str,
        now: i64,
    ) -> Result<LimitDecision, RepositoryError> {
        let map = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = map.get(&Self::account_key(tenant, login)) else {
            return Ok(LimitDecision::Allowed);
        };
        if !self.live(f, now) {
            return Ok(LimitDecision::Allowed);
        }
        let until = f.last + self.policy.lock_after(f.count).as_secs() as i64;
        Ok(if now < until {
            LimitDecision::Limited {
                retry_after: Duration::from_secs((until - now) as u64),
            }
        } else {
            LimitDecision::Allowed
        })
    }

    async fn record_failure(
        &self,
        tenant: &str,
        login: &str,
        now: i64,
    ) -> Result<(), RepositoryError> {
        let mut map = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let forget = self.policy.forget_after.as_secs() as i64;
        make_room(
            &mut map,
            self.policy.max_keys,
            |f| now - f.last < forget,
            |f| f.last,
        );
        let entry = map
            .entry(Self::account_key(tenant, login))
            .or_insert(Failures {
                count: 0,
                last: now,
            });
        if now - entry.last >= forget {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        Ok(())
    }

    async fn record_success(&self, tenant: &str, login: &str) -> Result<(), RepositoryError> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&Self::account_key(tenant, login));
        Ok(())
    }

    async fn hit_ip(&self, ip: &str, now: i64) -> Result<LimitDecision, RepositoryError> {
        let mut map = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        let window_start = now - now.rem_euclid(60);
        make_room(
            &mut map,
            self.policy.max_keys,
            |w| w.start == window_start,
            |w| w.start,
        );
        let w = map.entry(ip.to_owned()).or_insert(Window {
            start: window_start,
            count: 0,
        });
        if w.start != window_start {
            *w = Window {
                start: window_start,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        Ok(if w.count > self.policy.ip_attempts_per_minute {
            LimitDecision::Limited {
                retry_after: Duration::from_secs((window_start + 60 - now).max(1) as u64),
            }
        } else {
            LimitDecision::Allowed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_from_the_first_failure_past_the_free_ones_and_are_capped() {
        let p = LimiterPolicy::default();
        assert_eq!(p.lock_after(5), Duration::ZERO);
        assert_eq!(p.lock_after(6), Duration::from_secs(1));
        assert_eq!(p.lock_after(8), Duration::from_secs(4));
        assert_eq!(p.lock_after(1000), p.max_lock);
    }

    #[tokio::test]
    async fn an_account_is_locked_then_released_and_a_success_resets_it() {
        let l = MemoryLimiter::new(LimiterPolicy {
            free_failures: 2,
            ..LimiterPolicy::default()
        });
        for _ in 0..4 {
            l.record_failure("t", "alice", 100).await.unwrap();
        }
        assert_eq!(
            l.check_account("t", "alice", 100).await.unwrap(),
            LimitDecision::Limited {
                retry_after: Duration::from_secs(2)
            }
        );
        assert_eq!(
            l.check_account("t", "bob", 100).await.unwrap(),
            LimitDecision::Allowed
        );
        assert_eq!(
            l.check_account("u", "alice", 100).await.unwrap(),
            LimitDecision::Allowed
        );
        assert_eq!(
            l.check_account("t", "alice", 102).await.unwrap(),
            LimitDecision::Allowed
        );
        l.record_success("t", "alice").await.unwrap();
        l.record_failure("t", "alice", 103).await.unwrap();
        assert_eq!(
            l.check_account("t", "alice", 103).await.unwrap(),
            LimitDecision::Allowed
        );
        // Forgotten after the quiet period.
        for _ in 0..5 {
            l.record_failure("t", "carol", 0).await.unwrap();
        }
        assert_eq!(
            l.check_account("t", "carol", 901).await.unwrap(),
            LimitDecision::Allowed
        );
    }

    #[tokio::test]
    async fn an_ip_gets_its_attempts_per_minute_then_waits_for_the_next_minute() {
        let l = MemoryLimiter::new(LimiterPolicy::default());
        for _ in 0..10 {
            assert_eq!(
                l.hit_ip("10.0.0.1", 120).await.unwrap(),
                LimitDecision::Allowed
            );
        }
        assert_eq!(
            l.hit_ip("10.0.0.1", 130).await.unwrap(),
            LimitDecision::Limited {
                retry_after: Duration::from_secs(50)
            }
        );
        assert_eq!(
            l.hit_ip("10.0.0.2", 130).await.unwrap(),
            LimitDecision::Allowed
        );
        assert_eq!(
            l.hit_ip("10.0.0.1", 180).await.unwrap(),
            LimitDecision::Allowed
        );
    }

    #[tokio::test]
    async fn the_key_maps_stay_bounded() {
        let l = MemoryLimiter::new(LimiterPolicy {
            max_keys: 100,
            ..LimiterPolicy::default()
        });
        for i in 0..1000 {
            l.record_failure("t", &format!("user{i}"), i).await.unwrap();
            l.hit_ip(&format!("ip{i}"), 0).await.unwrap();
        }
        assert!(l.accounts.lock().unwrap().len() <= 100);
        assert!(l.ips.lock().unwrap().len() <= 100);
    }
}
