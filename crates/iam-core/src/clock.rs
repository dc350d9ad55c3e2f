//! Where the time comes from.
//!
//! `SystemTime::now()` panics on `wasm32-unknown-unknown`, and expiry tests need a clock they
//! can move, so every time-dependent check in iam-core asks a [`Clock`]. Closures returning
//! Unix seconds are clocks too:
//!
//! ```
//! use iam_core::clock::Clock;
//! let frozen = || 1_700_000_000_i64;
//! assert_eq!(frozen.now_unix(), 1_700_000_000);
//! ```
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time as Unix seconds.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn now_unix(&self) -> i64 {
        self()
    }
}

/// The operating system's clock (`std::time::SystemTime`).
///
/// Not available on `wasm32-unknown-unknown`, where there is no system clock: pass a closure
/// that reads the host's clock instead (for example JavaScript's `Date.now()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// A clock that stands still until it is told to move: for tests and replays.
///
/// ```
/// use iam_core::clock::{Clock, FixedClock};
/// let clock = FixedClock::new(100);
/// clock.advance(5);
/// assert_eq!(clock.now_unix(), 105);
/// ```
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock showing `now` (Unix seconds).
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }
    /// Set the time.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
    /// Move the time forward (or back, with a negative number).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_unix(&self) -> i64 {
        (**self).now_unix()
    }
}

/// The default clock of this target: [`SystemClock`] where there is one.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) fn default_clock() -> Option<std::sync::Arc<dyn Clock>> {
    Some(std::sync::Arc::new(SystemClock))
}

/// On `wasm32-unknown-unknown` there is no system clock; a validator built without
/// [`ValidatorBuilder::clock`](crate::jwt::ValidatorBuilder::clock) refuses to build there.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn default_clock() -> Option<std::sync::Arc<dyn Clock>> {
    None
}
