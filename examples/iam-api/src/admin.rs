//! `/admin/tenants/...`: tenants, users, groups, roles. A bearer with `iam:admin` of the
//! tenant in the path, or of the platform tenant (for every tenant), is required.
use crate::bootstrap::ADMIN_PERMISSION;
use crate::errors::{problem, JsonBody};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use iam_axum::Auth;
use iam_core::{Principal, Secret};
use iam_identity::audit::{AuditEvent, AuditKind, AuditSink as _, TracingAudit};
use iam_identity::model::{new_id, Group, Role, RoleHolder, Tenant, User};
use iam_identity::IdentityError;
use iam_service::Problem;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type Answer = Result<Response, Problem>;

fn is_platform_admin(state: &AppState, p: &Principal) -> bool {
    p.has_permission(ADMIN_PERMISSION) && p.tenant() == Some(state.platform_tenant.as_str())
}

/// The caller administers `tenant`: 403 otherwise (also for a tenant that does not exist, so
/// a tenant admin learns nothing about other tenants).
fn authorize(state: &AppState, p: &Principal, tenant: &str) -> Result<(), Problem> {
    if is_platform_admin(state, p)
        || (p.has_permission(ADMIN_PERMISSION) && p.tenant() == Some(tenant))
    {
        Ok(())
    } else {
        Err(Problem::forbidden("iam:admin of this tenant is required"))
    }
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

fn err(e: IdentityError) -> Problem {
    problem(e)
}

async fn user_in(state: &AppState, tenant: &str, id: &str) -> Result<User, Problem> {
    state
        .identity
        .repositories()
        .users
        .user(tenant, id)
        .await
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| Problem::not_found("no such user"))
}

async fn group_in(state: &AppState, tenant: &str, id: &str) -> Result<Group, Problem> {
    state
        .identity
        .repositories()
        .access
        .group(tenant, id)
        .await
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| Problem::not_found("no such group"))
}

