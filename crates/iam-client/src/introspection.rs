//! Token introspection (RFC 7662) as an authenticator for opaque tokens, and revocation
//! (RFC 7009).
//!
//! ```no_run
//! use iam_client::{HttpClient, Introspection};
//! use iam_core::authn::AuthChain;
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let introspection = Introspection::builder(
//!     "https://auth.example.com/oauth2/introspect", "orders-api", "resource-server-secret",
//! )
//! .audience("https://orders.example.com") // required, or `.dangerous().accept_any_audience()`
//! .revocation_endpoint("https://auth.example.com/oauth2/revoke")
//! .build(HttpClient::new()?)?;
//! let chain = AuthChain::new().with(introspection);
//! # let _ = chain; Ok(()) }
//! ```
//!
//! Active answers are cached, keyed by the SHA-256 of the token (never the token), for at
//! most 60 s and never past the token's `exp`; inactive answers for 5 s, so a flood of junk
//! tokens does not become a flood on the authorization server. Bearer tokens shaped like a
//! JWT are left to the JWT authenticator. When the server cannot be reached the answer is
//! 503, never a pass.
//!
//! What counts as an access token here:
//! - `active` is `true`, `exp` (when present) is in the future, `iss` is the configured issuer
//!   (when one is configured);
//! - `aud` names the configured audience: the check is on by default, and `build` refuses a
//!   configuration with neither [`IntrospectionBuilder::audience`] nor
//!   `.dangerous().accept_any_audience()` (a token minted for another resource server of the
//!   same authorization server would otherwise pass);
//! - `token_use`, when present, is `access_token` (Hydra reports refresh tokens as active too),
//!   and `token_type`, when present, does not name a refresh token.
//!
//! Caveats: credentials of another kind are never sent to the introspection endpoint, so they
//! cannot leak to the authorization server: personal access tokens, API keys and service
//! tokens (`pat_`, `key_`, `svc_`) and Kratos session tokens (`ory_st_`) are "not mine" for
//! the authenticator (the next one in the chain decides) and inactive for
//! [`Introspection::introspect`]; Hydra refresh tokens and authorization codes (`ory_rt_`,
//! `ory_ac_`) are inactive without a call.
use crate::answer_cache::{AnswerCache, Key};
use crate::transport::HttpClient;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use iam_core::authn::{AuthError, Authenticator, BoxFuture, RequestView};
use iam_core::clock::{Clock, SystemClock};
use iam_core::principal::{Principal, PrincipalKind};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Introspection or revocation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// An endpoint URL is invalid.
    #[error("invalid endpoint URL")]
    InvalidUrl,
    /// An endpoint URL is refused by the transport policy (https, or http to loopback).
    #[error(transparent)]
    Insecure(#[from] crate::transport::TransportPolicyError),
    /// No revocation endpoint was configured.
    #[error("no revocation endpoint configured")]
    NoRevocationEndpoint,
    /// The server could not be reached, refused our credentials, or answered nonsense.
    #[error("authorization server unavailable: {0}")]
    Unavailable(String),
    /// Neither an audience nor `dangerous().accept_any_audience()` was configured, or the
    /// audience is empty.
    #[error("no audience configured for introspection")]
    NoAudience,
    /// [`Introspection::revoke`] was given a credential of another kind (`pat_`, `key_`,
    /// `svc_`, `ory_st_`): it is not sent to the authorization server.
    #[error("not a token of this authorization server")]
    ForeignCredential,
}

/// Prefixes of credentials that belong to other authenticators: never sent to the
/// authorization server.
/// (`ory_st_` is Kratos's session token prefix, `kratos::SESSION_TOKEN_PREFIX`.)
const OTHER_KINDS: [&str; 4] = ["pat_", "key_", "svc_", "ory_st_"];
/// Prefixes of Hydra tokens that are not access tokens (refresh token, authorization code).
const NOT_ACCESS_TOKENS: [&str; 2] = ["ory_rt_", "ory_ac_"];

fn has_prefix(token: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        token
            .as_bytes()
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
    })
}

