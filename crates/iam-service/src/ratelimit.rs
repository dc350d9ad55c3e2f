//! Rate limits: one trait, an in-process GCRA and a Redis-shared GCRA behind it.
//!
//! A limit is a [`RateQuota`]: `count` requests per `period`, with bursts up to `count`. The
//! generic cell rate algorithm (GCRA) spaces requests evenly and remembers one timestamp per
//! key, so a key costs the same memory however busy it is.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use iam_service::ratelimit::{LocalRateLimiter, RateDecision, RateLimiter, RateQuota};
//! let limiter = LocalRateLimiter::new(RateQuota::per_minute(2));
//! assert!(limiter.check("ip:203.0.113.9").await.is_allowed());
//! assert!(limiter.check("ip:203.0.113.9").await.is_allowed());
//! assert!(matches!(limiter.check("ip:203.0.113.9").await, RateDecision::Limited { .. }));
//! # }
//! ```
//!
//! # Caveats
//! - Keys are what the caller chooses. Key by what an attacker cannot spread (an account, a
//!   token's lookup id, an address from [`crate::client_ip`]), and never by something an
//!   innocent party shares with the attacker unless its budget is far higher.
//! - [`LocalRateLimiter`] holds at most `max_keys` keys (default 100 000). Idle keys are
//!   dropped as it goes; when the map is still full of active keys (a flood of distinct keys),
//!   every request shares one overflow bucket with a hundred times the per-key budget until
//!   keys go idle: memory stays bounded and limits stay on.
//! - [`RedisRateLimiter`] falls back to its own in-process limiter when Redis does not answer
//!   within its timeout (limits then hold per instance; never switched off). Redis's clock is
//!   used, so instances with skewed clocks agree. After a failure it leaves Redis alone for a
//!   back-off (1 s, doubling to 30 s) and limits in process meanwhile, so a Redis that hangs
//!   costs one timeout per back-off, not one per request; only one request at a time tries to
//!   connect. It logs once when Redis goes away and once when it is back.
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `count` requests per `period`, bursts up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    count: NonZeroU32,
    period: Duration,
}

