//! Repository traits: what the identity flows need from storage.
//!
//! Shaped so that a document store can implement them as easily as SQL: every method reads
//! or writes one aggregate by key, lists are by key prefix with a cursor, and nothing needs a
//! join (effective permissions are assembled by the caller from roles of the user and of its
//! groups). Methods that must be atomic say so; a backend implements them with a conditional
//! update (SQL `UPDATE … WHERE`, a document store's compare-and-set).
//!
//! Every tenant-scoped method takes the tenant: an implementation never returns or changes a
//! row of another tenant, whatever id it is given.
use crate::error::RepositoryError;
use crate::model::{
    Group, LoginCredential, MfaChallenge, PasswordHash, RefreshFamily, RefreshTokenRecord, Role,
    RoleHolder, SecretText, SpendOutcome, SpentToken, Tenant, TotpCredential, User,
};
use async_trait::async_trait;
use std::sync::Arc;

/// Result of a repository call.
pub type RepoResult<T> = Result<T, RepositoryError>;

/// Tenants.
#[async_trait]
pub trait TenantRepository: Send + Sync + 'static {
    /// Create one; [`RepositoryError::Conflict`] when the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> RepoResult<()>;
    /// One tenant.
    async fn tenant(&self, id: &str) -> RepoResult<Option<Tenant>>;
    /// Up to `limit` tenants with an id greater than `after`, by id.
    async fn list_tenants(&self, after: Option<&str>, limit: usize) -> RepoResult<Vec<Tenant>>;
    /// Suspend or resume; `false` when there is no such tenant.
    async fn set_tenant_suspended(&self, id: &str, suspended: bool) -> RepoResult<bool>;
}

/// Users and their password credential.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Create a user (with its password hash when given). [`RepositoryError::Conflict`] when
    /// its folded username or email is taken in the tenant (by a username or an email).
    async fn create_user(&self, user: &User, password: Option<&PasswordHash>) -> RepoResult<()>;
    /// One user of the tenant.
    async fn user(&self, tenant: &str, id: &str) -> RepoResult<Option<User>>;
    /// The user whose folded username or folded email equals `folded_login`.
    async fn user_by_login(&self, tenant: &str, folded_login: &str) -> RepoResult<Option<User>>;
    /// Up to `limit` users of the tenant with an id greater than `after`, by id.
    async fn list_users(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> RepoResult<Vec<User>>;
    /// Disable or enable; `false` when there is no such user in the tenant.
    async fn set_user_disabled(&self, tenant: &str, id: &str, disabled: bool) -> RepoResult<bool>;
    /// Delete the user and everything of it (credentials, memberships, assignments, MFA,
    /// refresh families); `false` when there is no such user in the tenant.
    async fn delete_user(&self, tenant: &str, id: &str) -> RepoResult<bool>;
    /// The user's password hash.
    async fn password_hash(&self, tenant: &str, id: &str) -> RepoResult<Option<PasswordHash>>;
    /// What a login reads: the user whose folded username or email is `folded_login`, with
    /// its password hash. The default makes the two reads above; a store that can answer in
    /// one round trip (SQL: one query) should.
    async fn login_credential(
        &self,
        tenant: &str,
        folded_login: &str,
    ) -> RepoResult<Option<LoginCredential>> {
        let Some(user) = self.user_by_login(tenant, folded_login).await? else {
            return Ok(None);
        };
        let password = self.password_hash(tenant, &user.id).await?;
        Ok(Some(LoginCredential { user, password }))
    }
    /// Replace the user's password hash; `false` when there is no such user in the tenant.
    async fn set_password_hash(
        &self,
        tenant: &str,
        id: &str,
        hash: &PasswordHash,
    ) -> RepoResult<bool>;
}

