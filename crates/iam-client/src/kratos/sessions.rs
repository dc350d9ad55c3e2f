//! [`KratosSessions`]: the authenticator, its builder, the caches and the purge watch.
use super::purge::Watch;
use super::store::{PurgeSink, SessionStore};
use super::wire::{principal_of, url_escape, WireError, WireSession};
use super::{KratosError, KratosStats, MAX_CREDENTIAL, SESSION_TOKEN_PREFIX};
use crate::answer_cache::{AnswerCache, Cached, Key};
use crate::transport::HttpClient;
use iam_core::authn::{AuthError, Authenticator, BoxFuture, RequestView};
use iam_core::clock::{Clock, SystemClock};
use iam_core::principal::{AssuranceLevel, Principal};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counters {
    cache_hits: AtomicU64,
    store_hits: AtomicU64,
    store_errors: AtomicU64,
    whoami_calls: AtomicU64,
    kratos_errors: AtomicU64,
}

/// A cached answer of Kratos.
#[derive(Clone)]
pub(super) enum Entry {
    Session {
        principal: Principal,
        identity_id: Arc<str>,
    },
    Refused {
        error: AuthError,
    },
}

/// Builder for [`KratosSessions`].
pub struct KratosSessionsBuilder {
    public_url: String,
    admin_url: Option<String>,
    admin_token: Option<String>,
    cookie_name: String,
    ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
    http: Option<HttpClient>,
    store: Option<Arc<dyn SessionStore>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for KratosSessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KratosSessionsBuilder")
            .field("public_url", &self.public_url)
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

impl KratosSessionsBuilder {
    /// The session cookie's name (default `ory_kratos_session`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }
    /// How long a valid session is cached (default 60 s; never past its `expires_at`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// How long a refusal is cached (default 5 s).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }
    /// In-process cache entries (default 10 000).
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }
    /// Kratos's admin API, for [`KratosSessions::revoke_all_sessions`]; `token` is sent as
    /// a bearer when set (Ory Network API keys).
    pub fn admin(mut self, url: impl Into<String>, token: Option<String>) -> Self {
        self.admin_url = Some(url.into());
        self.admin_token = token;
        self
    }
    /// Send requests with this client (default: [`HttpClient::new`]); its transport policy
    /// checks the URLs.
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }
    /// A cache shared by a fleet (see `RedisSessionStore`, feature `redis`).
    pub fn store(mut self, store: impl SessionStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }
    /// The clock session expiries are checked against (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Check the URLs and build. Nothing is fetched.
    pub fn build(self) -> Result<KratosSessions, KratosError> {
        let base = |u: &str| -> Result<String, KratosError> {
            let url = url::Url::parse(u).map_err(|_| KratosError::InvalidUrl)?;
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(KratosError::InvalidUrl);
            }
            Ok(url.as_str().trim_end_matches('/').to_owned())
        };
        let public = base(&self.public_url)?;
        let admin = self.admin_url.as_deref().map(base).transpose()?;
        use crate::transport::{check_with, UrlRole};
        check_with(self.http.as_ref(), &public, UrlRole::KratosPublic)?;
        if let Some(admin) = &admin {
            check_with(self.http.as_ref(), admin, UrlRole::KratosAdmin)?;
        }
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        {
            return Err(KratosError::InvalidCookieName);
        }
        let http = match self.http {
            Some(h) => h,
            None => HttpClient::new()?,
        };
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| {
            let me = me.clone();
            let sink: PurgeSink = Arc::new(move |event| {
                if let Some(inner) = me.upgrade() {
                    inner.on_purge(event);
                }
            });
            let watch = self.store.as_ref().and_then(|s| s.watch_purges(sink));
            Inner {
                whoami: format!("{public}/sessions/whoami"),
                public,
                admin,
                admin_token: self.admin_token,
                cookie_name: self.cookie_name,
                cache: AnswerCache::new(self.capacity, self.ttl, self.negative_ttl),
                http,
                clock: self.clock,
                store: self.store,
                counters: Counters::default(),
                // Without a watch the in-process cache is trusted as before (TTL-bounded).
                live: AtomicBool::new(watch.is_none()),
                purges: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                watch_pending: AtomicBool::new(watch.is_some()),
                watch: Mutex::new(Watch {
                    pending: watch,
                    running: None,
                }),
            }
        });
        Ok(KratosSessions { inner })
    }
}

