//! The REST API (see `openapi.json`), by concept:
//! - `auth`: who is calling (bootstrap token, service token, user or admin) and the audit
//!   actor;
//! - `credentials`: managing credentials and the owner-scope sweep;
//! - `validate`: `POST /validate` under the failed-validation limits ([`crate::limit`]);
//! - `errors`: the error answers (iam-service's `Problem`).
//!
//! Health (`/health/alive`, `/health/ready` = a database ping) and `/metrics` come from
//! iam-service.
use crate::bootstrap::Bootstrap;
use crate::limit::Limiter;
pub use crate::limit::{RateLimit, SharedLimit};
use crate::store::Store;
use axum::routing::get;
use axum::Router;
use iam_core::authn::AuthChain;
use iam_service::health::Health;
use iam_service::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

mod auth;
mod credentials;
mod errors;
mod validate;

pub use validate::parse_route_scopes;

/// `credentials_validations_total{result="valid"|"invalid"|"rate_limited"}`.
pub(crate) const VALIDATIONS: &str = "credentials_validations_total";
/// `credentials_created_total`.
pub(crate) const CREATED: &str = "credentials_created_total";
/// `credentials_revoked_total`.
pub(crate) const REVOKED: &str = "credentials_revoked_total";

/// Register the service's counters at zero, so `/metrics` lists them from the start.
fn register_metrics() {
    for result in ["valid", "invalid", "rate_limited"] {
        metrics::counter!(VALIDATIONS, "result" => result).increment(0);
    }
    metrics::counter!(CREATED).increment(0);
    metrics::counter!(REVOKED).increment(0);
}

/// Everything [`AppState::with_options`] takes besides the store; `Default` is the
/// embedded-default service (no bootstrap token, no users, default limits).
#[derive(Debug)]
pub struct Options {
    /// The bootstrap admin token.
    pub bootstrap: Option<Bootstrap>,
    /// How users (JWT / Kratos) authenticate to manage their own PATs.
    pub users: Option<AuthChain>,
    /// Failed-validation limits.
    pub limit: RateLimit,
    /// Route scopes for `/validate` calls that name a method and a path.
    pub routes: Option<iam_core::credential::RouteScopes>,
    /// Failed-validation budgets shared through Redis.
    pub shared_limit: Option<SharedLimit>,
    /// The longest lifetime of a personal access token; every PAT needs an `expires_at`
    /// within it (default 90 days).
    pub pat_max_lifetime: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bootstrap: None,
            users: None,
            limit: RateLimit::default(),
            routes: None,
            shared_limit: None,
            pat_max_lifetime: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    routes: Option<iam_core::credential::RouteScopes>,
    store: Arc<Store>,
    bootstrap: Option<Bootstrap>,
    users: Option<AuthChain>,
    limiter: Limiter,
    pat_max_lifetime: i64,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// The state: the store, the bootstrap admin token, and the chain that authenticates
    /// users (JWT / Kratos), when configured.
    pub fn new(
        store: Arc<Store>,
        bootstrap: Option<Bootstrap>,
        users: Option<AuthChain>,
        limit: RateLimit,
    ) -> Arc<Self> {
        Self::configure(store, bootstrap, users, limit, None, None)
    }

    /// [`new`](Self::new), plus route scopes for `/validate` calls that name a method and a
    /// path, and failed-validation budgets shared through Redis.
    pub fn configure(
        store: Arc<Store>,
        bootstrap: Option<Bootstrap>,
        users: Option<AuthChain>,
        limit: RateLimit,
        routes: Option<iam_core::credential::RouteScopes>,
        shared_limit: Option<SharedLimit>,
    ) -> Arc<Self> {
        Self::with_options(
            store,
            Options {
                bootstrap,
                users,
                limit,
                routes,
                shared_limit,
                ..Options::default()
            },
        )
    }

    /// The state from every option.
    pub fn with_options(store: Arc<Store>, o: Options) -> Arc<Self> {
        register_metrics();
        Arc::new(Self {
            routes: o.routes,
            store,
            bootstrap: o.bootstrap,
            users: o.users,
            limiter: Limiter::new(o.limit, o.shared_limit),
            pat_max_lifetime: i64::try_from(o.pat_max_lifetime.as_secs()).unwrap_or(i64::MAX),
        })
    }
}

/// The API, health and `/metrics` on one router.
pub fn router(state: Arc<AppState>) -> Router {
    api_router(Arc::clone(&state))
        .merge(health(&state).router())
        .merge(Metrics::global().router())
}

/// The health endpoints: ready when the database answers.
pub fn health(state: &AppState) -> Health {
    let store = Arc::clone(&state.store);
    Health::new().check("database", move || {
        let store = Arc::clone(&store);
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })
}

/// The API alone, without health and `/metrics` (iam-service's `Service` adds those, with
/// `/metrics` on an internal listener when `CREDENTIALS_METRICS_LISTEN` is set).
pub fn api_router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(credentials::routes())
        .merge(validate::routes())
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    include_str!("../../openapi.json"),
                )
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}