/// Builds an [`Introspection`].
pub struct IntrospectionBuilder {
    endpoint: String,
    revocation: Option<String>,
    /// `(client_id, client_secret)`, sent as HTTP Basic; `None` for an endpoint that takes
    /// no client credentials (Hydra's admin API).
    client: Option<(String, String)>,
    max_ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
    issuer: Option<String>,
    audience: Option<String>,
    any_audience: bool,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for IntrospectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client.as_ref().map(|c| &c.0))
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl IntrospectionBuilder {
    /// The RFC 7009 revocation endpoint.
    pub fn revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.revocation = Some(url.into());
        self
    }
    /// Authenticate as `client_id` / `client_secret` (HTTP Basic), on a builder from
    /// [`Introspection::builder_without_client_auth`] (e.g. to revoke at Hydra's public API).
    pub fn client_auth(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client = Some((client_id.into(), client_secret.into()));
        self
    }
    /// Longest time an active answer is cached (default 60 s; 0 disables the cache).
    pub fn max_cache_ttl(mut self, d: Duration) -> Self {
        self.max_ttl = d;
        self
    }
    /// How long an inactive answer is cached (default 5 s).
    pub fn negative_ttl(mut self, d: Duration) -> Self {
        self.negative_ttl = d;
        self
    }
    /// Cache entries (default 10 000).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.capacity = entries.max(1);
        self
    }
    /// Refuse active tokens whose `iss` is not this.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Refuse active tokens whose `aud` does not name this (required unless
    /// `.dangerous().accept_any_audience()`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// The clock `exp` is checked against (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Settings that weaken the checks; each says what it gives up.
    pub fn dangerous(self) -> DangerousIntrospectionBuilder {
        DangerousIntrospectionBuilder(self)
    }
    /// Build. Refuses a configuration without an audience ([`IntrospectionError::NoAudience`]).
    pub fn build(self, http: HttpClient) -> Result<Introspection, IntrospectionError> {
        match &self.audience {
            Some(a) if a.is_empty() => return Err(IntrospectionError::NoAudience),
            None if !self.any_audience => return Err(IntrospectionError::NoAudience),
            _ => {}
        }
        let parse = |u: &str| reqwest::Url::parse(u).map_err(|_| IntrospectionError::InvalidUrl);
        let endpoint = parse(&self.endpoint)?;
        let revocation = self.revocation.as_deref().map(parse).transpose()?;
        use crate::transport::UrlRole::{IntrospectionEndpoint, RevocationEndpoint};
        http.policy().check_url(&endpoint, IntrospectionEndpoint)?;
        if let Some(revocation) = &revocation {
            http.policy().check_url(revocation, RevocationEndpoint)?;
        }
        // RFC 6749 section 2.3.1: form-encode, then Basic.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = self.client.as_ref().map(|(id, secret)| {
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
            )
        });
        Ok(Introspection {
            inner: Arc::new(Inner {
                endpoint,
                revocation,
                basic,
                http,
                cache: AnswerCache::new(
                    self.capacity,
                    self.max_ttl,
                    self.negative_ttl.min(Duration::from_secs(3600)),
                ),
                issuer: self.issuer,
                audience: self.audience,
                clock: self.clock,
            }),
        })
    }
}

/// The risky settings of an [`IntrospectionBuilder`].
#[derive(Debug)]
pub struct DangerousIntrospectionBuilder(IntrospectionBuilder);

impl DangerousIntrospectionBuilder {
    /// Accept active tokens for any audience (or none). Only when every token this
    /// authorization server issues is meant for this service: a token minted for another
    /// resource server would otherwise be accepted here. An audience set with
    /// [`IntrospectionBuilder::audience`] is still checked.
    pub fn accept_any_audience(mut self) -> IntrospectionBuilder {
        self.0.any_audience = true;
        self.0
    }
}

struct Inner {
    endpoint: reqwest::Url,
    revocation: Option<reqwest::Url>,
    basic: Option<String>,
    http: HttpClient,
    /// The principal of an accepted token, or why it was refused.
    cache: AnswerCache<Checked>,
    issuer: Option<String>,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
}

