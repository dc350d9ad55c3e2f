//! The REST API (see `openapi.json`).
use crate::bootstrap::Bootstrap;
use crate::limit::{Key, Limiter, CLIENT_IP_HEADER};
pub use crate::limit::{RateLimit, SharedLimit};
use crate::store::Refusal;
use crate::store::{NewCredential, Record, Store, StoreError};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use iam_core::authn::{AuthChain, RequestView};
use iam_core::credential::{parse, CredentialKind};
use iam_core::principal::PrincipalKind;
use iam_core::scope::ScopeSet;
use iam_core::Principal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
struct Metrics {
    valid: AtomicU64,
    invalid: AtomicU64,
    limited: AtomicU64,
    created: AtomicU64,
    revoked: AtomicU64,
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
    /// Failed-validation counters shared through Redis.
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
    metrics: Metrics,
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
    /// path, and failed-validation counters shared through Redis.
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
        Arc::new(Self {
            routes: o.routes,
            store,
            bootstrap: o.bootstrap,
            users: o.users,
            limiter: Limiter::new(o.limit, o.shared_limit),
            pat_max_lifetime: i64::try_from(o.pat_max_lifetime.as_secs()).unwrap_or(i64::MAX),
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

/// Who changed something, for the audit log: a principal's subject and kind.
#[derive(Debug, Clone)]
struct Actor {
    subject: String,
    kind: &'static str,
}

impl Actor {
    fn of(p: &Principal) -> Self {
        Self {
            subject: p.subject().to_owned(),
            kind: p.kind().as_str(),
        }
    }
}

/// Who is calling.
enum Caller {
    /// The bootstrap token, or a principal with `credentials:admin`.
    Admin(Actor),
    /// A user (a Kratos session, or an OAuth2 token acting for a user): manages their own PATs.
    User(Principal),
    /// An OAuth2 client acting for itself: owns no PATs (an admin gives it a service token).
    Client,
    /// A service token (its credential id and owner): may call `/validate`.
    Service { id: String, owner: String },
}

impl Caller {
    /// The actor of an admin or user call.
    fn actor(&self) -> Actor {
        match self {
            Caller::Admin(a) => a.clone(),
            Caller::User(p) => Actor::of(p),
            Caller::Client => Actor {
                subject: "-".into(),
                kind: PrincipalKind::Client.as_str(),
            },
            Caller::Service { owner, .. } => Actor {
                subject: owner.clone(),
                kind: PrincipalKind::ServiceToken.as_str(),
            },
        }
    }
}

/// The one answer for a bearer that may not call a route, whatever it is: an unknown
/// token, a real PAT or API key, or a service token on a management route all look alike
/// (no validity oracle).
fn not_a_caller() -> ApiError {
    ApiError(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "invalid token".into(),
    )
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
    let view = RequestView::new(&method, &uri, headers);
    let bearer = view
        .bearer_token()
        .map_err(|e| ApiError(e.status(), e.error_code(), e.description().into()))?;
    let now = crate::store::now();
    if let (Some(b), Some(boot)) = (bearer, &state.bootstrap) {
        if boot.accepts(b, now) {
            return Ok(Caller::Admin(Actor {
                subject: "bootstrap".into(),
                kind: "bootstrap",
            }));
        }
    }
    if let Some(b) = bearer.filter(|b| {
        parse(b).is_ok()
            || CredentialKind::ALL
                .iter()
                .any(|k| b.starts_with(k.prefix()))
    }) {
        let parsed = parse(b).map_err(|_| not_a_caller())?;
        return match state.store.check(parsed).await {
            Ok(v) if v.kind == CredentialKind::ServiceToken => Ok(Caller::Service {
                id: v.id,
                owner: v.owner,
            }),
            Err(Refusal::Unavailable) => Err(StoreError::Database("lookup".into()).into()),
            // A PAT or an API key: the same answer as for a token that does not exist.
            Ok(_) | Err(_) => Err(not_a_caller()),
        };
    }
    let failed = |e: ApiError| {
        if bearer.is_some() {
            if let Some(boot) = &state.bootstrap {
                boot.failed(now);
            }
        }
        e
    };
    if let Some(chain) = &state.users {
        return match chain.run(&view).await {
            Ok(Some(p)) if p.has_permission("credentials:admin") => {
                Ok(Caller::Admin(Actor::of(&p)))
            }
            Ok(Some(p))
                if matches!(
                    p.kind(),
                    PrincipalKind::UserSession | PrincipalKind::OAuth2Token
                ) =>
            {
                Ok(Caller::User(p))
            }
            Ok(Some(_)) => Ok(Caller::Client),
            Ok(None) => Err(failed(ApiError(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "authentication required".into(),
            ))),
            Err(e) => Err(failed(ApiError(
                e.status(),
                e.error_code(),
                e.description().into(),
            ))),
        };
    }
    Err(failed(ApiError(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "authentication required".into(),
    )))
}

/// The answer for a call only admins and users may make.
fn managers_only(who: &Caller) -> Result<(), ApiError> {
    match who {
        Caller::Admin(_) | Caller::User(_) => Ok(()),
        Caller::Client => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only users own personal access tokens; OAuth2 clients get service tokens from an admin"
                .into(),
        )),
        Caller::Service { .. } => Err(not_a_caller()),
    }
}

/// Revoke the PATs of a user that hold a scope the user no longer holds (the user's
/// current principal is the authority; see the README).
async fn sweep(state: &AppState, p: &Principal) -> Result<(), ApiError> {
    let revoked = state
        .store
        .revoke_pats_exceeding(
            p.subject(),
            |s| p.has_scope(s) || p.has_permission(s),
            "owner no longer holds a scope",
        )
        .await?;
    for r in revoked {
        state.metrics.revoked.fetch_add(1, Ordering::Relaxed);
        let actor = Actor::of(p);
        tracing::info!(audit = "revoke", id = %r.id, kind = r.kind, owner = %r.owner, reason = "owner no longer holds a scope", actor = %actor.subject, actor_kind = actor.kind, "credential revoked");
    }
    Ok(())
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

/// An identifier (owner, tenant): [`check_text`], and no leading or trailing white space
/// (`alice ` is not another spelling of `alice`).
fn check_id(name: &str, value: &str) -> Result<(), ApiError> {
    check_text(name, value, 255)?;
    if value.trim() != value {
        return Err(bad(format!(
            "{name} must not start or end with white space"
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
    managers_only(&who)?;
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
    let now = crate::store::now();
    let expires_at = match &b.expires_at {
        Some(t) => {
            let t = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| bad("expires_at must be RFC 3339"))?
                .timestamp();
            if t <= now {
                return Err(bad("expires_at must be in the future"));
            }
            Some(t)
        }
        None => None,
    };
    if kind == CredentialKind::PersonalAccessToken {
        let max = state.pat_max_lifetime;
        match expires_at {
            None => {
                return Err(bad(format!(
                    "personal access tokens need an expires_at (at most {} days ahead)",
                    max / 86_400
                )))
            }
            Some(t) if t - now > max => {
                return Err(bad(format!(
                    "expires_at of a personal access token is at most {} days ahead",
                    max / 86_400
                )))
            }
            Some(_) => {}
        }
    }
    let (owner, tenant) = match &who {
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
            sweep(&state, p).await?;
            (p.subject().to_owned(), p.tenant().map(str::to_owned))
        }
        _ => {
            let owner = b.owner.clone().ok_or_else(|| bad("owner is required"))?;
            check_id("owner", &owner)?;
            (owner, b.tenant.clone())
        }
    };
    if let Some(t) = &tenant {
        check_id("tenant", t)?;
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
    let actor = who.actor();
    tracing::info!(audit = "create", id = %record.id, kind = record.kind, owner = %record.owner, actor = %actor.subject, actor_kind = actor.kind, "credential created");
    Ok((
        StatusCode::CREATED,
        Json(with_token(&record, token.secret())),
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
    let who = caller(&state, &headers).await?;
    managers_only(&who)?;
    let owner = match &who {
        Caller::User(p) => {
            sweep(&state, p).await?;
            Some(p.subject().to_owned())
        }
        _ => q.owner,
    };
    let items = state.store.list(owner.as_deref()).await?;
    Ok(Json(json!({"items": items})))
}

/// The record when the caller may see it (admins: all; users: their own PATs), else 404.
async fn visible(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Record, Actor), ApiError> {
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such credential".into(),
        )
    };
    let who = caller(state, headers).await?;
    managers_only(&who)?;
    if let Caller::User(p) = &who {
        sweep(state, p).await?;
    }
    let record = state.store.get(id).await?.ok_or_else(not_found)?;
    match &who {
        Caller::User(p) if record.owner != p.subject() || record.kind != "pat" => Err(not_found()),
        _ => Ok((record, who.actor())),
    }
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Record>, ApiError> {
    visible(&state, &headers, &id).await.map(|(r, _)| Json(r))
}

async fn regenerate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, actor) = visible(&state, &headers, &id).await?;
    let (record, token) = state.store.regenerate(&id).await?.ok_or_else(|| {
        ApiError(
            StatusCode::CONFLICT,
            "revoked",
            "a revoked credential cannot be regenerated".into(),
        )
    })?;
    tracing::info!(audit = "regenerate", id = %record.id, kind = record.kind, owner = %record.owner, actor = %actor.subject, actor_kind = actor.kind, "credential regenerated");
    Ok(Json(with_token(&record, token.secret())))
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
    let (record, actor) = visible(&state, &headers, &id).await?;
    let reason = body
        .and_then(|Json(b)| b.reason)
        .unwrap_or_else(|| "revoked".into());
    check_text("reason", &reason, 255)?;
    if state.store.revoke(&id, &reason).await? {
        state.metrics.revoked.fetch_add(1, Ordering::Relaxed);
        tracing::info!(audit = "revoke", id = %record.id, kind = record.kind, owner = %record.owner, reason = %reason, actor = %actor.subject, actor_kind = actor.kind, "credential revoked");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerScopesBody {
    scopes: Vec<String>,
}

/// `PUT /owners/{owner}/scopes` (admins): the owner's current scopes and permissions; every
/// live PAT of the owner holding anything else is revoked. The identity system calls it when
/// it takes a permission away.
async fn owner_scopes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(owner): Path<String>,
    body: Result<Json<OwnerScopesBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let who = caller(&state, &headers).await?;
    managers_only(&who)?;
    let Caller::Admin(actor) = who else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "admins only".into(),
        ));
    };
    let Json(b) = body.map_err(rejected)?;
    check_id("owner", &owner)?;
    if b.scopes.len() > 1024 {
        return Err(bad("at most 1024 scopes"));
    }
    let held = ScopeSet::from_iter(b.scopes);
    let revoked = state
        .store
        .revoke_pats_exceeding(&owner, |s| held.grants(s), "owner no longer holds a scope")
        .await?;
    for r in &revoked {
        state.metrics.revoked.fetch_add(1, Ordering::Relaxed);
        tracing::info!(audit = "revoke", id = %r.id, kind = r.kind, owner = %r.owner, reason = "owner no longer holds a scope", actor = %actor.subject, actor_kind = actor.kind, "credential revoked");
    }
    let ids: Vec<&str> = revoked.iter().map(|r| r.id.as_str()).collect();
    Ok(Json(json!({ "revoked": ids })))
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

async fn validate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<ValidateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let caller_key = match caller(&state, &headers).await? {
        Caller::Admin(a) => Key::Caller(format!("{}:{}", a.kind, a.subject)),
        Caller::Service { id, .. } => Key::Caller(id),
        Caller::User(_) | Caller::Client => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                "validate needs a service token".into(),
            ))
        }
    };
    // The end client's address, as the (authenticated) caller forwards it.
    let client = match headers.get(CLIENT_IP_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
                .ok_or_else(|| bad(format!("{CLIENT_IP_HEADER} must be an IP address")))?,
        ),
    };
    let Json(b) = body.map_err(rejected)?;
    let t = crate::store::now();
    let parsed = parse(&b.token);
    let id_key = parsed
        .as_ref()
        .ok()
        .map(|p| Key::LookupId(p.lookup_id().to_owned()));
    let client_key = client.map(Key::client);
    let mut keys: Vec<Key> = id_key.iter().cloned().collect();
    keys.push(client_key.clone().unwrap_or_else(|| caller_key.clone()));
    if let Err(key) = state.limiter.admit(&keys, t).await {
        state.metrics.limited.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            key.what().into(),
        ));
    }
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
    let verdict = match parsed {
        Err(_) => Err(Refusal::Unknown),
        Ok(parsed) => state.store.check(parsed).await,
    };
    let v = match verdict {
        Ok(v) => v,
        Err(Refusal::Unavailable) => return Err(StoreError::Database("lookup".into()).into()),
        Err(refusal) => {
            // Who pays: a malformed token or an id that does not exist costs the end client
            // only (never the caller relaying it); a refusal of an existing credential costs
            // its id, and the end client, or else the caller (expiry: the id only).
            let charged: Vec<Key> = match refusal {
                Refusal::Unknown => client_key.into_iter().collect(),
                Refusal::Expired => id_key.into_iter().chain(client_key).collect(),
                _ => id_key
                    .into_iter()
                    .chain(Some(client_key.unwrap_or(caller_key)))
                    .collect(),
            };
            state.limiter.failed(&charged, t).await;
            state.metrics.invalid.fetch_add(1, Ordering::Relaxed);
            let error = if refusal == Refusal::Expired {
                "token_expired"
            } else {
                "invalid_token"
            };
            return Ok((
                StatusCode::UNAUTHORIZED,
                Json(json!({"valid": false, "error": error})),
            )
                .into_response());
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

/// The API, health and `/metrics` on one router.
pub fn router(state: Arc<AppState>) -> Router {
    api_router(Arc::clone(&state)).merge(metrics_router(state))
}

/// The API and health without `/metrics` (serve [`metrics_router`] on an internal
/// listener: `CREDENTIALS_METRICS_LISTEN`).
pub fn api_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/credentials", post(create).get(list))
        .route("/credentials/{id}", get(get_one).delete(revoke))
        .route("/credentials/{id}/regenerate", post(regenerate))
        .route("/owners/{owner}/scopes", axum::routing::put(owner_scopes))
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
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// `/metrics` alone.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}