async fn role_in(state: &AppState, tenant: &str, id: &str) -> Result<Role, Problem> {
    state
        .identity
        .repositories()
        .access
        .role(tenant, id)
        .await
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| Problem::not_found("no such role"))
}

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn created<T: Serialize>(v: T) -> Answer {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /admin/tenants`.
#[derive(Deserialize, ToSchema)]
pub struct NewTenant {
    /// 1–63 of `a-z0-9-`.
    pub id: String,
    /// A name for people.
    pub display_name: String,
}

/// A tenant.
#[derive(Serialize, ToSchema)]
pub struct TenantView {
    id: String,
    display_name: String,
    suspended: bool,
    created_at: i64,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            display_name: t.display_name,
            suspended: t.suspended,
            created_at: t.created_at,
        }
    }
}

/// A user.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: String,
    tenant: String,
    username: String,
    email: Option<String>,
    disabled: bool,
    created_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            tenant: u.tenant,
            username: u.username,
            email: u.email,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// A page of users.
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    users: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    next_cursor: Option<String>,
}

/// A page of tenants.
#[derive(Serialize, ToSchema)]
pub struct TenantPage {
    tenants: Vec<TenantView>,
    next_cursor: Option<String>,
}

/// Cursor pagination.
#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1–200 (default 50).
    limit: Option<usize>,
}

impl PageQuery {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 200)
    }
}

/// Create a tenant (platform admin).
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = NewTenant,
    responses((status = 201, body = TenantView), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    JsonBody(b): JsonBody<NewTenant>,
) -> Answer {
    if !is_platform_admin(&state, &p) {
        return Err(Problem::forbidden(
            "iam:admin of the platform tenant is required",
        ));
    }
    let t = state
        .identity
        .create_tenant(&b.id, &b.display_name)
        .await
        .map_err(err)?;
    audit(&p, &t.id, None, "create_tenant");
    created(TenantView::from(t))
}

/// List tenants (platform admin).
#[utoipa::path(get, path = "/admin/tenants", tag = "admin", params(PageQuery),
    responses((status = 200, body = TenantPage), (status = 403)), security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Query(q): Query<PageQuery>,
) -> Answer {
    if !is_platform_admin(&state, &p) {
        return Err(Problem::forbidden(
            "iam:admin of the platform tenant is required",
        ));
    }
    let limit = q.limit();
    let list = state
        .identity
        .repositories()
        .tenants
        .list_tenants(q.cursor.as_deref(), limit)
        .await
        .map_err(|e| err(e.into()))?;
    let next_cursor = (list.len() == limit)
        .then(|| list.last().map(|t| t.id.clone()))
        .flatten();
    Ok(Json(TenantPage {
        tenants: list.into_iter().map(Into::into).collect(),
        next_cursor,
    })
    .into_response())
}

/// One tenant.
#[utoipa::path(get, path = "/admin/tenants/{tenant}", tag = "admin",
    responses((status = 200, body = TenantView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_tenant(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    let t = state
        .identity
        .repositories()
        .tenants
        .tenant(&tenant)
        .await
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| Problem::not_found("no such tenant"))?;
    Ok(Json(TenantView::from(t)).into_response())
}

/// Suspend a tenant (platform admin): its users can no longer log in or refresh.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/suspend", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn suspend_tenant(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
) -> Answer {
    set_suspended(&state, &p, &tenant, true).await
}

/// Resume a suspended tenant (platform admin).
#[utoipa::path(post, path = "/admin/tenants/{tenant}/resume", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn resume_tenant(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
) -> Answer {
    set_suspended(&state, &p, &tenant, false).await
}

async fn set_suspended(state: &AppState, p: &Principal, tenant: &str, suspended: bool) -> Answer {
    if !is_platform_admin(state, p) {
        return Err(Problem::forbidden(
            "iam:admin of the platform tenant is required",
        ));
    }
    state
        .identity
        .set_tenant_suspended(tenant, suspended)
        .await
        .map_err(err)?;
    no_content()
}

/// `POST /admin/tenants/{tenant}/users`.
#[derive(Deserialize, ToSchema)]
pub struct NewUser {
    /// Unique in the tenant (after case folding).
    pub username: String,
    /// Unique in the tenant (after case folding); also a login.
    pub email: Option<String>,
    /// Optional initial password.
    pub password: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
    JsonBody(b): JsonBody<NewUser>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    let password = b.password.map(Secret::new);
    let u = state
        .identity
        .create_user(&tenant, &b.username, b.email.as_deref(), password.as_ref())
        .await
        .map_err(err)?;
    audit(&p, &tenant, Some(&u.id), "create_user");
    created(UserView::from(u))
}

/// List users, by id, with a cursor.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/users", tag = "admin", params(PageQuery),
    responses((status = 200, body = UserPage), (status = 403)), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
    Query(q): Query<PageQuery>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    let limit = q.limit();
    let list = state
        .identity
        .repositories()
        .users
        .list_users(&tenant, q.cursor.as_deref(), limit)
        .await
        .map_err(|e| err(e.into()))?;
    let next_cursor = (list.len() == limit)
        .then(|| list.last().map(|u| u.id.clone()))
        .flatten();
    Ok(Json(UserPage {
        users: list.into_iter().map(Into::into).collect(),
        next_cursor,
    })
    .into_response())
}

/// One user.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/users/{user}", tag = "admin",
    responses((status = 200, body = UserView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    Ok(Json(UserView::from(user_in(&state, &tenant, &user).await?)).into_response())
}

/// Disable a user (its sessions are revoked).
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users/{user}/disable", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn disable_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    state
        .identity
        .set_user_disabled(&tenant, &user, true)
        .await
        .map_err(err)?;
    no_content()
}

/// Enable a user.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users/{user}/enable", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn enable_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    state
        .identity
        .set_user_disabled(&tenant, &user, false)
        .await
        .map_err(err)?;
    no_content()
}

/// Delete a user and everything of it.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/users/{user}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    state
        .identity
        .delete_user(&tenant, &user)
        .await
        .map_err(err)?;
    no_content()
}

/// Remove a user's TOTP and recovery codes.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users/{user}/mfa/reset", tag = "admin",
    responses((status = 204), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn reset_mfa(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    state
        .identity
        .remove_mfa(&tenant, &user)
        .await
        .map_err(err)?;
    audit(&p, &tenant, Some(&user), "reset_mfa");
    no_content()
}

/// `PUT /admin/tenants/{tenant}/users/{user}/password`.
#[derive(Deserialize, ToSchema)]
pub struct SetPassword {
    /// The new password.
    pub password: String,
}

/// Set a user's password (its sessions are revoked).
#[utoipa::path(put, path = "/admin/tenants/{tenant}/users/{user}/password", tag = "admin", request_body = SetPassword,
    responses((status = 204), (status = 400), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn set_password(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
    JsonBody(b): JsonBody<SetPassword>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    state
        .identity
        .set_password(&tenant, &user, &Secret::new(b.password))
        .await
        .map_err(err)?;
    no_content()
}

/// Effective access.
#[derive(Serialize, ToSchema)]
pub struct AccessView {
    roles: Vec<String>,
    permissions: Vec<String>,
}

/// A user's effective roles and permissions (own roles and its groups' roles).
#[utoipa::path(get, path = "/admin/tenants/{tenant}/users/{user}/permissions", tag = "admin",
    responses((status = 200, body = AccessView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn user_permissions(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    user_in(&state, &tenant, &user).await?;
    let a = state
        .identity
        .effective_access(&tenant, &user)
        .await
        .map_err(err)?;
    Ok(Json(AccessView {
        roles: a.roles,
        permissions: a.permissions,
    })
    .into_response())
}

/// Assign a role to a user.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/users/{user}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn assign_user_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user, role)): Path<(String, String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    user_in(&state, &tenant, &user).await?;
    role_in(&state, &tenant, &role).await?;
    state
        .identity
        .repositories()
        .access
        .assign_role(&tenant, RoleHolder::User(&user), &role)
        .await
        .map_err(|e| err(e.into()))?;
    audit(&p, &tenant, Some(&user), "assign_role");
    no_content()
}

/// Unassign a role from a user.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/users/{user}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn unassign_user_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, user, role)): Path<(String, String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    user_in(&state, &tenant, &user).await?;
    if !state
        .identity
        .repositories()
        .access
        .unassign_role(&tenant, RoleHolder::User(&user), &role)
        .await
        .map_err(|e| err(e.into()))?
    {
        return Err(Problem::not_found("the role is not assigned"));
    }
    audit(&p, &tenant, Some(&user), "unassign_role");
    no_content()
}

/// `POST .../groups`.
#[derive(Deserialize, ToSchema)]
pub struct NewGroup {
    /// Unique in the tenant.
    pub name: String,
}

/// A group.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    id: String,
    name: String,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        Self {
            id: g.id,
            name: g.name,
        }
    }
}

fn check_name(name: &str) -> Result<(), Problem> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Problem::bad_request("invalid name"));
    }
    Ok(())
}

/// Create a group.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/groups", tag = "admin", request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_group(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
    JsonBody(b): JsonBody<NewGroup>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    check_name(&b.name)?;
    if state
        .identity
        .repositories()
        .tenants
        .tenant(&tenant)
        .await
        .map_err(|e| err(e.into()))?
        .is_none()
    {
        return Err(Problem::not_found("no such tenant"));
    }
    let g = Group {
        id: new_id(),
        tenant: tenant.clone(),
        name: b.name,
    };
    state
        .identity
        .repositories()
        .access
        .create_group(&g)
        .await
        .map_err(|e| err(e.into()))?;
    audit(&p, &tenant, None, "create_group");
    created(GroupView::from(g))
}

/// List groups.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/groups", tag = "admin",
    responses((status = 200, body = Vec<GroupView>), (status = 403)), security(("bearer" = [])))]
pub async fn list_groups(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    let list = state
        .identity
        .repositories()
        .access
        .list_groups(&tenant)
        .await
        .map_err(|e| err(e.into()))?;
    Ok(Json(list.into_iter().map(GroupView::from).collect::<Vec<_>>()).into_response())
}

/// Delete a group.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/groups/{group}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_group(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, group)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    if !state
        .identity
        .repositories()
        .access
        .delete_group(&tenant, &group)
        .await
        .map_err(|e| err(e.into()))?
    {
        return Err(Problem::not_found("no such group"));
    }
    audit(&p, &tenant, None, "delete_group");
    no_content()
}

/// A group's member ids.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/groups/{group}/members", tag = "admin",
    responses((status = 200, body = Vec<String>), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn list_members(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, group)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    group_in(&state, &tenant, &group).await?;
    let m = state
        .identity
        .repositories()
        .access
        .members(&tenant, &group)
        .await
        .map_err(|e| err(e.into()))?;
    Ok(Json(m).into_response())
}

/// Add a member.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/groups/{group}/members/{user}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, group, user)): Path<(String, String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    group_in(&state, &tenant, &group).await?;
    user_in(&state, &tenant, &user).await?;
    state
        .identity
        .repositories()
        .access
        .add_member(&tenant, &group, &user)
        .await
        .map_err(|e| err(e.into()))?;
    audit(&p, &tenant, Some(&user), "add_member");
    no_content()
}

/// Remove a member.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/groups/{group}/members/{user}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, group, user)): Path<(String, String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    if !state
        .identity
        .repositories()
        .access
        .remove_member(&tenant, &group, &user)
        .await
        .map_err(|e| err(e.into()))?
    {
        return Err(Problem::not_found("not a member"));
    }
    audit(&p, &tenant, Some(&user), "remove_member");
    no_content()
}

/// Assign a role to a group.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/groups/{group}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn assign_group_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, group, role)): Path<(String, String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    group_in(&state, &tenant, &group).await?;
    role_in(&state, &tenant, &role).await?;
    state
        .identity
        .repositories()
        .access
        .assign_role(&tenant, RoleHolder::Group(&group), &role)
        .await
        .map_err(|e| err(e.into()))?;
    audit(&p, &tenant, None, "assign_group_role");
    no_content()
}

/// Unassign a role from a group.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/groups/{group}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn unassign_group_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, group, role)): Path<(String, String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    group_in(&state, &tenant, &group).await?;
    if !state
        .identity
        .repositories()
        .access
        .unassign_role(&tenant, RoleHolder::Group(&group), &role)
        .await
        .map_err(|e| err(e.into()))?
    {
        return Err(Problem::not_found("the role is not assigned"));
    }
    audit(&p, &tenant, None, "unassign_group_role");
    no_content()
}

/// `POST .../roles`.
#[derive(Deserialize, ToSchema)]
pub struct NewRole {
    /// Unique in the tenant.
    pub name: String,
    /// Permission strings.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// `PUT .../roles/{role}/permissions`.
#[derive(Deserialize, ToSchema)]
pub struct RolePermissions {
    /// The new permission set.
    pub permissions: Vec<String>,
}

/// A role.
#[derive(Serialize, ToSchema)]
pub struct RoleView {
    id: String,
    name: String,
    permissions: Vec<String>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            id: r.id,
            name: r.name,
            permissions: r.permissions,
        }
    }
}

fn permissions(list: Vec<String>) -> Result<Vec<String>, Problem> {
    if list.len() > 256 {
        return Err(Problem::bad_request("at most 256 permissions"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for p in list {
        if p.is_empty() || p.len() > 128 || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Problem::bad_request("invalid permission"));
        }
        out.push(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Create a role.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/roles", tag = "admin", request_body = NewRole,
    responses((status = 201, body = RoleView), (status = 400), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
    JsonBody(b): JsonBody<NewRole>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    check_name(&b.name)?;
    if state
        .identity
        .repositories()
        .tenants
        .tenant(&tenant)
        .await
        .map_err(|e| err(e.into()))?
        .is_none()
    {
        return Err(Problem::not_found("no such tenant"));
    }
    let r = Role {
        id: new_id(),
        tenant: tenant.clone(),
        name: b.name,
        permissions: permissions(b.permissions)?,
    };
    state
        .identity
        .repositories()
        .access
        .create_role(&r)
        .await
        .map_err(|e| err(e.into()))?;
    audit(&p, &tenant, None, "create_role");
    created(RoleView::from(r))
}

/// List roles.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/roles", tag = "admin",
    responses((status = 200, body = Vec<RoleView>), (status = 403)), security(("bearer" = [])))]
pub async fn list_roles(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path(tenant): Path<String>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    let list = state
        .identity
        .repositories()
        .access
        .list_roles(&tenant)
        .await
        .map_err(|e| err(e.into()))?;
    Ok(Json(list.into_iter().map(RoleView::from).collect::<Vec<_>>()).into_response())
}

/// One role.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/roles/{role}", tag = "admin",
    responses((status = 200, body = RoleView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, role)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    Ok(Json(RoleView::from(role_in(&state, &tenant, &role).await?)).into_response())
}

/// Replace a role's permissions.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/roles/{role}/permissions", tag = "admin", request_body = RolePermissions,
    responses((status = 204), (status = 400), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn set_role_permissions(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, role)): Path<(String, String)>,
    JsonBody(b): JsonBody<RolePermissions>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    let list = permissions(b.permissions)?;
    if !state
        .identity
        .repositories()
        .access
        .set_role_permissions(&tenant, &role, &list)
        .await
        .map_err(|e| err(e.into()))?
    {
        return Err(Problem::not_found("no such role"));
    }
    audit(&p, &tenant, None, "set_role_permissions");
    no_content()
}

/// Delete a role (and its assignments).
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_role(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Path((tenant, role)): Path<(String, String)>,
) -> Answer {
    authorize(&state, &p, &tenant)?;
    if !state
        .identity
        .repositories()
        .access
        .delete_role(&tenant, &role)
        .await
        .map_err(|e| err(e.into()))?
    {
        return Err(Problem::not_found("no such role"));
    }
    audit(&p, &tenant, None, "delete_role");
    no_content()
}
