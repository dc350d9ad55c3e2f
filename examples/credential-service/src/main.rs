//! `credential-service`: see the crate docs for the environment.
#![forbid(unsafe_code)]

use base64::Engine as _;
use credential_service::{api_router, health, AppState, Bootstrap, Options, Store};
use iam_core::authn::AuthChain;
use iam_core::credential::{Pepper, Peppers};
use iam_service::config::exit_on_error;
use iam_service::metrics::Metrics;
use iam_service::{ConfigError, Env, Service};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// An invalid setting, from an error whose message may already name the variable.
fn invalid(var: &str, e: impl std::fmt::Display) -> ConfigError {
    let text = e.to_string();
    let reason = text.strip_prefix(var).map_or(text.as_str(), |r| {
        r.trim_start_matches(|c: char| c == ':' || c.is_whitespace())
    });
    ConfigError::invalid(var, reason)
}

/// A configuration error of the variable its text names (`IAM_AUDIENCE is required`), else
/// of `default_var`.
fn named(default_var: &str, e: impl std::fmt::Display) -> ConfigError {
    let text = e.to_string();
    let var = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("IAM_"))
        .unwrap_or(default_var)
        .to_owned();
    if text == format!("{var} is required") {
        return ConfigError::Missing { var };
    }
    invalid(&var, text)
}

fn decode_secret(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

fn peppers(env: &Env) -> Result<Peppers, ConfigError> {
    const VAR: &str = "CREDENTIALS_PEPPER";
    let spec = match env.get("PEPPER") {
        Some(v) => v,
        None => {
            if env.get("ENV").as_deref() == Some("production") {
                return Err(invalid(VAR, "required when CREDENTIALS_ENV=production"));
            }
            let path = std::path::Path::new("credentials.pepper");
            let (s, created) = credential_service::pepper_file::load_or_create(path)
                .map_err(|e| invalid(VAR, e))?;
            if created {
                tracing::warn!("CREDENTIALS_PEPPER is not set: generated one in ./credentials.pepper (development only; set CREDENTIALS_PEPPER in production)");
            } else {
                tracing::warn!("CREDENTIALS_PEPPER is not set: using ./credentials.pepper (development only; set CREDENTIALS_PEPPER in production)");
            }
            s
        }
    };
    let mut list = Vec::new();
    for (i, part) in spec.split(',').enumerate() {
        let (version, secret) = match part.split_once(':') {
            Some((v, s)) => (
                v.trim().parse().map_err(|_| invalid(VAR, "bad version"))?,
                s,
            ),
            None => (1 + i as u32, part),
        };
        let key = decode_secret(secret).ok_or_else(|| invalid(VAR, "must be hex or base64url"))?;
        list.push(Pepper::new(version, &key).map_err(|e| invalid(VAR, e))?);
    }
    Peppers::new(list).map_err(|e| invalid(VAR, e))
}

/// The settings read at start.
struct Config {
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    database_url: String,
    peppers: Peppers,
    users: Option<AuthChain>,
    routes: Option<iam_core::credential::RouteScopes>,
    options: Options,
}

fn config() -> Result<Config, ConfigError> {
    let env = Env::new("CREDENTIALS_");
    let global = Env::new("");
    let listen = env.socket_addr("LISTEN", "127.0.0.1:4000")?;
    let metrics_listen = env.socket_addr_opt("METRICS_LISTEN")?;
    let database_url = global
        .get("DATABASE_URL")
        .unwrap_or_else(|| "sqlite://credentials.db?mode=rwc".into());
    let peppers = peppers(&env)?;
    let bootstrap = match env.get("BOOTSTRAP_TOKEN") {
        None => None,
        Some(t) => {
            let ttl = env.seconds("BOOTSTRAP_TTL_SECONDS", Duration::from_secs(3600))?;
            Some(Bootstrap::new(t, ttl).map_err(|e| invalid("CREDENTIALS_BOOTSTRAP_TOKEN", e))?)
        }
    };
    let pat_max_lifetime = match env.get("PAT_MAX_DAYS") {
        None => Options::default().pat_max_lifetime,
        Some(d) => d
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=36_500).contains(n))
            .map(|n| Duration::from_secs(n * 86_400))
            .ok_or_else(|| invalid("CREDENTIALS_PAT_MAX_DAYS", "must be 1..=36500"))?,
    };
    // Plain http to a host that is not loopback (a Kratos or issuer on a private network
    // name) only with an explicit, logged opt-in, as in the sample app.
    let transport = if global.flag("IAM_DANGEROUS_ALLOW_HTTP", false)? {
        iam_client::TransportPolicy::new()
            .dangerous()
            .allow_plaintext_http()
    } else {
        iam_client::TransportPolicy::new()
    };
    let users = match global.get("IAM_ISSUER") {
        None => None,
        Some(_) => {
            let http = iam_client::HttpClient::new()
                .map_err(|e| invalid("IAM_ISSUER", e))?
                .with_policy(transport);
            let (jwt, _keys) = iam_client::JwtConfig::from_env("IAM_")
                .and_then(|c| c.authenticator_with(&http))
                .map_err(|e| named("IAM_ISSUER", e))?;
            let mut chain = iam_core::authn::AuthChain::new().with(jwt);
            if let Some(k) = global.get("IAM_KRATOS_PUBLIC_URL") {
                chain = chain.with(
                    iam_client::KratosSessions::builder(k)
                        .http_client(http.clone())
                        .build()
                        .map_err(|e| invalid("IAM_KRATOS_PUBLIC_URL", e))?,
                );
            }
            Some(chain)
        }
    };
    let routes = match env.get("ROUTE_SCOPES") {
        None => None,
        Some(path) => {
            let var = "CREDENTIALS_ROUTE_SCOPES";
            let text =
                std::fs::read_to_string(&path).map_err(|e| invalid(var, format!("{path}: {e}")))?;
            Some(
                credential_service::api::parse_route_scopes(&text)
                    .map_err(|e| invalid(var, format!("{path}: {e}")))?,
            )
        }
    };
    let shared_limit = match global.get("REDIS_URL") {
        None => None,
        Some(u) => Some(
            credential_service::api::SharedLimit::new(&u)
                .map_err(|_| ConfigError::invalid("REDIS_URL", "not a Redis URL"))?,
        ),
    };
    Ok(Config {
        listen,
        metrics_listen,
        database_url,
        peppers,
        users,
        routes,
        options: Options {
            bootstrap,
            shared_limit,
            pat_max_lifetime,
            ..Options::default()
        },
    })
}

