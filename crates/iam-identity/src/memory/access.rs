//! Roles, groups and assignments in memory.
use super::*;
use crate::error::RepositoryError;
use crate::model::{Group, Role, RoleHolder};
use crate::repository::{AccessRepository, RepoResult};
use async_trait::async_trait;

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
