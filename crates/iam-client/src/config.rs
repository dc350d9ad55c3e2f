//! Trust for one issuer's JWTs, from configuration: the builder both framework crates take.
//!
//! ```no_run
//! use iam_client::config::JwtConfig;
//! use iam_core::jwt::{Algorithm, TokenType};
//! use std::time::Duration;
//!
//! # fn run() -> Result<(), iam_client::config::JwtConfigError> {
//! // In code ...
//! let chain = JwtConfig::new("https://auth.example.com/")
//!     .audience("orders-api")
//!     .leeway(Duration::from_secs(30))
//!     .algorithms([Algorithm::RS256, Algorithm::ES256])
//!     .token_type(TokenType::AccessToken)
//!     .chain()?;
//! // ... or from the environment (IAM_ISSUER, IAM_AUDIENCE, IAM_JWKS_URL, ...) ...
//! let chain = JwtConfig::from_env("IAM_")?.chain()?;
//! // ... or from a config file, through serde.
//! let config: JwtConfig = serde_json::from_str(
//!     r#"{"issuer": "https://auth.example.com/", "audience": ["orders-api"],
//!         "algorithms": ["RS256"], "token_type": "at+jwt"}"#,
//! ).expect("valid config");
//! # let _ = (chain, config); Ok(()) }
//! ```
//!
//! Keys come from `jwks_url` when it is set, otherwise from the issuer's OIDC discovery
//! document. Discovery happens lazily and is retried (at most every
//! [`DISCOVERY_RETRY`]) until it works, so a service starts, and answers its health checks,
//! while its issuer is down; requests that need keys meanwhile get 503. Nothing is fetched
//! when the chain is built: call [`IssuerKeys::warm_up`] to fetch before the first request.
//!
//! Everything is checked when the chain is built: a bad URL, an empty audience, an empty
//! algorithm allowlist or an unknown algorithm name is an error then, not at the first
//! request. So is a URL the [`TransportPolicy`](crate::transport::TransportPolicy) of the
//! HTTP client refuses: the JWKS URL or, without one, the issuer (its discovery document is
//! fetched). By default both must be `https` or loopback; to allow plain `http` on a private
//! network, build the chain with [`JwtConfig::authenticator_with`] over an
//! [`HttpClient::with_policy`] that opted in through `dangerous()`. The `jwks_uri` found by
//! discovery is held to the same policy: a plaintext one fails discovery (and requests get
//! 503), it is never fetched.
#[cfg(feature = "oidc")]
use crate::discovery::IssuerMetadata;
use crate::jwks::{RemoteJwks, RemoteJwksError};
use crate::transport::{HttpClient, HttpError, TransportPolicyError, UrlRole};
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError};
use iam_core::jwt::{Algorithm, TokenType, Validator};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a failed discovery is remembered before the next request may try again.
pub const DISCOVERY_RETRY: Duration = Duration::from_secs(5);

