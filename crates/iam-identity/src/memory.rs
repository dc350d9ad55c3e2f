//! In-memory repositories: for tests, examples and single-process embedding.
//!
//! Everything is lost at exit. One mutex guards the whole state, so every method is atomic.
use crate::error::RepositoryError;
use crate::fold;
use crate::model::{
    Group, MfaChallenge, PasswordHash, RefreshFamily, RefreshTokenRecord, Role, RoleHolder,
    SecretText, SpendOutcome, Tenant, TotpCredential, User,
};
use crate::repository::{
    AccessRepository, ChallengeStore, MfaRepository, RefreshRepository, RepoResult,
    TenantRepository, UserRepository,
};
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

#[async_trait]
impl AccessRepository for MemoryRepositories {
    async fn create_group(&self, group: &Group) -> RepoResult<()> {
        let mut s = self.lock();
        if s.groups
            .values()
            .any(|g| g.tenant == group.tenant && g.name == group.name)
        {
            return Err(RepositoryError::Conflict);
        }
        s.groups.insert(group.id.clone(), group.clone());
        Ok(())
    }

    async fn group(&self, tenant: &str, id: &str) -> RepoResult<Option<Group>> {
        Ok(self
            .lock()
            .groups
            .get(id)
            .filter(|g| g.tenant == tenant)
            .cloned())
    }

