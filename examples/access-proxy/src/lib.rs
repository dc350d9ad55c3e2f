//! # access-proxy
//!
//! A drop-in replacement for Ory Oathkeeper, assembled from `iam-proxy`: it reads an
//! Oathkeeper configuration file and its access rules, forwards allowed requests on the proxy
//! port and answers `/decisions` (Traefik ForwardAuth, nginx `auth_request`, Envoy
//! `ext_authz`) on the API port, with `/health/alive`, `/health/ready` (503 until the rules
//! load), Prometheus `/metrics` and the `id_token` mutator's public keys
//! (`/.well-known/jwks.json`) there too.
//!
//! ## Configuration
//! `ACCESS_PROXY_CONFIG`: the Oathkeeper config file (YAML or JSON). Read from it:
//! `serve.proxy.{host,port,timeout.read,cors}`, `serve.api.{host,port}`,
//! `access_rules.{repositories,matching_strategy}`, and the `authenticators`, `authorizers`,
//! `mutators`, `errors` sections (`enabled`, `config`, `errors.fallback`). Other keys are
//! warned about and ignored. Environment overrides (prefix `ACCESS_PROXY_`):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SERVE_PROXY_PORT`, `SERVE_PROXY_HOST` | 4455, 127.0.0.1 | proxy listener |
//! | `SERVE_API_PORT`, `SERVE_API_HOST` | 4456, 127.0.0.1 | API listener |
//! | `ACCESS_RULES_REPOSITORIES` | `file://rules` | comma-separated |
//! | `ACCESS_RULES_MATCHING_STRATEGY` | `regexp` | or `glob` |
//! | `TRUSTED_PROXIES` | none | CIDRs whose `X-Forwarded-*` / `Forwarded` are believed |
//! | `DECISIONS_STYLE` | `as-is` | `nginx`: refusals only as 401/403 |
//! | `UPSTREAM_TIMEOUT` | 30 s | wait for an upstream's response head |
//! | `RELOAD_INTERVAL` | 5 s | how often rule files are checked for changes |
//! | `RATE_LIMIT_*` | none | rate-limit tiers (file section `rate_limit`, see [`ratelimit`]) |
//! | `ID_TOKEN_DATABASE_URL`, `ID_TOKEN_KEY_ENCRYPTION_KEY` | none | `id_token` keys shared by every instance (file section `id_token_keys`, see [`keys`]) |
//!
//! Body limits and upstream TLS: see [`transport`].
//!
//! ```no_run
//! # async fn f() {
//! let config = access_proxy::Config::from_document(&serde_json::json!({
//!     "access_rules": {"repositories": ["file:///etc/rules.yaml"]},
//!     "authenticators": {"anonymous": {"enabled": true}},
//! }), &iam_service::Env::new("ACCESS_PROXY_")).unwrap();
//! access_proxy::run(config, iam_service::shutdown::signal()).await.unwrap();
//! # }
//! ```
//!
//! # Caveats
//! No TLS on the listeners (terminate in front; `https://` upstreams are fine, see
//! [`transport`]); CORS only on the
//! proxy port (see [`cors`]); see the
//! README for the differences to Oathkeeper. Without `ID_TOKEN_DATABASE_URL` the `id_token`
//! keys live in memory: each instance signs with its own, so upstreams must trust every
//! instance's JWKS.
#![forbid(unsafe_code)]

pub mod cors;
pub mod keys;
pub mod ratelimit;
pub mod transport;

use axum::extract::ConnectInfo;
use axum::routing::any;
use hyper_util::rt::TokioIo;
use iam_issuer::{Issuer, KeyRing, RotationTask};
use iam_proxy::engine::AccessEngine;
use iam_proxy::forwarded::{ForwardedTrust, TrustedProxies};
use iam_proxy::pipeline::{CompiledRules, HandlerConfigs, PipelineBuilder};
use iam_proxy::proxy::{AccessProxy, Decisions, DenyStyle, PeerAddr};
use iam_proxy::rules::{MatchingStrategy, RuleRepository, RuleSource};
use iam_service::{ConfigError, Env};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_layer::Layer as _;