/// A configuration that cannot be turned into a validator or a key source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// A variable or field is missing or malformed; names it.
    #[error("{0}")]
    Invalid(String),
    /// The validator settings are refused.
    #[error(transparent)]
    Validator(#[from] iam_core::jwt::ConfigError),
    /// The JWKS URL is refused.
    #[error(transparent)]
    Jwks(#[from] RemoteJwksError),
    /// The JWKS URL or the issuer to discover is refused by the transport policy (names
    /// which one).
    #[error(transparent)]
    Transport(#[from] TransportPolicyError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Which tokens one issuer may present and how its keys are found. See the
/// [module docs](self). Deserializes from a config file (`issuer`, `audience` as a string or
/// a list, `jwks_url`, `leeway_seconds`, `algorithms` by JOSE name, `token_type` `"jwt"` or
/// `"at+jwt"`); unknown fields are refused so a typo is not a silently ignored setting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtConfig {
    /// Expected `iss`, compared byte for byte; also the discovery base URL.
    pub issuer: String,
    /// Accepted audiences (any one must be in `aud`).
    #[serde(deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// Fetch keys here instead of discovering the issuer's `jwks_uri`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf`, `iat`, in seconds (default 60).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Accepted signing algorithms (default: every supported one a key fits).
    #[serde(default, deserialize_with = "algorithms")]
    pub algorithms: Option<Vec<Algorithm>>,
    /// `typ` strictness (default: `JWT`, `at+jwt` or absent). Keep the default for Ory
    /// Hydra: Hydra v2 writes `typ: JWT` in its access tokens, so strict `at+jwt` refuses
    /// every one of them.
    #[serde(default, deserialize_with = "token_type")]
    pub token_type: TokenType,
    /// Also accept opaque access tokens of this issuer through RFC 7662 introspection (for
    /// Hydra with `strategies.access_token: opaque`, whose introspection endpoint is on its
    /// admin API and not in its discovery document). The answer must name this issuer and
    /// one of the audiences.
    #[serde(default)]
    pub introspection: Option<IntrospectionSettings>,
}

/// Where and how opaque tokens are introspected; see [`JwtConfig::introspection`].
/// `Debug` never shows the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionSettings {
    /// The introspection endpoint (Hydra: `http://hydra-admin:4445/admin/oauth2/introspect`).
    pub url: String,
    /// Client id for HTTP Basic (not needed by Hydra's admin endpoint).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Client secret for HTTP Basic, with `client_id`.
    #[serde(default, deserialize_with = "secret")]
    pub client_secret: Option<iam_core::Secret>,
}

impl IntrospectionSettings {
    /// Introspect at `url` without client credentials.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_id: None,
            client_secret: None,
        }
    }
    /// Authenticate as `client_id` / `client_secret` (HTTP Basic).
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(iam_core::Secret::new(client_secret.into()));
        self
    }
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<iam_core::Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(iam_core::Secret::new))
}