#[tokio::main]
async fn main() {
    iam_service::telemetry::init();
    // The recorder first: the service's counters are registered (at zero) with the state.
    let metrics = Metrics::global();
    let config = exit_on_error(config());
    let store = match Store::connect(&config.database_url, config.peppers).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("cannot open the database: {e}");
            std::process::exit(1);
        }
    };
    let state = AppState::with_options(
        Arc::clone(&store),
        Options {
            users: config.users,
            routes: config.routes,
            ..config.options
        },
    );
    // last_used_at: one write per credential per minute at most, and a last flush at exit.
    let flusher = Arc::clone(&store);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            if let Err(e) = flusher.flush_last_used().await {
                tracing::warn!(error = %e, "last_used_at flush failed");
            }
        }
    });
    if let Some(addr) = config.metrics_listen {
        tracing::info!(listen = %addr, "metrics listening");
    }
    tracing::info!(listen = %config.listen, backend = ?store.backend(), "credential-service listening");
    // Until SIGINT or SIGTERM; in-flight requests finish first.
    let served = Service::new(api_router(Arc::clone(&state)))
        .health(health(&state))
        .metrics(metrics)
        .metrics_listen(config.metrics_listen)
        .serve(config.listen)
        .await;
    match store.flush_last_used().await {
        Ok(n) => tracing::info!(flushed = n, "shut down"),
        Err(e) => tracing::error!(error = %e, "last_used_at flush at shutdown failed"),
    }
    if let Err(e) = served {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