/// Groups, roles, memberships and role assignments.
#[async_trait]
pub trait AccessRepository: Send + Sync + 'static {
    /// Create a group; conflict when its name is taken in the tenant.
    async fn create_group(&self, group: &Group) -> RepoResult<()>;
    /// One group of the tenant.
    async fn group(&self, tenant: &str, id: &str) -> RepoResult<Option<Group>>;
    /// The tenant's groups, by name.
    async fn list_groups(&self, tenant: &str) -> RepoResult<Vec<Group>>;
    /// Delete a group (and its memberships and assignments).
    async fn delete_group(&self, tenant: &str, id: &str) -> RepoResult<bool>;
    /// Add a member (idempotent). The caller checks both exist in the tenant.
    async fn add_member(&self, tenant: &str, group: &str, user: &str) -> RepoResult<()>;
    /// Remove a member; `false` when it was not one.
    async fn remove_member(&self, tenant: &str, group: &str, user: &str) -> RepoResult<bool>;
    /// The ids of a group's members.
    async fn members(&self, tenant: &str, group: &str) -> RepoResult<Vec<String>>;
    /// The ids of the groups a user is a member of.
    async fn groups_of(&self, tenant: &str, user: &str) -> RepoResult<Vec<String>>;
    /// Create a role; conflict when its name is taken in the tenant.
    async fn create_role(&self, role: &Role) -> RepoResult<()>;
    /// One role of the tenant.
    async fn role(&self, tenant: &str, id: &str) -> RepoResult<Option<Role>>;
    /// One role of the tenant, by name.
    async fn role_by_name(&self, tenant: &str, name: &str) -> RepoResult<Option<Role>>;
    /// The tenant's roles, by name.
    async fn list_roles(&self, tenant: &str) -> RepoResult<Vec<Role>>;
    /// Replace a role's permissions; `false` when there is no such role.
    async fn set_role_permissions(
        &self,
        tenant: &str,
        id: &str,
        permissions: &[String],
    ) -> RepoResult<bool>;
    /// Delete a role (and its assignments).
    async fn delete_role(&self, tenant: &str, id: &str) -> RepoResult<bool>;
    /// Assign a role (idempotent). The caller checks both exist in the tenant.
    async fn assign_role(&self, tenant: &str, holder: RoleHolder<'_>, role: &str)
        -> RepoResult<()>;
    /// Unassign a role; `false` when it was not assigned.
    async fn unassign_role(
        &self,
        tenant: &str,
        holder: RoleHolder<'_>,
        role: &str,
    ) -> RepoResult<bool>;
    /// The ids of the roles assigned directly to a user or a group.
    async fn roles_of(&self, tenant: &str, holder: RoleHolder<'_>) -> RepoResult<Vec<String>>;
    /// The roles a user holds, directly or through its groups, each once, in any order. The
    /// default composes the reads above (2 + 2 × groups + roles round trips); a store that
    /// can answer in one (SQL: one query) should.
    async fn effective_roles(&self, tenant: &str, user: &str) -> RepoResult<Vec<Role>> {
        let mut ids: std::collections::BTreeSet<String> = self
            .roles_of(tenant, RoleHolder::User(user))
            .await?
            .into_iter()
            .collect();
        for group in self.groups_of(tenant, user).await? {
            ids.extend(self.roles_of(tenant, RoleHolder::Group(&group)).await?);
        }
        let mut roles = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(role) = self.role(tenant, &id).await? {
                roles.push(role);
            }
        }
        Ok(roles)
    }
}

/// TOTP credentials and recovery codes, by user id (ids are globally unique).
#[async_trait]
pub trait MfaRepository: Send + Sync + 'static {
    /// The user's TOTP credential.
    async fn totp(&self, user: &str) -> RepoResult<Option<TotpCredential>>;
    /// Store an unconfirmed credential, replacing an unconfirmed one; `false` (nothing
    /// stored) when a confirmed one exists.
    async fn put_pending_totp(&self, user: &str, credential: &TotpCredential) -> RepoResult<bool>;
    /// Confirm the pending credential, accepting `step` as used; atomic; `false` when there
    /// is none pending.
    async fn confirm_totp(&self, user: &str, step: i64) -> RepoResult<bool>;
    /// Record `step` as used when it is newer than the last used one; atomic: of two
    /// concurrent calls with one step, exactly one gets `true`.
    async fn use_totp_step(&self, user: &str, step: i64) -> RepoResult<bool>;
    /// Replace the stored secret `from` by `to` (a re-seal); compare-and-set: `false`, and
    /// nothing written, when the stored secret is no longer `from`.
    async fn reseal_totp(&self, user: &str, from: &SecretText, to: &SecretText)
        -> RepoResult<bool>;
    /// Delete the TOTP credential and the recovery codes; `false` when there was none.
    async fn delete_mfa(&self, user: &str) -> RepoResult<bool>;
    /// Replace the user's recovery codes (SHA-256 hex of each).
    async fn replace_recovery_codes(&self, user: &str, hashes: &[String]) -> RepoResult<()>;
    /// Mark one unused code as used; atomic: of two concurrent calls, exactly one gets `true`.
    async fn redeem_recovery_code(&self, user: &str, hash: &str, now: i64) -> RepoResult<bool>;
}

