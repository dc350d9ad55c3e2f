//! The REST API (see `openapi.json`).
use crate::store::{NewCredential, Record, Store, StoreError};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use iam_core::authn::{AuthChain, RequestView};
use iam_core::credential::{parse, CredentialError, CredentialKind, CredentialVerifier};
use iam_core::scope::ScopeSet;
use iam_core::Principal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Failed-validation rate limit: after `threshold` failures from one address within a
/// minute, that address gets `per_minute` validations a minute until a minute passes with no
/// failure.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Failures a minute before the limit applies (default 100).
    pub threshold: u32,
    /// Validations a minute while limited (default 10).
    pub per_minute: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            threshold: 100,
            per_minute: 10,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: i64,
    failures: u32,
    limited: bool,
    used: u32,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
struct Metrics {
    valid: AtomicU64,
    invalid: AtomicU64,
    limited: AtomicU64,
    created: AtomicU64,
    revoked: AtomicU64,
}

/// Everything the handlers share.
pub struct AppState {
    routes: Option<iam_core::credential::RouteScopes>,
    shared_limit: Option<SharedLimit>,
    store: Arc<Store>,
    bootstrap: Option<String>,
    users: Option<AuthChain>,
    limit: RateLimit,
    windows: Mutex<HashMap<IpAddr, Window>>,
    metrics: Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The failed-validation counters in Redis, shared by every instance of the service.
pub struct SharedLimit {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl SharedLimit {
    /// Counters at `url` (`redis://...`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|_| "invalid REDIS_URL".to_owned())?,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// Add `delta` (0 to read) to this address's failures in the current minute; `None` when
    /// Redis cannot answer (the in-process counters then decide).
    async fn failures(&self, ip: IpAddr, minute: i64, delta: i64) -> Option<i64> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let c = tokio::time::timeout(
                std::time::Duration::from_millis(250),
                self.client.get_multiplexed_async_connection(),
            )
            .await
            .ok()?
            .ok()?;
            *slot = Some(c);
        }
        let conn = slot.as_mut()?;
        let key = format!("iam:credentials:failures:{ip}:{minute}");
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&key, delta).expire(&key, 120).ignore();
        let out: Result<Result<(i64,), _>, _> = tokio::time::timeout(
            std::time::Duration::from_millis(250),
            pipe.query_async::<(i64,)>(conn),
        )
        .await;
        match out {
            Ok(Ok((n,))) => Some(n),
            _ => {
                *slot = None;
                None
            }
        }
    }
}

impl AppState {
    /// The state: the store, the bootstrap admin token, and the chain that authenticates
    /// users (JWT / Kratos), when configured.
    pub fn new(
        store: Arc<Store>,
        bootstrap: Option<String>,
        users: Option<AuthChain>,
        limit: RateLimit,
    ) -> Arc<Self> {
        Self::configure(store, bootstrap, users, limit, None, None)
    }

    /// [`new`](Self::new), plus route scopes for `/validate` calls that name a method and a
    /// path, and failed-validation counters shared through Redis.
    pub fn configure(
        store: Arc<Store>,
        bootstrap: Option<String>,
        users: Option<AuthChain>,
        limit: RateLimit,
        routes: Option<iam_core::credential::RouteScopes>,
        shared_limit: Option<SharedLimit>,
    ) -> Arc<Self> {
        Arc::new(Self {
            routes,
            shared_limit,
            store,
            bootstrap: bootstrap.filter(|b| !b.is_empty()),
            users,
            limit,
            windows: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
        })
    }
}

/// An error answer: `{error, error_description}`.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.0,
            Json(json!({"error": self.1, "error_description": self.2})),
        )
            .into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the credential store is unavailable".into(),
        )
    }
}

/// A body axum could not take: 413 when too large, 415 when not JSON, 400 otherwise.
fn rejected(e: axum::extract::rejection::JsonRejection) -> ApiError {
    let status = match e.status() {
        s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError(status, "invalid_request", e.body_text())
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_request", msg.into())
}

/// Parse a route-scope table: one `METHOD PATTERN SCOPE` per line (`*` for any method),
/// `#` comments and blank lines ignored. The error names the line.
pub fn parse_route_scopes(text: &str) -> Result<iam_core::credential::RouteScopes, String> {
    let mut routes = iam_core::credential::RouteScopes::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            [method, pattern, scope] if pattern.starts_with('/') => {
                routes = routes
                    .route(method, pattern, scope)
                    .map_err(|e| format!("line {}: {e}", n + 1))?;
            }
            _ => return Err(format!("line {}: expected METHOD /PATTERN SCOPE", n + 1)),
        }
    }
    Ok(routes)
}

