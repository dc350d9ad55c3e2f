//! What both binaries of the sample app share: configuration from the environment, the key
//! source (JWKS URL, or OIDC discovery retried in the background so the app starts while the
//! issuer is down), and the JSON the routes answer.
//!
//! Environment (the contract other tooling relies on):
//! - `IAM_LISTEN`: socket address (default `127.0.0.1:3000`);
//! - `IAM_METRICS_LISTEN`: serve Prometheus `/metrics` on this (internal) address; it is
//!   never served on `IAM_LISTEN`;
//! - `IAM_ISSUER`: issuer URL; keys found by OIDC discovery unless `IAM_JWKS_URL`. Required
//!   unless `IAM_KRATOS_PUBLIC_URL` is set: without it only Kratos sessions are accepted;
//! - `IAM_AUDIENCE`: required audience (with `IAM_ISSUER`);
//! - optional `IAM_LEEWAY_SECONDS`, `IAM_ALGORITHMS` (comma-separated, e.g. `RS256,ES256`),
//!   `IAM_TOKEN_TYPE` (`jwt` or `at+jwt`; keep `jwt` for Ory Hydra, whose access tokens say
//!   `typ: JWT`): see [`iam_client::JwtConfig::from_env`];
//! - `IAM_INTROSPECTION_URL` (+ optional `IAM_INTROSPECTION_CLIENT_ID` and
//!   `IAM_INTROSPECTION_CLIENT_SECRET`): also accept opaque access tokens of `IAM_ISSUER`
//!   through RFC 7662 introspection, the answer's `aud` naming `IAM_AUDIENCE` (Hydra with
//!   `strategies.access_token: opaque`: its admin `/admin/oauth2/introspect`, which takes no
//!   client credentials and is not in its discovery document);
//! - `IAM_KRATOS_PUBLIC_URL`: also accept Kratos sessions (the `ory_kratos_session` cookie,
//!   `X-Session-Token`, or a `Bearer ory_st_...`), checked with `whoami` and cached;
//! - `IAM_CREDENTIALS_URL` + `IAM_CREDENTIALS_TOKEN` (a service token): also accept PATs,
//!   API keys and service tokens (`Authorization: Bearer pat_...` or `X-API-Key`), checked by
//!   the credential service's `/validate` and cached 30 s;
//! - `IAM_TRUSTED_PROXIES`: comma-separated CIDRs of the proxies in front of the app (default:
//!   none). The end client's address, put in each request as [`iam_core::authn::ClientAddr`],
//!   is the TCP peer, or the address a trusted proxy wrote in `X-Forwarded-For`; the credential
//!   service charges failed validations to it instead of to this app;
//! - `IAM_DANGEROUS_ALLOW_HTTP=1`: allow plain `http` to hosts that are not loopback for every
//!   URL above (logged as a warning at start). Without it, `IAM_ISSUER` (when discovered),
//!   `IAM_JWKS_URL`, the discovered `jwks_uri`, `IAM_KRATOS_PUBLIC_URL` and
//!   `IAM_CREDENTIALS_URL` must be `https` or loopback, and the app refuses to start
//!   otherwise: keys or sessions fetched over plain http can be replaced by anyone on the path.
#![forbid(unsafe_code)]

