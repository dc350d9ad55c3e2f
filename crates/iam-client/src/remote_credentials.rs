//! The remote [`CredentialVerifier`]: the credential service's `POST /validate`, cached.
//!
//! ```no_run
//! use iam_client::remote_credentials::RemoteCredentials;
//! use iam_core::authn::AuthChain;
//! use iam_core::credential::{CredentialAuthenticator, RouteScopes};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = RemoteCredentials::builder("https://credentials.internal:4000", "svc_...").build()?;
//! let chain = AuthChain::new().with(
//!     CredentialAuthenticator::new(verifier)
//!         .route_scopes(RouteScopes::new().route("GET", "/orders/**", "orders:read")?),
//! );
//! # let _ = chain; Ok(()) }
//! ```
//!
//! Valid answers are cached 30 s (never past the credential's expiry), refusals 5 s, keyed by
//! SHA-256 of the token, 10 000 entries: a revocation takes effect everywhere within 30 s, and
//! at once on the service that revoked. The service unreachable, failing, or refusing this
//! caller (401/403 to the caller token) → 503 for the request (never a pass).
//!
//! A 429 from the service limits one token or one end client, never this caller: it is
//! that request's refusal (401 `invalid token`, not cached), never a 503 for everyone.
//! The end client's address is forwarded ([`CLIENT_IP_HEADER`]) so the service charges
//! failures to that client: through an authenticator chain when a trusted layer put an
//! [`iam_core::authn::ClientAddr`] in the request extensions (never the socket peer by itself:
//! behind a load balancer that would be one address for every client), or directly with
//! [`RemoteCredentials::verify_for_client`].
use crate::answer_cache::{AnswerCache, Key};
use crate::transport::{HttpClient, HttpError};
use iam_core::authn::BoxFuture;
use iam_core::clock::{Clock, SystemClock};
use iam_core::credential::{
    CredentialError, CredentialKind, CredentialVerifier, ParsedToken, VerifiedCredential,
};
use iam_core::scope::ScopeSet;
use iam_core::Principal;
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// The header in which [`RemoteCredentials`] forwards the end client's address to the
/// credential service (honoured from authenticated callers only).
pub const CLIENT_IP_HEADER: &str = "x-iam-client-ip";
use std::time::{Duration, Instant};

/// A remote verifier that cannot be built as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteCredentialsError {
    /// Not an absolute http(s) URL.
    #[error("invalid credential service URL")]
    InvalidUrl,
    /// The URL is refused by the transport policy (https, or http to loopback).
    #[error(transparent)]
    Insecure(#[from] crate::transport::TransportPolicyError),
    /// The caller token is not a service token (`svc_...`) or is malformed.
    #[error("the caller token must be a service token (svc_...)")]
    CallerToken,
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Builder for [`RemoteCredentials`].
pub struct RemoteCredentialsBuilder {
    url: String,
    caller: String,
    ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
    http: Option<HttpClient>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RemoteCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCredentialsBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RemoteCredentialsBuilder {
    /// Positive cache lifetime (default 30 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Negative cache lifetime (default 5 s).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }
    /// Cache entries (default 10 000).
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }
    /// Send requests with this client (default: [`HttpClient::new`]); its transport policy
    /// checks the URLs.
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }
    /// The clock expiries are checked against (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Check and build.
    pub fn build(self) -> Result<RemoteCredentials, RemoteCredentialsError> {
        let url = url::Url::parse(&self.url).map_err(|_| RemoteCredentialsError::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(RemoteCredentialsError::InvalidUrl);
        }
        let role = crate::transport::UrlRole::CredentialService;
        crate::transport::check_with(self.http.as_ref(), url.as_str(), role)?;
        if !self.caller.starts_with("svc_")
            || !self
                .caller
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(RemoteCredentialsError::CallerToken);
        }
        let http = match self.http {
            Some(h) => h,
            None => HttpClient::new()?,
        };
        Ok(RemoteCredentials {
            validate: format!("{}/validate", url.as_str().trim_end_matches('/')),
            caller: self.caller,
            cache: AnswerCache::new(self.capacity, self.ttl, self.negative_ttl),
            http,
            clock: self.clock,
        })
    }
}

/// A cached answer of the service.
#[derive(Clone)]
enum Entry {
    /// The answer and its principal, built once.
    Valid(Cached),
    Refused(CredentialError),
}