/// Top-level keys of an Oathkeeper config this proxy reads (others are warned about).
const KNOWN_KEYS: [&str; 8] = [
    "serve",
    "rate_limit",
    "id_token_keys",
    "access_rules",
    "authenticators",
    "authorizers",
    "mutators",
    "errors",
];

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Proxy listener.
    pub proxy_listen: SocketAddr,
    /// API listener (`/decisions`, health, metrics).
    pub api_listen: SocketAddr,
    /// Rule sources.
    pub repositories: Vec<String>,
    /// `regexp` or `glob`.
    pub strategy: MatchingStrategy,
    /// The handler sections.
    pub handlers: HandlerConfigs,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// How `/decisions` refuses.
    pub deny_style: DenyStyle,
    /// Upstream response-head timeout.
    pub upstream_timeout: Duration,
    /// Rule-file polling interval.
    pub reload_interval: Duration,
    /// Keys of the file that were ignored.
    pub ignored_keys: Vec<String>,
    /// CORS on the proxy port (`serve.proxy.cors`), when enabled.
    pub proxy_cors: Option<tower_http::cors::CorsLayer>,
    /// Body limits and upstream TLS roots (see [`transport`]).
    pub transport: transport::TransportSettings,
    /// Rate-limit tiers (`rate_limit`, see [`ratelimit`]).
    pub rate_limit: ratelimit::RateLimitConfig,
    /// Where the `id_token` keys live (`id_token_keys`, see [`keys`]).
    pub id_token_keys: keys::IdTokenKeysConfig,
}

fn addr(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|_| format!("{host}:{port} is not an address"))
}

