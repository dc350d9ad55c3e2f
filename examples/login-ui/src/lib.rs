//! login-ui: an app's own login page for Ory Hydra, as the IAM API expects it. One static
//! HTML page (no framework, no CDN) for Hydra's `urls.login`, `urls.consent` and
//! `urls.logout`: username and password, the TOTP step, the consent screen, the logout
//! question. Its script calls only the IAM API's challenge endpoints (see iam-api's
//! `hydra_provider`), through this app under `/api/…` so the page needs no CORS.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = login_ui::Config::from_env()?;
//! let app = login_ui::router(&config)?;
//! # let _ = app; Ok(()) }
//! ```
//!
//! Environment: `LOGIN_UI_LISTEN` (default `127.0.0.1:3000`), `LOGIN_UI_IAM_API_URL`
//! (default `http://127.0.0.1:8080`), `LOGIN_UI_TENANT` (the tenant pre-filled in the form
//! and used to continue a remembered login; default `default`).
//!
//! # Caveats
//! - The IAM API sees this app as the client of every call; this app sends the browser's
//!   address in `X-Forwarded-For`, which the IAM API believes only when this app's address
//!   is in `IAM_API_TRUSTED_PROXIES` (else every user shares one per-IP limit).
//! - Only the six challenge calls are forwarded (bodies up to 16 KiB); anything else is 404.
#![forbid(unsafe_code)]

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use iam_service::{ConfigError, Env};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The page, with `__DEFAULT_TENANT__` to fill in.
const PAGE: &str = include_str!("../static/index.html");

/// The largest body forwarded.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `LOGIN_UI_LISTEN`.
    pub listen: SocketAddr,
    /// `LOGIN_UI_IAM_API_URL`, without a trailing slash.
    pub iam_api_url: String,
    /// `LOGIN_UI_TENANT`: 1 to 63 of `a-z`, `0-9`, `-`.
    pub tenant: String,
}

impl Config {
    /// Read `LOGIN_UI_*`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&Env::new("LOGIN_UI_"))
    }

    /// Read the settings through `env`.
    pub fn from(env: &Env) -> Result<Self, ConfigError> {
        let iam_api_url = env
            .get("IAM_API_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if !(iam_api_url.starts_with("http://") || iam_api_url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                env.name("IAM_API_URL"),
                "must be an http(s) URL",
            ));
        }
        let tenant = env.get("TENANT").unwrap_or_else(|| "default".into());
        let valid = !tenant.is_empty()
            && tenant.len() <= 63
            && tenant
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(ConfigError::invalid(
                env.name("TENANT"),
                "1 to 63 of a-z, 0-9 and -",
            ));
        }
        Ok(Self {
            listen: env.socket_addr("LISTEN", "127.0.0.1:3000")?,
            iam_api_url,
            tenant,
        })
    }
}

struct AppState {
    page: String,
    iam_api: String,
    http: reqwest::Client,
}

/// The page at `/login`, `/consent`, `/logout` (and `/`), the forwarded challenge calls
/// under `/api/auth/…`.
pub fn router(config: &Config) -> Result<Router, reqwest::Error> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let state = Arc::new(AppState {
        page: PAGE.replace("__DEFAULT_TENANT__", &config.tenant),
        iam_api: config.iam_api_url.clone(),
        http,
    });
    Ok(Router::new()
        .route("/", get(page))
        .route("/login", get(page))
        .route("/consent", get(page))
        .route("/logout", get(page))
        .route("/api/auth/login", get(forward).post(forward))
        .route("/api/auth/mfa/verify", axum::routing::post(forward))
        .route("/api/auth/consent", get(forward).post(forward))
        .route("/api/auth/logout", axum::routing::post(forward))
        .with_state(state))
}

async fn page(State(state): State<Arc<AppState>>) -> Response {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(state.page.clone()),
    )
        .into_response()
}

fn problem(status: StatusCode, error: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"error":"{error}"}}"#),
    )
        .into_response()
}

/// `/api/auth/X?query` → `{iam_api}/auth/X?query`, same method, JSON body, the browser's
/// address in `X-Forwarded-For`; the answer's status and JSON body back.
async fn forward(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let method = req.method().clone();
    let Some(path) = req.uri().path().strip_prefix("/api") else {
        return problem(StatusCode::NOT_FOUND, "not_found");
    };
    let url = match req.uri().query() {
        Some(q) => format!("{}{path}?{q}", state.iam_api),
        None => format!("{}{path}", state.iam_api),
    };
    let body = match to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return problem(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
    };
    let mut out = state.http.request(method.clone(), url);
    if method == Method::POST {
        out = out
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    if let Some(ip) = peer {
        out = out.header("x-forwarded-for", ip);
    }
    let answer = match out.send().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "the IAM API is unreachable");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        }
    };
    let status = answer.status();
    let retry_after = answer.headers().get(header::RETRY_AFTER).cloned();
    let bytes = match answer.bytes().await {
        Ok(b) if b.len() <= 64 * 1024 => b,
        _ => return problem(StatusCode::BAD_GATEWAY, "bad_gateway"),
    };
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(r) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, r);
    }
    res
}