use iam_client::{HttpClient, IssuerKeys, JwtConfig, JwtConfigError, TransportPolicy, UrlRole};
use iam_core::authn::{AuthChain, ClientAddr};
use iam_core::Principal;
use iam_service::client_ip::TrustedProxies;
use iam_service::health::Health;
use iam_service::{ConfigError, Env};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The app's configuration. Its `Debug` leaves the credential service token out.
#[derive(Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// `IAM_METRICS_LISTEN`: where `/metrics` is served (nowhere when unset).
    pub metrics_listen: Option<SocketAddr>,
    /// Which tokens to accept (`IAM_ISSUER`, `IAM_AUDIENCE`, `IAM_JWKS_URL`, and the
    /// optional `IAM_LEEWAY_SECONDS`, `IAM_ALGORITHMS`, `IAM_TOKEN_TYPE`,
    /// `IAM_INTROSPECTION_URL`); `None` without `IAM_ISSUER` when Kratos sessions are the
    /// only credential.
    pub jwt: Option<JwtConfig>,
    /// `IAM_KRATOS_PUBLIC_URL`: accept Kratos session cookies and tokens too.
    pub kratos_public_url: Option<String>,
    /// `IAM_CREDENTIALS_URL` + `IAM_CREDENTIALS_TOKEN`: accept PATs, API keys and service
    /// tokens, checked by the credential service.
    pub credentials: Option<(String, String)>,
    /// The transport policy of every URL above: https or loopback, unless
    /// `IAM_DANGEROUS_ALLOW_HTTP=1`.
    pub transport: TransportPolicy,
    /// `IAM_TRUSTED_PROXIES`: whose `X-Forwarded-For` names the end client.
    pub trusted_proxies: TrustedProxies,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("jwt", &self.jwt)
            .field("kratos_public_url", &self.kratos_public_url)
            .field(
                "credentials_url",
                &self.credentials.as_ref().map(|(url, _)| url),
            )
            .field("transport", &self.transport)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Read the environment; the error names the variable that is missing or wrong (the
    /// binaries exit with status 2 on it).
    pub fn from_env() -> Result<Self, ConfigError> {
        let env = Env::new("IAM_");
        let listen = env.socket_addr("LISTEN", "127.0.0.1:3000")?;
        let metrics_listen = env.socket_addr_opt("METRICS_LISTEN")?;
        let kratos_public_url = env.get("KRATOS_PUBLIC_URL");
        let jwt = match (env.get("ISSUER"), &kratos_public_url) {
            // Kratos sessions only: no issuer, no JWTs.
            (None, Some(_)) => None,
            _ => Some(JwtConfig::from_env("IAM_").map_err(|e| jwt_config_error(&e))?),
        };
        let credentials = match (env.get("CREDENTIALS_URL"), env.get("CREDENTIALS_TOKEN")) {
            (Some(u), Some(t)) => Some((u, t)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "IAM_CREDENTIALS_URL",
                    "needs IAM_CREDENTIALS_TOKEN too",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "IAM_CREDENTIALS_TOKEN",
                    "needs IAM_CREDENTIALS_URL too",
                ))
            }
        };
        let transport = match env.get("DANGEROUS_ALLOW_HTTP").as_deref().map(str::trim) {
            None | Some("0" | "false") => TransportPolicy::new(),
            Some("1" | "true") => TransportPolicy::new().dangerous().allow_plaintext_http(),
            Some(_) => {
                return Err(ConfigError::invalid(
                    "IAM_DANGEROUS_ALLOW_HTTP",
                    "must be 1 or 0",
                ))
            }
        };
        let trusted_proxies =
            TrustedProxies::parse(&env.get("TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| ConfigError::invalid("IAM_TRUSTED_PROXIES", e.to_string()))?;
        Ok(Self {
            trusted_proxies,
            listen,
            metrics_listen,
            jwt,
            kratos_public_url,
            credentials,
            transport,
        })
    }

    /// The end client of a request from the TCP peer `peer`: the peer itself, or the address
    /// a trusted proxy wrote in `X-Forwarded-For` (see [`TrustedProxies::client_ip`]).
    pub fn client_addr(&self, peer: IpAddr, headers: &http::HeaderMap) -> ClientAddr {
        ClientAddr(self.trusted_proxies.client_ip(peer, headers))
    }

    /// The authenticator chain (JWT bearer tokens from the configured issuer) and its key
    /// source, for `/health/ready`. Keys come from `IAM_JWKS_URL`, or from discovery retried
    /// in the background until the issuer answers.
    /// Every URL is checked against [`Config::transport`] here, so a plaintext one stops the
    /// app at start with a message naming its variable.
    pub fn chain(&self) -> Result<(AuthChain, Option<Arc<IssuerKeys>>), ConfigError> {
        let http = HttpClient::new()
            .map_err(|e| ConfigError::invalid("IAM_ISSUER", e.to_string()))?
            .with_policy(self.transport.clone());
        let transport = |e: JwtConfigError| match e {
            JwtConfigError::Transport(t) => {
                let var = match t.role() {
                    UrlRole::Issuer => "IAM_ISSUER",
                    UrlRole::IntrospectionEndpoint => "IAM_INTROSPECTION_URL",
                    _ => "IAM_JWKS_URL",
                };
                ConfigError::invalid(
                    var,
                    format!("{t}; IAM_DANGEROUS_ALLOW_HTTP=1 allows it on a network you control"),
                )
            }
            other => jwt_config_error(&other),
        };
        let mut chain = AuthChain::new();
        let mut keys = None;
        if let Some(config) = &self.jwt {
            let (jwt, issuer_keys) = config.authenticator_with(&http).map_err(transport)?;
            chain = chain.with(jwt);
            keys = Some(issuer_keys);
            if let Some(introspection) = config.introspection_with(&http).map_err(transport)? {
                chain = chain.with(introspection);
            }
        }
        if let Some(url) = &self.kratos_public_url {
            let sessions = iam_client::KratosSessions::builder(url.clone())
                .http_client(http.clone())
                .build()
                .map_err(|e| ConfigError::invalid("IAM_KRATOS_PUBLIC_URL", e.to_string()))?;
            chain = chain.with(sessions);
        }
        if let Some((url, token)) = &self.credentials {
            let remote = iam_client::RemoteCredentials::builder(url.clone(), token.clone())
                .http_client(http.clone())
                .build()
                .map_err(|e| ConfigError::invalid("IAM_CREDENTIALS_URL", e.to_string()))?;
            chain = chain.with(iam_core::credential::CredentialAuthenticator::new(remote));
        }
        Ok((chain, keys))
    }
}