/// RFC 7662 introspection with a cache; an [`Authenticator`] for opaque bearer tokens.
#[derive(Clone)]
pub struct Introspection {
    inner: Arc<Inner>,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("cached", &self.inner.cache.len())
            .finish_non_exhaustive()
    }
}

/// An introspection answer: the principal, or why the token is refused (the description of
/// the 401, so an audience mismatch does not read as "not active").
type Checked = Result<Principal, &'static str>;

const NOT_ACTIVE: &str = "token is not active";
const NOT_ACCESS_TOKEN: &str = "token is not an access token";
const EXPIRED: &str = "token has expired";
const OTHER_ISSUER: &str = "token was issued by another issuer";
const OTHER_AUDIENCE: &str = "token is not meant for this audience";
const NO_SUBJECT: &str = "token names no subject";

fn key(token: &str) -> Key {
    AnswerCache::<Checked>::key(token.as_bytes())
}

impl Introspection {
    /// Introspect at `endpoint`, authenticating as `client_id` / `client_secret` (HTTP Basic).
    pub fn builder(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> IntrospectionBuilder {
        Self::builder_without_client_auth(endpoint).client_auth(client_id, client_secret)
    }

    /// Introspect at `endpoint` without client credentials: for an endpoint that takes none,
    /// such as Hydra's admin `/admin/oauth2/introspect` (on a private network). Add
    /// [`IntrospectionBuilder::client_auth`] when a revocation endpoint needs them.
    pub fn builder_without_client_auth(endpoint: impl Into<String>) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint: endpoint.into(),
            revocation: None,
            client: None,
            max_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            capacity: 10_000,
            issuer: None,
            audience: None,
            any_audience: false,
            clock: Arc::new(SystemClock),
        }
    }

    /// Number of cached answers.
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }

    /// The principal of an active access token, `None` for an inactive one, or one that is
    /// not an access token of this server (see the module docs: those are never sent).
    pub async fn introspect(&self, token: &str) -> Result<Option<Principal>, IntrospectionError> {
        Ok(self.check(token).await?.ok())
    }

    /// [`introspect`](Self::introspect), with the reason of a refusal.
    async fn check(&self, token: &str) -> Result<Checked, IntrospectionError> {
        if has_prefix(token, &OTHER_KINDS) {
            return Ok(Err(NOT_ACTIVE));
        }
        if has_prefix(token, &NOT_ACCESS_TOKENS) {
            return Ok(Err(NOT_ACCESS_TOKEN));
        }
        let k = key(token);
        let now = Instant::now();
        if let Some(checked) = self.inner.cache.get(&k, now) {
            return Ok(checked);
        }
        let body = self
            .post(&self.inner.endpoint, token, "access_token")
            .await?;
        let doc: Value = serde_json::from_slice(&body).map_err(|_| {
            IntrospectionError::Unavailable("introspection response does not parse".into())
        })?;
        let principal = self.principal_of(&doc);
        let cache = &self.inner.cache;
        let until = match &principal {
            Ok(p) => {
                let now_unix = self.inner.clock.now_unix();
                let left = p
                    .expires_at()
                    .map(|exp| Duration::from_secs(u64::try_from(exp - now_unix).unwrap_or(0)));
                cache.positive_until(now, left)
            }
            Err(_) => cache.negative_until(now),
        };
        cache.insert(k, principal.clone(), until);
        Ok(principal)
    }

    /// Revoke a token (RFC 7009) and forget any cached answer for it. A credential of another
    /// kind is refused without a call ([`IntrospectionError::ForeignCredential`]).
    pub async fn revoke(&self, token: &str, type_hint: &str) -> Result<(), IntrospectionError> {
        let url = self
            .inner
            .revocation
            .as_ref()
            .ok_or(IntrospectionError::NoRevocationEndpoint)?;
        if has_prefix(token, &OTHER_KINDS) {
            return Err(IntrospectionError::ForeignCredential);
        }
        self.inner.cache.remove(&key(token));
        self.post(url, token, type_hint).await.map(|_| ())
    }

    /// Forget the cached answer for a token.
    pub fn purge(&self, token: &str) {
        self.inner.cache.remove(&key(token));
    }

    async fn post(
        &self,
        url: &reqwest::Url,
        token: &str,
        hint: &str,
    ) -> Result<Vec<u8>, IntrospectionError> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", hint)
            .finish();
        let mut req = http::Request::post(url.as_str());
        if let Some(basic) = &self.inner.basic {
            req = req.header(http::header::AUTHORIZATION, basic);
        }
        let req = req
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(form.into_bytes())
            .map_err(|_| IntrospectionError::InvalidUrl)?;
        let res = self
            .inner
            .http
            .call(req)
            .await
            .map_err(|e| IntrospectionError::Unavailable(e.to_string()))?;
        if !res.status().is_success() {
            return Err(IntrospectionError::Unavailable(format!(
                "HTTP {}",
                res.status().as_u16()
            )));
        }
        Ok(res.into_body())
    }

    fn principal_of(&self, doc: &Value) -> Checked {
        if doc.get("active") != Some(&Value::Bool(true)) {
            return Err(NOT_ACTIVE);
        }
        // Hydra: `token_use` is `access_token` or `refresh_token`, and both are "active".
        match doc.get("token_use") {
            None => {}
            Some(Value::String(u)) if u == "access_token" => {}
            Some(_) => return Err(NOT_ACCESS_TOKEN),
        }
        match doc.get("token_type") {
            None => {}
            Some(Value::String(t)) if !t.to_ascii_lowercase().contains("refresh") => {}
            Some(_) => return Err(NOT_ACCESS_TOKEN),
        }
        let s = |name: &str| doc.get(name).and_then(Value::as_str);
        let exp = doc.get("exp").and_then(Value::as_i64);
        if exp.is_some_and(|exp| exp <= self.inner.clock.now_unix()) {
            return Err(EXPIRED);
        }
        if let Some(want) = &self.inner.issuer {
            if s("iss") != Some(want.as_str()) {
                return Err(OTHER_ISSUER);
            }
        }
        if let Some(want) = &self.inner.audience {
            let ok = match doc.get("aud") {
                Some(Value::String(a)) => a == want,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
                _ => false,
            };
            if !ok {
                return Err(OTHER_AUDIENCE);
            }
        }
        let client_id = s("client_id");
        let subject = s("sub")
            .filter(|x| !x.is_empty())
            .or(client_id)
            .ok_or(NO_SUBJECT)?;
        let kind = if client_id == Some(subject) {
            PrincipalKind::Client
        } else {
            PrincipalKind::OAuth2Token
        };
        let mut b = Principal::builder(subject, kind).scopes(
            s("scope")
                .unwrap_or("")
                .split(' ')
                .filter(|x| !x.is_empty()),
        );
        if let Some(c) = client_id {
            b = b.client_id(c);
        }
        if let Some(i) = s("iss") {
            b = b.issuer(i);
        }
        if let Some(j) = s("jti") {
            b = b.token_id(j);
        }
        if let Some(e) = exp {
            b = b.expires_at(e);
        }
        if let Some(map) = doc.as_object() {
            b = b.claims(map.clone());
        }
        Ok(b.build())
    }
}

impl Authenticator for Introspection {
    fn authenticate<'a>(
        &'a self,
        request: &'a RequestView<'a>,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            let Some(token) = request.opaque_bearer()? else {
                return Ok(None);
            };
            // Another authenticator's credential: not ours, and never sent anywhere.
            if has_prefix(token, &OTHER_KINDS) {
                return Ok(None);
            }
            match self.check(token).await {
                Ok(Ok(p)) => Ok(Some(p)),
                Ok(Err(reason)) => Err(AuthError::invalid_credential(reason)),
                Err(_) => Err(AuthError::unavailable("token introspection is unavailable")),
            }
        })
    }
}