pub(super) struct Inner {
    public: String,
    whoami: String,
    pub(super) admin: Option<String>,
    pub(super) admin_token: Option<String>,
    cookie_name: String,
    pub(super) cache: AnswerCache<Entry>,
    pub(super) http: HttpClient,
    clock: Arc<dyn Clock>,
    pub(super) store: Option<Arc<dyn SessionStore>>,
    counters: Counters,
    /// True while in-process session entries may be served: always without a purge watch,
    /// only while it is connected with one.
    pub(super) live: AtomicBool,
    /// Bumped by every purge (local or announced): an answer fetched across a purge is not
    /// cached, since it may predate the revocation.
    pub(super) purges: AtomicU64,
    /// Bumped by every purge and every change of the watch's connection: an answer fetched
    /// across one is not kept in process (a purge may have been missed meanwhile).
    pub(super) epoch: AtomicU64,
    /// Fast check for "the watch still has to be started".
    pub(super) watch_pending: AtomicBool,
    pub(super) watch: Mutex<Watch>,
}

/// Kratos session verification; an [`Authenticator`] for the chain. Cheap to clone.
#[derive(Clone)]
pub struct KratosSessions {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for KratosSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KratosSessions")
            .field("public_url", &self.inner.public)
            .field("cookie_name", &self.inner.cookie_name)
            .finish_non_exhaustive()
    }
}

/// Which credential a request carried.
#[derive(Clone, Copy)]
pub(super) enum Credential<'a> {
    Cookie(&'a str),
    Token(&'a str),
}

impl Credential<'_> {
    fn key(&self) -> Key {
        let (tag, value) = match self {
            Self::Cookie(v) => (b'c', v),
            Self::Token(v) => (b't', v),
        };
        AnswerCache::<Entry>::tagged_key(tag, value.as_bytes())
    }
    fn value(&self) -> &str {
        match self {
            Self::Cookie(v) | Self::Token(v) => v,
        }
    }
}

impl KratosSessions {
    /// Sessions of the Kratos whose public API is at `public_url`.
    pub fn builder(public_url: impl Into<String>) -> KratosSessionsBuilder {
        KratosSessionsBuilder {
            public_url: public_url.into(),
            admin_url: None,
            admin_token: None,
            cookie_name: "ory_kratos_session".into(),
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            capacity: 10_000,
            http: None,
            store: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Counters.
    pub fn stats(&self) -> KratosStats {
        let c = &self.inner.counters;
        KratosStats {
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            store_hits: c.store_hits.load(Ordering::Relaxed),
            store_errors: c.store_errors.load(Ordering::Relaxed),
            whoami_calls: c.whoami_calls.load(Ordering::Relaxed),
            kratos_errors: c.kratos_errors.load(Ordering::Relaxed),
        }
    }

    fn credential<'r>(
        &self,
        request: &RequestView<'r>,
    ) -> Result<Option<Credential<'r>>, AuthError> {
        let found = if let Some(t) = request.session_token()? {
            Some(Credential::Token(t))
        } else if let Some(t) = request
            .opaque_bearer()?
            .filter(|t| t.starts_with(SESSION_TOKEN_PREFIX))
        {
            Some(Credential::Token(t))
        } else {
            request
                .cookie(&self.inner.cookie_name)?
                .map(Credential::Cookie)
        };
        match found {
            Some(c) if c.value().len() > MAX_CREDENTIAL => Err(AuthError::invalid_request(
                "session credential is too large",
            )),
            // A fold, not `all`: no early exit, so it compiles to wide compares (every request).
            Some(c)
                if !c
                    .value()
                    .bytes()
                    .fold(true, |ok, b| ok & b.is_ascii_graphic()) =>
            {
                Err(AuthError::invalid_credential(
                    "session credential is malformed",
                ))
            }
            other => Ok(other),
        }
    }

    /// The answer of a cache entry that is still good (counted as a hit), `None` when stale.
    fn fresh(&self, entry: Cached<Entry>, now: Instant) -> Option<Result<Principal, AuthError>> {
        if entry.until <= now {
            return None;
        }
        let answer = match entry.answer {
            Entry::Session { principal, .. }
                if principal
                    .expires_at()
                    .is_some_and(|e| e > self.inner.clock.now_unix())
                    && self.inner.live.load(Ordering::SeqCst) =>
            {
                Ok(principal)
            }
            Entry::Refused { error } => Err(error),
            Entry::Session { .. } => return None,
        };
        self.inner
            .counters
            .cache_hits
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("iam_kratos_cache_hits_total").increment(1);
        Some(answer)
    }

