//! In-memory repositories: for tests, examples and single-process embedding.
//!
//! Everything is lost at exit. One mutex guards the whole state, so every method is atomic.
use crate::error::RepositoryError;
use crate::fold;
use crate::model::{
    Group, PasswordHash, RefreshFamily, RefreshTokenRecord, Role, Tenant, TotpCredential, User,
};
use crate::repository::{RepoResult, TenantRepository, UserRepository};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct State {
    tenants: BTreeMap<String, Tenant>,
    users: BTreeMap<String, User>,
    passwords: HashMap<String, PasswordHash>,
    groups: BTreeMap<String, Group>,
    members: BTreeSet<(String, String)>,
    roles: BTreeMap<String, Role>,
    user_roles: BTreeSet<(String, String)>,
    group_roles: BTreeSet<(String, String)>,
    totp: HashMap<String, TotpCredential>,
    recovery: HashMap<String, HashMap<String, Option<i64>>>,
    families: HashMap<String, RefreshFamily>,
    tokens: HashMap<String, RefreshTokenRecord>,
}

/// Every repository of [`crate::repository`], in memory.
#[derive(Default)]
pub struct MemoryRepositories {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryRepositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRepositories").finish_non_exhaustive()
    }
}

impl MemoryRepositories {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written entry (each method
        // writes after its checks), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn login_keys(user: &User) -> Vec<String> {
    let mut keys = vec![fold(&user.username)];
    if let Some(e) = &user.email {
        keys.push(fold(e));
    }
    keys
}

fn page<T: Clone>(
    items: impl Iterator<Item = (String, T)>,
    after: Option<&str>,
    limit: usize,
) -> Vec<T> {
    items
        .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
        .take(limit)
        .map(|(_, v)| v)
        .collect()
}

mod access;
mod challenges;
mod credentials;

pub use challenges::MemoryChallenges;

#[async_trait]
impl TenantRepository for MemoryRepositories {
    async fn create_tenant(&self, tenant: &Tenant) -> RepoResult<()> {
        let mut s = self.lock();
        if s.tenants.contains_key(&tenant.id) {
            return Err(RepositoryError::Conflict);
        }
        s.tenants.insert(tenant.id.clone(), tenant.clone());
        Ok(())
    }

    async fn tenant(&self, id: &str) -> RepoResult<Option<Tenant>> {
        Ok(self.lock().tenants.get(id).cloned())
    }

    async fn list_tenants(&self, after: Option<&str>, limit: usize) -> RepoResult<Vec<Tenant>> {
        let s = self.lock();
        Ok(page(
            s.tenants.iter().map(|(k, v)| (k.clone(), v.clone())),
            after,
            limit,
        ))
    }

    async fn set_tenant_suspended(&self, id: &str, suspended: bool) -> RepoResult<bool> {
        Ok(match self.lock().tenants.get_mut(id) {
            Some(t) => {
                t.suspended = suspended;
                true
            }
            None => false,
        })
    }
}

#[async_trait]
impl UserRepository for MemoryRepositories {
    async fn create_user(&self, user: &User, password: Option<&PasswordHash>) -> RepoResult<()> {
        let mut s = self.lock();
        let keys = login_keys(user);
        let taken = s
            .users
            .values()
            .any(|u| u.tenant == user.tenant && login_keys(u).iter().any(|k| keys.contains(k)));
        if taken || s.users.contains_key(&user.id) {
            return Err(RepositoryError::Conflict);
        }
        s.users.insert(user.id.clone(), user.clone());
        if let Some(p) = password {
            s.passwords.insert(user.id.clone(), p.clone());
        }
        Ok(())
    }

    async fn user(&self, tenant: &str, id: &str) -> RepoResult<Option<User>> {
        Ok(self
            .lock()
            .users
            .get(id)
            .filter(|u| u.tenant == tenant)
            .cloned())
    }

    async fn user_by_login(&self, tenant: &str, folded_login: &str) -> RepoResult<Option<User>> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.tenant == tenant && login_keys(u).iter().any(|k| k == folded_login))
            .cloned())
    }

    async fn list_users(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> RepoResult<Vec<User>> {
        let s = self.lock();
        Ok(page(
            s.users
                .iter()
                .filter(|(_, u)| u.tenant == tenant)
                .map(|(k, v)| (k.clone(), v.clone())),
            after,
            limit,
        ))
    }

    async fn set_user_disabled(&self, tenant: &str, id: &str, disabled: bool) -> RepoResult<bool> {
        Ok(
            match self.lock().users.get_mut(id).filter(|u| u.tenant == tenant) {
                Some(u) => {
                    u.disabled = disabled;
                    true
                }
                None => false,
            },
        )
    }

    async fn delete_user(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        let mut s = self.lock();
        if s.users.get(id).is_none_or(|u| u.tenant != tenant) {
            return Ok(false);
        }
        s.users.remove(id);
        s.passwords.remove(id);
        s.members.retain(|(_, u)| u != id);
        s.user_roles.retain(|(u, _)| u != id);
        s.totp.remove(id);
        s.recovery.remove(id);
        let families: Vec<String> = s
            .families
            .values()
            .filter(|f| f.user_id == id)
            .map(|f| f.id.clone())
            .collect();
        s.families.retain(|_, f| f.user_id != id);
        s.tokens.retain(|_, t| !families.contains(&t.family_id));
        Ok(true)
    }

    async fn password_hash(&self, tenant: &str, id: &str) -> RepoResult<Option<PasswordHash>> {
        let s = self.lock();
        if s.users.get(id).is_none_or(|u| u.tenant != tenant) {
            return Ok(None);
        }
        Ok(s.passwords.get(id).cloned())
    }

    async fn set_password_hash(
        &self,
        tenant: &str,
        id: &str,
        hash: &PasswordHash,
    ) -> RepoResult<bool> {
        let mut s = self.lock();
        if s.users.get(id).is_none_or(|u| u.tenant != tenant) {
            return Ok(false);
        }
        s.passwords.insert(id.to_owned(), hash.clone());
        Ok(true)
    }
}
