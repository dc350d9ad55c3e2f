//! `sample-app-axum`: the sample API on axum. See the crate docs for the environment.
#![forbid(unsafe_code)]

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use iam_axum::{Auth, IamLayer, RequireLayer};
use iam_client::IssuerKeys;
use sample_app::{init_logging, me_body, Config};
use std::sync::Arc;
use std::time::Instant;

async fn log(req: Request, next: Next) -> Response {
    let (method, path, start) = (
        req.method().clone(),
        req.uri().path().to_owned(),
        Instant::now(),
    );
    let res = next.run(req).await;
    sample_app::METRICS.record(res.status().as_u16());
    let subject = res.extensions().get::<iam_core::Principal>();
    tracing::info!(%method, %path, status = res.status().as_u16(), latency_us = start.elapsed().as_micros() as u64, subject = %subject.map_or("-", |p| p.subject()), "request");
    res
}

async fn ready(State(keys): State<Arc<IssuerKeys>>) -> impl IntoResponse {
    if keys.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "keys unavailable")
    }
}

#[tokio::main]
async fn main() {
    init_logging();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    let (chain, keys) = config.chain().unwrap_or_else(|e| {
        eprintln!("configuration error: {e}");
        std::process::exit(2)
    });
    keys.warm_up();
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
        .layer(IamLayer::required(chain));
    let app = Router::new()
        .route("/health/alive", get(|| async { "alive" }))
        .route("/health/ready", get(ready))
        .with_state(Arc::clone(&keys))
        .merge(protected)
        .layer(middleware::from_fn(log));
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", config.listen);
            std::process::exit(1);
        }
    };
    if let Some(addr) = config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| {
                eprintln!("cannot listen on {addr}: {e}");
                std::process::exit(1)
            });
        let routes =
            Router::new().route("/metrics", get(|| async { sample_app::METRICS.render() }));
        tokio::spawn(async move {
            let _ = axum::serve(metrics, routes).await;
        });
    }
    tracing::info!(listen = %config.listen, issuer = %config.jwt.issuer, "sample-app-axum listening");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
