//! The HTTP client every flow of this crate uses: reqwest, no redirects, bounded bodies.
//! It also serves the `oauth2` and `openidconnect` crates through their `AsyncHttpClient`
//! trait, so the whole crate runs on one `reqwest::Client` that the user may supply.
//!
//! It also holds the one [`TransportPolicy`] for every URL the crate fetches or sends a
//! secret to: the issuer and its discovery document, the discovered `jwks_uri`, token,
//! introspection, revocation and end-session endpoints, the JWKS URL, Kratos's public and
//! admin APIs, the credential service. Each is `https`, or plain `http` to a loopback host
//! (`127.0.0.0/8`, `::1`, `localhost`), or anything `http(s)` after the explicit
//! [`DangerousTransportPolicy::allow_plaintext_http`] opt-in, which logs a warning.
//!
//! ```
//! use iam_client::transport::{HttpClient, TransportPolicy, UrlRole};
//!
//! let strict = TransportPolicy::new();
//! assert!(strict.check("https://auth.example.com/", UrlRole::Issuer).is_ok());
//! assert!(strict.check("http://127.0.0.1:4444/", UrlRole::Issuer).is_ok());
//! let refused = strict.check("http://auth.example.com/", UrlRole::Issuer).unwrap_err();
//! assert_eq!(refused.role(), UrlRole::Issuer);
//!
//! // A private network you control, on purpose (logged as a warning):
//! let lax = TransportPolicy::new().dangerous().allow_plaintext_http();
//! assert!(lax.check("http://kratos:4433/", UrlRole::KratosPublic).is_ok());
//! # fn client(lax: TransportPolicy) -> Result<(), iam_client::HttpError> {
//! let http = HttpClient::new()?.with_policy(lax); // every flow built on `http` follows it
//! # let _ = http; Ok(()) }
//! ```
//!
//! The policy is checked when each client is built (a configuration error naming the URL's
//! role, never the URL's credentials or query) and again by [`HttpClient::call`] before each
//! request, so a URL that reaches the client another way is refused too.
//!
//! ## Caveats
//! - A `reqwest::Client` you supply through [`HttpClient::with_client`] (and so to
//!   [`RemoteJwksBuilder::http_client`](crate::jwks::RemoteJwksBuilder::http_client)) should
//!   not follow redirects: a redirect to plain `http` is not seen by the policy.
//! - `localhost` is trusted by name; a resolver that maps it elsewhere is outside the policy.
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// What a URL is for, named by a [`TransportPolicyError`] (the URL itself is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlRole {
    /// The OIDC issuer, whose discovery document is fetched.
    Issuer,
    /// A JWK set URL, configured or discovered (`jwks_uri`).
    Jwks,
    /// The OAuth2 token endpoint (configured or discovered).
    TokenEndpoint,
    /// The OAuth2 authorization endpoint (discovered).
    AuthorizationEndpoint,
    /// The OIDC userinfo endpoint (discovered).
    UserinfoEndpoint,
    /// The RFC 7662 introspection endpoint (configured or discovered).
    IntrospectionEndpoint,
    /// The RFC 7009 revocation endpoint (configured or discovered).
    RevocationEndpoint,
    /// The RP-initiated logout endpoint (discovered).
    EndSessionEndpoint,
    /// Kratos's public API (`whoami`).
    KratosPublic,
    /// Kratos's admin API.
    KratosAdmin,
    /// Hydra's admin API.
    HydraAdmin,
    /// The credential service (`/validate`).
    CredentialService,
    /// A request sent through [`HttpClient::call`].
    Request,
}

impl UrlRole {
    /// A short human name ("Kratos admin", "discovered token endpoint" ...).
    pub fn as_str(self) -> &'static str {
        match self {
            UrlRole::Issuer => "issuer (OIDC discovery)",
            UrlRole::Jwks => "JWKS",
            UrlRole::TokenEndpoint => "token endpoint",
            UrlRole::AuthorizationEndpoint => "authorization endpoint",
            UrlRole::UserinfoEndpoint => "userinfo endpoint",
            UrlRole::IntrospectionEndpoint => "introspection endpoint",
            UrlRole::RevocationEndpoint => "revocation endpoint",
            UrlRole::EndSessionEndpoint => "end-session endpoint",
            UrlRole::KratosPublic => "Kratos public API",
            UrlRole::KratosAdmin => "Kratos admin API",
            UrlRole::HydraAdmin => "Hydra admin API",
            UrlRole::CredentialService => "credential service",
            UrlRole::Request => "request",
        }
    }
}

impl fmt::Display for UrlRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL refused by a [`TransportPolicy`]. Names the URL's role (and, for plain `http`, its
/// host); never its user info, path or query, which may hold secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportPolicyError {
    /// Not an absolute `http` or `https` URL with a host.
    #[error("the {role} URL is not an absolute http(s) URL")]
    Invalid {
        /// What the URL is for.
        role: UrlRole,
    },
    /// Plain `http` to a host that is not loopback, without the dangerous opt-in.
    #[error(
        "the {role} URL uses plain http to {host}, which is not a loopback host: use https \
         (plain http is accepted only to 127.0.0.0/8, ::1 or localhost, or after the \
         dangerous allow_plaintext_http opt-in)"
    )]
    Plaintext {
        /// What the URL is for.
        role: UrlRole,
        /// The host it names.
        host: String,
    },
}

