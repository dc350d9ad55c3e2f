//! [`RemoteJwksBuilder`]: the settings of a [`RemoteJwks`], checked at `build`.
use super::{Config, Counters, Inner, RemoteJwks, RemoteJwksError, State};
use iam_core::clock::{Clock, SystemClock};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Builds a [`RemoteJwks`].
pub struct RemoteJwksBuilder {
    url: String,
    cfg: Config,
    connect_timeout: Duration,
    http: Option<crate::HttpClient>,
    clock: Arc<dyn Clock>,
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
    /// Connect timeout of the built-in client (default 5 s; ignored with [`Self::http_client`]).
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
    /// Fetch with this client (proxy, custom CA, mTLS) and follow its transport policy (a
    /// later [`Self::transport_policy`] or [`Self::dangerous_allow_http`] replaces the
    /// policy). Its `reqwest` client's own timeouts apply as well.
    pub fn http_client(mut self, http: crate::HttpClient) -> Self {
        self.policy = http.policy().clone();
        self.http = Some(http);
        self
    }
    /// The wall clock, for an `Expires` answer without a `Date` (default: the system clock).
    /// Cooldowns and lifetimes run on [`tokio::time::Instant`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
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
        let http = match self.http {
            Some(http) => http.with_policy(self.policy),
            None => {
                let client = reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .timeout(self.cfg.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| RemoteJwksError::Client(e.to_string()))?;
                crate::HttpClient::with_client(client).with_policy(self.policy)
            }
        };
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                url,
                http,
                clock: self.clock,
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
            http: None,
            clock: Arc::new(SystemClock),
            policy: crate::transport::TransportPolicy::new(),
        }
    }
}
