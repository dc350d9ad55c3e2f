//! `access-proxy`: see the crate docs for the configuration.
#![forbid(unsafe_code)]

use iam_service::config::exit_on_error;
use iam_service::Env;

#[tokio::main]
async fn main() {
    iam_service::telemetry::init();
    let config = exit_on_error(access_proxy::Config::load(&Env::new("ACCESS_PROXY_")));
    if let Err(e) = access_proxy::run(config, iam_service::shutdown::signal()).await {
        tracing::error!(error = %e, "access-proxy stopped");
        std::process::exit(1);
    }
}
