//! `POST /validate`: a token's verdict for a calling service, under the failed-validation
//! limits ([`crate::limit`]) and the route scopes (`CREDENTIALS_ROUTE_SCOPES`).
use super::auth::{caller, Caller};
use super::errors::{bad, forbidden, ApiError};
use super::{AppState, VALIDATIONS};
use crate::limit::{Key, CLIENT_IP_HEADER};
use crate::store::{Refusal, StoreError};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use iam_core::credential::parse;
use iam_service::Problem;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

/// `POST /validate`.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/validate", post(validate))
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
    body: Result<Json<ValidateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let caller_key = match caller(&state, &headers).await? {
        Caller::Admin(a) => Key::Caller(format!("{}:{}", a.kind, a.subject)),
        Caller::Service { id, .. } => Key::Caller(id),
        Caller::User(_) | Caller::Client => {
            return Err(forbidden("validate needs a service token"))
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
    let Json(b) = body.map_err(ApiError::from)?;
    let t = crate::store::now();
    let parsed = parse(&b.token);
    let id_key = parsed
        .as_ref()
        .ok()
        .map(|p| Key::LookupId(p.lookup_id().to_owned()));
    let client_key = client.map(Key::client);
    let mut keys: Vec<Key> = id_key.iter().cloned().collect();
    keys.push(client_key.clone().unwrap_or_else(|| caller_key.clone()));
    let over_budget = match state.limiter.admit(&keys, t).await {
        Ok(over) => over,
        Err(key) => {
            metrics::counter!(VALIDATIONS, "result" => "rate_limited").increment(1);
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                key.what(),
            ));
        }
    };
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
            // Each with whether its admission found it over budget (every charged key was
            // admitted above).
            let charged: Vec<(Key, bool)> = charged
                .into_iter()
                .map(|k| {
                    let over = keys.iter().zip(&over_budget).any(|(a, o)| *a == k && *o);
                    (k, over)
                })
                .collect();
            state.limiter.failed(&charged, t).await;
            metrics::counter!(VALIDATIONS, "result" => "invalid").increment(1);
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
            metrics::counter!(VALIDATIONS, "result" => "invalid").increment(1);
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
            metrics::counter!(VALIDATIONS, "result" => "invalid").increment(1);
            return Ok((
                StatusCode::FORBIDDEN,
                Json(json!({"valid": false, "error": "insufficient_scope", "scope": scope})),
            )
                .into_response());
        }
    }
    metrics::counter!(VALIDATIONS, "result" => "valid").increment(1);
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