fn default_leeway() -> u64 {
    60
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn algorithms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Algorithm>>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names
        .iter()
        .map(|n| parse_algorithm(n).map_err(serde::de::Error::custom))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn token_type<'de, D: Deserializer<'de>>(d: D) -> Result<TokenType, D::Error> {
    parse_token_type(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or_else(|| format!("unknown or unsupported algorithm {name:?}"))
}

fn parse_token_type(name: &str) -> Result<TokenType, String> {
    match name.to_ascii_lowercase().as_str() {
        "jwt" => Ok(TokenType::Jwt),
        "at+jwt" | "application/at+jwt" => Ok(TokenType::AccessToken),
        _ => Err(format!(
            "unknown token type {name:?} (expected \"jwt\" or \"at+jwt\")"
        )),
    }
}

impl JwtConfig {
    /// Tokens from `issuer`; add at least one [`audience`](Self::audience).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: Vec::new(),
            jwks_url: None,
            leeway_seconds: default_leeway(),
            algorithms: None,
            token_type: TokenType::Jwt,
            introspection: None,
        }
    }

    /// Also accept opaque tokens through introspection (see [`JwtConfig::introspection`]).
    pub fn introspection(mut self, settings: IntrospectionSettings) -> Self {
        self.introspection = Some(settings);
        self
    }

    /// Accept this audience (call again for more).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// Fetch keys from this URL instead of discovering them.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Clock skew tolerated (default 60 s, at most 1 h).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway_seconds = leeway.as_secs();
        self
    }

    /// Accept only these algorithms.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// `typ` strictness.
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// Read `{prefix}ISSUER` (required), `{prefix}AUDIENCE` (required; comma-separated for
    /// several), `{prefix}JWKS_URL`, `{prefix}LEEWAY_SECONDS`, `{prefix}ALGORITHMS`
    /// (comma-separated JOSE names), `{prefix}TOKEN_TYPE` (`jwt` or `at+jwt`), and
    /// `{prefix}INTROSPECTION_URL` with the optional pair `{prefix}INTROSPECTION_CLIENT_ID` +
    /// `{prefix}INTROSPECTION_CLIENT_SECRET`. Empty variables count as unset. The error names
    /// the variable.
    pub fn from_env(prefix: &str) -> Result<Self, JwtConfigError> {
        Self::from_lookup(prefix, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup (a map, a secrets store).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, JwtConfigError> {
        let var = |name: &str| {
            let full = format!("{prefix}{name}");
            let value = lookup(&full).filter(|v| !v.trim().is_empty());
            (full, value)
        };
        let required = |name: &str| match var(name) {
            (_, Some(v)) => Ok(v),
            (full, None) => Err(JwtConfigError::Invalid(format!("{full} is required"))),
        };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut config = Self::new(required("ISSUER")?);
        config.audience = list(&required("AUDIENCE")?);
        config.jwks_url = var("JWKS_URL").1;
        if let (full, Some(v)) = var("LEEWAY_SECONDS") {
            config.leeway_seconds = v.trim().parse().map_err(|_| {
                JwtConfigError::Invalid(format!("{full} is not a number of seconds"))
            })?;
        }
        if let (full, Some(v)) = var("ALGORITHMS") {
            let algs = list(&v)
                .iter()
                .map(|n| parse_algorithm(n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| JwtConfigError::Invalid(format!("{full}: {e}")))?;
            config.algorithms = Some(algs);
        }
        if let (full, Some(v)) = var("TOKEN_TYPE") {
            config.token_type = parse_token_type(v.trim())
                .map_err(|e| JwtConfigError::Invalid(format!("{full}: {e}")))?;
        }
        let (id_var, id) = var("INTROSPECTION_CLIENT_ID");
        let (secret_var, secret) = var("INTROSPECTION_CLIENT_SECRET");
        match (var("INTROSPECTION_URL"), id, secret) {
            ((_, Some(url)), Some(id), Some(secret)) => {
                config.introspection = Some(IntrospectionSettings::new(url).client(id, secret));
            }
            ((_, Some(url)), None, None) => {
                config.introspection = Some(IntrospectionSettings::new(url));
            }
            ((_, Some(_)), Some(_), None) => {
                return Err(JwtConfigError::Invalid(format!(
                    "{secret_var} is required with {id_var}"
                )))
            }
            ((_, Some(_)), None, Some(_)) => {
                return Err(JwtConfigError::Invalid(format!(
                    "{id_var} is required with {secret_var}"
                )))
            }
            ((url_var, None), id, secret) => {
                if id.is_some() || secret.is_some() {
                    return Err(JwtConfigError::Invalid(format!(
                        "{url_var} is required with the introspection client credentials"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// The validator this configuration describes.
    pub fn validator(&self) -> Result<Validator, JwtConfigError> {
        let mut b = Validator::builder(self.issuer.clone())
            .leeway(Duration::from_secs(self.leeway_seconds))
            .token_type(self.token_type);
        for a in &self.audience {
            b = b.audience(a.clone());
        }
        if let Some(algs) = &self.algorithms {
            b = b.algorithms(algs.iter().copied());
        }
        Ok(b.build()?)
    }

    /// The key source: the JWKS URL, or discovery (lazy, retried), over `http`.
    pub fn keys_with(&self, http: &HttpClient) -> Result<Arc<IssuerKeys>, JwtConfigError> {
        let source = match &self.jwks_url {
            Some(url) => {
                http.policy().check(url, UrlRole::Jwks)?;
                let jwks = RemoteJwks::builder(url.clone())
                    .http_client(http.clone())
                    .build()?;
                let cell = tokio::sync::OnceCell::new_with(Some(jwks));
                Source { remote: cell }
            }
            #[cfg(not(feature = "oidc"))]
            None => {
                return Err(JwtConfigError::Invalid(format!(
                    "no JWKS URL for issuer {:?}: discovering it needs iam-client's `oidc` feature",
                    self.issuer
                )))
            }
            #[cfg(feature = "oidc")]
            None => {
                let issuer = openidconnect::IssuerUrl::new(self.issuer.clone()).map_err(|_| {
                    JwtConfigError::Invalid(format!(
                        "issuer {:?} is not a URL to discover",
                        self.issuer
                    ))
                })?;
                http.policy().check_url(issuer.url(), UrlRole::Issuer)?;
                Source {
                    remote: tokio::sync::OnceCell::new(),
                }
            }
        };
        Ok(Arc::new(IssuerKeys {
            issuer: self.issuer.clone(),
            http: http.clone(),
            source,
            last_failure: Mutex::new(None),
            last_reason: Mutex::new(None),
        }))
    }

    /// The JWT authenticator and its key source (keep the key source for readiness checks
    /// and [`IssuerKeys::warm_up`]), with a default [`HttpClient`].
    pub fn authenticator(
        &self,
    ) -> Result<(JwtAuthenticator<Arc<IssuerKeys>>, Arc<IssuerKeys>), JwtConfigError> {
        let http = HttpClient::new()?;
        self.authenticator_with(&http)
    }

    /// [`authenticator`](Self::authenticator) over your own HTTP client.
    pub fn authenticator_with(
        &self,
        http: &HttpClient,
    ) -> Result<(JwtAuthenticator<Arc<IssuerKeys>>, Arc<IssuerKeys>), JwtConfigError> {
        let validator = self.validator()?;
        let keys = self.keys_with(http)?;
        Ok((JwtAuthenticator::new(validator, Arc::clone(&keys)), keys))
    }

    /// The introspection authenticator of [`JwtConfig::introspection`] (`None` when unset):
    /// it checks the answer's `iss` against the issuer and its `aud` against the first
    /// audience. Its URL follows `http`'s transport policy.
    #[cfg(feature = "introspection")]
    pub fn introspection_with(
        &self,
        http: &HttpClient,
    ) -> Result<Option<crate::Introspection>, JwtConfigError> {
        let Some(settings) = &self.introspection else {
            return Ok(None);
        };
        let mut b = match (&settings.client_id, &settings.client_secret) {
            (Some(id), Some(secret)) => {
                crate::Introspection::builder(&settings.url, id, secret.secret())
            }
            _ => crate::Introspection::builder_without_client_auth(&settings.url),
        };
        b = b.issuer(self.issuer.clone());
        if let Some(audience) = self.audience.first() {
            b = b.audience(audience.clone());
        }
        b.build(http.clone()).map(Some).map_err(|e| match e {
            crate::IntrospectionError::Insecure(t) => JwtConfigError::Transport(t),
            other => JwtConfigError::Invalid(format!("introspection: {other}")),
        })
    }

    /// A chain with this issuer's JWT authenticator as its first member (and introspection
    /// for opaque tokens when configured); add more authenticators with [`AuthChain::with`].
    pub fn chain(&self) -> Result<AuthChain, JwtConfigError> {
        let http = HttpClient::new()?;
        let (authenticator, _) = self.authenticator_with(&http)?;
        #[allow(unused_mut)]
        let mut chain = AuthChain::new().with(authenticator);
        #[cfg(feature = "introspection")]
        if let Some(introspection) = self.introspection_with(&http)? {
            chain = chain.with(introspection);
        }
        #[cfg(not(feature = "introspection"))]
        if self.introspection.is_some() {
            return Err(JwtConfigError::Invalid(
                "introspection needs iam-client's `introspection` feature".into(),
            ));
        }
        Ok(chain)
    }
}

struct Source {
    remote: tokio::sync::OnceCell<RemoteJwks>,
}

/// Keys for one issuer: a fixed JWKS URL or, until discovery works, nothing (requests that
/// need keys get 503). Built by [`JwtConfig::keys_with`].
pub struct IssuerKeys {
    issuer: String,
    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    http: HttpClient,
    source: Source,
    last_failure: Mutex<Option<Instant>>,
    /// Why the last discovery or key fetch failed (no secret: URLs, statuses, parse errors).
    last_reason: Mutex<Option<String>>,
}

impl fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.issuer)
            .field("jwks", &self.source.remote.get().map(RemoteJwks::url))
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// The remote JWKS, discovering it first when needed.
    pub async fn remote(&self) -> Result<&RemoteJwks, KeySourceError> {
        if let Some(r) = self.source.remote.get() {
            return Ok(r);
        }
        {
            let last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < DISCOVERY_RETRY) {
                return Err(KeySourceError::new("issuer discovery failed recently"));
            }
        }
        // Concurrent callers wait for one discovery instead of each running their own.
        self.source
            .remote
            .get_or_try_init(|| async {
                let discovered = self.discover().await;
                if discovered.is_err() {
                    *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Instant::now());
                }
                discovered
            })
            .await
    }

    #[cfg(not(feature = "oidc"))]
    async fn discover(&self) -> Result<RemoteJwks, KeySourceError> {
        // Unreachable: without `oidc`, `keys_with` refuses a configuration without a JWKS URL.
        Err(KeySourceError::new(
            "issuer discovery needs the `oidc` feature",
        ))
    }

    #[cfg(feature = "oidc")]
    async fn discover(&self) -> Result<RemoteJwks, KeySourceError> {
        let failed = |reason: String| {
            tracing::warn!(issuer = %self.issuer, error = %reason, "OIDC discovery failed");
            *self.last_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "OIDC discovery of {} failed: {reason}",
                self.issuer
            ));
            KeySourceError::new("issuer discovery failed")
        };
        let url = openidconnect::IssuerUrl::new(self.issuer.clone())
            .map_err(|_| failed("issuer is not a URL".into()))?;
        let metadata = IssuerMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| failed(crate::discovery::discovery_reason(&e)))?;
        crate::discovery::check_discovered(&metadata, self.http.policy())
            .map_err(|e| failed(e.to_string()))?;
        RemoteJwks::builder(metadata.jwks_uri().url().as_str())
            .http_client(self.http.clone())
            .build()
            .map_err(|e| failed(e.to_string()))
    }

    /// True once keys can be obtained (for a readiness probe). May fetch.
    pub async fn ready(&self) -> bool {
        self.readiness().await.is_ok()
    }

    /// `Ok` once keys can be obtained, else why not, in words an operator can act on (the
    /// discovery failure: an issuer mismatch such as a missing trailing slash, an HTTP status,
    /// a refused plaintext endpoint; or the key fetch's failure). For `/health/ready`. May
    /// fetch.
    pub async fn readiness(&self) -> Result<(), String> {
        match self.keys().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let last = self.last_reason.lock().unwrap_or_else(|e| e.into_inner());
                Err(match (&*last, self.source.remote.get()) {
                    (Some(reason), None) => reason.clone(),
                    _ => format!("keys of {} unavailable: {e}", self.issuer),
                })
            }
        }
    }

    /// Discover and fetch in the background (retrying every [`DISCOVERY_RETRY`] for up to
    /// five minutes), so the first request does not wait. Needs a Tokio runtime.
    pub fn warm_up(self: &Arc<Self>) {
        let keys = Arc::clone(self);
        tokio::spawn(async move {
            for _ in 0..60 {
                if keys.keys().await.is_ok() {
                    return;
                }
                tokio::time::sleep(DISCOVERY_RETRY).await;
            }
        });
    }
}

