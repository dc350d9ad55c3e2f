//! `sample-app-axum`: the sample API on axum. See the crate docs for the environment.
#![forbid(unsafe_code)]

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use iam_axum::{Auth, IamLayer, RequireLayer};
use iam_service::config::exit_on_error;
use iam_service::metrics::Metrics;
use iam_service::Service;
use sample_app::{me_body, Config};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Puts the end client's address in the request ([`iam_core::authn::ClientAddr`]) for the
/// authenticators: the credential service charges failed validations to it.
async fn client_addr(State(config): State<Arc<Config>>, mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = config.client_addr(peer.ip(), req.headers());
        req.extensions_mut().insert(client);
    }
    next.run(req).await
}

async fn log(req: Request, next: Next) -> Response {
    let (method, path, start) = (
        req.method().clone(),
        req.uri().path().to_owned(),
        Instant::now(),
    );
    let res = next.run(req).await;
    sample_app::record_request(res.status().as_u16());
    let subject = res.extensions().get::<iam_core::Principal>();
    tracing::info!(%method, %path, status = res.status().as_u16(), latency_us = start.elapsed().as_micros() as u64, subject = %subject.map_or("-", |p| p.subject()), "request");
    res
}

#[tokio::main]
async fn main() {
    iam_service::telemetry::init();
    let config = exit_on_error(Config::from_env());
    let (chain, keys) = exit_on_error(config.chain());
    if let Some(keys) = &keys {
        keys.warm_up();
    }
    let protected = Router::new()
        .route(
            "/me",
            get(|Auth(p): Auth| async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    me_body(&p),
                )
            }),
        )
        .route(
            "/admin",
            get(|| async { axum::Json(serde_json::json!({"admin": true})) })
                .route_layer(RequireLayer::permission("admin:read")),
        )
        .layer(IamLayer::required(chain))
        .layer(middleware::from_fn_with_state(
            Arc::new(config.clone()),
            client_addr,
        ));
    let mut service = Service::new(protected)
        .health(sample_app::health(keys.as_ref()))
        .metrics_listen(config.metrics_listen);
    // `/metrics` only on IAM_METRICS_LISTEN, never on IAM_LISTEN.
    if config.metrics_listen.is_some() {
        service = service.metrics(Metrics::global());
        sample_app::register_metrics();
    }
    let (app, internal) = service.routers();
    let app = app.layer(middleware::from_fn(log));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {}: {e}", config.listen);
            std::process::exit(1)
        });
    let internal = match (config.metrics_listen, internal) {
        (Some(addr), Some(router)) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .unwrap_or_else(|e| {
                    eprintln!("cannot listen on {addr}: {e}");
                    std::process::exit(1)
                });
            Some((l, router))
        }
        _ => None,
    };
    tracing::info!(listen = %config.listen, issuer = %config.jwt.as_ref().map_or("-", |j| j.issuer.as_str()), "sample-app-axum listening");
    // Until SIGINT or SIGTERM; in-flight requests finish first.
    if let Err(e) =
        iam_service::serve_listeners(listener, app, internal, iam_service::shutdown::signal()).await
    {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
