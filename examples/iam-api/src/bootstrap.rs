//! The first administrator: tenant `default` (the platform tenant), role `admin` holding
//! `iam:admin`, and a user with the given email and password. Idempotent: an existing
//! tenant, role, user or assignment is kept (an existing user's password is not changed).
use crate::state::AppState;
use iam_core::Secret;
use iam_identity::hashing::PasswordHasher;
use iam_identity::model::{new_id, PasswordHash, Role, RoleHolder};
use iam_identity::repository::UserRepository;
use iam_identity::{fold, IdentityError, PasswordPolicy};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The permission of administrators.
pub const ADMIN_PERMISSION: &str = "iam:admin";

/// The admin's password hash being computed on the hashing pool, when the admin does not
/// exist yet: start-up opens the key ring meanwhile instead of waiting for the hash after
/// it. `None` when the admin exists (nothing to hash).
pub async fn start_hashing(
    users: &dyn UserRepository,
    hasher: &Arc<PasswordHasher>,
    policy: &PasswordPolicy,
    tenant: &str,
    email: &str,
    password: &Secret,
) -> Result<Option<JoinHandle<Result<PasswordHash, IdentityError>>>, IdentityError> {
    if users.user_by_login(tenant, &fold(email)).await?.is_some() {
        return Ok(None);
    }
    policy.check_new(password.secret())?;
    let (hasher, password) = (Arc::clone(hasher), password.clone());
    Ok(Some(tokio::spawn(
        async move { hasher.hash(&password).await },
    )))
}

/// Create what is missing; `prehashed` is [`start_hashing`]'s answer.
pub async fn admin(
    state: &AppState,
    email: &str,
    password: &Secret,
    prehashed: Option<JoinHandle<Result<PasswordHash, IdentityError>>>,
) -> Result<(), IdentityError> {
    let identity = &state.identity;
    let repos = identity.repositories();
    let tenant = state.platform_tenant.as_str();
    if repos.tenants.tenant(tenant).await?.is_none() {
        match identity.create_tenant(tenant, "Platform").await {
            Ok(_) | Err(IdentityError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    // Instances starting together race here: a conflict means another one created it.
    let role = match repos.access.role_by_name(tenant, "admin").await? {
        Some(r) => r,
        None => {
            let r = Role {
                id: new_id(),
                tenant: tenant.to_owned(),
                name: "admin".into(),
                permissions: vec![ADMIN_PERMISSION.into()],
            };
            match repos.access.create_role(&r).await {
                Ok(()) => r,
                Err(iam_identity::RepositoryError::Conflict) => repos
                    .access
                    .role_by_name(tenant, "admin")
                    .await?
                    .ok_or(IdentityError::Conflict)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let user = match repos.users.user_by_login(tenant, &fold(email)).await? {
        Some(u) => u,
        None => match match prehashed {
            Some(hashing) => {
                let hash = hashing.await.map_err(|_| IdentityError::Hashing)??;
                identity
                    .create_user_with_hash(tenant, email, Some(email), hash)
                    .await
            }
            None => {
                identity
                    .create_user(tenant, email, Some(email), Some(password))
                    .await
            }
        } {
            Ok(u) => {
                tracing::info!(tenant, user = %u.id, "bootstrap admin created");
                u
            }
            Err(IdentityError::Conflict) => repos
                .users
                .user_by_login(tenant, &fold(email))
                .await?
                .ok_or(IdentityError::Conflict)?,
            Err(e) => return Err(e),
        },
    };
    repos
        .access
        .assign_role(tenant, RoleHolder::User(&user.id), &role.id)
        .await?;
    Ok(())
}
