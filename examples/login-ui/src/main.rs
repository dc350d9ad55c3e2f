//! `login-ui`: see the crate docs for the environment.
#![forbid(unsafe_code)]

use iam_service::config::exit_on_error;
use iam_service::health::Health;
use iam_service::Service;

#[tokio::main]
async fn main() {
    iam_service::telemetry::init();
    let config = exit_on_error(login_ui::Config::from_env());
    let app = match login_ui::router(&config) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cannot start: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!(listen = %config.listen, iam_api = %config.iam_api_url, "login-ui listening");
    if let Err(e) = Service::new(app)
        .health(Health::new())
        .serve(config.listen)
        .await
    {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
