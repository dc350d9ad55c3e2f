//! `/admin/tenants/...`: tenants, users, groups, roles. A bearer with `iam:admin` of the
//! tenant in the path, or of the platform tenant (for every tenant), is required: the
//! extractors of [`caller`] check it once for every route, and `?` maps every error.
pub mod caller;

use crate::errors::JsonBody;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use caller::{AdminProblem, PlatformAdmin, TenantAdmin};
use iam_core::Secret;
use iam_identity::model::{new_id, Group, Role, RoleHolder, Tenant, User};
use iam_service::Problem;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type Answer = Result<Response, AdminProblem>;

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn created<T: Serialize>(v: T) -> Answer {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

fn found(found: bool, what: &'static str) -> Result<(), AdminProblem> {
    if found {
        Ok(())
    } else {
        Err(Problem::not_found(what).into())
    }
}

/// The ids after `{tenant}` in an admin route's path.
#[derive(Deserialize)]
pub struct Ids {
    user: Option<String>,
    group: Option<String>,
    role: Option<String>,
}

impl Ids {
    fn get(value: &Option<String>) -> Result<&str, AdminProblem> {
        // The router names every id a handler reads; a missing one is a routing bug.
        value
            .as_deref()
            .ok_or_else(|| Problem::not_found("not found").into())
    }
    fn user(&self) -> Result<&str, AdminProblem> {
        Self::get(&self.user)
    }
    fn group(&self) -> Result<&str, AdminProblem> {
        Self::get(&self.group)
    }
    fn role(&self) -> Result<&str, AdminProblem> {
        Self::get(&self.role)
    }
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

/// `PUT /admin/tenants/{tenant}/users/{user}/password`.
#[derive(Deserialize, ToSchema)]
pub struct SetPassword {
    /// The new password.
    pub password: String,
}

/// Effective access.
#[derive(Serialize, ToSchema)]
pub struct AccessView {
    roles: Vec<String>,
    permissions: Vec<String>,
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

/// Create a tenant (platform admin).
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = NewTenant,
    responses((status = 201, body = TenantView), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_tenant(admin: PlatformAdmin, JsonBody(b): JsonBody<NewTenant>) -> Answer {
    let t = admin
        .identity()
        .create_tenant(&b.id, &b.display_name)
        .await?;
    admin.audit(&t.id, "create_tenant");
    created(TenantView::from(t))
}

/// List tenants (platform admin).
#[utoipa::path(get, path = "/admin/tenants", tag = "admin", params(PageQuery),
    responses((status = 200, body = TenantPage), (status = 403)), security(("bearer" = [])))]
pub async fn list_tenants(admin: PlatformAdmin, Query(q): Query<PageQuery>) -> Answer {
    let limit = q.limit();
    let list = admin
        .identity()
        .repositories()
        .tenants
        .list_tenants(q.cursor.as_deref(), limit)
        .await?;
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
pub async fn get_tenant(admin: TenantAdmin) -> Answer {
    Ok(Json(TenantView::from(admin.existing_tenant().await?)).into_response())
}

/// The `{tenant}` of a platform admin's route.
#[derive(Deserialize)]
pub struct TenantOnly {
    tenant: String,
}

/// Suspend a tenant (platform admin): its users can no longer log in or refresh.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/suspend", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn suspend_tenant(admin: PlatformAdmin, path: Path<TenantOnly>) -> Answer {
    set_suspended(admin, &path.tenant, true).await
}

/// Resume a suspended tenant (platform admin).
#[utoipa::path(post, path = "/admin/tenants/{tenant}/resume", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn resume_tenant(admin: PlatformAdmin, path: Path<TenantOnly>) -> Answer {
    set_suspended(admin, &path.tenant, false).await
}

async fn set_suspended(admin: PlatformAdmin, tenant: &str, suspended: bool) -> Answer {
    admin
        .identity()
        .set_tenant_suspended(tenant, suspended)
        .await?;
    no_content()
}

/// Create a user.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_user(admin: TenantAdmin, JsonBody(b): JsonBody<NewUser>) -> Answer {
    let password = b.password.map(Secret::new);
    let u = admin
        .identity()
        .create_user(
            admin.tenant(),
            &b.username,
            b.email.as_deref(),
            password.as_ref(),
        )
        .await?;
    admin.audit(Some(&u.id), "create_user");
    created(UserView::from(u))
}

/// List users, by id, with a cursor.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/users", tag = "admin", params(PageQuery),
    responses((status = 200, body = UserPage), (status = 403)), security(("bearer" = [])))]
