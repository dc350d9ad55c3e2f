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
//!   (stale-if-error), and logged; with no set at all [`KeySource::keys`] fails and the
//!   authenticator answers 503; a failed fetch is not retried by requests for a cooldown;
//! - responses are capped at 1 MiB and 100 keys; connect timeout 5 s, total 10 s, two retries
//!   with backoff on network errors, 5xx and 429;
//! - only `https` URLs, or plain `http` on a loopback address (or with
//!   [`RemoteJwksBuilder::dangerous_allow_http`]): the crate's one
//!   [`TransportPolicy`](crate::transport::TransportPolicy), set with
//!   [`RemoteJwksBuilder::transport_policy`];
//! - bring your own `reqwest::Client` (proxy, custom CA, mTLS) with
//!   [`RemoteJwksBuilder::client`].
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
use http::header::{ACCEPT, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use http::StatusCode;
use iam_core::jwks::{BoxFuture, JwkSet, JwksLimits, KeySource, KeySourceError};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

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

/// Builds a [`RemoteJwks`].
pub struct RemoteJwksBuilder {
    url: String,
    cfg: Config,
    connect_timeout: Duration,
    client: Option<reqwest::Client>,
    policy: crate::transport::TransportPolicy,
}

impl fmt::Debug for RemoteJwksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwksBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RemoteJwksBuilder {
    /// Lowest cache lifetime, whatever the server says (default 5 min).
    pub fn min_ttl(mut self, d: Duration) -> Self {
        self.cfg.min_ttl = d;
        self
    }
    /// Highest cache lifetime (default 24 h).
    pub fn max_ttl(mut self, d: Duration) -> Self {
        self.cfg.max_ttl = d;
        self
    }
    /// Lifetime when the server sends no caching headers (default 15 min).
    pub fn default_ttl(mut self, d: Duration) -> Self {
        self.cfg.default_ttl = d;
        self
    }
    /// Least time between two fetches caused by unknown kids or by failures (default 30 s).
    pub fn cooldown(mut self, d: Duration) -> Self {
        self.cfg.cooldown = d;
        self
    }
    /// How long past its freshness a set is served while the issuer is down (default 24 h).
    pub fn stale_if_error(mut self, d: Duration) -> Self {
        self.cfg.stale_if_error = d;
        self
    }
    /// Largest response accepted (default 1 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.cfg.max_bytes = bytes;
        self
    }
    /// Keys beyond this count are skipped (default 100).
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.cfg.max_keys = keys;
        self
    }
    /// Total time for one request (default 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.cfg.timeout = d;
        self
    }
    /// Connect timeout of the built-in client (default 5 s; ignored with [`Self::client`]).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Retries after a network error, 5xx or 429 (default 2), with exponential backoff
    /// starting at `backoff` (default 200 ms).
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.cfg.retries = retries;
        self.cfg.backoff = backoff;
        self
    }
    /// Use this client (proxy, custom CA, mTLS). Its own timeouts apply as well.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }
    /// Allow plain `http` to any host. Keys fetched over plain HTTP can be swapped by anyone
    /// on the path: only for tests and private networks you control.
    /// Same as `transport_policy(TransportPolicy::new().dangerous().allow_plaintext_http())`.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.policy = crate::transport::TransportPolicy::new()
            .dangerous()
            .allow_plaintext_http();
        self
    }
    /// The transport policy the URL must meet (default: https, or http to loopback); pass
    /// your [`HttpClient`](crate::HttpClient)'s `policy()` to share it.
    pub fn transport_policy(mut self, policy: crate::transport::TransportPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Check the URL and build. Nothing is fetched until the first request.
    pub fn build(self) -> Result<RemoteJwks, RemoteJwksError> {
        const YEAR: Duration = Duration::from_secs(365 * 86_400);
        let c = &self.cfg;
        if !(c.min_ttl <= c.default_ttl && c.default_ttl <= c.max_ttl && c.max_ttl <= YEAR)
            || c.stale_if_error > YEAR
            || c.cooldown > YEAR
        {
            return Err(RemoteJwksError::BadLifetimes);
        }
        let url = reqwest::Url::parse(&self.url).map_err(|_| RemoteJwksError::InvalidUrl)?;
        match self.policy.check_url(&url, crate::transport::UrlRole::Jwks) {
            Ok(()) => {}
            Err(crate::transport::TransportPolicyError::Plaintext { .. }) => {
                return Err(RemoteJwksError::InsecureUrl)
            }
            Err(_) => return Err(RemoteJwksError::InvalidUrl),
        }
        let client = match self.client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .timeout(self.cfg.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| RemoteJwksError::Client(e.to_string()))?,
        };
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                url,
                client,
                cfg: self.cfg,
                state: RwLock::new(State::default()),
                fetch: tokio::sync::Mutex::new(()),
                attempts: AtomicU64::new(0),
                refreshing: AtomicBool::new(false),
                refetch_scheduled: AtomicBool::new(false),
                refetch_wanted: AtomicBool::new(false),
                unknown: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }
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
    client: reqwest::Client,
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

