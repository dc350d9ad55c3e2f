//! `sample-app-actix`: the sample API on actix-web. See the crate docs for the environment.
#![forbid(unsafe_code)]

use actix_web::dev::Service as _;
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};
use iam_actix::{Auth, IamMiddleware, RequireMiddleware};
use iam_client::IssuerKeys;
use sample_app::{init_logging, me_json, Config};
use std::sync::Arc;
use std::time::Instant;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    init_logging();
    let config = Config::from_env().unwrap_or_else(|e| {
        eprintln!("configuration error: {e}");
        std::process::exit(2)
    });
    let (chain, keys) = config.chain().unwrap_or_else(|e| {
        eprintln!("configuration error: {e}");
        std::process::exit(2)
    });
    keys.warm_up();
    tracing::info!(listen = %config.listen, issuer = %config.jwt.issuer, "sample-app-actix listening");
    if let Some(addr) = config.metrics_listen {
        let metrics = HttpServer::new(|| {
            App::new().route(
                "/metrics",
                web::get().to(|| async { HttpResponse::Ok().body(sample_app::METRICS.render()) }),
            )
        })
        .workers(1)
        .bind(addr)?
        .run();
        actix_web::rt::spawn(metrics);
    }
    let data = web::Data::from(Arc::clone(&keys));
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap_fn(|req, srv| {
                let (method, path, start) = (req.method().clone(), req.path().to_owned(), Instant::now());
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    sample_app::METRICS.record(res.status().as_u16());
                    let subject = res.request().extensions().get::<iam_core::Principal>().map(|p| p.subject().to_owned());
                    tracing::info!(%method, %path, status = res.status().as_u16(), latency_us = start.elapsed().as_micros() as u64, subject = %subject.as_deref().unwrap_or("-"), "request");
                    Ok(res)
                }
            })
            .route("/health/alive", web::get().to(|| async { "alive" }))
            .route(
                "/health/ready",
                web::get().to(|keys: web::Data<IssuerKeys>| async move {
                    if keys.ready().await {
                        HttpResponse::Ok().body("ready")
                    } else {
                        HttpResponse::ServiceUnavailable().body("keys unavailable")
                    }
                }),
            )
            .service(
                web::scope("")
                    .wrap(IamMiddleware::required(chain.clone()))
                    .route("/me", web::get().to(|Auth(p): Auth| async move { HttpResponse::Ok().json(me_json(&p)) }))
                    .service(
                        web::resource("/admin")
                            .wrap(RequireMiddleware::permission("admin:read"))
                            .to(|| async { HttpResponse::Ok().json(serde_json::json!({"admin": true})) }),
                    ),
            )
    })
    .bind(config.listen)?
    .run()
    .await
}