impl KeySource for IssuerKeys {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        Box::pin(async move { self.remote().await?.keys().await })
    }
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        self.source.remote.get()?.cached_keys()
    }
    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        Box::pin(async move { self.remote().await?.keys_after_unknown_kid(kid).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_names_the_missing_or_bad_variable() {
        let e = JwtConfig::from_lookup("IAM_", env(&[])).unwrap_err();
        assert_eq!(e.to_string(), "IAM_ISSUER is required");
        let e = JwtConfig::from_lookup("IAM_", env(&[("IAM_ISSUER", "https://i/")])).unwrap_err();
        assert_eq!(e.to_string(), "IAM_AUDIENCE is required");
        let base = [("IAM_ISSUER", "https://i/"), ("IAM_AUDIENCE", "a")];
        for (var, value, expect) in [
            (
                "IAM_LEEWAY_SECONDS",
                "ten",
                "IAM_LEEWAY_SECONDS is not a number",
            ),
            ("IAM_ALGORITHMS", "RS256,none", "IAM_ALGORITHMS: unknown"),
            ("IAM_ALGORITHMS", "HS256x", "IAM_ALGORITHMS: unknown"),
            (
                "IAM_TOKEN_TYPE",
                "jose",
                "IAM_TOKEN_TYPE: unknown token type",
            ),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((var, value));
            let e = JwtConfig::from_lookup("IAM_", env(&pairs)).unwrap_err();
            assert!(e.to_string().starts_with(expect), "{var}={value}: {e}");
        }
    }

    #[test]
    fn env_reads_every_setting() {
        let c = JwtConfig::from_lookup(
            "APP_",
            env(&[
                ("APP_ISSUER", "https://i/"),
                ("APP_AUDIENCE", "a, b"),
                ("APP_JWKS_URL", "https://i/jwks"),
                ("APP_LEEWAY_SECONDS", "5"),
                ("APP_ALGORITHMS", "ES256, EdDSA"),
                ("APP_TOKEN_TYPE", "at+jwt"),
            ]),
        )
        .unwrap();
        assert_eq!(c.audience, ["a", "b"]);
        assert_eq!(c.jwks_url.as_deref(), Some("https://i/jwks"));
        assert_eq!(c.leeway_seconds, 5);
        assert_eq!(c.algorithms, Some(vec![Algorithm::ES256, Algorithm::EdDSA]));
        assert_eq!(c.token_type, TokenType::AccessToken);
        c.validator().unwrap();
    }

    #[test]
    fn env_reads_the_introspection_setting_and_refuses_half_credentials() {
        let base = [("IAM_ISSUER", "https://i/"), ("IAM_AUDIENCE", "a")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            JwtConfig::from_lookup("IAM_", env(&pairs))
        };
        let c = with(&[(
            "IAM_INTROSPECTION_URL",
            "http://127.0.0.1:4445/admin/oauth2/introspect",
        )])
        .unwrap();
        let i = c.introspection.as_ref().unwrap();
        assert!(i.client_id.is_none() && i.client_secret.is_none());
        let c = with(&[
            ("IAM_INTROSPECTION_URL", "https://i/introspect"),
            ("IAM_INTROSPECTION_CLIENT_ID", "rs"),
            ("IAM_INTROSPECTION_CLIENT_SECRET", "hunter2-secret"),
        ])
        .unwrap();
        assert_eq!(
            c.introspection.as_ref().unwrap().client_id.as_deref(),
            Some("rs")
        );
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "the secret is redacted"
        );
        let e = with(&[
            ("IAM_INTROSPECTION_URL", "https://i/introspect"),
            ("IAM_INTROSPECTION_CLIENT_ID", "rs"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "IAM_INTROSPECTION_CLIENT_SECRET is required with IAM_INTROSPECTION_CLIENT_ID"
        );
        let e = with(&[("IAM_INTROSPECTION_CLIENT_SECRET", "x")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("IAM_INTROSPECTION_URL is required"),
            "{e}"
        );
        let plain = with(&[("IAM_INTROSPECTION_URL", "http://hydra.example/introspect")]).unwrap();
        assert!(matches!(plain.chain(), Err(JwtConfigError::Transport(_))));
    }

    #[test]
    fn serde_config() {
        let c: JwtConfig = serde_json::from_str(
            r#"{"issuer":"https://i/","audience":"a","algorithms":["RS256"],"token_type":"at+jwt"}"#,
        )
        .unwrap();
        assert_eq!(c.audience, ["a"]);
        assert_eq!(c.leeway_seconds, 60);
        assert_eq!(c.algorithms, Some(vec![Algorithm::RS256]));
        for bad in [
            r#"{"issuer":"https://i/","audience":"a","algorithm":["RS256"]}"#,
            r#"{"issuer":"https://i/","audience":"a","algorithms":["none"]}"#,
            r#"{"issuer":"https://i/","audience":"a","token_type":"x"}"#,
            r#"{"issuer":"https://i/"}"#,
        ] {
            assert!(serde_json::from_str::<JwtConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_time_errors() {
        let no_aud = JwtConfig::new("https://i/");
        assert!(matches!(
            no_aud.validator(),
            Err(JwtConfigError::Validator(_))
        ));
        let empty_algs = JwtConfig::new("https://i/").audience("a").algorithms([]);
        assert!(empty_algs.chain().is_err());
        let http = JwtConfig::new("https://i/")
            .audience("a")
            .jwks_url("http://keys.example.com/jwks");
        assert!(matches!(
            http.chain(),
            Err(JwtConfigError::Transport(TransportPolicyError::Plaintext {
                role: UrlRole::Jwks,
                ..
            }))
        ));
        let not_url = JwtConfig::new("not a url").audience("a");
        assert!(matches!(not_url.chain(), Err(JwtConfigError::Invalid(_))));
    }
}