/// Who is calling.
enum Caller {
    /// The bootstrap token, or a user with `credentials:admin`.
    Admin,
    /// A user (JWT or Kratos session): manages their own PATs.
    User(Principal),
    /// A service token: may call `/validate`.
    Service,
}

/// Constant-time comparison of two secrets (length leaks, content does not).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
    let view = RequestView::new(&method, &uri, headers);
    let unauthorized = |m: &str| ApiError(StatusCode::UNAUTHORIZED, "invalid_token", m.into());
    let bearer = view
        .bearer_token()
        .map_err(|e| ApiError(e.status(), e.error_code(), e.description().into()))?;
    if let (Some(b), Some(boot)) = (bearer, &state.bootstrap) {
        if same_secret(b, boot) {
            return Ok(Caller::Admin);
        }
    }
    if let Some(b) = bearer.filter(|b| parse(b).is_ok() || b.starts_with("svc_")) {
        let parsed = parse(b).map_err(|_| unauthorized("invalid token"))?;
        return match state.store.verify(parsed).await {
            Ok(v) if v.kind == CredentialKind::ServiceToken => Ok(Caller::Service),
            Ok(_) => Err(ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                "personal access tokens and API keys cannot call this API".into(),
            )),
            Err(CredentialError::Unavailable) => Err(StoreError::Database("lookup".into()).into()),
            Err(_) => Err(unauthorized("invalid token")),
        };
    }
    if let Some(chain) = &state.users {
        return match chain.run(&view).await {
            Ok(Some(p)) if p.has_permission("credentials:admin") => Ok(Caller::Admin),
            Ok(Some(p)) => Ok(Caller::User(p)),
            Ok(None) => Err(unauthorized("authentication required")),
            Err(e) => Err(ApiError(e.status(), e.error_code(), e.description().into())),
        };
    }
    Err(unauthorized("authentication required"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    kind: String,
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

fn with_token(record: &Record, token: &str) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or_else(|_| json!({}));
    v["token"] = token.into();
    v
}

fn check_text(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(bad(format!(
            "{name} must be 1..={max} printable characters"
        )));
    }
    Ok(())
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers).await?;
    let Json(b) = body.map_err(rejected)?;
    let kind = CredentialKind::from_name(&b.kind)
        .ok_or_else(|| bad("kind must be pat, api_key or service"))?;
    check_text("name", &b.name, 255)?;
    if b.scopes.len() > 64 {
        return Err(bad("at most 64 scopes"));
    }
    for s in &b.scopes {
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(bad("scopes must be 1..=128 visible ASCII characters"));
        }
    }
    let expires_at = match &b.expires_at {
        Some(t) => {
            let t = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| bad("expires_at must be RFC 3339"))?
                .timestamp();
            if t <= crate::store::now() {
                return Err(bad("expires_at must be in the future"));
            }
            Some(t)
        }
        None => None,
    };
    let (owner, tenant) = match &who {
        Caller::Admin => {
            let owner = b.owner.clone().ok_or_else(|| bad("owner is required"))?;
            check_text("owner", &owner, 255)?;
            (owner, b.tenant.clone())
        }
        Caller::User(p) => {
            if kind != CredentialKind::PersonalAccessToken {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "users create personal access tokens only".into(),
                ));
            }
            if b.owner.as_deref().is_some_and(|o| o != p.subject()) {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "users create tokens for themselves only".into(),
                ));
            }
            // A PAT inherits at most its user's rights.
            if let Some(s) = b
                .scopes
                .iter()
                .find(|s| !(p.has_scope(s) || p.has_permission(s)))
            {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("you do not hold the scope {s}"),
                ));
            }
            (p.subject().to_owned(), p.tenant().map(str::to_owned))
        }
        Caller::Service => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                "service tokens may only validate".into(),
            ))
        }
    };
    if let Some(t) = &tenant {
        check_text("tenant", t, 255)?;
    }
    let (record, token) = state
        .store
        .create(NewCredential {
            kind,
            name: b.name,
            owner,
            tenant,
            scopes: ScopeSet::from_iter(b.scopes),
            expires_at,
        })
        .await?;
    state.metrics.created.fetch_add(1, Ordering::Relaxed);
    Ok((
        StatusCode::CREATED,
        Json(with_token(&record, token.expose())),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    owner: Option<String>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let owner = match caller(&state, &headers).await? {
        Caller::Admin => q.owner,
        Caller::User(p) => Some(p.subject().to_owned()),
        Caller::Service => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                "service tokens may only validate".into(),
            ))
        }
    };
    let items = state.store.list(owner.as_deref()).await?;
    Ok(Json(json!({"items": items})))
}

