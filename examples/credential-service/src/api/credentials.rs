//! Managing credentials: create, list, read, regenerate, revoke, and the owner-scope sweep
//! that revokes PATs holding a scope their owner lost.
use super::auth::{caller, managers_only, Actor, Caller};
use super::errors::{bad, forbidden, ApiError};
use super::{AppState, CREATED, REVOKED};
use crate::store::{NewCredential, Record};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use iam_core::credential::CredentialKind;
use iam_core::scope::ScopeSet;
use iam_core::Principal;
use iam_service::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `/credentials…` and `/owners/{owner}/scopes`.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/credentials", post(create).get(list))
        .route("/credentials/{id}", get(get_one).delete(revoke))
        .route("/credentials/{id}/regenerate", post(regenerate))
        .route("/owners/{owner}/scopes", put(owner_scopes))
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
        metrics::counter!(REVOKED).increment(1);
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
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers).await?;
    managers_only(&who)?;
    let Json(b) = body.map_err(ApiError::from)?;
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
                return Err(forbidden("users create personal access tokens only"));
            }
            if b.owner.as_deref().is_some_and(|o| o != p.subject()) {
                return Err(forbidden("users create tokens for themselves only"));
            }
            // A PAT inherits at most its user's rights.
            if let Some(s) = b
                .scopes
                .iter()
                .find(|s| !(p.has_scope(s) || p.has_permission(s)))
            {
                return Err(Problem::new(
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
    metrics::counter!(CREATED).increment(1);
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
    let not_found = || Problem::not_found("no such credential");
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
        Problem::new(
            StatusCode::CONFLICT,
            "revoked",
            "a revoked credential cannot be regenerated",
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
        metrics::counter!(REVOKED).increment(1);
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
    body: Result<Json<OwnerScopesBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let who = caller(&state, &headers).await?;
    managers_only(&who)?;
    let Caller::Admin(actor) = who else {
        return Err(forbidden("admins only"));
    };
    let Json(b) = body.map_err(ApiError::from)?;
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
        metrics::counter!(REVOKED).increment(1);
        tracing::info!(audit = "revoke", id = %r.id, kind = r.kind, owner = %r.owner, reason = "owner no longer holds a scope", actor = %actor.subject, actor_kind = actor.kind, "credential revoked");
    }
    let ids: Vec<&str> = revoked.iter().map(|r| r.id.as_str()).collect();
    Ok(Json(json!({ "revoked": ids })))
}