impl Config {
    /// Read `ACCESS_PROXY_CONFIG` (when set) and the environment overrides.
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        let doc = match env.get("CONFIG") {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::invalid(env.name("CONFIG"), format!("{path}: {e}"))
                })?;
                serde_yaml::from_str::<Value>(&text)
                    .map_err(|e| ConfigError::invalid(env.name("CONFIG"), format!("{path}: {e}")))?
            }
            None => Value::Object(Default::default()),
        };
        Self::from_document(&doc, env)
    }

    /// Settings from a parsed Oathkeeper config document and the environment.
    pub fn from_document(doc: &Value, env: &Env) -> Result<Self, ConfigError> {
        let ignored_keys: Vec<String> = doc
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for k in &ignored_keys {
            tracing::warn!(key = %k, "configuration key not supported by access-proxy: ignored");
        }
        let str_at = |ptr: &str| doc.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
        let port_at = |ptr: &str, default: u16| {
            doc.pointer(ptr)
                .and_then(Value::as_u64)
                .map_or(default, |p| p as u16)
        };
        let listen = |which: &str, default_port: u16| -> Result<SocketAddr, ConfigError> {
            let upper = which.to_ascii_uppercase();
            let host = env
                .get(&format!("SERVE_{upper}_HOST"))
                .or_else(|| str_at(&format!("/serve/{which}/host")))
                .unwrap_or_else(|| "127.0.0.1".into());
            let port = env.parse_or(
                &format!("SERVE_{upper}_PORT"),
                port_at(&format!("/serve/{which}/port"), default_port),
            )?;
            addr(&host, port)
                .map_err(|e| ConfigError::invalid(env.name(&format!("SERVE_{upper}_HOST")), e))
        };
        let repositories = match env.get("ACCESS_RULES_REPOSITORIES") {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => doc
                .pointer("/access_rules/repositories")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_else(|| vec!["file://rules".to_owned()]),
        };
        let strategy_name = env
            .get("ACCESS_RULES_MATCHING_STRATEGY")
            .or_else(|| str_at("/access_rules/matching_strategy"))
            .unwrap_or_default();
        let strategy = MatchingStrategy::from_name(&strategy_name).ok_or_else(|| {
            ConfigError::invalid(env.name("ACCESS_RULES_MATCHING_STRATEGY"), "regexp or glob")
        })?;
        let trusted_proxies =
            TrustedProxies::parse(&env.get("TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| ConfigError::invalid(env.name("TRUSTED_PROXIES"), e.to_string()))?;
        let deny_style = match env.get("DECISIONS_STYLE").as_deref() {
            None | Some("as-is") => DenyStyle::AsIs,
            Some("nginx") => DenyStyle::Nginx,
            Some(_) => {
                return Err(ConfigError::invalid(
                    env.name("DECISIONS_STYLE"),
                    "as-is or nginx",
                ))
            }
        };
        Ok(Self {
            proxy_listen: listen("proxy", 4455)?,
            api_listen: listen("api", 4456)?,
            repositories,
            strategy,
            handlers: HandlerConfigs::from_oathkeeper(doc),
            trusted_proxies,
            deny_style,
            upstream_timeout: env.seconds("UPSTREAM_TIMEOUT", Duration::from_secs(30))?,
            reload_interval: env.seconds("RELOAD_INTERVAL", Duration::from_secs(5))?,
            ignored_keys,
            proxy_cors: cors::from_config(doc.pointer("/serve/proxy/cors").unwrap_or(&Value::Null))
                .map_err(|e| ConfigError::invalid("serve.proxy.cors", e.to_string()))?,
            transport: transport::TransportSettings::from_env(env)?,
            rate_limit: ratelimit::RateLimitConfig::from_document(doc, env)?,
            id_token_keys: keys::IdTokenKeysConfig::from_document(doc, env)?,
        })
    }
}

/// The assembled service: engine, repository and the two servers' services.
#[derive(Debug, Clone)]
pub struct App {
    /// The decision engine.
    pub engine: AccessEngine,
    /// The rules.
    pub repository: Arc<RuleRepository<CompiledRules>>,
    /// The `id_token` mutator's signing keys (public half at `/.well-known/jwks.json`).
    pub id_token_keys: KeyRing,
    config: Config,
}

/// A rule source that does not parse.
fn source_error(e: iam_proxy::RuleError) -> ConfigError {
    ConfigError::invalid("ACCESS_PROXY_ACCESS_RULES_REPOSITORIES", e.to_string())
}

impl App {
    /// Build the engine and load the rules once (a failed load is logged; the service then
    /// answers 503 and is not ready until a reload succeeds).
    pub async fn new(config: Config) -> Result<Self, ConfigError> {
        let keys = config.id_token_keys.open().await?;
        let sources = config
            .repositories
            .iter()
            .map(|r| RuleSource::parse(r).map_err(source_error))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = PipelineBuilder::new(config.handlers.clone()).id_token_keys(keys.clone());
        let repository = Arc::new(RuleRepository::new(sources, config.strategy, move |set| {
            builder.build(set)
        }));
        match repository.reload() {
            Ok(report) => tracing::info!(
                rules = report.rules,
                files = report.files,
                "access rules loaded"
            ),
            Err(e) => tracing::error!(error = %e, "access rules did not load"),
        }
        let mut engine = AccessEngine::new(
            repository.clone(),
            ForwardedTrust::new(config.trusted_proxies.clone()),
        );
        if let Some(tiers) = ratelimit::RateLimitTiers::from_config(&config.rate_limit) {
            engine = engine.with_admission(Arc::new(tiers));
        }
        Ok(Self {
            engine,
            repository,
            id_token_keys: keys,
            config,
        })
    }

    /// Rotate the `id_token` keys on their policy's schedule (checked hourly) until the
    /// returned task is dropped.
    pub fn rotate_keys(&self) -> RotationTask {
        self.id_token_keys
            .spawn_rotation(Duration::from_secs(3_600))
    }

    /// `/decisions`, `/health/*`, `/metrics`.
    pub fn api_router(&self) -> axum::Router {
        let decisions = Decisions::new(self.engine.clone(), self.config.deny_style)
            .body_limits(self.config.transport.body_limits);
        let handler = move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                            mut req: axum::extract::Request| {
            let decisions = decisions.clone();
            async move {
                req.extensions_mut().insert(PeerAddr(peer));
                let res = decisions.decide_request(req).await;
                metrics::counter!("access_proxy_decisions_total", "status" => res.status().as_u16().to_string()).increment(1);
                res.map(axum::body::Body::from)
            }
        };
        let repo = self.repository.clone();
        let health = iam_service::health::Health::new().check("rules", move || {
            let ready = repo.current().is_some();
            let error = repo.last_error();
            async move {
                match (ready, error) {
                    (true, _) => Ok(()),
                    (false, Some(e)) => Err(e),
                    (false, None) => Err("access rules are not loaded".into()),
                }
            }
        });
        let metrics = iam_service::metrics::Metrics::global();
        let keys = Issuer::new("", self.id_token_keys.clone());
        let jwks = move || {
            let keys = keys.clone();
            async move {
                let max_age = format!("public, max-age={}", keys.jwks_max_age().as_secs());
                (
                    [(http::header::CACHE_CONTROL, max_age)],
                    axum::Json(keys.jwks()),
                )
            }
        };
        axum::Router::new()
            .route("/.well-known/jwks.json", axum::routing::get(jwks))
            .route("/decisions", any(handler.clone()))
            .route("/decisions/{*rest}", any(handler))
            .merge(health.router())
            .merge(metrics.router())
    }

    /// Serve the proxy port on `listener` until `shutdown` resolves.
    pub async fn serve_proxy(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let proxy: AccessProxy<hyper::body::Incoming> = match AccessProxy::new(
            self.engine.clone(),
            self.config.upstream_timeout,
        )
        .body_limits(self.config.transport.body_limits)
        .upstream_tls(&self.config.transport.upstream_tls)
        {
            Ok(proxy) => proxy,
            Err(e) => {
                tracing::error!(error = %e, "upstream TLS settings are unusable: proxy port not served");
                return;
            }
        };
        match self.config.proxy_cors.clone() {
            Some(cors) => accept_loop(listener, cors.layer(proxy), shutdown).await,
            None => accept_loop(listener, proxy, shutdown).await,
        }
    }

    /// Poll the rule files for changes.
    pub fn watch_rules(&self) -> tokio::task::JoinHandle<()> {
        self.repository.watch(self.config.reload_interval)
    }
}

/// Serve `service` on every connection `listener` accepts until `shutdown` resolves.
async fn accept_loop<S>(
    listener: tokio::net::TcpListener,
    service: S,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    S: tower_service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<iam_proxy::proxy::ProxyBody>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = &mut shutdown => return,
        };
        let service = service.clone();
        tokio::spawn(async move {
            let per_request = hyper::service::service_fn(
                move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    let mut service = service.clone();
                    async move {
                        let res = service.call(req).await;
                        if let Ok(r) = &res {
                            metrics::counter!("access_proxy_requests_total", "status" => r.status().as_u16().to_string()).increment(1);
                        }
                        res
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), per_request)
                .with_upgrades()
                .await;
        });
    }
}

/// Bind both listeners and serve until `shutdown`.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), iam_service::ServeError> {
    let app = App::new(config.clone())
        .await
        .map_err(|e| iam_service::ServeError::Io(std::io::Error::other(e.to_string())))?;
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| iam_service::ServeError::Bind { addr, source })
    };
    let proxy_listener = bind(config.proxy_listen).await?;
    let api_listener = bind(config.api_listen).await?;
    tracing::info!(proxy = %config.proxy_listen, api = %config.api_listen, "access-proxy listening");
    let _watch = app.watch_rules();
    let _rotation = app.rotate_keys();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let mut rx_proxy = rx.clone();
    let proxy_app = app.clone();
    let proxy_task = tokio::spawn(async move {
        proxy_app
            .serve_proxy(proxy_listener, async move {
                let _ = rx_proxy.wait_for(|s| *s).await;
            })
            .await
    });
    let mut rx_api = rx;
    iam_service::serve_listeners(api_listener, app.api_router(), None, async move {
        let _ = rx_api.wait_for(|s| *s).await;
    })
    .await?;
    let _ = proxy_task.await;
    Ok(())
}