/// The record when the caller may see it (admins: all; users: their own), else 404.
async fn visible(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Record, ApiError> {
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such credential".into(),
        )
    };
    let who = caller(state, headers).await?;
    let record = state.store.get(id).await?.ok_or_else(not_found)?;
    match who {
        Caller::Admin => Ok(record),
        Caller::User(p) if record.owner == p.subject() && record.kind == "pat" => Ok(record),
        Caller::User(_) => Err(not_found()),
        Caller::Service => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "service tokens may only validate".into(),
        )),
    }
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Record>, ApiError> {
    visible(&state, &headers, &id).await.map(Json)
}

async fn regenerate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible(&state, &headers, &id).await?;
    let (record, token) = state.store.regenerate(&id).await?.ok_or_else(|| {
        ApiError(
            StatusCode::CONFLICT,
            "revoked",
            "a revoked credential cannot be regenerated".into(),
        )
    })?;
    Ok(Json(with_token(&record, token.expose())))
}

#[derive(Deserialize, Default)]
struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<RevokeBody>>,
) -> Result<StatusCode, ApiError> {
    visible(&state, &headers, &id).await?;
    let reason = body
        .and_then(|Json(b)| b.reason)
        .unwrap_or_else(|| "revoked".into());
    check_text("reason", &reason, 255)?;
    state.store.revoke(&id, &reason).await?;
    state.metrics.revoked.fetch_add(1, Ordering::Relaxed);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    token: String,
    #[serde(default)]
    required_scope: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

impl AppState {
    /// `Err` (429) when `ip` is limited; counts the attempt.
    fn admit(&self, ip: IpAddr, now: i64) -> Result<(), ApiError> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, w| now - w.start < 120);
        }
        let w = windows.entry(ip).or_insert(Window {
            start: now,
            ..Window::default()
        });
        if now - w.start >= 60 {
            let keep = w.failures >= self.limit.threshold || (w.limited && w.failures > 0);
            *w = Window {
                start: now,
                failures: 0,
                limited: keep,
                used: 0,
            };
        }
        if w.limited || w.failures >= self.limit.threshold {
            if w.used >= self.limit.per_minute {
                self.metrics.limited.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many failed validations from this address".into(),
                ));
            }
            w.used += 1;
        }
        Ok(())
    }

    /// Take the fleet-wide failure count for this address and minute into account.
    fn sync_failures(&self, ip: IpAddr, now: i64, fleet: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(ip).or_insert(Window {
            start: now,
            ..Window::default()
        });
        let fleet = u32::try_from(fleet).unwrap_or(u32::MAX);
        if fleet > w.failures {
            w.failures = fleet;
            if w.failures >= self.limit.threshold {
                w.limited = true;
            }
        }
    }

    fn failed(&self, ip: IpAddr) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = windows.get_mut(&ip) {
            w.failures += 1;
            if w.failures == self.limit.threshold {
                w.limited = true;
                tracing::warn!(audit = "validation_failures", client = %ip, failures = w.failures, "failed validations burst; rate limiting this address");
            }
        }
    }
}

