//! Who may call an admin route, checked once: the extractors [`TenantAdmin`] (the caller
//! holds `iam:admin` of the `{tenant}` in the path, or of the platform tenant) and
//! [`PlatformAdmin`], and [`AdminProblem`], through which `?` turns any identity or storage
//! error into its problem answer.
use crate::bootstrap::ADMIN_PERMISSION;
use crate::errors::problem;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use iam_axum::Auth;
use iam_core::Principal;
use iam_identity::audit::{AuditEvent, AuditKind, AuditSink as _, TracingAudit};
use iam_identity::model::{Group, Role, User};
use iam_identity::repository::Repositories;
use iam_identity::{Identity, IdentityError, RepositoryError};
use iam_service::Problem;
use serde::Deserialize;
use std::sync::Arc;

/// An admin route's refusal: a [`Problem`], from an identity or storage error too.
#[derive(Debug)]
pub struct AdminProblem(Problem);

impl From<Problem> for AdminProblem {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<IdentityError> for AdminProblem {
    fn from(e: IdentityError) -> Self {
        Self(problem(e))
    }
}

impl From<RepositoryError> for AdminProblem {
    fn from(e: RepositoryError) -> Self {
        Self(problem(e.into()))
    }
}

impl IntoResponse for AdminProblem {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

fn is_platform_admin(state: &AppState, p: &Principal) -> bool {
    p.has_permission(ADMIN_PERMISSION) && p.tenant() == Some(state.platform_tenant.as_str())
}

async fn principal(parts: &mut Parts, state: &Arc<AppState>) -> Result<Principal, Response> {
    let Auth(p) = Auth::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(p)
}

/// An audit line (and the admin-changes counter) for a change made through this API.
fn audit(p: &Principal, tenant: &str, user: Option<&str>, action: &'static str) {
    let mut e = AuditEvent::new(AuditKind::AdminChange);
    (e.tenant, e.user_id, e.actor, e.action) = (
        Some(tenant.to_owned()),
        user.map(str::to_owned),
        Some(p.subject().to_owned()),
        Some(action),
    );
    TracingAudit.record(&e);
    metrics::counter!("iam_api_admin_changes_total").increment(1);
}

/// The caller holds `iam:admin` of the platform tenant (403 otherwise).
pub struct PlatformAdmin {
    /// The service.
    pub state: Arc<AppState>,
    /// The caller.
    pub principal: Principal,
}

impl FromRequestParts<Arc<AppState>> for PlatformAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let principal = principal(parts, state).await?;
        if !is_platform_admin(state, &principal) {
            return Err(
                Problem::forbidden("iam:admin of the platform tenant is required").into_response(),
            );
        }
        Ok(Self {
            state: Arc::clone(state),
            principal,
        })
    }
}

impl PlatformAdmin {
    /// The identity flows.
    pub fn identity(&self) -> &Identity {
        &self.state.identity
    }

    /// Record an admin change of `tenant`.
    pub fn audit(&self, tenant: &str, action: &'static str) {
        audit(&self.principal, tenant, None, action);
    }
}

#[derive(Deserialize)]
struct TenantPath {
    tenant: String,
}

/// The caller administers the `{tenant}` of the path: `iam:admin` of that tenant or of the
/// platform tenant. 403 otherwise, for a tenant that does not exist too, so a tenant admin
/// learns nothing about other tenants. Every tenant-scoped call goes through
/// [`TenantAdmin::tenant`], so a handler cannot reach another tenant by mistake.
pub struct TenantAdmin {
    state: Arc<AppState>,
    principal: Principal,
    tenant: String,
}

impl FromRequestParts<Arc<AppState>> for TenantAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let principal = principal(parts, state).await?;
        let Path(TenantPath { tenant }) = Path::<TenantPath>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let allowed = is_platform_admin(state, &principal)
            || (principal.has_permission(ADMIN_PERMISSION)
                && principal.tenant() == Some(tenant.as_str()));
        if !allowed {
            return Err(Problem::forbidden("iam:admin of this tenant is required").into_response());
        }
        Ok(Self {
            state: Arc::clone(state),
            principal,
            tenant,
        })
    }
}

impl TenantAdmin {
    /// The tenant of the path (the caller administers it).
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The identity flows.
    pub fn identity(&self) -> &Identity {
        &self.state.identity
    }

    /// The repositories.
    pub fn repos(&self) -> &Repositories {
        self.state.identity.repositories()
    }

    /// In `hydra` mode, end `user`'s sessions at Hydra (consent sessions with the token
    /// chains they issued, and login sessions), so its current tokens stop refreshing at
    /// once. Best effort: a failure is logged, and Hydra's token hook still refuses the
    /// next refresh of a user that is no longer active.
    pub async fn end_hydra_sessions(&self, user: &str) {
        if let Some(hydra) = &self.state.hydra {
            if let Err(e) = hydra.end_sessions(user).await {
                tracing::warn!(error = %e, tenant = %self.tenant, user, "admin: ending the user's Hydra sessions failed");
            }
        }
    }

    /// Record an admin change of this tenant (of `user`, when it concerns one).
    pub fn audit(&self, user: Option<&str>, action: &'static str) {
        audit(&self.principal, &self.tenant, user, action);
    }

    /// 404 unless the tenant exists.
    pub async fn existing_tenant(&self) -> Result<iam_identity::model::Tenant, AdminProblem> {
        Ok(self
            .repos()
            .tenants
            .tenant(&self.tenant)
            .await?
            .ok_or_else(|| Problem::not_found("no such tenant"))?)
    }

    /// A user of this tenant, or 404.
    pub async fn user(&self, id: &str) -> Result<User, AdminProblem> {
        Ok(self
            .repos()
            .users
            .user(&self.tenant, id)
            .await?
            .ok_or_else(|| Problem::not_found("no such user"))?)
    }

    /// A group of this tenant, or 404.
    pub async fn group(&self, id: &str) -> Result<Group, AdminProblem> {
        Ok(self
            .repos()
            .access
            .group(&self.tenant, id)
            .await?
            .ok_or_else(|| Problem::not_found("no such group"))?)
    }

    /// A role of this tenant, or 404.
    pub async fn role(&self, id: &str) -> Result<Role, AdminProblem> {
        Ok(self
            .repos()
            .access
            .role(&self.tenant, id)
            .await?
            .ok_or_else(|| Problem::not_found("no such role"))?)
    }
}