/// The `/me` answer, serialized straight from the principal (no intermediate JSON tree).
#[derive(Debug, serde::Serialize)]
pub struct Me<'a> {
    subject: &'a str,
    kind: &'static str,
    tenant: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a iam_core::scope::ScopeSet,
    scopes: &'a iam_core::scope::ScopeSet,
    session_id: Option<&'a str>,
    client_id: Option<&'a str>,
}

/// The `/me` answer as JSON bytes.
pub fn me_body(p: &Principal) -> Vec<u8> {
    let mut body = Vec::with_capacity(256);
    match serde_json::to_writer(&mut body, &me_json(p)) {
        Ok(()) => body,
        Err(_) => Vec::new(),
    }
}

/// The `/me` answer for a principal.
pub fn me_json(p: &Principal) -> Me<'_> {
    Me {
        subject: p.subject(),
        kind: p.kind().as_str(),
        tenant: p.tenant(),
        roles: p.roles(),
        permissions: p.permissions(),
        scopes: p.scopes(),
        session_id: p.session_id(),
        client_id: p.client_id(),
    }
}

/// Count one answered request in `sample_app_requests_total{status="2xx"|…}` (the metrics
/// facade; `/metrics` is served on `IAM_METRICS_LISTEN` only).
pub fn record_request(status: u16) {
    const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    if let Some(class) = (status / 100)
        .checked_sub(1)
        .and_then(|i| CLASSES.get(usize::from(i)))
    {
        metrics::counter!("sample_app_requests_total", "status" => *class).increment(1);
    }
}

/// Register the request counters at zero, so `/metrics` lists every class from the start
/// (after the recorder is installed: `iam_service::metrics::Metrics::global()`).
pub fn register_metrics() {
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        metrics::counter!("sample_app_requests_total", "status" => class).increment(0);
    }
}

/// The readiness checks of both binaries: the issuer's keys can be obtained.
pub fn health(keys: Option<&Arc<IssuerKeys>>) -> Health {
    let Some(keys) = keys else {
        // Kratos sessions only: nothing to fetch before the first request.
        return Health::new();
    };
    let keys = Arc::clone(keys);
    Health::new().check("keys", move || {
        let keys = Arc::clone(&keys);
        // Says why: "OIDC discovery of https://auth.example.com failed: unexpected issuer
        // URI …" for a missing trailing slash, an HTTP status, a refused plaintext URL.
        async move { keys.readiness().await }
    })
}

/// A [`JwtConfigError`] as the configuration error of the variable it names.
fn jwt_config_error(e: &JwtConfigError) -> ConfigError {
    let text = e.to_string();
    let var = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("IAM_"))
        .unwrap_or("IAM_ISSUER")
        .to_owned();
    if text == format!("{var} is required") {
        return ConfigError::Missing { var };
    }
    let reason = text
        .strip_prefix(var.as_str())
        .map_or(text.as_str(), |r| {
            r.trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        })
        .to_owned();
    ConfigError::invalid(var, reason)
}

/// The repository README's Rust snippets, compiled as doc tests (this crate depends on both
/// frameworks and iam-client, which they use).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