/// The credential service as a [`CredentialVerifier`]; see the [module docs](self).
pub struct RemoteCredentials {
    validate: String,
    caller: String,
    cache: AnswerCache<Entry>,
    http: HttpClient,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RemoteCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The caller token is a secret: not shown.
        f.debug_struct("RemoteCredentials")
            .field("validate", &self.validate)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    valid: bool,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

impl RemoteCredentials {
    /// The service at `url`, called with the service token `caller` (`svc_...`).
    pub fn builder(url: impl Into<String>, caller: impl Into<String>) -> RemoteCredentialsBuilder {
        RemoteCredentialsBuilder {
            url: url.into(),
            caller: caller.into(),
            ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            capacity: 10_000,
            http: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// [`CredentialVerifier::verify_principal`], forwarding the address of the end client
    /// that presented the token ([`CLIENT_IP_HEADER`]): the service then charges failed
    /// validations to that client rather than to this caller. Answers are cached as usual.
    pub async fn verify_for_client(
        &self,
        token: ParsedToken<'_>,
        client: IpAddr,
    ) -> Result<Principal, CredentialError> {
        self.answer(token, Some(client)).await.map(|v| v.1.clone())
    }

    /// Forget every cached answer (after a revocation you know of).
    pub fn clear(&self) {
        self.cache.clear();
    }

    async fn ask(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<VerifiedCredential, Refused> {
        let body = serde_json::json!({ "token": token })
            .to_string()
            .into_bytes();
        let mut req = http::Request::post(&self.validate)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.caller),
            )
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(ip) = client {
            req = req.header(CLIENT_IP_HEADER, ip.to_string());
        }
        let req = req
            .body(body)
            .map_err(|_| Refused::Answer(CredentialError::Unavailable))?;
        let res = self.http.call(req).await.map_err(|e| {
            tracing::warn!(error = %e, "credential service unreachable");
            Refused::Answer(CredentialError::Unavailable)
        })?;
        let status = res.status().as_u16();
        let answer: Option<Answer> = serde_json::from_slice(res.body()).ok();
        match (status, answer) {
            (200, Some(a)) if a.valid => {
                let bad = Refused::Answer(CredentialError::Unavailable);
                let kind = a
                    .kind
                    .as_deref()
                    .and_then(CredentialKind::from_name)
                    .ok_or(bad.clone())?;
                Ok(VerifiedCredential {
                    kind,
                    id: a.id.ok_or(bad.clone())?,
                    owner: a.owner.ok_or(bad)?,
                    tenant: a.tenant,
                    scopes: ScopeSet::from_iter(a.scopes),
                    expires_at: a.expires_at,
                })
            }
            (401, Some(a)) if a.error.as_deref() == Some("token_expired") => {
                Err(Refused::Answer(CredentialError::Expired))
            }
            (401, Some(a)) if !a.valid => Err(Refused::Answer(CredentialError::Invalid)),
            (429, _) => {
                // This token (or end client) is limited, not this caller: refuse the request
                // it came with, and only that one.
                tracing::debug!("credential service rate-limited a token");
                Err(Refused::Limited)
            }
            (other, _) => {
                // 403 / 5xx / anything unexpected: this caller cannot get an answer.
                tracing::warn!(status = other, "credential service refused to validate");
                Err(Refused::Answer(CredentialError::Unavailable))
            }
        }
    }
}

type Cached = Arc<(VerifiedCredential, Principal)>;

/// Why `/validate` gave no credential.
#[derive(Clone)]
enum Refused {
    /// The service's answer for this token (or its outage).
    Answer(CredentialError),
    /// 429: this token or end client is limited for now (not cached).
    Limited,
}

impl RemoteCredentials {
    /// The cached answer for this token digest, while it lasts.
    fn cached(&self, key: &Key, now: Instant) -> Option<Result<Cached, CredentialError>> {
        match self.cache.get(key, now)? {
            Entry::Valid(v) if v.0.expires_at.is_none_or(|e| e > self.clock.now_unix()) => {
                Some(Ok(v))
            }
            Entry::Refused(e) => Some(Err(e)),
            Entry::Valid(_) => None,
        }
    }

    fn cached_now(&self, token: &ParsedToken<'_>) -> Option<Result<Cached, CredentialError>> {
        let key = AnswerCache::<Entry>::key(token.secret().as_bytes());
        self.cached(&key, Instant::now())
    }

    /// The cached answer, else the service's (then cached: valid ones for the TTL and never
    /// past the credential's expiry, refusals for the negative TTL, outages not at all).
    async fn answer(
        &self,
        token: ParsedToken<'_>,
        client: Option<IpAddr>,
    ) -> Result<Cached, CredentialError> {
        let key = AnswerCache::<Entry>::key(token.secret().as_bytes());
        let now = Instant::now();
        if let Some(answer) = self.cached(&key, now) {
            return answer;
        }
        match self.ask(token.secret(), client).await {
            Ok(v) => {
                let now_unix = self.clock.now_unix();
                let left = v
                    .expires_at
                    .map(|e| Duration::from_secs(u64::try_from(e - now_unix).unwrap_or(0)));
                let principal = v.principal();
                let answer = Arc::new((v, principal));
                let until = self.cache.positive_until(now, left);
                self.cache
                    .insert(key, Entry::Valid(Arc::clone(&answer)), until);
                Ok(answer)
            }
            Err(Refused::Limited) => Err(CredentialError::Invalid),
            Err(Refused::Answer(e)) => {
                if matches!(e, CredentialError::Invalid | CredentialError::Expired) {
                    let until = self.cache.negative_until(now);
                    self.cache.insert(key, Entry::Refused(e.clone()), until);
                }
                Err(e)
            }
        }
    }
}

impl CredentialVerifier for RemoteCredentials {
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>> {
        Box::pin(async move { self.answer(token, None).await.map(|v| v.0.clone()) })
    }
    fn verify_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<VerifiedCredential, CredentialError>> {
        self.cached_now(token).map(|r| r.map(|v| v.0.clone()))
    }
    /// The principal is built once per cached answer, not per request.
    fn verify_principal<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        Box::pin(async move { self.answer(token, None).await.map(|v| v.1.clone()) })
    }
    fn verify_principal_now(
        &self,
        token: &ParsedToken<'_>,
    ) -> Option<Result<Principal, CredentialError>> {
        self.cached_now(token).map(|r| r.map(|v| v.1.clone()))
    }
    /// Forwards `client` ([`CLIENT_IP_HEADER`]) when the request's
    /// [`ClientAddr`](iam_core::authn::ClientAddr) is known.
    fn verify_principal_from<'a>(
        &'a self,
        token: ParsedToken<'a>,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<Principal, CredentialError>> {
        Box::pin(async move { self.answer(token, client).await.map(|v| v.1.clone()) })
    }
}
