//! The failed-validation limits of `/validate`, keyed by what an attacker controls and cannot
//! spread over other people's budgets.
//!
//! Three kinds of key, each with its own per-minute failure budget:
//! - the presented token's **lookup id**: failures against an existing credential (a wrong
//!   secret, a revoked or expired token); guessing the secret of one credential is bounded;
//! - the **end client's address**, as forwarded by the authenticated caller in
//!   [`CLIENT_IP_HEADER`] (IPv6 by /64): every failure of that client, including lookups
//!   of ids that do not exist and malformed tokens;
//! - the **caller's identity** (the service token, or the admin), with a far higher budget,
//!   charged only for failures against existing credentials that no end client address was
//!   forwarded for.
//!
//! A lookup of an id that does not exist never costs the caller (nor any id): a caller that
//! relays random tokens is never locked out by them. A key over its budget gets
//! `per_minute` validations a minute until a minute passes with no failure; the 429 names the
//! key's kind, and applies to requests carrying that key only.
//!
//! Both budgets are GCRA limits of iam-service ([`iam_service::ratelimit`]): in process, or
//! shared by every instance through Redis ([`SharedLimit`]). Failures go through a limiter
//! whose burst is the threshold less one, so the threshold-th failure is the first it refuses
//! and puts the key over its budget. From then on each validation of the key takes one from
//! its allowance, whose burst is `per_minute` plus one: the failure that found the key over
//! its budget takes the extra one (on the instance that saw the threshold-th failure, and on
//! another instance that learns of it by its first refused failure alike).
//!
//! Caveats: without a forwarded client address, random well-formed tokens are not limited at
//! all (each costs one index lookup; the secrets are 166 bits, so guessing is hopeless anyway).
//! Budgets refill continuously (GCRA), not per wall-clock minute.
use iam_service::ratelimit::{LocalRateLimiter, RateLimiter, RateQuota, RedisRateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The header in which an authenticated caller (a service token, an admin) forwards the
/// address of the end client whose token it validates. Ignored from anyone else.
pub const CLIENT_IP_HEADER: &str = "x-iam-client-ip";

/// Keys over their budget tracked at most (keys a minute past their last failure are
/// dropped first; past the cap new keys are not tracked).
const MAX_KEYS: usize = 100_000;

/// The Redis key prefix of the failure budgets.
const REDIS_PREFIX: &str = "iam:credentials:failures:";

/// Failed-validation rate limits (per key and minute).
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Failures a minute of one lookup id or one end client before it is limited (default 100).
    pub threshold: u32,
    /// Validations a minute while limited (default 10).
    pub per_minute: u32,
    /// Failures a minute against existing credentials charged to one caller (no client
    /// address forwarded) before that caller is limited (default 10 000).
    pub caller_threshold: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            threshold: 100,
            per_minute: 10,
            caller_threshold: 10_000,
        }
    }
}

/// One key of the limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    /// A presented token's lookup id.
    LookupId(String),
    /// A forwarded end client address (IPv6: its /64).
    Client(IpAddr),
    /// The calling service token's id, or `admin`.
    Caller(String),
}

impl Key {
    /// The end client key of `ip` (IPv6 addresses by /64: one host owns a whole prefix).
    pub(crate) fn client(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Key::Client(ip),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Key::Client(IpAddr::V6(std::net::Ipv6Addr::new(
                    s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                )))
            }
        }
    }
    fn name(&self) -> String {
        match self {
            Key::LookupId(id) => format!("id:{id}"),
            Key::Client(ip) => format!("client:{ip}"),
            Key::Caller(c) => format!("caller:{c}"),
        }
    }
    /// What the 429 says is limited.
    pub(crate) fn what(&self) -> &'static str {
        match self {
            Key::LookupId(_) => "too many failed validations of this token",
            Key::Client(_) => "too many failed validations from this client",
            Key::Caller(_) => "too many failed validations from this caller",
        }
    }
}

/// A `REDIS_URL` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid REDIS_URL")]
pub struct SharedLimitError;

/// Failure budgets shared through Redis by every instance of the service (`REDIS_URL`).
/// When Redis does not answer, each instance limits in process (never switched off).
#[derive(Clone)]
pub struct SharedLimit {
    url: String,
}

impl std::fmt::Debug for SharedLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("SharedLimit").finish_non_exhaustive()
    }
}

impl SharedLimit {
    /// Budgets at `url` (`redis://...`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, SharedLimitError> {
        redis_limiter(url, "", RateQuota::per_minute(1))?;
        Ok(Self {
            url: url.to_owned(),
        })
    }
}

fn redis_limiter(
    url: &str,
    prefix: &str,
    quota: RateQuota,
) -> Result<RedisRateLimiter, SharedLimitError> {
    RedisRateLimiter::new(url, prefix, quota).map_err(|_| SharedLimitError)
}

/// The allowance's key of a key (next to its failure budget's, under the same prefix).
fn allowance_key(name: &str) -> String {
    format!("{name}:allowance")
}

