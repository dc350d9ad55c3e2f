//! Client credentials (RFC 6749 section 4.4) for service-to-service calls: a token fetched
//! through the `oauth2` crate, cached, refreshed shortly before it expires, one request in
//! flight however many callers need it.
//!
//! ```no_run
//! use iam_client::{ClientCredentials, HttpClient};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let http = HttpClient::new()?;
//! let cc = ClientCredentials::builder("https://auth.example.com/oauth2/token", "orders-service", "secret")
//!     .scope("billing:read")
//!     .build(http.clone())?;
//! let res = cc.authorize(http.client().get("https://billing.internal/invoices")).await?.send().await?;
//! # let _ = res; Ok(()) }
//! ```
use crate::transport::HttpClient;
use iam_core::Secret;
use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, TokenResponse, TokenUrl};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// An access token, held as an [`iam_core::Secret`]: `Debug` never shows it (and the
/// memory is zeroed when the last clone is dropped); [`secret`](Self::secret) does.
#[derive(Clone, Debug)]
pub struct AccessToken(Arc<Secret>);

impl AccessToken {
    /// Wrap a token string.
    pub fn from_secret(token: &str) -> Self {
        Self(Arc::new(Secret::new(token.to_owned())))
    }
    /// The token itself, for an `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        self.0.secret()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.secret() == other.secret()
    }
}

impl Eq for AccessToken {}

/// Getting a token failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCredentialsError {
    /// The token endpoint URL is invalid.
    #[error("invalid token endpoint URL")]
    InvalidUrl,
    /// The token endpoint is refused by the transport policy (https, or http to loopback).
    #[error(transparent)]
    Insecure(#[from] crate::transport::TransportPolicyError),
    /// The authorization server refused (`invalid_client`, `invalid_scope`, ...).
    #[error("token request refused: {0}")]
    Refused(String),
    /// The authorization server could not be reached or answered nonsense.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
}

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Builds a [`ClientCredentials`].
pub struct ClientCredentialsBuilder {
    token_url: String,
    client_id: String,
    secret: String,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    default_lifetime: Duration,
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl ClientCredentialsBuilder {
    /// Ask for this scope (repeatable).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }
    /// An extra token-request parameter, such as `resource` (RFC 8707) or `audience`.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }
    /// Lifetime assumed when the server sends no `expires_in` (default 60 s).
    pub fn default_lifetime(mut self, d: Duration) -> Self {
        self.default_lifetime = d;
        self
    }
    /// Build; nothing is requested until the first token is needed.
    pub fn build(self, http: HttpClient) -> Result<ClientCredentials, ClientCredentialsError> {
        let url = TokenUrl::new(self.token_url).map_err(|_| ClientCredentialsError::InvalidUrl)?;
        let role = crate::transport::UrlRole::TokenEndpoint;
        http.policy().check_url(url.url(), role)?;
        let client = BasicClient::new(ClientId::new(self.client_id))
            .set_client_secret(ClientSecret::new(self.secret))
            .set_token_uri(url);
        Ok(ClientCredentials {
            inner: Arc::new(Inner {
                client,
                http,
                scopes: self.scopes,
                params: self.params,
                default_lifetime: self.default_lifetime,
                cached: RwLock::new(None),
                fetch: tokio::sync::Mutex::new(()),
                requests: AtomicU64::new(0),
            }),
        })
    }
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

struct Inner {
    client: TokenClient,
    http: HttpClient,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    default_lifetime: Duration,
    cached: RwLock<Option<Cached>>,
    fetch: tokio::sync::Mutex<()>,
    requests: AtomicU64,
}

/// A cached client-credentials token source. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.inner.client.client_id().as_str())
            .field("token_requests", &self.token_requests())
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Configure a client of the token endpoint `token_url`.
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            token_url: token_url.into(),
            client_id: client_id.into(),
            secret: client_secret.into(),
            scopes: Vec::new(),
            params: Vec::new(),
            default_lifetime: Duration::from_secs(60),
        }
    }

    /// How many token requests were sent (for metrics and tests).
    pub fn token_requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    fn cached(&self, fresh_only: bool) -> Option<AccessToken> {
        let now = Instant::now();
        let c = self.inner.cached.read().unwrap_or_else(|e| e.into_inner());
        let c = c.as_ref()?;
        let limit = if fresh_only {
            c.refresh_at
        } else {
            c.expires_at
        };
        (now < limit).then(|| c.token.clone())
    }

    /// A valid access token: the cached one, or a new one when it is close to expiry.
    /// Concurrent callers share one token request. When a refresh fails while the cached
    /// token is still valid, the cached token is returned.
    pub async fn access_token(&self) -> Result<AccessToken, ClientCredentialsError> {
        if let Some(t) = self.cached(true) {
            return Ok(t);
        }
        let _guard = self.inner.fetch.lock().await;
        if let Some(t) = self.cached(true) {
            return Ok(t);
        }
        match self.request().await {
            Ok(t) => Ok(t),
            Err(e) => self.cached(false).ok_or(e),
        }
    }

    /// Add `Authorization: Bearer <token>` to an outgoing request.
    pub async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, ClientCredentialsError> {
        let token = self.access_token().await?;
        Ok(request.bearer_auth(token.secret()))
    }

    /// Forget the cached token (after the resource server refused it, for example).
    pub fn invalidate(&self) {
        *self.inner.cached.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn request(&self) -> Result<AccessToken, ClientCredentialsError> {
        let inner = &self.inner;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = inner
            .client
            .exchange_client_credentials()
            .add_scopes(inner.scopes.iter().cloned().map(Scope::new));
        for (k, v) in &inner.params {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let res = req.request_async(&inner.http).await.map_err(|e| match e {
            oauth2::RequestTokenError::ServerResponse(r) => {
                ClientCredentialsError::Refused(r.error().to_string())
            }
            oauth2::RequestTokenError::Request(e) => {
                ClientCredentialsError::Unavailable(e.to_string())
            }
            oauth2::RequestTokenError::Parse(_, _) => {
                ClientCredentialsError::Unavailable("token response does not parse".into())
            }
            other => ClientCredentialsError::Unavailable(other.to_string()),
        })?;
        // Bounded, so a hostile `expires_in` cannot overflow the clock arithmetic.
        let lifetime = res
            .expires_in()
            .unwrap_or(inner.default_lifetime)
            .min(Duration::from_secs(86_400));
        let now = Instant::now();
        let ahead = (lifetime / 10).min(Duration::from_secs(60));
        let token = AccessToken::from_secret(res.access_token().secret());
        *inner.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            token: token.clone(),
            refresh_at: now + lifetime - ahead,
            expires_at: now + lifetime,
        });
        Ok(token)
    }
}

