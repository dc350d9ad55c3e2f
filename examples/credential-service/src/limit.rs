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
//! Caveats: without a forwarded client address, random well-formed tokens are not limited at
//! all (each costs one index lookup; the secrets are 166 bits, so guessing is hopeless anyway).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The header in which an authenticated caller (a service token, an admin) forwards the
/// address of the end client whose token it validates. Ignored from anyone else.
pub const CLIENT_IP_HEADER: &str = "x-iam-client-ip";

/// Tracked keys at most (windows older than a minute are dropped first, then unlimited ones;
/// past the cap new keys are not tracked).
const MAX_KEYS: usize = 100_000;

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

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: i64,
    failures: u32,
    limited: bool,
    used: u32,
}

/// The in-process windows, and optionally the fleet's counts in Redis.
pub(crate) struct Limiter {
    limit: RateLimit,
    windows: Mutex<HashMap<String, Window>>,
    shared: Option<SharedLimit>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, shared: Option<SharedLimit>) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
            shared,
        }
    }

    fn threshold(&self, key: &Key) -> u32 {
        match key {
            Key::Caller(_) => self.limit.caller_threshold,
            _ => self.limit.threshold,
        }
    }

    /// `Err(key)` when one of `keys` is limited and has used its allowance; counts the
    /// attempt against the limited keys. Keys with no failures are not stored.
    pub(crate) async fn admit(&self, keys: &[Key], now: i64) -> Result<(), Key> {
        let mut fleet = Vec::with_capacity(keys.len());
        for key in keys {
            let n = match &self.shared {
                // Redis down → the in-process counts decide.
                Some(shared) => shared.failures(&key.name(), now / 60, 0).await,
                None => None,
            };
            fleet.push(n);
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut charge = Vec::new();
        for (key, fleet) in keys.iter().zip(fleet) {
            let name = key.name();
            let threshold = self.threshold(key);
            let fleet = fleet.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            let Some(w) = windows.get_mut(&name) else {
                if fleet.is_some_and(|n| n >= threshold) {
                    // Over the fleet's budget, not yet seen here.
                    let w = Window {
                        start: now,
                        failures: fleet.unwrap_or(0),
                        limited: true,
                        used: 0,
                    };
                    if insert(&mut windows, name.clone(), w, now) {
                        charge.push(name);
                    }
                }
                continue;
            };
            if now - w.start >= 60 {
                let keep = w.failures >= threshold || (w.limited && w.failures > 0);
                *w = Window {
                    start: now,
                    failures: 0,
                    limited: keep,
                    used: 0,
                };
            }
            if let Some(n) = fleet {
                if n > w.failures {
                    w.failures = n;
                }
            }
            if w.failures >= threshold {
                w.limited = true;
            }
            if w.limited {
                if w.used >= self.limit.per_minute {
                    return Err(key.clone());
                }
                charge.push(name);
            }
        }
        for name in charge {
            if let Some(w) = windows.get_mut(&name) {
                w.used += 1;
            }
        }
        Ok(())
    }

    /// One failure for each of `keys` (here and in the fleet's counts).
    pub(crate) async fn failed(&self, keys: &[Key], now: i64) {
        {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            for key in keys {
                let name = key.name();
                let threshold = self.threshold(key);
                if !windows.contains_key(&name)
                    && !insert(
                        &mut windows,
                        name.clone(),
                        Window {
                            start: now,
                            ..Window::default()
                        },
                        now,
                    )
                {
                    continue;
                }
                if let Some(w) = windows.get_mut(&name) {
                    w.failures = w.failures.saturating_add(1);
                    if w.failures == threshold {
                        w.limited = true;
                        tracing::warn!(audit = "validation_failures", key = %name, failures = w.failures, "failed validations burst; rate limiting this key");
                    }
                }
            }
        }
        if let Some(shared) = &self.shared {
            for key in keys {
                shared.failures(&key.name(), now / 60, 1).await;
            }
        }
    }
}

/// Insert a window, within [`MAX_KEYS`]; `false` when there is no room.
fn insert(windows: &mut HashMap<String, Window>, name: String, w: Window, now: i64) -> bool {
    if windows.len() >= MAX_KEYS {
        windows.retain(|_, w| now - w.start < 60 || w.limited);
    }
    if windows.len() >= MAX_KEYS {
        windows.retain(|_, w| w.limited);
    }
    if windows.len() >= MAX_KEYS {
        return false;
    }
    windows.insert(name, w);
    true
}

/// A `REDIS_URL` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid REDIS_URL")]
pub struct SharedLimitError;

/// The failed-validation counters in Redis, shared by every instance of the service.
pub struct SharedLimit {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl std::fmt::Debug for SharedLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimit").finish_non_exhaustive()
    }
}

impl SharedLimit {
    /// Counters at `url` (`redis://...`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, SharedLimitError> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|_| SharedLimitError)?,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// Add `delta` (0 to read) to this key's failures in `minute`; `None` when Redis cannot
    /// answer (the in-process counters then decide).
    async fn failures(&self, key: &str, minute: i64, delta: i64) -> Option<i64> {
        let timeout = Duration::from_millis(250);
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let c = tokio::time::timeout(timeout, self.client.get_multiplexed_async_connection())
                .await
                .ok()?
                .ok()?;
            *slot = Some(c);
        }
        let conn = slot.as_mut()?;
        let key = format!("iam:credentials:failures:{key}:{minute}");
        let out = if delta == 0 {
            // A read creates nothing (random ids must not fill Redis).
            let get = redis::cmd("GET").arg(&key).to_owned();
            tokio::time::timeout(timeout, get.query_async::<Option<i64>>(conn))
                .await
                .map(|r| r.map(|n| n.unwrap_or(0)))
        } else {
            let mut pipe = redis::pipe();
            pipe.atomic().incr(&key, delta).expire(&key, 120).ignore();
            tokio::time::timeout(timeout, pipe.query_async::<(i64,)>(conn))
                .await
                .map(|r| r.map(|(n,)| n))
        };
        match out {
            Ok(Ok(n)) => Some(n),
            _ => {
                *slot = None;
                None
            }
        }
    }
}
