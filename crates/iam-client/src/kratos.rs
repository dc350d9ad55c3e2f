//! Ory Kratos sessions: a session cookie or session token turned into a [`Principal`] by
//! Kratos's `GET /sessions/whoami`, cached, failing closed.
//!
//! ```no_run
//! use iam_client::kratos::KratosSessions;
//! use iam_client::JwtConfig;
//! use iam_core::authn::Requirement;
//! use iam_core::principal::AssuranceLevel;
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sessions = KratosSessions::builder("https://auth.example.com/.ory/kratos/public")
//!     .cookie_name("ory_kratos_session")          // the default
//!     .build()?;
//! // JWT bearers go to the JWT authenticator, sessions to Kratos: the chain decides by shape.
//! let chain = JwtConfig::from_env("IAM_")?.chain()?.with(sessions.clone());
//! // Admin areas: aal2, else 403 insufficient_user_authentication.
//! let admin_only = Requirement::assurance(AssuranceLevel::Aal2);
//! # let _ = (chain, admin_only); Ok(()) }
//! ```
//!
//! Credentials, in this order: `X-Session-Token`; an `Authorization: Bearer` that starts with
//! `ory_st_` (a bearer shaped like a JWT belongs to the JWT authenticator, any other opaque
//! bearer to whichever authenticator claims it); the session cookie. Only that one cookie is
//! sent to Kratos (`Cookie: name=value`), never the request's whole `Cookie` header.
//!
//! Answers: 200 with an active, unexpired session → a principal of kind `user_session`;
//! Kratos 401 (no, unknown or inactive session) → 401 `invalid_token`; Kratos 403
//! `session_aal2_required` → 403 `insufficient_user_authentication` (`acr_values="aal2"`);
//! Kratos unreachable, 5xx or unreadable → 503 (cached sessions keep working until their
//! TTL). A credential over 4 KiB is a 400 without a call.
//!
//! The principal: `subject` = identity id, `session_id`, `auth_time` = `authenticated_at`,
//! assurance level from `authenticator_assurance_level`, `amr` = the methods of
//! `authentication_methods`, `expires_at`; claims = the identity's traits plus
//! `email_verified` (true when a verified address equals `traits.email`); from
//! `metadata_public`: `roles` and `permissions` (arrays of strings, or space-separated
//! strings) and `tenant` (a string).
//!
//! Cache: in-process, bounded (10 000 entries), keyed by SHA-256 of the credential (the
//! credential itself is never stored), 60 s and never past the session's `expires_at`;
//! refusals for 5 s so a flood of bad cookies reaches Kratos once per distinct cookie per 5 s
//! at most. A shared [`SessionStore`] (Redis: [`RedisSessionStore`]) is consulted after the
//! in-process cache; when it fails, Kratos is asked directly and `stats().store_errors`
//! counts it. An entry read from the store is kept in process no longer than the store still
//! keeps it (its remaining lifetime, never a fresh TTL), so a fleet never holds a session
//! longer than one TTL after Kratos last confirmed it.
//!
//! Revocation: [`KratosSessions::purge_session`], [`KratosSessions::purge_identity`] and
//! [`KratosSessions::revoke_all_sessions`] purge the shared store, which announces the purge
//! to every instance sharing it (Redis pub/sub, [`SessionStore::watch_purges`]); each drops
//! the session from its in-process cache as soon as the message arrives (milliseconds). The
//! watch starts with the first request (it needs the tokio runtime) and reconnects after a
//! failure. Caveat, failing closed: while an instance's watch is not connected it cannot hear
//! purges, so it serves no session from its in-process cache (each request goes to the
//! store, then Kratos) and empties that cache when the watch is back. A store without a
//! watch (a custom [`SessionStore`]) keeps the in-process TTL as the revocation delay.
use crate::transport::{HttpClient, HttpError};
use iam_core::authn::{AuthError, Authenticator, BoxFuture, RequestView};
use iam_core::principal::{AssuranceLevel, Principal, PrincipalKind};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod store;
pub use store::{
    PurgeEvent, PurgeSink, RedisSessionStore, SessionStore, StoreError, StoredSession,
};