    async fn list_groups(&self, tenant: &str) -> RepoResult<Vec<Group>> {
        let mut out: Vec<Group> = self
            .lock()
            .groups
            .values()
            .filter(|g| g.tenant == tenant)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete_group(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        let mut s = self.lock();
        if s.groups.get(id).is_none_or(|g| g.tenant != tenant) {
            return Ok(false);
        }
        s.groups.remove(id);
        s.members.retain(|(g, _)| g != id);
        s.group_roles.retain(|(g, _)| g != id);
        Ok(true)
    }

    async fn add_member(&self, _tenant: &str, group: &str, user: &str) -> RepoResult<()> {
        self.lock()
            .members
            .insert((group.to_owned(), user.to_owned()));
        Ok(())
    }

    async fn remove_member(&self, _tenant: &str, group: &str, user: &str) -> RepoResult<bool> {
        Ok(self
            .lock()
            .members
            .remove(&(group.to_owned(), user.to_owned())))
    }

    async fn members(&self, tenant: &str, group: &str) -> RepoResult<Vec<String>> {
        let s = self.lock();
        if s.groups.get(group).is_none_or(|g| g.tenant != tenant) {
            return Ok(Vec::new());
        }
        Ok(s.members
            .iter()
            .filter(|(g, _)| g == group)
            .map(|(_, u)| u.clone())
            .collect())
    }

    async fn groups_of(&self, tenant: &str, user: &str) -> RepoResult<Vec<String>> {
        let s = self.lock();
        Ok(s.members
            .iter()
            .filter(|(g, u)| u == user && s.groups.get(g).is_some_and(|g| g.tenant == tenant))
            .map(|(g, _)| g.clone())
            .collect())
    }

    async fn create_role(&self, role: &Role) -> RepoResult<()> {
        let mut s = self.lock();
        if s.roles
            .values()
            .any(|r| r.tenant == role.tenant && r.name == role.name)
        {
            return Err(RepositoryError::Conflict);
        }
        s.roles.insert(role.id.clone(), role.clone());
        Ok(())
    }

    async fn role(&self, tenant: &str, id: &str) -> RepoResult<Option<Role>> {
        Ok(self
            .lock()
            .roles
            .get(id)
            .filter(|r| r.tenant == tenant)
            .cloned())
    }

    async fn role_by_name(&self, tenant: &str, name: &str) -> RepoResult<Option<Role>> {
        Ok(self
            .lock()
            .roles
            .values()
            .find(|r| r.tenant == tenant && r.name == name)
            .cloned())
    }

    async fn list_roles(&self, tenant: &str) -> RepoResult<Vec<Role>> {
        let mut out: Vec<Role> = self
            .lock()
            .roles
            .values()
            .filter(|r| r.tenant == tenant)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn set_role_permissions(
        &self,
        tenant: &str,
        id: &str,
        permissions: &[String],
    ) -> RepoResult<bool> {
        Ok(
            match self.lock().roles.get_mut(id).filter(|r| r.tenant == tenant) {
                Some(r) => {
                    r.permissions = permissions.to_vec();
                    true
                }
                None => false,
            },
        )
    }

    async fn delete_role(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        let mut s = self.lock();
        if s.roles.get(id).is_none_or(|r| r.tenant != tenant) {
            return Ok(false);
        }
        s.roles.remove(id);
        s.user_roles.retain(|(_, r)| r != id);
        s.group_roles.retain(|(_, r)| r != id);
        Ok(true)
    }

    async fn assign_role(
        &self,
        _tenant: &str,
        holder: RoleHolder<'_>,
        role: &str,
    ) -> RepoResult<()> {
        let mut s = self.lock();
        match holder {
            RoleHolder::User(u) => s.user_roles.insert((u.to_owned(), role.to_owned())),
            RoleHolder::Group(g) => s.group_roles.insert((g.to_owned(), role.to_owned())),
        };
        Ok(())
    }

    async fn unassign_role(
        &self,
        _tenant: &str,
        holder: RoleHolder<'_>,
        role: &str,
    ) -> RepoResult<bool> {
        let mut s = self.lock();
        Ok(match holder {
            RoleHolder::User(u) => s.user_roles.remove(&(u.to_owned(), role.to_owned())),
            RoleHolder::Group(g) => s.group_roles.remove(&(g.to_owned(), role.to_owned())),
        })
    }

    async fn roles_of(&self, tenant: &str, holder: RoleHolder<'_>) -> RepoResult<Vec<String>> {
        let s = self.lock();
        let (set, key) = match holder {
            RoleHolder::User(u) => (&s.user_roles, u),
            RoleHolder::Group(g) => (&s.group_roles, g),
        };
        Ok(set
            .iter()
            .filter(|(h, r)| h == key && s.roles.get(r).is_some_and(|r| r.tenant == tenant))
            .map(|(_, r)| r.clone())
            .collect())
    }
}

#[async_trait]
impl MfaRepository for MemoryRepositories {
    async fn totp(&self, user: &str) -> RepoResult<Option<TotpCredential>> {
        Ok(self.lock().totp.get(user).cloned())
    }

    async fn put_pending_totp(&self, user: &str, credential: &TotpCredential) -> RepoResult<bool> {
        let mut s = self.lock();
        if s.totp.get(user).is_some_and(|t| t.confirmed) {
            return Ok(false);
        }
        let mut c = credential.clone();
        c.confirmed = false;
        s.totp.insert(user.to_owned(), c);
        Ok(true)
    }

    async fn confirm_totp(&self, user: &str, step: i64) -> RepoResult<bool> {
        Ok(match self.lock().totp.get_mut(user) {
            Some(t) if !t.confirmed => {
                t.confirmed = true;
                t.last_step = step;
                true
            }
            _ => false,
        })
    }

    async fn use_totp_step(&self, user: &str, step: i64) -> RepoResult<bool> {
        Ok(match self.lock().totp.get_mut(user) {
            Some(t) if t.confirmed && t.last_step < step => {
                t.last_step = step;
                true
            }
            _ => false,
        })
    }

    async fn reseal_totp(
        &self,
        user: &str,
        from: &SecretText,
        to: &SecretText,
    ) -> RepoResult<bool> {
        Ok(match self.lock().totp.get_mut(user) {
            Some(t) if t.stored_secret.secret() == from.secret() => {
                t.stored_secret = to.clone();
                true
            }
            _ => false,
        })
    }

    async fn delete_mfa(&self, user: &str) -> RepoResult<bool> {
        let mut s = self.lock();
        s.recovery.remove(user);
        Ok(s.totp.remove(user).is_some())
    }

    async fn replace_recovery_codes(&self, user: &str, hashes: &[String]) -> RepoResult<()> {
        self.lock().recovery.insert(
            user.to_owned(),
            hashes.iter().map(|h| (h.clone(), None)).collect(),
        );
        Ok(())
    }

    async fn redeem_recovery_code(&self, user: &str, hash: &str, now: i64) -> RepoResult<bool> {
        let mut s = self.lock();
        Ok(
            match s
                .recovery
                .get_mut(user)
                .and_then(|codes| codes.get_mut(hash))
            {
                Some(used @ None) => {
                    *used = Some(now);
                    true
                }
                _ => false,
            },
        )
    }
}

#[async_trait]
impl RefreshRepository for MemoryRepositories {
    async fn create_family(&self, family: &RefreshFamily, token_hash: &str) -> RepoResult<()> {
        let mut s = self.lock();
        s.families.insert(family.id.clone(), family.clone());
        s.tokens.insert(
            token_hash.to_owned(),
            RefreshTokenRecord {
                family_id: family.id.clone(),
                generation: 0,
                spent_at: None,
            },
        );
        Ok(())
    }

    async fn family(&self, id: &str) -> RepoResult<Option<RefreshFamily>> {
        Ok(self.lock().families.get(id).cloned())
    }

    async fn spend_token(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> RepoResult<SpendOutcome> {
        let mut s = self.lock();
        let Some(record) = s.tokens.get_mut(token_hash) else {
            return Ok(SpendOutcome::Unknown);
        };
        if record.spent_at.is_some() {
            return Ok(SpendOutcome::AlreadySpent(record.clone()));
        }
        record.spent_at = Some(now);
        let spent = record.clone();
        s.tokens.insert(
            successor_hash.to_owned(),
            RefreshTokenRecord {
                family_id: spent.family_id.clone(),
                generation: spent.generation + 1,
                spent_at: None,
            },
        );
        Ok(SpendOutcome::Spent(spent))
    }

    async fn token(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>> {
        Ok(self.lock().tokens.get(token_hash).cloned())
    }

    async fn revoke_family(&self, id: &str, now: i64) -> RepoResult<bool> {
        Ok(match self.lock().families.get_mut(id) {
            Some(f) => {
                f.revoked_at.get_or_insert(now);
                true
            }
            None => false,
        })
    }

    async fn revoke_user_families(&self, tenant: &str, user: &str, now: i64) -> RepoResult<u64> {
        let mut n = 0;
        for f in self.lock().families.values_mut() {
            if f.tenant == tenant && f.user_id == user && f.revoked_at.is_none() {
                f.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }
}

/// MFA challenges in process, bounded: at most `capacity` live ones (expired ones are
/// dropped first; when all are live the oldest goes).
#[derive(Debug)]
pub struct MemoryChallenges {
    map: Mutex<HashMap<String, MfaChallenge>>,
    capacity: usize,
}

impl MemoryChallenges {
    /// At most `capacity` live challenges (default 100,000).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, MfaChallenge>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryChallenges {
    fn default() -> Self {
        Self::new(100_000)
    }
}

#[async_trait]
impl ChallengeStore for MemoryChallenges {
    async fn put(&self, id_hash: &str, challenge: &MfaChallenge, now: i64) -> RepoResult<()> {
        let mut m = self.lock();
        if m.len() >= self.capacity {
            m.retain(|_, c| c.expires_at > now);
            if m.len() >= self.capacity {
                if let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, c)| c.expires_at)
                    .map(|(k, _)| k.clone())
                {
                    m.remove(&oldest);
                }
            }
        }
        m.insert(id_hash.to_owned(), challenge.clone());
        Ok(())
    }

    async fn take(&self, id_hash: &str, now: i64) -> RepoResult<Option<MfaChallenge>> {
        Ok(self.lock().remove(id_hash).filter(|c| c.expires_at > now))
    }
}