pub async fn list_users(admin: TenantAdmin, Query(q): Query<PageQuery>) -> Answer {
    let limit = q.limit();
    let list = admin
        .repos()
        .users
        .list_users(admin.tenant(), q.cursor.as_deref(), limit)
        .await?;
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
pub async fn get_user(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    Ok(Json(UserView::from(admin.user(ids.user()?).await?)).into_response())
}

/// Disable a user (its sessions are revoked).
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users/{user}/disable", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn disable_user(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    admin
        .identity()
        .set_user_disabled(admin.tenant(), ids.user()?, true)
        .await?;
    admin.end_hydra_sessions(ids.user()?).await;
    no_content()
}

/// Enable a user.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users/{user}/enable", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn enable_user(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    admin
        .identity()
        .set_user_disabled(admin.tenant(), ids.user()?, false)
        .await?;
    no_content()
}

/// Delete a user and everything of it.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/users/{user}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_user(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    admin
        .identity()
        .delete_user(admin.tenant(), ids.user()?)
        .await?;
    admin.end_hydra_sessions(ids.user()?).await;
    no_content()
}

/// Remove a user's TOTP and recovery codes.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/users/{user}/mfa/reset", tag = "admin",
    responses((status = 204), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn reset_mfa(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let user = ids.user()?;
    admin.identity().remove_mfa(admin.tenant(), user).await?;
    admin.audit(Some(user), "reset_mfa");
    admin.end_hydra_sessions(user).await;
    no_content()
}

/// Set a user's password (its sessions are revoked).
#[utoipa::path(put, path = "/admin/tenants/{tenant}/users/{user}/password", tag = "admin", request_body = SetPassword,
    responses((status = 204), (status = 400), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn set_password(
    admin: TenantAdmin,
    Path(ids): Path<Ids>,
    JsonBody(b): JsonBody<SetPassword>,
) -> Answer {
    admin
        .identity()
        .set_password(admin.tenant(), ids.user()?, &Secret::new(b.password))
        .await?;
    admin.end_hydra_sessions(ids.user()?).await;
    no_content()
}

/// A user's effective roles and permissions (own roles and its groups' roles).
#[utoipa::path(get, path = "/admin/tenants/{tenant}/users/{user}/permissions", tag = "admin",
    responses((status = 200, body = AccessView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn user_permissions(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let user = admin.user(ids.user()?).await?;
    let a = admin
        .identity()
        .effective_access(admin.tenant(), &user.id)
        .await?;
    Ok(Json(AccessView {
        roles: a.roles,
        permissions: a.permissions,
    })
    .into_response())
}

/// Assign a role to a user.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/users/{user}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn assign_user_role(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let (user, role) = (
        admin.user(ids.user()?).await?,
        admin.role(ids.role()?).await?,
    );
    admin
        .repos()
        .access
        .assign_role(admin.tenant(), RoleHolder::User(&user.id), &role.id)
        .await?;
    admin.audit(Some(&user.id), "assign_role");
    no_content()
}

/// Unassign a role from a user.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/users/{user}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn unassign_user_role(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let user = admin.user(ids.user()?).await?;
    let unassigned = admin
        .repos()
        .access
        .unassign_role(admin.tenant(), RoleHolder::User(&user.id), ids.role()?)
        .await?;
    found(unassigned, "the role is not assigned")?;
    admin.audit(Some(&user.id), "unassign_role");
    no_content()
}

/// Create a group.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/groups", tag = "admin", request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_group(admin: TenantAdmin, JsonBody(b): JsonBody<NewGroup>) -> Answer {
    check_name(&b.name)?;
    admin.existing_tenant().await?;
    let g = Group {
        id: new_id(),
        tenant: admin.tenant().to_owned(),
        name: b.name,
    };
    admin.repos().access.create_group(&g).await?;
    admin.audit(None, "create_group");
    created(GroupView::from(g))
}

/// List groups.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/groups", tag = "admin",
    responses((status = 200, body = Vec<GroupView>), (status = 403)), security(("bearer" = [])))]
pub async fn list_groups(admin: TenantAdmin) -> Answer {
    let list = admin.repos().access.list_groups(admin.tenant()).await?;
    Ok(Json(list.into_iter().map(GroupView::from).collect::<Vec<_>>()).into_response())
}

/// Delete a group.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/groups/{group}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_group(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let deleted = admin
        .repos()
        .access
        .delete_group(admin.tenant(), ids.group()?)
        .await?;
    found(deleted, "no such group")?;
    admin.audit(None, "delete_group");
    no_content()
}