impl TransportPolicyError {
    /// The same refusal for a URL known to play `role`.
    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    pub(crate) fn in_role(self, role: UrlRole) -> Self {
        match self {
            TransportPolicyError::Invalid { .. } => TransportPolicyError::Invalid { role },
            TransportPolicyError::Plaintext { host, .. } => {
                TransportPolicyError::Plaintext { role, host }
            }
        }
    }

    /// What the refused URL is for.
    pub fn role(&self) -> UrlRole {
        match self {
            TransportPolicyError::Invalid { role }
            | TransportPolicyError::Plaintext { role, .. } => *role,
        }
    }
}

/// Which transports the crate may use; see the [module docs](self). The default is
/// `https`, or plain `http` to loopback only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportPolicy {
    plaintext: bool,
}

impl TransportPolicy {
    /// `https` everywhere, plain `http` only to a loopback host (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Settings that weaken the policy. Each one is a decision to make on purpose.
    pub fn dangerous(self) -> DangerousTransportPolicy {
        DangerousTransportPolicy(self)
    }

    /// True after [`DangerousTransportPolicy::allow_plaintext_http`].
    pub fn allows_plaintext_http(&self) -> bool {
        self.plaintext
    }

    /// Check one configured URL.
    pub fn check(&self, url: &str, role: UrlRole) -> Result<(), TransportPolicyError> {
        let parsed = url::Url::parse(url).map_err(|_| TransportPolicyError::Invalid { role })?;
        self.check_url(&parsed, role)
    }

    /// Check one parsed URL.
    pub fn check_url(&self, url: &url::Url, role: UrlRole) -> Result<(), TransportPolicyError> {
        let Some(host) = url.host() else {
            return Err(TransportPolicyError::Invalid { role });
        };
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.plaintext || is_loopback(&host) => Ok(()),
            "http" => Err(TransportPolicyError::Plaintext {
                role,
                host: host.to_string(),
            }),
            _ => Err(TransportPolicyError::Invalid { role }),
        }
    }
}

/// Settings that weaken a [`TransportPolicy`]; see [`TransportPolicy::dangerous`].
#[derive(Debug)]
pub struct DangerousTransportPolicy(TransportPolicy);

impl DangerousTransportPolicy {
    /// Allow plain `http` to any host. Anyone on the path can then read the secrets sent
    /// (client secrets, session cookies, service tokens) and swap the answers (signing keys,
    /// sessions): only for tests and private networks you control. Logs a warning.
    pub fn allow_plaintext_http(mut self) -> TransportPolicy {
        tracing::warn!(
            "dangerous transport policy: plain http is allowed to any host; secrets and \
             signing keys can be read or replaced by anyone on the network path"
        );
        self.0.plaintext = true;
        self.0
    }
}

/// `127.0.0.0/8`, `::1` or the name `localhost`.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// The policy of `http` (the default one without a client): for builders whose HTTP client
/// is optional.
pub(crate) fn check_with(
    http: Option<&HttpClient>,
    url: &str,
    role: UrlRole,
) -> Result<(), TransportPolicyError> {
    match http {
        Some(h) => h.policy().check(url, role),
        None => TransportPolicy::new().check(url, role),
    }
}

/// Why an HTTP exchange failed. Never carries a request body (it may hold secrets).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Connection, TLS or timeout failure.
    #[error("request failed: {0}")]
    Transport(&'static str),
    /// The response body is larger than allowed.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// The request could not be built.
    #[error("invalid request")]
    InvalidRequest,
    /// The URL is refused by the client's [`TransportPolicy`]; nothing was sent.
    #[error(transparent)]
    Insecure(#[from] TransportPolicyError),
}

/// A `reqwest::Client` with the limits this crate applies to every exchange.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body: usize,
    policy: TransportPolicy,
}

impl HttpClient {
    /// A client with a 5 s connect timeout, 10 s total, no redirects, 1 MiB bodies and the
    /// default [`TransportPolicy`].
    pub fn new() -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| HttpError::InvalidRequest)?;
        Ok(Self::with_client(client))
    }

    /// Use your own `reqwest::Client` (proxy, custom CA, mTLS). Configure it without
    /// redirects: a token endpoint that redirects must not receive the credentials again.
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            policy: TransportPolicy::new(),
        }
    }

    /// Follow `policy` (default [`TransportPolicy::new`]): every client built on this one
    /// checks its URLs with it, and so does each [`call`](Self::call).
    pub fn with_policy(mut self, policy: TransportPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Total time allowed for one exchange (default 10 s): longer for a slow admin call,
    /// such as Hydra generating an RSA key set.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The transport policy.
    pub fn policy(&self) -> &TransportPolicy {
        &self.policy
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send one request and read the whole (bounded) response.
    pub async fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let (parts, body) = request.into_parts();
        let url =
            reqwest::Url::parse(&parts.uri.to_string()).map_err(|_| HttpError::InvalidRequest)?;
        self.policy.check_url(&url, UrlRole::Request)?;
        let mut res = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        if res
            .content_length()
            .is_some_and(|l| l > self.max_body as u64)
        {
            return Err(HttpError::TooLarge(self.max_body));
        }
        let mut out = http::Response::builder().status(res.status());
        if let Some(h) = out.headers_mut() {
            *h = res.headers().clone();
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(HttpError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        out.body(body).map_err(|_| HttpError::InvalidRequest)
    }
}

fn transport(e: reqwest::Error) -> HttpError {
    HttpError::Transport(if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "http error"
    })
}

#[cfg(feature = "oidc")]
impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(HttpClient::call(self, request))
    }
}