/// Kratos session tokens start with this.
pub const SESSION_TOKEN_PREFIX: &str = "ory_st_";
const MAX_CREDENTIAL: usize = 4096;

/// A Kratos client that cannot be built as configured, or a failed admin call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KratosError {
    /// A URL is not absolute http(s).
    #[error("invalid Kratos URL")]
    InvalidUrl,
    /// A URL is refused by the transport policy (https, or http to loopback).
    #[error(transparent)]
    Insecure(#[from] crate::transport::TransportPolicyError),
    /// The cookie name is not an RFC 6265 token.
    #[error("invalid session cookie name")]
    InvalidCookieName,
    /// Kratos could not be reached.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Kratos answered with an unexpected status.
    #[error("Kratos answered HTTP {0}")]
    Status(u16),
    /// Kratos's answer does not parse.
    #[error("unexpected answer from Kratos")]
    Malformed,
    /// No admin URL was configured.
    #[error("no Kratos admin URL configured")]
    NoAdmin,
    /// The shared session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters (monotonic since start); also sent to the `metrics` facade as
/// `iam_kratos_{cache_hits,store_hits,store_errors,whoami_calls,errors}_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KratosStats {
    /// Answered from the in-process cache.
    pub cache_hits: u64,
    /// Answered from the shared store.
    pub store_hits: u64,
    /// Shared store failures (each fell back to Kratos).
    pub store_errors: u64,
    /// Calls to `whoami`.
    pub whoami_calls: u64,
    /// Kratos unreachable or 5xx.
    pub kratos_errors: u64,
}

#[derive(Default)]
struct Counters {
    cache_hits: AtomicU64,
    store_hits: AtomicU64,
    store_errors: AtomicU64,
    whoami_calls: AtomicU64,
    kratos_errors: AtomicU64,
}