    /// Verify one credential: caches, then Kratos.
    async fn verify(&self, cred: Credential<'_>) -> Result<Principal, AuthError> {
        let inner = &*self.inner;
        inner.start_watch();
        let key = cred.key();
        let now = Instant::now();
        // A purge from here on means the answer below may predate a revocation: it is not
        // kept in process (nor in the store); nor in process when the watch reconnected.
        let purges = inner.purges.load(Ordering::SeqCst);
        let epoch = inner.epoch.load(Ordering::SeqCst);
        let unpurged = || inner.purges.load(Ordering::SeqCst) == purges;
        let same_epoch = || inner.epoch.load(Ordering::SeqCst) == epoch;
        // A hit needs none of the single-flight machinery below.
        if let Some(answer) = inner.cache.entry(&key).and_then(|e| self.fresh(e, now)) {
            return answer;
        }
        // One lookup per credential at a time: concurrent requests with the same new cookie
        // wait for the first one's answer instead of each asking Kratos (single flight).
        let mut guard = None;
        for _ in 0..3 {
            match inner.cache.get_or_guard(&key).await {
                Ok(entry) => match self.fresh(entry, now) {
                    Some(answer) => return answer,
                    None => {
                        inner.cache.remove(&key);
                    }
                },
                Err(g) => {
                    guard = Some(g);
                    break;
                }
            }
        }
        let put = |entry: Entry, until: Instant| {
            // Sessions fetched across a purge are not kept (the guard is dropped: the next
            // waiter asks again); refusals always are.
            let session = matches!(entry, Entry::Session { .. });
            if session && !same_epoch() {
                return;
            }
            match guard {
                Some(g) if until > Instant::now() => {
                    let _ = g.insert(Cached {
                        answer: entry,
                        until,
                    });
                }
                // Already stale: not kept (the guard is dropped, the next waiter asks again).
                Some(_) => {}
                None => inner.cache.insert(key, entry, until),
            }
            // A purge between the check and the insert: its `retain` may have run before the
            // insert, so the entry goes now.
            if session && !same_epoch() {
                inner.cache.remove(&key);
            }
        };
        if let Some(store) = &inner.store {
            // Taken before the read, so the entry ends no later than the store's does.
            let asked = Instant::now();
            match store.get(&key).await {
                Ok(Some(stored)) => {
                    if let Ok(s) = serde_json::from_slice::<WireSession>(stored.body()) {
                        if let Ok((p, expires)) = principal_of(&s, inner.clock.now_unix()) {
                            inner.counters.store_hits.fetch_add(1, Ordering::Relaxed);
                            metrics::counter!("iam_kratos_store_hits_total").increment(1);
                            let left = self.ttl_for(expires).min(stored.remaining());
                            put(
                                Entry::Session {
                                    principal: p.clone(),
                                    identity_id: s.identity.id.as_str().into(),
                                },
                                asked + left,
                            );
                            return Ok(p);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("iam_kratos_store_errors_total").increment(1);
                    tracing::warn!(error = %e, "session store failed; asking Kratos directly");
                }
            }
        }
        let (body, outcome) = self.whoami(cred, None).await;
        match outcome {
            Ok((session, principal, expires)) => {
                let session_entry = Entry::Session {
                    principal: principal.clone(),
                    identity_id: session.identity.id.as_str().into(),
                };
                put(session_entry, Instant::now() + self.ttl_for(expires));
                if let (Some(store), Some(body), true) = (&inner.store, body, unpurged()) {
                    let ttl = self.ttl_for(expires);
                    if let Err(e) = store
                        .put(&key, &body, ttl, &session.id, &session.identity.id)
                        .await
                    {
                        inner.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("iam_kratos_store_errors_total").increment(1);
                        tracing::warn!(error = %e, "session store failed to keep a session");
                    }
                }
                Ok(principal)
            }
            Err(e) => {
                // Refusals are cached briefly; outages are not (the guard is dropped, the
                // next waiter asks again).
                if e.status() == http::StatusCode::UNAUTHORIZED {
                    put(
                        Entry::Refused { error: e.clone() },
                        inner.cache.negative_until(now),
                    );
                }
                Err(e)
            }
        }
    }

    /// How long a session expiring at `expires` is kept: the TTL, never past its expiry.
    fn ttl_for(&self, expires: i64) -> Duration {
        let left = u64::try_from(expires - self.inner.clock.now_unix()).unwrap_or(0);
        self.inner.cache.ttl().min(Duration::from_secs(left))
    }

    /// One `whoami` call. Returns the raw body of a good answer (for the shared store).
    #[allow(clippy::type_complexity)]
    pub(super) async fn whoami(
        &self,
        cred: Credential<'_>,
        tokenize_as: Option<&str>,
    ) -> (
        Option<Vec<u8>>,
        Result<(WireSession, Principal, i64), AuthError>,
    ) {
        let inner = &*self.inner;
        inner.counters.whoami_calls.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("iam_kratos_whoami_calls_total").increment(1);
        let mut url = inner.whoami.clone();
        if let Some(t) = tokenize_as {
            url = format!("{url}?tokenize_as={}", url_escape(t));
        }
        let mut req = http::Request::get(url).header(http::header::ACCEPT, "application/json");
        req = match cred {
            Credential::Cookie(v) => {
                req.header(http::header::COOKIE, format!("{}={v}", inner.cookie_name))
            }
            Credential::Token(v) => req.header("x-session-token", v),
        };
        let unavailable = || AuthError::unavailable("the session service is unavailable");
        let Ok(req) = req.body(Vec::new()) else {
            return (
                None,
                Err(AuthError::invalid_credential(
                    "session credential is malformed",
                )),
            );
        };
        let res = match inner.http.call(req).await {
            Ok(r) => r,
            Err(e) => {
                inner.counters.kratos_errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("iam_kratos_errors_total").increment(1);
                tracing::warn!(error = %e, "Kratos whoami failed");
                return (None, Err(unavailable()));
            }
        };
        let status = res.status().as_u16();
        let body = res.into_body();
        match status {
            200 => match serde_json::from_slice::<WireSession>(&body) {
                Ok(s) => match principal_of(&s, inner.clock.now_unix()) {
                    Ok((p, expires)) => (Some(body), Ok((s, p, expires))),
                    Err(e) => (None, Err(e)),
                },
                Err(_) => {
                    inner.counters.kratos_errors.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("iam_kratos_errors_total").increment(1);
                    (None, Err(unavailable()))
                }
            },
            401 => (
                None,
                Err(AuthError::invalid_credential("session is not valid")),
            ),
            // Kratos answers 400 for a tokenize template it does not know (or cannot use):
            // a configuration error of the caller, not a bad session.
            400 if tokenize_as.is_some() => {
                let reason = serde_json::from_slice::<WireError>(&body)
                    .ok()
                    .and_then(|e| e.error.reason)
                    .map(|r| r.chars().take(200).collect::<String>())
                    .unwrap_or_else(|| "no reason given".into());
                tracing::warn!(reason = %reason, "Kratos refused the tokenize template");
                (
                    None,
                    Err(AuthError::invalid_request(format!(
                        "Kratos refused the tokenize template (unknown or unusable template?): {reason}"
                    ))),
                )
            }
            403 => {
                let id = serde_json::from_slice::<WireError>(&body)
                    .ok()
                    .and_then(|e| e.error.id);
                if id.as_deref() == Some("session_aal2_required") {
                    (
                        None,
                        Err(AuthError::insufficient_assurance(AssuranceLevel::Aal2)),
                    )
                } else {
                    (
                        None,
                        Err(AuthError::forbidden(
                            "the session service refused the session",
                        )),
                    )
                }
            }
            500..=599 => {
                inner.counters.kratos_errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("iam_kratos_errors_total").increment(1);
                (None, Err(unavailable()))
            }
            _ => (
                None,
                Err(AuthError::invalid_credential("session is not valid")),
            ),
        }
    }
}

impl Authenticator for KratosSessions {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            match self.credential(request)? {
                Some(c) => self.verify(c).await.map(Some),
                None => Ok(None),
            }
        })
    }

    /// Answers from the in-process cache; a miss (or a stale entry) waits for `authenticate`.
    fn authenticate_now(
        &self,
        request: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthError>> {
        let cred = match self.credential(request) {
            Ok(Some(c)) => c,
            other => return Some(other.map(|_| None)),
        };
        let entry = self.inner.cache.entry(&cred.key())?;
        self.fresh(entry, Instant::now()).map(|r| r.map(Some))
    }
}
