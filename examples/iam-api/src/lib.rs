//! iam-api: the headless IAM API. Apps bring their own login UI and call JSON endpoints;
//! the service keeps accounts (iam-identity on iam-store), checks passwords on a bounded
//! argon2id pool, runs MFA and refresh families, and mints access tokens (iam-issuer) that
//! any OIDC validator checks through `/.well-known/openid-configuration`.
//!
//! Environment: see [`config::Config`] (`IAM_API_LISTEN`, `IAM_API_DATABASE_URL`,
//! `IAM_API_REDIS_URL`, `IAM_API_ISSUER`, `IAM_API_AUDIENCE`, `IAM_API_KEY_ENCRYPTION_KEY`,
//! `IAM_API_ENV`, argon2 and pool settings, token lifetimes, `IAM_API_BOOTSTRAP_ADMIN_*`,
//! `IAM_API_TRUSTED_PROXIES`). The README has the curl walkthrough.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (config, _) = iam_api::config::Config::from_env()?;
//! let state = iam_api::AppState::start(&config).await?;
//! let app = iam_api::router(state.clone());
//! # let _ = app; Ok(()) }
//! ```
//!
//! # Caveats
//! - Signing keys are kept sealed (AES-256-GCM under the key-encryption key) in the same
//!   database; losing the key-encryption key loses them (tokens then fail to validate after a
//!   restart, and the service refuses to start until the keys table is cleared).
//! - Concurrent refreshes with one token get the same access token only when they reach the
//!   same instance; on two instances they get the same refresh token and two access tokens
//!   with the same claims.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod errors;
pub mod hydra_provider;
pub mod openapi;
pub mod state;

pub use state::AppState;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use errors::ClientIp;
use iam_axum::IamLayer;
use iam_core::authn::{AuthChain, JwtAuthenticator};
use iam_core::jwt::{TokenType, Validator};
use iam_identity::limiter::LimitDecision;
use iam_service::health::Health;
use iam_service::Problem;
use std::sync::Arc;
use utoipa::OpenApi as _;

/// Request bodies larger than this are refused (400).
pub const BODY_LIMIT: usize = 16 * 1024;

/// The middleware chain validating this service's own tokens.
pub fn own_tokens(state: &AppState) -> AuthChain {
    let mut validator =
        Validator::builder(state.issuer.issuer()).token_type(TokenType::AccessToken);
    for a in &state.audience {
        validator = validator.audience(a);
    }
    let validator = validator
        .build()
        .expect("an issuer URL and audiences from the configuration");
    let own = JwtAuthenticator::new(validator, state.own_keys.clone());
    match &state.hydra {
        // `hydra` mode: Hydra's tokens from the headless login too.
        Some(hydra) => AuthChain::new().with(
            hydra
                .bearer_tokens(own, &state.audience)
                .expect("Hydra's issuer and public URL were checked at start"),
        ),
        None => AuthChain::new().with(own),
    }
}

/// Every `/auth/*` request counts against its client IP.
async fn limit_ip(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    req: Request,
    next: Next,
) -> Response {
    let now = state.identity.now();
    match state.identity.limiter().hit_ip(&ip.to_string(), now).await {
        Ok(LimitDecision::Allowed) => next.run(req).await,
        Ok(LimitDecision::Limited { retry_after }) => {
            metrics::counter!("iam_api_limiter_hits_total", "kind" => "ip").increment(1);
            Problem::too_many_requests(retry_after).into_response()
        }
        Err(_) => Problem::unavailable("limiter unavailable").into_response(),
    }
}