impl RateQuota {
    /// `count` per `period` (a zero count or period is raised to 1 / 1 ms).
    pub fn new(count: u32, period: Duration) -> Self {
        Self {
            count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
            period: period.max(Duration::from_millis(1)),
        }
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` per second.
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// Requests per period.
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Time between two requests at the steady rate.
    fn emission_interval(&self) -> Duration {
        self.period / self.count.get()
    }

    fn governor(&self) -> Quota {
        Quota::with_period(self.emission_interval().max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(self.count)
    }
}

/// A limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Go ahead.
    Allowed,
    /// Refuse (429); the next request for this key may pass after `retry_after`.
    Limited {
        /// When to retry.
        retry_after: Duration,
    },
}

impl RateDecision {
    /// Whether the request may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// A rate limiter keyed by text. Implemented by [`LocalRateLimiter`] and
/// [`RedisRateLimiter`]; an application may bring its own.
pub trait RateLimiter: Send + Sync + 'static {
    /// Count one request for `key` and say whether it may go ahead.
    fn check<'a>(&'a self, key: &'a str)
        -> Pin<Box<dyn Future<Output = RateDecision> + Send + 'a>>;
}

/// An in-process GCRA limiter (governor), bounded in keys.
pub struct LocalRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    quota: RateQuota,
    max_keys: usize,
    checks: AtomicU64,
    overflow: governor::DefaultDirectRateLimiter,
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.limiter.len())
            .finish()
    }
}

impl LocalRateLimiter {
    /// A limiter with `quota` per key and at most 100 000 keys.
    pub fn new(quota: RateQuota) -> Self {
        Self::with_max_keys(quota, 100_000)
    }

    /// A limiter with `quota` per key and at most `max_keys` keys.
    pub fn with_max_keys(quota: RateQuota, max_keys: usize) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::dashmap(quota.governor()),
            quota,
            max_keys: max_keys.max(1),
            checks: AtomicU64::new(0),
            overflow: governor::RateLimiter::direct(
                RateQuota::new(quota.count().saturating_mul(100), quota.period()).governor(),
            ),
        }
    }

    /// The quota.
    pub fn quota(&self) -> RateQuota {
        self.quota
    }

    /// How many keys are held now.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Count one request for `key` (synchronous: no I/O).
    pub fn check_now(&self, key: &str) -> RateDecision {
        let n = self.checks.fetch_add(1, Ordering::Relaxed);
        // Over the cap, sweep every 64 checks rather than on each (a sweep walks every key).
        let full = self.limiter.len() >= self.max_keys;
        if n % 1024 == 1023 || (full && n.is_multiple_of(64)) {
            // Keys whose state equals a fresh key's are dropped; this is what keeps the map
            // at the number of keys active within one period.
            self.limiter.retain_recent();
        }
        let result = if self.limiter.len() >= self.max_keys {
            // Still full of active keys (a flood of distinct keys): every key shares one
            // overflow bucket with a hundred times the per-key budget until keys go idle.
            self.overflow.check()
        } else {
            self.limiter.check_key(&key.to_owned())
        };
        match result {
            Ok(()) => RateDecision::Allowed,
            Err(not_until) => RateDecision::Limited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }
}

impl RateLimiter for LocalRateLimiter {
    fn check<'a>(
        &'a self,
        key: &'a str,
    ) -> Pin<Box<dyn Future<Output = RateDecision> + Send + 'a>> {
        let decision = self.check_now(key);
        Box::pin(std::future::ready(decision))
    }
}

/// A GCRA limiter whose state lives in Redis, shared by every instance.
pub struct RedisRateLimiter {
    client: redis::Client,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
    connecting: AtomicBool,
    breaker: Mutex<Breaker>,
    prefix: String,
    quota: RateQuota,
    timeout: Duration,
    fallback: LocalRateLimiter,
    script: redis::Script,
}

/// When Redis may be asked again after a failure.
#[derive(Debug)]
struct Breaker {
    /// Redis is left alone until then (`None`: Redis answered last time).
    open_until: Option<Instant>,
    /// The next back-off.
    backoff: Duration,
    first_backoff: Duration,
}

impl Breaker {
    const MAX_BACKOFF: Duration = Duration::from_secs(30);

    fn new(first_backoff: Duration) -> Self {
        Self {
            open_until: None,
            backoff: first_backoff,
            first_backoff,
        }
    }

    /// Whether Redis may be asked now.
    fn allows(&self, now: Instant) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    /// A failure: leave Redis alone for the back-off, then double it. True when Redis was
    /// answering before (the moment to log).
    fn trip(&mut self, now: Instant) -> bool {
        let was_up = self.open_until.is_none();
        self.open_until = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(Self::MAX_BACKOFF);
        was_up
    }

    /// An answer: true when Redis had been failing (the moment to log).
    fn close(&mut self) -> bool {
        self.backoff = self.first_backoff;
        self.open_until.take().is_some()
    }
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

/// A Redis URL that does not parse. Carries no part of the URL (it may hold a password).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid Redis URL")]
pub struct RedisUrlError;

// GCRA in one round trip, on Redis's clock. KEYS[1]: the key; ARGV: emission interval and
// burst tolerance in microseconds. Returns -1 when allowed, else microseconds to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - tolerance
if wait > 0 then return wait end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return -1
";

impl RedisRateLimiter {
    /// A limiter storing its state under `prefix` at `url` (nothing is connected yet).
    pub fn new(url: &str, prefix: &str, quota: RateQuota) -> Result<Self, RedisUrlError> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|_| RedisUrlError)?,
            conn: Mutex::new(None),
            connecting: AtomicBool::new(false),
            breaker: Mutex::new(Breaker::new(Duration::from_secs(1))),
            prefix: prefix.to_owned(),
            quota,
            timeout: Duration::from_millis(250),
            fallback: LocalRateLimiter::new(quota),
            script: redis::Script::new(GCRA),
        })
    }

    /// How long to wait for Redis before deciding in process (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long Redis is left alone after its first failure (default 1 s; it doubles with
    /// each further failure, up to 30 s).
    pub fn backoff(self, backoff: Duration) -> Self {
        *lock(&self.breaker) = Breaker::new(backoff.max(Duration::from_millis(1)));
        self
    }

    /// A connection, or `None` when there is none and this request is not the one to make
    /// it (another is connecting, or the connection failed).
    async fn connection(&self) -> Result<Option<redis::aio::MultiplexedConnection>, ()> {
        if let Some(conn) = lock(&self.conn).as_ref() {
            return Ok(Some(conn.clone()));
        }
        if self.connecting.swap(true, Ordering::AcqRel) {
            return Ok(None);
        }
        let conn =
            tokio::time::timeout(self.timeout, self.client.get_multiplexed_async_connection())
                .await;
        self.connecting.store(false, Ordering::Release);
        match conn {
            Ok(Ok(conn)) => {
                *lock(&self.conn) = Some(conn.clone());
                Ok(Some(conn))
            }
            _ => Err(()),
        }
    }

    /// Redis's decision, or `None` to decide in process.
    async fn shared(&self, key: &str) -> Option<RateDecision> {
        if !lock(&self.breaker).allows(Instant::now()) {
            return None;
        }
        let mut conn = match self.connection().await {
            Ok(Some(conn)) => conn,
            Ok(None) => return None,
            Err(()) => {
                self.failed();
                return None;
            }
        };
        let interval = self.quota.emission_interval().as_micros() as i64;
        let tolerance = interval * i64::from(self.quota.count() - 1);
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(interval).arg(tolerance);
        let answer =
            tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut conn)).await;
        let decision = match answer {
            Ok(Ok(wait)) if wait < 0 => RateDecision::Allowed,
            Ok(Ok(wait)) => RateDecision::Limited {
                retry_after: Duration::from_micros(wait as u64),
            },
            _ => {
                *lock(&self.conn) = None;
                self.failed();
                return None;
            }
        };
        if lock(&self.breaker).close() {
            tracing::info!("rate-limit store reachable again: limits are shared");
        }
        Some(decision)
    }

    fn failed(&self) {
        metrics::counter!("iam_ratelimit_store_errors_total").increment(1);
        if lock(&self.breaker).trip(Instant::now()) {
            tracing::warn!("rate-limit store unreachable: limiting in process until it answers");
        }
    }
}

/// A poisoned lock still holds a usable value here (plain data, no invariant across fields
/// that a panic could break halfway).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RateLimiter for RedisRateLimiter {
    fn check<'a>(
        &'a self,
        key: &'a str,
    ) -> Pin<Box<dyn Future<Output = RateDecision> + Send + 'a>> {
        Box::pin(async move {
            match self.shared(key).await {
                Some(decision) => decision,
                None => self.fallback.check_now(key),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_gets_its_burst_then_waits_and_other_keys_are_untouched() {
        let l = LocalRateLimiter::new(RateQuota::per_minute(3));
        for _ in 0..3 {
            assert!(l.check("a").await.is_allowed());
        }
        match l.check("a").await {
            RateDecision::Limited { retry_after } => {
                assert!(
                    retry_after > Duration::from_secs(1) && retry_after <= Duration::from_secs(20)
                )
            }
            RateDecision::Allowed => panic!("the fourth request in a minute passed"),
        }
        assert!(l.check("b").await.is_allowed());
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_bounded_and_still_limited() {
        let l = LocalRateLimiter::with_max_keys(RateQuota::per_minute(5), 1000);
        let mut allowed = 0;
        for i in 0..20_000 {
            if l.check_now(&format!("k{i}")).is_allowed() {
                allowed += 1;
            }
        }
        assert!(l.len() <= 1001, "{} keys held", l.len());
        // The first 1000 keys get their request; past the cap they share one bucket of 500
        // (plus what it refills while the loop runs: 500 a minute).
        assert!(allowed <= 1000 + 600, "{allowed} allowed");
    }
}