/// A tower [`Layer`](tower_layer::Layer) that adds `Authorization: Bearer <token>` from a
/// [`ClientCredentials`] to every outgoing `http::Request` (for hyper, tonic or any tower
/// HTTP client). A request whose token cannot be had fails with that error, unsent.
#[derive(Debug, Clone)]
pub struct BearerLayer {
    credentials: ClientCredentials,
}

impl BearerLayer {
    /// Authorize outgoing requests with tokens from `credentials`.
    pub fn new(credentials: ClientCredentials) -> Self {
        Self { credentials }
    }
}

impl<S> tower_layer::Layer<S> for BearerLayer {
    type Service = Bearer<S>;
    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            credentials: self.credentials.clone(),
        }
    }
}

/// The service made by [`BearerLayer`].
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    credentials: ClientCredentials,
}

/// The error of a [`Bearer`] service: the inner service's, or the token's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower_service::Service<http::Request<B>> for Bearer<S>
where
    S: tower_service::Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is the not-yet-ready one: keep the service that poll_ready prepared.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let credentials = self.credentials.clone();
        Box::pin(async move {
            let token = credentials.access_token().await?;
            let value = http::HeaderValue::from_str(&format!("Bearer {}", token.secret()))
                .map_err(|_| {
                    ClientCredentialsError::Unavailable("token is not a valid header value".into())
                })?;
            let mut value = value;
            value.set_sensitive(true);
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
            inner.call(request).await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AccessToken;

    #[test]
    fn an_access_token_is_held_as_a_secret_and_never_shown_by_debug() {
        let token = AccessToken::from_secret("ory_at_live-token-value");
        assert_eq!(token.secret(), "ory_at_live-token-value");
        assert_eq!(token, token.clone());
        assert_ne!(token, AccessToken::from_secret("ory_at_other"));
        for shown in [format!("{token:?}"), format!("{token:#?}")] {
            assert!(!shown.contains("live-token"), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
    }
}
