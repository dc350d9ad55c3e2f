//! `sample-app-actix`: the sample API on actix-web. See the crate docs for the environment.
#![forbid(unsafe_code)]

use actix_web::dev::Service as _;
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};
use iam_actix::{Auth, IamMiddleware, RequireMiddleware};
use iam_service::config::exit_on_error;
use iam_service::health::Health;
use iam_service::metrics::Metrics;
use sample_app::{me_json, Config};
use std::time::Instant;

/// `/health/ready` from iam-service's checks: 200, or 503 with each failing check's reason.
async fn ready(health: web::Data<Health>) -> HttpResponse {
    let failures = health.failures().await;
    if failures.is_empty() {
        return HttpResponse::Ok().json(serde_json::json!({"status": "ok"}));
    }
    let errors: serde_json::Map<String, serde_json::Value> = failures
        .into_iter()
        .map(|(name, reason)| (name.to_owned(), reason.into()))
        .collect();
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({"status": "unavailable", "errors": errors}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    iam_service::telemetry::init();
    let config = exit_on_error(Config::from_env());
    let (chain, keys) = exit_on_error(config.chain());
    if let Some(keys) = &keys {
        keys.warm_up();
    }
    tracing::info!(listen = %config.listen, issuer = %config.jwt.as_ref().map_or("-", |j| j.issuer.as_str()), "sample-app-actix listening");
    // Signals are iam-service's (SIGINT and SIGTERM, both graceful), not actix's.
    let mut handles = Vec::new();
    if let Some(addr) = config.metrics_listen {
        let metrics = Metrics::global();
        sample_app::register_metrics();
        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            App::new().route(
                "/metrics",
                web::get().to(move || {
                    let body = metrics.render();
                    async move {
                        HttpResponse::Ok()
                            .content_type("text/plain; version=0.0.4")
                            .body(body)
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(addr)?
        .run();
        handles.push(server.handle());
        actix_web::rt::spawn(server);
    }
    let health = web::Data::new(sample_app::health(keys.as_ref()));
    let app_config = std::sync::Arc::new(config.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(health.clone())
            .wrap_fn(|req, srv| {
                let (method, path, start) = (req.method().clone(), req.path().to_owned(), Instant::now());
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    sample_app::record_request(res.status().as_u16());
                    let subject = res.request().extensions().get::<iam_core::Principal>().map(|p| p.subject().to_owned());
                    tracing::info!(%method, %path, status = res.status().as_u16(), latency_us = start.elapsed().as_micros() as u64, subject = %subject.as_deref().unwrap_or("-"), "request");
                    Ok(res)
                }
            })
            .route(
                "/health/alive",
                web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .route("/health/ready", web::get().to(ready))
            .service(
                web::scope("")
                    .wrap(IamMiddleware::required(chain.clone()))
                    .wrap_fn({
                        // The end client's address for the authenticators (see the crate docs).
                        let config = std::sync::Arc::clone(&app_config);
                        move |req, srv| {
                            if let Some(peer) = req.peer_addr() {
                                let mut forwarded = http::HeaderMap::new();
                                for value in req.headers().get_all("x-forwarded-for") {
                                    match http::HeaderValue::from_bytes(value.as_bytes()) {
                                        Ok(v) => forwarded.append("x-forwarded-for", v),
                                        // Unreadable: the peer is the client.
                                        Err(_) => {
                                            forwarded.clear();
                                            break;
                                        }
                                    };
                                }
                                let client = config.client_addr(peer.ip(), &forwarded);
                                req.extensions_mut().insert(client);
                            }
                            srv.call(req)
                        }
                    })
                    .route("/me", web::get().to(|Auth(p): Auth| async move { HttpResponse::Ok().json(me_json(&p)) }))
                    .service(
                        web::resource("/admin")
                            .wrap(RequireMiddleware::permission("admin:read"))
                            .to(|| async { HttpResponse::Ok().json(serde_json::json!({"admin": true})) }),
                    ),
            )
    })
    .disable_signals()
    .bind(config.listen)?
    .run();
    handles.push(server.handle());
    actix_web::rt::spawn(async move {
        iam_service::shutdown::signal().await;
        // In-flight requests finish first.
        for handle in handles {
            handle.stop(true).await;
        }
    });
    server.await
}