/// Refresh families and tokens (stored by SHA-256).
#[async_trait]
pub trait RefreshRepository: Send + Sync + 'static {
    /// Create a family with its first token (generation 0).
    async fn create_family(&self, family: &RefreshFamily, token_hash: &str) -> RepoResult<()>;
    /// One family.
    async fn family(&self, id: &str) -> RepoResult<Option<RefreshFamily>>;
    /// Spend a token and record its successor (generation + 1); atomic: of two concurrent
    /// calls exactly one gets [`SpendOutcome::Spent`].
    async fn spend_token(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> RepoResult<SpendOutcome>;
    /// [`Self::spend_token`], and the token's family, and whether its tenant and user may
    /// still refresh: what one refresh reads. The default makes the two calls and leaves
    /// `holder_active` unread; a store that can answer in one round trip (SQL: one statement
    /// joining the family, the user and the tenant) should, as the refresh path is the
    /// service's hottest.
    async fn spend_token_with_family(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> RepoResult<SpentToken> {
        let outcome = self.spend_token(token_hash, successor_hash, now).await?;
        let family = match &outcome {
            SpendOutcome::Unknown => None,
            SpendOutcome::Spent(r) | SpendOutcome::AlreadySpent(r) => {
                self.family(&r.family_id).await?
            }
        };
        Ok(SpentToken {
            outcome,
            family,
            holder_active: None,
        })
    }
    /// One token's record, without changing anything.
    async fn token(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>>;
    /// Revoke a family (idempotent); `false` when there is no such family.
    async fn revoke_family(&self, id: &str, now: i64) -> RepoResult<bool>;
    /// Revoke every family of a user; returns how many were not revoked yet.
    async fn revoke_user_families(&self, tenant: &str, user: &str, now: i64) -> RepoResult<u64>;
}

/// Short-lived MFA challenges, by the SHA-256 of their token. In process by default
/// ([`crate::memory::MemoryChallenges`]); shared through Redis in iam-store.
#[async_trait]
pub trait ChallengeStore: Send + Sync + 'static {
    /// Store (or put back) a challenge until its `expires_at` (`now` by the caller's clock).
    async fn put(&self, id_hash: &str, challenge: &MfaChallenge, now: i64) -> RepoResult<()>;
    /// Remove and return the live challenge; atomic: of two concurrent calls one gets it.
    async fn take(&self, id_hash: &str, now: i64) -> RepoResult<Option<MfaChallenge>>;
}

/// The storage an [`crate::Identity`] works on.
#[derive(Clone)]
pub struct Repositories {
    /// Tenants.
    pub tenants: Arc<dyn TenantRepository>,
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Groups and roles.
    pub access: Arc<dyn AccessRepository>,
    /// TOTP and recovery codes.
    pub mfa: Arc<dyn MfaRepository>,
    /// Refresh families.
    pub refresh: Arc<dyn RefreshRepository>,
    /// MFA challenges.
    pub challenges: Arc<dyn ChallengeStore>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories").finish_non_exhaustive()
    }
}

impl Repositories {
    /// All from one value implementing every repository, with `challenges` apart.
    pub fn from_store<S>(store: Arc<S>, challenges: Arc<dyn ChallengeStore>) -> Self
    where
        S: TenantRepository + UserRepository + AccessRepository + MfaRepository + RefreshRepository,
    {
        Self {
            tenants: store.clone(),
            users: store.clone(),
            access: store.clone(),
            mfa: store.clone(),
            refresh: store,
            challenges,
        }
    }
}