/// The failure budgets, the allowances of keys over budget, and which keys are over budget.
pub(crate) struct Limiter {
    /// Failures of lookup ids and end clients.
    failures: Box<dyn RateLimiter>,
    /// Failures charged to callers.
    caller_failures: Box<dyn RateLimiter>,
    /// Validations of keys over their budget.
    allowance: Box<dyn RateLimiter>,
    /// Key name → time of its last failure, for keys over budget.
    over_budget: Mutex<HashMap<String, i64>>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, shared: Option<SharedLimit>) -> Self {
        // The threshold-th failure is the first refused: a burst of threshold - 1.
        let failures = RateQuota::per_minute(limit.threshold.saturating_sub(1));
        let caller = RateQuota::per_minute(limit.caller_threshold.saturating_sub(1));
        // per_minute validations, plus the failure that found the key over budget.
        let allowance = RateQuota::per_minute(limit.per_minute.saturating_add(1));
        let make = |prefix: &str, quota: RateQuota| -> Box<dyn RateLimiter> {
            match &shared {
                Some(s) => match redis_limiter(&s.url, prefix, quota) {
                    Ok(l) => Box::new(l),
                    // Checked in SharedLimit::new; in process if it ever is not.
                    Err(_) => Box::new(LocalRateLimiter::new(quota)),
                },
                None => Box::new(LocalRateLimiter::new(quota)),
            }
        };
        Self {
            failures: make(REDIS_PREFIX, failures),
            // Caller keys go through this one only; allowance keys are suffixed.
            caller_failures: make(REDIS_PREFIX, caller),
            allowance: make(REDIS_PREFIX, allowance),
            over_budget: Mutex::new(HashMap::new()),
        }
    }

    fn is_over_budget(&self, name: &str, now: i64) -> bool {
        let map = self.over_budget.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name).is_some_and(|last| now - last < 60)
    }

    /// `Err(key)` when one of `keys` is over its budget and has used its allowance; counts
    /// the attempt against the allowance of keys over budget. Returns which keys were over
    /// budget (to pass to [`Limiter::failed`]).
    pub(crate) async fn admit(&self, keys: &[Key], now: i64) -> Result<Vec<bool>, Key> {
        let mut over = Vec::with_capacity(keys.len());
        for key in keys {
            let name = key.name();
            let is_over = self.is_over_budget(&name, now);
            if is_over
                && !self
                    .allowance
                    .check(&allowance_key(&name))
                    .await
                    .is_allowed()
            {
                return Err(key.clone());
            }
            over.push(is_over);
        }
        Ok(over)
    }

    /// One failure for each of `keys`; `admitted_over` says which of them [`Limiter::admit`]
    /// found over budget (and charged already).
    pub(crate) async fn failed(&self, keys: &[(Key, bool)], now: i64) {
        for (key, admitted_over) in keys {
            let name = key.name();
            let budget = match key {
                Key::Caller(_) => &self.caller_failures,
                _ => &self.failures,
            };
            if budget.check(&name).await.is_allowed() {
                self.touch(&name, now, false);
                continue;
            }
            if !admitted_over {
                // Newly over budget (here): this answer takes one from the allowance.
                let _ = self.allowance.check(&allowance_key(&name)).await;
                tracing::warn!(audit = "validation_failures", key = %name, "failed validations burst; rate limiting this key");
            }
            self.touch(&name, now, true);
        }
    }

    /// Record a failure of a key: keys over budget stay so until a minute without failures.
    fn touch(&self, name: &str, now: i64, over: bool) {
        let mut map = self.over_budget.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = map.get_mut(name) {
            if over || now - *last < 60 {
                *last = now;
            } else {
                map.remove(name);
            }
            return;
        }
        if !over {
            return;
        }
        if map.len() >= MAX_KEYS {
            map.retain(|_, last| now - *last < 60);
        }
        if map.len() < MAX_KEYS {
            map.insert(name.to_owned(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIGHT: RateLimit = RateLimit {
        threshold: 4,
        per_minute: 2,
        caller_threshold: 6,
    };

    /// One validation of `key` that fails; `false` when it was refused with a 429.
    async fn fail_once(l: &Limiter, key: &Key, now: i64) -> bool {
        match l.admit(std::slice::from_ref(key), now).await {
            Err(_) => false,
            Ok(over) => {
                l.failed(&[(key.clone(), over[0])], now).await;
                true
            }
        }
    }

    #[tokio::test]
    async fn a_key_gets_threshold_failures_then_per_minute_answers_then_429() {
        let l = Limiter::new(TIGHT, None);
        let key = Key::LookupId("abc".into());
        for i in 0..TIGHT.threshold + TIGHT.per_minute {
            assert!(fail_once(&l, &key, 100).await, "answer {i}");
        }
        assert_eq!(l.admit(std::slice::from_ref(&key), 100).await, Err(key));
        // Other keys, and the caller with its own higher budget, are untouched.
        let other = Key::client("192.0.2.1".parse().unwrap());
        assert!(l.admit(&[other], 100).await.is_ok());
        let caller = Key::Caller("svc".into());
        for i in 0..TIGHT.caller_threshold {
            assert!(fail_once(&l, &caller, 100).await, "caller failure {i}");
        }
    }

    #[tokio::test]
    async fn successes_never_use_the_budget_and_a_minute_without_failures_clears_a_key() {
        let l = Limiter::new(TIGHT, None);
        let key = Key::client("2001:db8::1".parse().unwrap());
        // An IPv6 client is its /64.
        assert_eq!(key, Key::client("2001:db8::ffff:1".parse().unwrap()));
        for _ in 0..100 {
            assert_eq!(
                l.admit(std::slice::from_ref(&key), 100).await,
                Ok(vec![false])
            );
        }
        for _ in 0..TIGHT.threshold {
            fail_once(&l, &key, 100).await;
        }
        assert_eq!(
            l.admit(std::slice::from_ref(&key), 100).await,
            Ok(vec![true])
        );
        assert_eq!(
            l.admit(std::slice::from_ref(&key), 161).await,
            Ok(vec![false])
        );
    }
}