impl RemoteJwks {
    /// Start configuring a key source for `url`.
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            url: url.into(),
            cfg: Config {
                min_ttl: Duration::from_secs(300),
                max_ttl: Duration::from_secs(86_400),
                default_ttl: Duration::from_secs(900),
                cooldown: Duration::from_secs(30),
                stale_if_error: Duration::from_secs(86_400),
                max_bytes: 1024 * 1024,
                max_keys: 100,
                timeout: Duration::from_secs(10),
                retries: 2,
                backoff: Duration::from_millis(200),
                unknown_kid_memory: 4096,
            },
            connect_timeout: Duration::from_secs(5),
            client: None,
            policy: crate::transport::TransportPolicy::new(),
        }
    }

    /// The URL keys are fetched from.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> JwksStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        JwksStats {
            cache_hits: l(&c.cache_hits),
            fetches: l(&c.fetches),
            not_modified: l(&c.not_modified),
            failures: l(&c.failures),
            stale_served: l(&c.stale_served),
            unknown_kid_refusals: l(&c.unknown_kid_refusals),
        }
    }

    /// True once a key set has been obtained (for readiness probes).
    pub fn is_ready(&self) -> bool {
        self.read_state().set.is_some()
    }

    /// Fetch now (for example at start-up), sharing any fetch in flight.
    pub async fn refresh(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        self.inner.refresh(true).await
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached set when fresh; starts a background refresh when it is about to go stale.
    fn fresh(&self) -> Option<Arc<JwkSet>> {
        let now = Instant::now();
        let state = self.read_state();
        let set = state.set.as_ref()?;
        if now >= state.fresh_until? {
            return None;
        }
        let refresh_due = state.refresh_at.is_some_and(|at| now >= at);
        let set = Arc::clone(set);
        drop(state);
        self.inner
            .counters
            .bump(&self.inner.counters.cache_hits, "iam_jwks_cache_hits_total");
        if refresh_due {
            self.spawn_background_refresh();
        }
        Some(set)
    }

    fn spawn_background_refresh(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        handle.spawn(async move {
            let _ = inner.refresh(false).await;
            inner.refreshing.store(false, Ordering::Release);
        });
    }

    async fn keys_slow(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        if let Some(set) = self.fresh() {
            return Ok(set);
        }
        self.inner.refresh(false).await
    }

    async fn after_unknown_kid(&self, kid: &str) -> Result<Option<Arc<JwkSet>>, KeySourceError> {
        let inner = &self.inner;
        let now = Instant::now();
        if kid.len() > MAX_KID_LEN || inner.is_recently_unknown(kid, now) {
            inner.count_refusal();
            return Ok(None);
        }
        if inner.in_cooldown(now) {
            // Not remembered: this kid was never looked up. The set is refetched as soon as
            // the cooldown ends, once for every kid refused meanwhile.
            inner.count_refusal();
            self.schedule_refetch();
            return Ok(None);
        }
        let set = inner.refresh(true).await?;
        if set.get(kid).is_some() {
            return Ok(Some(set));
        }
        inner.remember_if_confirmed(kid);
        Ok(None)
    }

    /// One task per cooldown: sleep until it ends, then fetch once for every kid refused.
    fn schedule_refetch(&self) {
        let inner = &self.inner;
        inner.refetch_wanted.store(true, Ordering::Release);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if inner.refetch_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        handle.spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let due = inner.cooldown_ends();
                drop(inner);
                if let Some(due) = due {
                    tokio::time::sleep_until(due).await;
                }
                let Some(inner) = weak.upgrade() else { return };
                if inner.in_cooldown(Instant::now()) {
                    // Another fetch ended meanwhile; it started before some refusals, so wait
                    // for the end of its cooldown too.
                    continue;
                }
                if inner.refetch_wanted.swap(false, Ordering::AcqRel) {
                    let _ = inner.refresh(true).await;
                }
                inner.refetch_scheduled.store(false, Ordering::Release);
                // A refusal that came after the swap above but saw the flag still set did not
                // spawn a task: take its place.
                if !inner.refetch_wanted.load(Ordering::Acquire)
                    || inner.refetch_scheduled.swap(true, Ordering::AcqRel)
                {
                    return;
                }
            }
        });
    }
}