#[derive(Clone)]
enum Entry {
    Session {
        principal: Principal,
        identity_id: Arc<str>,
        until: Instant,
    },
    Refused {
        error: AuthError,
        until: Instant,
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
    /// Your HTTP client.
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }
    /// A cache shared by a fleet (see [`RedisSessionStore`]).
    pub fn store(mut self, store: impl SessionStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
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
                ttl: self.ttl,
                negative_ttl: self.negative_ttl,
                cache: quick_cache::sync::Cache::new(self.capacity.max(1)),
                http,
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

/// The purge watch: the task before it is started, its handle after.
struct Watch {
    pending: Option<BoxFuture<'static, ()>>,
    running: Option<tokio::task::AbortHandle>,
}

struct Inner {
    public: String,
    whoami: String,
    admin: Option<String>,
    admin_token: Option<String>,
    cookie_name: String,
    ttl: Duration,
    negative_ttl: Duration,
    cache: quick_cache::sync::Cache<[u8; 32], Entry>,
    http: HttpClient,
    store: Option<Arc<dyn SessionStore>>,
    counters: Counters,
    /// True while in-process session entries may be served: always without a purge watch,
    /// only while it is connected with one.
    live: AtomicBool,
    /// Bumped by every purge (local or announced): an answer fetched across a purge is not
    /// cached, since it may predate the revocation.
    purges: AtomicU64,
    /// Bumped by every purge and every change of the watch's connection: an answer fetched
    /// across one is not kept in process (a purge may have been missed meanwhile).
    epoch: AtomicU64,
    /// Fast check for "the watch still has to be started".
    watch_pending: AtomicBool,
    watch: Mutex<Watch>,
}

impl Inner {
    /// Bump the epoch, then drop what `keep` refuses: an insert racing with this either
    /// happens before the `retain` (and is dropped by it) or sees the new epoch (and drops
    /// itself).
    fn purge_local(&self, keep: impl Fn(&Entry) -> bool) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.retain(|_, e| keep(e));
    }

    fn on_purge(&self, event: PurgeEvent) {
        let sessions_only = |e: &Entry| matches!(e, Entry::Refused { .. });
        match event {
            PurgeEvent::Live => {
                self.purge_local(sessions_only);
                self.live.store(true, Ordering::SeqCst);
            }
            PurgeEvent::Lost => {
                self.live.store(false, Ordering::SeqCst);
                self.purge_local(sessions_only);
            }
            PurgeEvent::Session(id) => {
                self.purges.fetch_add(1, Ordering::SeqCst);
                self.purge_local(|e| match e {
                    Entry::Session { principal, .. } => principal.session_id() != Some(id.as_str()),
                    Entry::Refused { .. } => true,
                });
            }
            PurgeEvent::Identity(id) => {
                self.purges.fetch_add(1, Ordering::SeqCst);
                self.purge_local(|e| match e {
                    Entry::Session { identity_id, .. } => **identity_id != *id,
                    Entry::Refused { .. } => true,
                });
            }
        }
    }

    /// Start the purge watch on the current tokio runtime, once (a no-op outside one: the
    /// next call inside a runtime starts it).
    fn start_watch(&self) {
        if !self.watch_pending.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = watch.pending.take() {
            watch.running = Some(runtime.spawn(task).abort_handle());
            self.watch_pending.store(false, Ordering::Release);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let watch = self.watch.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = watch.running.take() {
            task.abort();
        }
    }
}

/// Kratos session verification; an [`Authenticator`] for the chain. Cheap to clone.
#[derive(Clone)]
pub struct KratosSessions {
    inner: Arc<Inner>,
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
enum Credential<'a> {
    Cookie(&'a str),
    Token(&'a str),
}

impl Credential<'_> {
    fn key(&self) -> [u8; 32] {
        let (tag, value) = match self {
            Self::Cookie(v) => (b'c', v),
            Self::Token(v) => (b't', v),
        };
        let mut h = Sha256::new();
        h.update([tag, 0]);
        h.update(value.as_bytes());
        h.finalize().into()
    }
    fn value(&self) -> &str {
        match self {
            Self::Cookie(v) | Self::Token(v) => v,
        }
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn rfc3339(s: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.timestamp())
}

#[derive(Deserialize)]
struct WireSession {
    id: String,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    authenticated_at: Option<String>,
    #[serde(default)]
    authenticator_assurance_level: Option<String>,
    #[serde(default)]
    authentication_methods: Option<Vec<WireMethod>>,
    identity: WireIdentity,
    #[serde(default)]
    tokenized: Option<String>,
}

#[derive(Deserialize)]
struct WireMethod {
    #[serde(default)]
    method: Option<String>,
}

#[derive(Deserialize)]
struct WireIdentity {
    id: String,
    #[serde(default)]
    traits: Value,
    #[serde(default)]
    metadata_public: Value,
    #[serde(default)]
    verifiable_addresses: Option<Vec<WireAddress>>,
}

#[derive(Deserialize)]
struct WireAddress {
    value: String,
    #[serde(default)]
    verified: bool,
}

#[derive(Deserialize)]
struct WireError {
    error: WireErrorBody,
}

#[derive(Deserialize)]
struct WireErrorBody {
    #[serde(default)]
    id: Option<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The principal of a `whoami` session body, or why it is refused (inactive, expired). The
/// shared store keeps bodies, so this also runs on what comes back from it.
fn principal_of(s: &WireSession, now: i64) -> Result<(Principal, i64), AuthError> {
    if s.active != Some(true) {
        return Err(AuthError::invalid_credential("session is not active"));
    }
    let expires = rfc3339(s.expires_at.as_deref())
        .ok_or_else(|| AuthError::unavailable("session service answered without an expiry"))?;
    if expires <= now {
        return Err(AuthError::invalid_credential("session has expired"));
    }
    let mut claims = match &s.identity.traits {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let verified = email.as_deref().is_some_and(|e| {
        s.identity
            .verifiable_addresses
            .iter()
            .flatten()
            .any(|a| a.verified && a.value.eq_ignore_ascii_case(e))
    });
    claims.insert("email_verified".into(), verified.into());
    let meta = s.identity.metadata_public.as_object();
    let mut b = Principal::builder(s.identity.id.clone(), PrincipalKind::UserSession)
        .session_id(s.id.clone())
        .expires_at(expires)
        .roles(strings(meta.and_then(|m| m.get("roles"))))
        .permissions(strings(meta.and_then(|m| m.get("permissions"))))
        .amr(
            s.authentication_methods
                .iter()
                .flatten()
                .filter_map(|m| m.method.clone()),
        )
        .claims(claims);
    if let Some(t) = meta.and_then(|m| m.get("tenant")).and_then(Value::as_str) {
        b = b.tenant(t);
    }
    if let Some(t) = rfc3339(s.authenticated_at.as_deref()) {
        b = b.auth_time(t);
    }
    if let Some(l) = s
        .authenticator_assurance_level
        .as_deref()
        .and_then(AssuranceLevel::from_name)
    {
        b = b.assurance_level(l);
    }
    Ok((b.build(), expires))
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
    fn fresh(&self, entry: Entry, now: Instant) -> Option<Result<Principal, AuthError>> {
        let answer = match entry {
            Entry::Session {
                principal, until, ..
            } if until > now
                && principal.expires_at().is_some_and(|e| e > now_unix())
                && self.inner.live.load(Ordering::SeqCst) =>
            {
                Ok(principal)
            }
            Entry::Refused { error, until } if until > now => Err(error),
            _ => return None,
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
        if let Some(answer) = inner.cache.get(&key).and_then(|e| self.fresh(e, now)) {
            return answer;
        }
        // One lookup per credential at a time: concurrent requests with the same new cookie
        // wait for the first one's answer instead of each asking Kratos (single flight).
        let mut guard = None;
        for _ in 0..3 {
            match inner.cache.get_value_or_guard_async(&key).await {
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
        let put = |entry: Entry| {
            // Sessions fetched across a purge are not kept (the guard is dropped: the next
            // waiter asks again); refusals always are.
            let session = matches!(entry, Entry::Session { .. });
            if session && !same_epoch() {
                return;
            }
            match guard {
                Some(g) => {
                    let _ = g.insert(entry);
                }
                None => inner.cache.insert(key, entry),
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
                        if let Ok((p, expires)) = principal_of(&s, now_unix()) {
                            inner.counters.store_hits.fetch_add(1, Ordering::Relaxed);
                            metrics::counter!("iam_kratos_store_hits_total").increment(1);
                            let left = self.ttl_for(expires).min(stored.remaining());
                            put(Entry::Session {
                                principal: p.clone(),
                                identity_id: s.identity.id.as_str().into(),
                                until: asked + left,
                            });
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
                put(self.entry(&principal, &session.identity.id, expires));
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
                    put(Entry::Refused {
                        error: e.clone(),
                        until: now + inner.negative_ttl,
                    });
                }
                Err(e)
            }
        }
    }

    fn ttl_for(&self, expires: i64) -> Duration {
        let left = u64::try_from(expires - now_unix()).unwrap_or(0);
        self.inner.ttl.min(Duration::from_secs(left))
    }

    fn entry(&self, principal: &Principal, identity_id: &str, expires: i64) -> Entry {
        Entry::Session {
            principal: principal.clone(),
            identity_id: identity_id.into(),
            until: Instant::now() + self.ttl_for(expires),
        }
    }

    /// One `whoami` call. Returns the raw body of a good answer (for the shared store).
    #[allow(clippy::type_complexity)]
    async fn whoami(
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
                Ok(s) => match principal_of(&s, now_unix()) {
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

    /// Forget one session in both caches (after a logout you observed).
    /// With a shared store, every instance sharing it forgets it too (see the module docs).
    pub async fn purge_session(&self, session_id: &str) -> Result<(), KratosError> {
        self.inner.start_watch();
        self.inner
            .on_purge(PurgeEvent::Session(session_id.to_owned()));
        if let Some(store) = &self.inner.store {
            store.purge_session(session_id).await?;
        }
        Ok(())
    }

    /// Forget every session of an identity in both caches.
    /// With a shared store, every instance sharing it forgets them too.
    pub async fn purge_identity(&self, identity_id: &str) -> Result<(), KratosError> {
        self.inner.start_watch();
        self.inner
            .on_purge(PurgeEvent::Identity(identity_id.to_owned()));
        if let Some(store) = &self.inner.store {
            store.purge_identity(identity_id).await?;
        }
        Ok(())
    }

    /// "Log out everywhere": revoke every session of the identity through Kratos's admin
    /// API (`DELETE /admin/identities/{id}/sessions`), then purge both caches, on every
    /// instance sharing the store.
    pub async fn revoke_all_sessions(&self, identity_id: &str) -> Result<(), KratosError> {
        let admin = self.inner.admin.as_deref().ok_or(KratosError::NoAdmin)?;
        let mut req = http::Request::delete(format!(
            "{admin}/admin/identities/{}/sessions",
            url_escape(identity_id)
        ));
        if let Some(t) = &self.inner.admin_token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Vec::new()).map_err(|_| KratosError::InvalidUrl)?;
        let res = self.inner.http.call(req).await?;
        // 204: revoked; 404: no such identity (nothing to revoke, purge anyway).
        match res.status().as_u16() {
            204 | 404 => {}
            other => return Err(KratosError::Status(other)),
        }
        self.purge_identity(identity_id).await
    }

    /// Exchange a session for a JWT signed by Kratos (`whoami?tokenize_as=template`, Kratos
    /// v1.2+). `session` is the cookie value, or a session token (`ory_st_...`). Validate the
    /// JWT elsewhere with [`crate::JwtConfig`]: issuer = the Kratos public URL, `jwks_url` =
    /// the template's; its `sid` becomes the principal's session id.
    pub async fn tokenize(&self, session: &str, template: &str) -> Result<String, AuthError> {
        let cred = if session.starts_with(SESSION_TOKEN_PREFIX) {
            Credential::Token(session)
        } else {
            Credential::Cookie(session)
        };
        match self.whoami(cred, Some(template)).await {
            (_, Ok((s, _, _))) => s
                .tokenized
                .ok_or_else(|| AuthError::unavailable("the session service returned no token")),
            (_, Err(e)) => Err(e),
        }
    }
}

/// Validate Kratos session JWTs (from [`KratosSessions::tokenize`]) locally, with no call to
/// Kratos: issuer = `kratos_public_url` (byte for byte, as Kratos writes it in `iss`), keys
/// from the tokenize template's `jwks_url`, `sid` required (it becomes the principal's session
/// id). Kratos's session JWTs carry no audience unless the template's claims mapper adds one:
/// pass `audience` when yours does; with `None` any audience is accepted, which is only right
/// when every template of that Kratos is meant for the services that trust this key.
pub fn session_jwt_authenticator(
    kratos_public_url: &str,
    jwks_url: &str,
    audience: Option<&str>,
    http: &HttpClient,
) -> Result<iam_core::authn::JwtAuthenticator<crate::RemoteJwks>, crate::JwtConfigError> {
    let mut b = iam_core::jwt::Validator::builder(kratos_public_url).require_claim("sid");
    b = match audience {
        Some(a) => b.audience(a),
        None => b.dangerous().accept_any_audience(),
    };
    let keys = crate::RemoteJwks::builder(jwks_url)
        .client(http.client().clone())
        .build()?;
    Ok(iam_core::authn::JwtAuthenticator::new(b.build()?, keys))
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
        let entry = self.inner.cache.get(&cred.key())?;
        self.fresh(entry, Instant::now()).map(|r| r.map(Some))
    }
}
