//! `iam-api`: see the crate docs for the environment.
#![forbid(unsafe_code)]

use iam_api::config::{Config, KekSource};
use iam_api::{health, router, AppState};
use iam_service::config::exit_on_error;
use iam_service::metrics::Metrics;
use iam_service::Service;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let started = Instant::now();
    iam_service::telemetry::init();
    let metrics = Metrics::global();
    let (config, kek) = exit_on_error(Config::from_env());
    match kek {
        KekSource::Generated => {
            tracing::warn!(path = %config.data_dir.join("key-encryption-key").display(), "IAM_API_KEY_ENCRYPTION_KEY is not set: generated one (mode 0600; development only, set IAM_API_KEY_ENCRYPTION_KEY in production)")
        }
        KekSource::File => {
            tracing::warn!(path = %config.data_dir.join("key-encryption-key").display(), "IAM_API_KEY_ENCRYPTION_KEY is not set: using the generated file (development only)")
        }
        KekSource::Environment => {}
    }
    let state = match AppState::start(&config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start: {e}");
            std::process::exit(1);
        }
    };
    let _rotation = state
        .issuer
        .key_ring()
        .spawn_rotation(std::time::Duration::from_secs(60));
    tracing::info!(
        listen = %config.listen,
        issuer = %config.issuer,
        backend = ?state.database.backend(),
        redis = config.redis_url.is_some(),
        startup_ms = started.elapsed().as_millis() as u64,
        "iam-api listening"
    );
    let served = Service::new(router(state.clone()))
        .health(health(&state))
        .metrics(metrics)
        .metrics_listen(config.metrics_listen)
        .serve(config.listen)
        .await;
    state.database.close().await;
    if let Err(e) = served {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
