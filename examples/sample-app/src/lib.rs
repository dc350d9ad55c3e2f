//! What both binaries of the sample app share: configuration from the environment, the key
//! source (JWKS URL, or OIDC discovery retried in the background so the app starts while the
//! issuer is down), and the JSON the routes answer.
//!
//! Environment (the contract other tooling relies on):
//! - `IAM_LISTEN`: socket address (default `127.0.0.1:3000`);
//! - `IAM_ISSUER`: issuer URL (required); keys found by OIDC discovery unless `IAM_JWKS_URL`;
//! - `IAM_AUDIENCE`: required audience;
//! - `IAM_KRATOS_PUBLIC_URL`, `IAM_CREDENTIALS_URL` + `IAM_CREDENTIALS_TOKEN`: accepted and
//!   reported as not yet supported (their issues have not landed).
#![forbid(unsafe_code)]

use iam_client::{HttpClient, RemoteJwks, TrustedIssuer};
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError};
use iam_core::jwt::Validator;
use iam_core::Principal;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The app's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Expected issuer.
    pub issuer: String,
    /// Expected audience.
    pub audience: String,
    /// JWKS URL, when set explicitly.
    pub jwks_url: Option<String>,
}

impl Config {
    /// Read the environment; `Err` names the variable that is missing or wrong.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let listen = var("IAM_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen = listen
            .parse()
            .map_err(|_| format!("IAM_LISTEN is not a socket address: {listen}"))?;
        let issuer = var("IAM_ISSUER").ok_or("IAM_ISSUER is required")?;
        let audience = var("IAM_AUDIENCE").ok_or("IAM_AUDIENCE is required")?;
        for unsupported in ["IAM_KRATOS_PUBLIC_URL", "IAM_CREDENTIALS_URL"] {
            if var(unsupported).is_some() {
                tracing::warn!(variable = unsupported, "set but not supported yet; ignored");
            }
        }
        Ok(Self {
            listen,
            issuer,
            audience,
            jwks_url: var("IAM_JWKS_URL"),
        })
    }
}

/// Keys from `IAM_JWKS_URL`, or from the issuer's discovery document. Discovery is retried
/// (at most every 5 s) until it works; until then requests that need keys get 503.
pub struct AppKeys {
    issuer: String,
    audience: String,
    http: HttpClient,
    remote: tokio::sync::OnceCell<RemoteJwks>,
    last_attempt: Mutex<Option<Instant>>,
}

impl AppKeys {
    /// Keys for this configuration. Nothing is fetched yet.
    pub fn new(config: &Config) -> Result<Arc<Self>, String> {
        let http = HttpClient::new().map_err(|e| e.to_string())?;
        let keys = Arc::new(Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            http,
            remote: tokio::sync::OnceCell::new(),
            last_attempt: Mutex::new(None),
        });
        if let Some(url) = &config.jwks_url {
            let remote = RemoteJwks::builder(url.clone())
                .build()
                .map_err(|e| e.to_string())?;
            let _ = keys.remote.set(remote);
        }
        Ok(keys)
    }

    async fn remote(&self) -> Result<&RemoteJwks, KeySourceError> {
        if let Some(r) = self.remote.get() {
            return Ok(r);
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
                return Err(KeySourceError::new("issuer discovery failed recently"));
            }
            *last = Some(Instant::now());
        }
        let audience = self.audience.clone();
        match TrustedIssuer::discover_with(&self.issuer, &self.http, move |b| b.audience(audience))
            .await
        {
            Ok(t) => Ok(self
                .remote
                .get_or_init(|| async move { t.keys().clone() })
                .await),
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "OIDC discovery failed");
                Err(KeySourceError::new("issuer discovery failed"))
            }
        }
    }

    /// True once keys can be obtained (for `/health/ready`).
    pub async fn ready(&self) -> bool {
        self.keys().await.is_ok()
    }

    /// Try discovery and the first fetch in the background, so the first request is fast.
    pub fn warm_up(self: &Arc<Self>) {
        let keys = Arc::clone(self);
        tokio::spawn(async move {
            for _ in 0..60 {
                if keys.keys().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
}

impl KeySource for AppKeys {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        Box::pin(async move { self.remote().await?.keys().await })
    }
    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        self.remote.get()?.cached_keys()
    }
    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        Box::pin(async move { self.remote().await?.keys_after_unknown_kid(kid).await })
    }
}

/// The authenticator chain: JWT bearer tokens from the configured issuer.
pub fn chain(config: &Config, keys: Arc<AppKeys>) -> Result<AuthChain, String> {
    let validator = Validator::builder(config.issuer.clone())
        .audience(config.audience.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(AuthChain::new().with(JwtAuthenticator::new(validator, keys)))
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
}

/// The `/me` answer as JSON bytes.
pub fn me_body(p: &Principal) -> Vec<u8> {
    serde_json::to_vec(&me_json(p)).unwrap_or_default()
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
    }
}

/// Log setup shared by both binaries: one line per request, never a token.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}
