//! `credential-service`: see the crate docs for the environment.
#![forbid(unsafe_code)]

use base64::Engine as _;
use credential_service::{api_router, metrics_router, router, AppState, Bootstrap, Options, Store};
use iam_core::authn::AuthChain;
use iam_core::credential::{Pepper, Peppers};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("configuration error: {msg}");
    std::process::exit(2)
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

fn peppers() -> Peppers {
    let var = std::env::var("CREDENTIALS_PEPPER")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let spec = match var {
        Some(v) => v,
        None => {
            if std::env::var("CREDENTIALS_ENV").as_deref() == Ok("production") {
                fail("CREDENTIALS_PEPPER is required when CREDENTIALS_ENV=production");
            }
            let path = std::path::Path::new("credentials.pepper");
            match credential_service::pepper_file::load_or_create(path) {
                Ok((s, created)) => {
                    if created {
                        tracing::warn!("CREDENTIALS_PEPPER is not set: generated one in ./credentials.pepper (development only; set CREDENTIALS_PEPPER in production)");
                    } else {
                        tracing::warn!("CREDENTIALS_PEPPER is not set: using ./credentials.pepper (development only; set CREDENTIALS_PEPPER in production)");
                    }
                    s
                }
                Err(e) => fail(e),
            }
        }
    };
    let mut list = Vec::new();
    for (i, part) in spec.split(',').enumerate() {
        let (version, secret) = match part.split_once(':') {
            Some((v, s)) => (
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| fail("CREDENTIALS_PEPPER: bad version")),
                s,
            ),
            None => (1 + i as u32, part),
        };
        let key = decode_secret(secret)
            .unwrap_or_else(|| fail("CREDENTIALS_PEPPER must be hex or base64url"));
        list.push(
            Pepper::new(version, &key).unwrap_or_else(|e| fail(format!("CREDENTIALS_PEPPER: {e}"))),
        );
    }
    Peppers::new(list).unwrap_or_else(|e| fail(format!("CREDENTIALS_PEPPER: {e}")))
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let listen: SocketAddr = var("CREDENTIALS_LISTEN")
        .unwrap_or_else(|| "127.0.0.1:4000".into())
        .parse()
        .unwrap_or_else(|_| fail("CREDENTIALS_LISTEN is not a socket address"));
    let url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://credentials.db?mode=rwc".into());
    let peppers = peppers();
    let seconds = |name: &str, default: u64| match var(name) {
        None => Duration::from_secs(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_secs)
            .unwrap_or_else(|| fail(format!("{name} must be a positive whole number"))),
    };
    let bootstrap = var("CREDENTIALS_BOOTSTRAP_TOKEN").map(|t| {
        Bootstrap::new(t, seconds("CREDENTIALS_BOOTSTRAP_TTL_SECONDS", 3600))
            .unwrap_or_else(|e| fail(e))
    });
    let pat_max_lifetime = var("CREDENTIALS_PAT_MAX_DAYS")
        .map(|d| {
            d.parse::<u64>()
                .ok()
                .filter(|n| (1..=36_500).contains(n))
                .map(|n| Duration::from_secs(n * 86_400))
                .unwrap_or_else(|| fail("CREDENTIALS_PAT_MAX_DAYS must be 1..=36500"))
        })
        .unwrap_or_else(|| Options::default().pat_max_lifetime);
    let metrics_listen: Option<SocketAddr> = var("CREDENTIALS_METRICS_LISTEN").map(|v| {
        v.parse()
            .unwrap_or_else(|_| fail("CREDENTIALS_METRICS_LISTEN is not a socket address"))
    });
    let users = if var("IAM_ISSUER").is_some() {
        let mut chain = iam_client::JwtConfig::from_env("IAM_")
            .and_then(|c| c.chain())
            .unwrap_or_else(|e| fail(e));
        if let Some(k) = var("IAM_KRATOS_PUBLIC_URL") {
            chain = chain.with(
                iam_client::KratosSessions::builder(k)
                    .build()
                    .unwrap_or_else(|e| fail(format!("IAM_KRATOS_PUBLIC_URL: {e}"))),
            );
        }
        Some(chain)
    } else {
        None::<AuthChain>
    };
    let store = match Store::connect(&url, peppers).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("cannot open the database: {e}");
            std::process::exit(1);
        }
    };
    let routes = var("CREDENTIALS_ROUTE_SCOPES").map(|path| {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| fail(format!("CREDENTIALS_ROUTE_SCOPES {path}: {e}")));
        credential_service::api::parse_route_scopes(&text)
            .unwrap_or_else(|e| fail(format!("CREDENTIALS_ROUTE_SCOPES {path}: {e}")))
    });
    let shared = var("REDIS_URL")
        .map(|u| credential_service::api::SharedLimit::new(&u).unwrap_or_else(|e| fail(e)));
    let state = AppState::with_options(
        Arc::clone(&store),
        Options {
            bootstrap,
            users,
            routes,
            shared_limit: shared,
            pat_max_lifetime,
            ..Options::default()
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
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {listen}: {e}");
            std::process::exit(1)
        });
    let app = match metrics_listen {
        None => router(Arc::clone(&state)),
        Some(addr) => {
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .unwrap_or_else(|e| {
                    eprintln!("cannot listen on {addr}: {e}");
                    std::process::exit(1)
                });
            tracing::info!(listen = %addr, "metrics listening");
            let routes = metrics_router(Arc::clone(&state));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics, routes).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
            api_router(Arc::clone(&state))
        }
    };
    tracing::info!(%listen, backend = ?store.backend(), "credential-service listening");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .unwrap_or_else(|e| fail(e));
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    match store.flush_last_used().await {
        Ok(n) => tracing::info!(flushed = n, "shut down"),
        Err(e) => tracing::error!(error = %e, "last_used_at flush at shutdown failed"),
    }
    if let Err(e) = served {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