async fn validate(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<ValidateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match caller(&state, &headers).await? {
        Caller::Admin | Caller::Service => {}
        Caller::User(_) => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                "validate needs a service token".into(),
            ))
        }
    }
    let Json(b) = body.map_err(rejected)?;
    let ip = peer.ip();
    let t = crate::store::now();
    if let Some(shared) = &state.shared_limit {
        // The fleet's count for this address and minute; Redis down → in-process only.
        if let Some(n) = shared.failures(ip, t / 60, 0).await {
            state.sync_failures(ip, t, n);
        }
    }
    state.admit(ip, t)?;
    // The scope this call needs: the body's, and the route table's for method + path.
    let route_scope = match (&b.method, &b.path) {
        (None, None) => None,
        (Some(m), Some(p)) => {
            let routes = state
                .routes
                .as_ref()
                .ok_or_else(|| bad("method and path need CREDENTIALS_ROUTE_SCOPES"))?;
            let m = http::Method::from_bytes(m.as_bytes()).map_err(|_| bad("bad method"))?;
            Some(routes.scope_for(&m, p).map(str::to_owned))
        }
        _ => return Err(bad("method and path go together")),
    };
    let refuse = |status: StatusCode, error: &'static str| {
        state.metrics.invalid.fetch_add(1, Ordering::Relaxed);
        state.failed(ip);
        (status, Json(json!({"valid": false, "error": error}))).into_response()
    };
    let verdict = match parse(&b.token) {
        Err(_) => Err(CredentialError::Invalid),
        Ok(parsed) => state.store.verify(parsed).await,
    };
    let v = match verdict {
        Ok(v) => v,
        Err(CredentialError::Unavailable) => {
            return Err(StoreError::Database("lookup".into()).into())
        }
        Err(e) => {
            let error = if e == CredentialError::Expired {
                "token_expired"
            } else {
                "invalid_token"
            };
            let res = refuse(StatusCode::UNAUTHORIZED, error);
            if let Some(shared) = &state.shared_limit {
                shared.failures(ip, t / 60, 1).await;
            }
            return Ok(res);
        }
    };
    let route_scope = match route_scope {
        Some(None) => {
            state.metrics.invalid.fetch_add(1, Ordering::Relaxed);
            return Ok((
                StatusCode::FORBIDDEN,
                Json(json!({"valid": false, "error": "insufficient_scope",
                            "description": "no route scope lists this method and path"})),
            )
                .into_response());
        }
        Some(Some(scope)) => Some(scope),
        None => None,
    };
    for scope in b.required_scope.iter().chain(route_scope.iter()) {
        if !v.scopes.grants(scope) {
            state.metrics.invalid.fetch_add(1, Ordering::Relaxed);
            return Ok((
                StatusCode::FORBIDDEN,
                Json(json!({"valid": false, "error": "insufficient_scope", "scope": scope})),
            )
                .into_response());
        }
    }
    state.metrics.valid.fetch_add(1, Ordering::Relaxed);
    Ok(Json(json!({
        "valid": true,
        "kind": v.kind.as_str(),
        "id": v.id,
        "owner": v.owner,
        "tenant": v.tenant,
        "scopes": v.scopes,
        "expires_at": v.expires_at,
    }))
    .into_response())
}

async fn ready(State(state): State<Arc<AppState>>) -> StatusCode {
    if state.store.ping().await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    let m = &state.metrics;
    format!(
        "# TYPE credentials_validations_total counter\ncredentials_validations_total{{result=\"valid\"}} {}\ncredentials_validations_total{{result=\"invalid\"}} {}\ncredentials_validations_total{{result=\"rate_limited\"}} {}\n# TYPE credentials_created_total counter\ncredentials_created_total {}\n# TYPE credentials_revoked_total counter\ncredentials_revoked_total {}\n",
        m.valid.load(Ordering::Relaxed),
        m.invalid.load(Ordering::Relaxed),
        m.limited.load(Ordering::Relaxed),
        m.created.load(Ordering::Relaxed),
        m.revoked.load(Ordering::Relaxed),
    )
}

/// The router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` (the rate
/// limit needs the peer address).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/credentials", post(create).get(list))
        .route("/credentials/{id}", get(get_one).delete(revoke))
        .route("/credentials/{id}/regenerate", post(regenerate))
        .route("/validate", post(validate))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    include_str!("../openapi.json"),
                )
            }),
        )
        .route("/health/alive", get(|| async { "alive" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}