/// A group's member ids.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/groups/{group}/members", tag = "admin",
    responses((status = 200, body = Vec<String>), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn list_members(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let group = admin.group(ids.group()?).await?;
    let m = admin
        .repos()
        .access
        .members(admin.tenant(), &group.id)
        .await?;
    Ok(Json(m).into_response())
}

/// Add a member.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/groups/{group}/members/{user}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn add_member(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let (group, user) = (
        admin.group(ids.group()?).await?,
        admin.user(ids.user()?).await?,
    );
    admin
        .repos()
        .access
        .add_member(admin.tenant(), &group.id, &user.id)
        .await?;
    admin.audit(Some(&user.id), "add_member");
    no_content()
}

/// Remove a member.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/groups/{group}/members/{user}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn remove_member(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let user = ids.user()?;
    let removed = admin
        .repos()
        .access
        .remove_member(admin.tenant(), ids.group()?, user)
        .await?;
    found(removed, "not a member")?;
    admin.audit(Some(user), "remove_member");
    no_content()
}

/// Assign a role to a group.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/groups/{group}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn assign_group_role(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let (group, role) = (
        admin.group(ids.group()?).await?,
        admin.role(ids.role()?).await?,
    );
    admin
        .repos()
        .access
        .assign_role(admin.tenant(), RoleHolder::Group(&group.id), &role.id)
        .await?;
    admin.audit(None, "assign_group_role");
    no_content()
}

/// Unassign a role from a group.
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/groups/{group}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn unassign_group_role(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let group = admin.group(ids.group()?).await?;
    let unassigned = admin
        .repos()
        .access
        .unassign_role(admin.tenant(), RoleHolder::Group(&group.id), ids.role()?)
        .await?;
    found(unassigned, "the role is not assigned")?;
    admin.audit(None, "unassign_group_role");
    no_content()
}

/// Create a role.
#[utoipa::path(post, path = "/admin/tenants/{tenant}/roles", tag = "admin", request_body = NewRole,
    responses((status = 201, body = RoleView), (status = 400), (status = 403), (status = 409)), security(("bearer" = [])))]
pub async fn create_role(admin: TenantAdmin, JsonBody(b): JsonBody<NewRole>) -> Answer {
    check_name(&b.name)?;
    admin.existing_tenant().await?;
    let r = Role {
        id: new_id(),
        tenant: admin.tenant().to_owned(),
        name: b.name,
        permissions: permissions(b.permissions)?,
    };
    admin.repos().access.create_role(&r).await?;
    admin.audit(None, "create_role");
    created(RoleView::from(r))
}

/// List roles.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/roles", tag = "admin",
    responses((status = 200, body = Vec<RoleView>), (status = 403)), security(("bearer" = [])))]
pub async fn list_roles(admin: TenantAdmin) -> Answer {
    let list = admin.repos().access.list_roles(admin.tenant()).await?;
    Ok(Json(list.into_iter().map(RoleView::from).collect::<Vec<_>>()).into_response())
}

/// One role.
#[utoipa::path(get, path = "/admin/tenants/{tenant}/roles/{role}", tag = "admin",
    responses((status = 200, body = RoleView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_role(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    Ok(Json(RoleView::from(admin.role(ids.role()?).await?)).into_response())
}

/// Replace a role's permissions.
#[utoipa::path(put, path = "/admin/tenants/{tenant}/roles/{role}/permissions", tag = "admin", request_body = RolePermissions,
    responses((status = 204), (status = 400), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn set_role_permissions(
    admin: TenantAdmin,
    Path(ids): Path<Ids>,
    JsonBody(b): JsonBody<RolePermissions>,
) -> Answer {
    let list = permissions(b.permissions)?;
    let set = admin
        .repos()
        .access
        .set_role_permissions(admin.tenant(), ids.role()?, &list)
        .await?;
    found(set, "no such role")?;
    admin.audit(None, "set_role_permissions");
    no_content()
}

/// Delete a role (and its assignments).
#[utoipa::path(delete, path = "/admin/tenants/{tenant}/roles/{role}", tag = "admin",
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_role(admin: TenantAdmin, Path(ids): Path<Ids>) -> Answer {
    let deleted = admin
        .repos()
        .access
        .delete_role(admin.tenant(), ids.role()?)
        .await?;
    found(deleted, "no such role")?;
    admin.audit(None, "delete_role");
    no_content()
}