/// The API (without health and metrics: see [`health`] and iam-service's `Service`).
pub fn router(state: Arc<AppState>) -> Router {
    let chain = own_tokens(&state);
    let bearer = IamLayer::required(chain.clone());
    let optional = IamLayer::optional(chain);
    let public_auth = match state.hydra {
        None => Router::new()
            .route("/auth/login", post(auth::login))
            .route("/auth/mfa/verify", post(auth::mfa_verify))
            .route("/auth/logout", post(auth::logout).layer(optional))
            .route("/auth/refresh", post(auth::refresh)),
        Some(_) => hydra_provider::routes(optional),
    };
    let bearer_auth = Router::new()
        .route("/auth/mfa/totp/enroll", post(auth::totp_enroll))
        .route("/auth/mfa/totp/confirm", post(auth::totp_confirm))
        .route("/auth/mfa/totp", delete(auth::totp_delete))
        .route("/auth/password/change", post(auth::password_change))
        .layer(bearer.clone());
    let auth_routes = public_auth
        .merge(bearer_auth)
        .layer(middleware::from_fn_with_state(state.clone(), limit_ip));
    let t = "/admin/tenants/{tenant}";
    let admin = Router::new()
        .route(
            "/admin/tenants",
            post(admin::create_tenant).get(admin::list_tenants),
        )
        .route(t, get(admin::get_tenant))
        .route(&format!("{t}/suspend"), post(admin::suspend_tenant))
        .route(&format!("{t}/resume"), post(admin::resume_tenant))
        .route(
            &format!("{t}/users"),
            post(admin::create_user).get(admin::list_users),
        )
        .route(
            &format!("{t}/users/{{user}}"),
            get(admin::get_user).delete(admin::delete_user),
        )
        .route(
            &format!("{t}/users/{{user}}/disable"),
            post(admin::disable_user),
        )
        .route(
            &format!("{t}/users/{{user}}/enable"),
            post(admin::enable_user),
        )
        .route(
            &format!("{t}/users/{{user}}/mfa/reset"),
            post(admin::reset_mfa),
        )
        .route(
            &format!("{t}/users/{{user}}/password"),
            put(admin::set_password),
        )
        .route(
            &format!("{t}/users/{{user}}/permissions"),
            get(admin::user_permissions),
        )
        .route(
            &format!("{t}/users/{{user}}/roles/{{role}}"),
            put(admin::assign_user_role).delete(admin::unassign_user_role),
        )
        .route(
            &format!("{t}/groups"),
            post(admin::create_group).get(admin::list_groups),
        )
        .route(
            &format!("{t}/groups/{{group}}"),
            delete(admin::delete_group),
        )
        .route(
            &format!("{t}/groups/{{group}}/members"),
            get(admin::list_members),
        )
        .route(
            &format!("{t}/groups/{{group}}/members/{{user}}"),
            put(admin::add_member).delete(admin::remove_member),
        )
        .route(
            &format!("{t}/groups/{{group}}/roles/{{role}}"),
            put(admin::assign_group_role).delete(admin::unassign_group_role),
        )
        .route(
            &format!("{t}/roles"),
            post(admin::create_role).get(admin::list_roles),
        )
        .route(
            &format!("{t}/roles/{{role}}"),
            get(admin::get_role).delete(admin::delete_role),
        )
        .route(
            &format!("{t}/roles/{{role}}/permissions"),
            put(admin::set_role_permissions),
        )
        .layer(bearer);
    // Hydra's token hook: behind its own secret, outside the per-IP limiter (Hydra is one
    // client address calling for every user).
    let token_hook = match state.hydra {
        None => Router::new(),
        Some(_) => Router::new().route(
            "/hydra/token-hook",
            post(hydra_provider::token_hook::token_hook),
        ),
    };
    Router::new()
        .merge(auth_routes)
        .merge(token_hook)
        .merge(admin)
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/openapi.json",
            get(|| async { Json(openapi::ApiDoc::openapi()) }),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn discovery(State(state): State<Arc<AppState>>) -> Response {
    Json(
        state
            .issuer
            .discovery(state::discovery_extra(state.issuer.issuer())),
    )
    .into_response()
}

async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let max_age = format!("public, max-age={}", state.issuer.jwks_max_age().as_secs());
    (
        [(http::header::CACHE_CONTROL, max_age)],
        Json(state.issuer.jwks()),
    )
        .into_response()
}

/// Readiness: the database answers.
pub fn health(state: &Arc<AppState>) -> Health {
    let db = state.database.clone();
    Health::new().check("database", move || {
        let db = db.clone();
        async move { db.ping().await.map_err(|e| e.to_string()) }
    })
}
