//! [`RemoteJwks`]: a JWK set fetched over HTTPS, cached, and served as an
//! [`iam_core::jwks::KeySource`].
//!
//! ```no_run
//! use iam_client::RemoteJwks;
//! use iam_core::authn::{AuthChain, JwtAuthenticator};
//! use iam_core::jwt::Validator;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = RemoteJwks::builder("https://auth.example.com/.well-known/jwks.json").build()?;
//! let validator = Validator::builder("https://auth.example.com/").audience("orders-api").build()?;
//! let chain = AuthChain::new().with(JwtAuthenticator::new(validator, keys.clone()));
//! # let _ = chain; Ok(()) }
//! ```
//!
//! The rules, with their defaults (each one a builder method):
//! - the set is fresh for the server's `Cache-Control: max-age` (or `Expires`), clamped to
//!   [5 min, 24 h]; 15 min when the server says nothing;
//! - shortly before it goes stale (a tenth of its lifetime, at most 60 s) the next request
//!   starts a background refresh, so requests do not wait on the network in steady state;
//!   refreshes are conditional (`If-None-Match` / `If-Modified-Since`): an unchanged set costs
//!   a `304`;
//! - a token naming an unknown `kid` triggers at most one refresh per 30 s cooldown (counted
//!   from the last fetch, whatever caused it); concurrent callers share one fetch in flight;
//! - a kid is remembered as unknown only by a fetch that confirmed it absent, and only for one
//!   cooldown from that fetch: refusing a token never extends that memory;
//! - a kid refused only because the cooldown was running schedules one refetch for the moment
//!   the cooldown ends, shared by every kid refused meanwhile: a key rotated in at the issuer
//!   is usable at most one cooldown after its first token, and a flood of random kids costs at
//!   most one fetch per cooldown;
//! - when a refresh fails the last good set is served for up to 24 h past its freshness
//!   (stale-if-error), and logged; with no set at all [`KeySource::keys`](iam_core::jwks::KeySource::keys) fails and the
//!   authenticator answers 503; a failed fetch is not retried by requests for a cooldown;
//! - responses are capped at 1 MiB and 100 keys; connect timeout 5 s, total 10 s, two retries
//!   with backoff on network errors, 5xx and 429;
//! - only `https` URLs, or plain `http` on a loopback address (or with
//!   [`RemoteJwksBuilder::dangerous_allow_http`]): the crate's one
//!   [`TransportPolicy`](crate::transport::TransportPolicy), set with
//!   [`RemoteJwksBuilder::transport_policy`];
//! - bring your own [`HttpClient`](crate::HttpClient) (proxy, custom CA, mTLS) with
//!   [`RemoteJwksBuilder::http_client`].
//!
//! Counters are kept in [`JwksStats`] and published through the `metrics` facade as
//! `iam_jwks_*_total`; every fetch runs in a `tracing` span `jwks_fetch`.
//!
//! ## Caveats
//! - A key removed by the issuer stops validating as soon as the refreshed set is used, even
//!   for tokens in the validator's cache; until the refresh, it still validates.
//! - Background refreshes need a Tokio runtime; outside one, a stale set is refreshed by the
//!   request that finds it stale, and a kid refused during the cooldown is looked up by the
//!   first request naming an unknown kid after the cooldown.
//! - Times are read from [`tokio::time::Instant`], so tests can drive the cooldown with
//!   Tokio's paused clock.
use iam_core::jwks::JwkSet;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::time::Instant;

mod builder;
mod cache;
mod fetch;
mod unknown_kid;

pub use builder::RemoteJwksBuilder;

/// A remote key source could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteJwksError {
    /// The URL does not parse.
    #[error("invalid JWKS URL")]
    InvalidUrl,
    /// Plain `http` to a host that is not loopback.
    #[error("JWKS URL must use https (plain http only on loopback or with dangerous_allow_http)")]
    InsecureUrl,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Lifetimes out of range: `min_ttl` above `max_ttl`, or any lifetime above a year.
    #[error("JWKS lifetimes must satisfy min_ttl <= default_ttl <= max_ttl <= 365 days, stale_if_error <= 365 days")]
    BadLifetimes,
}

/// Counters of a [`RemoteJwks`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// Requests answered from the cached set without any network call.
    pub cache_hits: u64,
    /// HTTP requests sent (retries included).
    pub fetches: u64,
    /// `304 Not Modified` answers.
    pub not_modified: u64,
    /// Fetch attempts that ended without a usable answer.
    pub failures: u64,
    /// Times an expired set was served because the issuer could not be reached.
    pub stale_served: u64,
    /// Unknown-kid refreshes refused (cooldown or recently unknown kid).
    pub unknown_kid_refusals: u64,
}

#[derive(Default)]
struct Counters {
    cache_hits: AtomicU64,
    fetches: AtomicU64,
    not_modified: AtomicU64,
    failures: AtomicU64,
    stale_served: AtomicU64,
    unknown_kid_refusals: AtomicU64,
}

impl Counters {
    fn bump(&self, counter: &AtomicU64, name: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(name).increment(1);
    }
}

#[derive(Debug, Clone)]
struct Config {
    min_ttl: Duration,
    max_ttl: Duration,
    default_ttl: Duration,
    cooldown: Duration,
    stale_if_error: Duration,
    max_bytes: usize,
    max_keys: usize,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    unknown_kid_memory: usize,
}

#[derive(Default)]
struct State {
    set: Option<Arc<JwkSet>>,
    fresh_until: Option<Instant>,
    refresh_at: Option<Instant>,
    stale_until: Option<Instant>,
    etag: Option<String>,
    last_modified: Option<String>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

struct Inner {
    url: reqwest::Url,
    http: crate::HttpClient,
    /// Wall-clock time, for `Expires` answers without a `Date`.
    clock: Arc<dyn iam_core::clock::Clock>,
    cfg: Config,
    state: RwLock<State>,
    fetch: tokio::sync::Mutex<()>,
    attempts: AtomicU64,
    refreshing: AtomicBool,
    /// A task waits for the end of the cooldown to refetch.
    refetch_scheduled: AtomicBool,
    /// A kid was refused because of the cooldown since the scheduled refetch started.
    refetch_wanted: AtomicBool,
    /// Kids a fetch confirmed absent, with the time of that fetch.
    unknown: Mutex<HashMap<String, Instant>>,
    counters: Counters,
}

/// A JWK set fetched from a URL and cached. Cheap to clone; clones share the cache.
/// See the [module docs](self).
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.inner.url.as_str())
            .field("stats", &self.stats())
            .finish()
    }
}

enum Fetched {
    New(Box<JwkSet>, http::HeaderMap),
    NotModified(http::HeaderMap),
}