/// Longest kid worth a lookup; longer ones are junk and never fetched for.
const MAX_KID_LEN: usize = 256;

impl Inner {
    fn count_refusal(&self) {
        self.counters.bump(
            &self.counters.unknown_kid_refusals,
            "iam_jwks_unknown_kid_refusals_total",
        );
    }

    fn is_recently_unknown(&self, kid: &str, now: Instant) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        unknown
            .get(kid)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.cfg.cooldown)
    }

    /// Remember `kid` as unknown when the last fetch succeeded (and so confirmed it absent),
    /// with that fetch's time; a failed fetch confirms nothing.
    fn remember_if_confirmed(&self, kid: &str) {
        let confirmed_at = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            match (s.last_error.is_none(), s.last_attempt) {
                (true, Some(at)) => at,
                _ => return,
            }
        };
        let now = Instant::now();
        let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        if unknown.len() >= self.cfg.unknown_kid_memory {
            let cooldown = self.cfg.cooldown;
            unknown.retain(|_, t| now.saturating_duration_since(*t) < cooldown);
            if unknown.len() >= self.cfg.unknown_kid_memory {
                unknown.clear();
            }
        }
        unknown.insert(kid.to_owned(), confirmed_at);
    }

    /// When the cooldown of the last fetch ends (`None`: no fetch yet).
    fn cooldown_ends(&self) -> Option<Instant> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.last_attempt.map(|t| t + self.cfg.cooldown)
    }

    fn in_cooldown(&self, now: Instant) -> bool {
        self.cooldown_ends().is_some_and(|end| now < end)
    }

    /// One fetch in flight: callers that waited get the outcome of the fetch they waited
    /// for instead of starting another. `force` skips the failure cooldown.
    async fn refresh(&self, force: bool) -> Result<Arc<JwkSet>, KeySourceError> {
        let seen = self.attempts.load(Ordering::Acquire);
        let _guard = self.fetch.lock().await;
        let now = Instant::now();
        let already_fetched = self.attempts.load(Ordering::Acquire) != seen;
        let failed_recently = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            s.last_error.is_some()
                && s.last_attempt
                    .is_some_and(|t| now.duration_since(t) < self.cfg.cooldown)
        };
        let may_fetch = force || !failed_recently;
        if !already_fetched && may_fetch {
            self.fetch_and_store().await;
        }
        self.current_or_stale()
    }

    fn current_or_stale(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        let now = Instant::now();
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        match (&s.set, s.fresh_until, s.stale_until) {
            (Some(set), Some(fresh), _) if now < fresh => Ok(Arc::clone(set)),
            (Some(set), _, Some(stale)) if now < stale => {
                self.counters
                    .bump(&self.counters.stale_served, "iam_jwks_stale_served_total");
                tracing::warn!(url = %self.url, "serving a stale JWK set: the issuer could not be reached");
                Ok(Arc::clone(set))
            }
            _ => Err(KeySourceError::new(
                s.last_error
                    .clone()
                    .unwrap_or_else(|| "no JWK set fetched yet".to_owned()),
            )),
        }
    }

    async fn fetch_and_store(&self) {
        let span = tracing::info_span!("jwks_fetch", url = %self.url);
        let outcome = self.fetch_with_retries().instrument(span).await;
        let now = Instant::now();
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.last_attempt = Some(now);
        match outcome {
            Ok(fetched) => {
                let headers = match fetched {
                    Fetched::New(set, headers) => {
                        s.set = Some(Arc::new(*set));
                        s.etag = header_string(&headers, ETAG);
                        s.last_modified = header_string(&headers, LAST_MODIFIED);
                        headers
                    }
                    Fetched::NotModified(headers) => headers,
                };
                let c = &self.cfg;
                let ttl = crate::cache_control::effective_ttl(
                    &headers,
                    c.min_ttl,
                    c.max_ttl,
                    c.default_ttl,
                );
                let ahead = (ttl / 10).min(Duration::from_secs(60));
                s.fresh_until = Some(now + ttl);
                s.refresh_at = Some(now + ttl - ahead);
                s.stale_until = Some(now + ttl + c.stale_if_error);
                s.last_error = None;
            }
            Err(e) => {
                self.counters
                    .bump(&self.counters.failures, "iam_jwks_failures_total");
                tracing::warn!(url = %self.url, error = %e, "JWK set fetch failed");
                s.last_error = Some(e);
            }
        }
        drop(s);
        self.attempts.fetch_add(1, Ordering::AcqRel);
    }

    async fn fetch_with_retries(&self) -> Result<Fetched, String> {
        let mut delay = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            match self.fetch_once().await {
                Ok(f) => return Ok(f),
                Err((e, retryable)) if retryable && attempt < self.cfg.retries => {
                    tracing::debug!(error = %e, attempt, "retrying JWK set fetch");
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One HTTP request. The error says whether a retry may help.
    async fn fetch_once(&self) -> Result<Fetched, (String, bool)> {
        let (etag, last_modified, have_set) = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            (s.etag.clone(), s.last_modified.clone(), s.set.is_some())
        };
        let mut req = self
            .client
            .get(self.url.clone())
            .timeout(self.cfg.timeout)
            .header(ACCEPT, "application/jwk-set+json, application/json");
        if have_set {
            if let Some(etag) = etag {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = last_modified {
                req = req.header(IF_MODIFIED_SINCE, lm);
            }
        }
        self.counters
            .bump(&self.counters.fetches, "iam_jwks_fetches_total");
        let mut res = req
            .send()
            .await
            .map_err(|e| (format!("request failed: {}", without_url(&e)), true))?;
        let status = res.status();
        if status == StatusCode::NOT_MODIFIED && have_set {
            self.counters
                .bump(&self.counters.not_modified, "iam_jwks_not_modified_total");
            return Ok(Fetched::NotModified(res.headers().clone()));
        }
        if !status.is_success() {
            let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            return Err((
                format!("issuer answered HTTP {}", status.as_u16()),
                retryable,
            ));
        }
        let max = self.cfg.max_bytes;
        if res.content_length().is_some_and(|len| len > max as u64) {
            return Err((format!("JWK set larger than {max} bytes"), false));
        }
        let headers = res.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| {
            (
                format!("reading the body failed: {}", without_url(&e)),
                true,
            )
        })? {
            if body.len() + chunk.len() > max {
                return Err((format!("JWK set larger than {max} bytes"), false));
            }
            body.extend_from_slice(&chunk);
        }
        let mut limits = JwksLimits::default();
        limits.max_document_bytes = max;
        limits.max_keys = self.cfg.max_keys;
        let set =
            JwkSet::from_json_with_limits(&body, limits).map_err(|e| (e.to_string(), false))?;
        for skipped in set.skipped() {
            tracing::warn!(url = %self.url, index = skipped.index, kid = ?skipped.kid, reason = %skipped.reason, "JWK skipped");
        }
        Ok(Fetched::New(Box::new(set), headers))
    }
}

fn header_string(headers: &http::HeaderMap, name: http::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// reqwest errors print the URL; the URL is configuration, but keep errors short and uniform.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad body"
    } else {
        "http error"
    };
    kind.to_owned()
}

impl KeySource for RemoteJwks {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        if let Some(set) = self.fresh() {
            return Box::pin(std::future::ready(Ok(set)));
        }
        Box::pin(self.keys_slow())
    }

    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        self.fresh()
    }

    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        Box::pin(self.after_unknown_kid(kid))
    }
}
