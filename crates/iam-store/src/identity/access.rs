//! Groups, roles, memberships and role assignments.
use super::statement::args;
use super::{join_list, split_list, text, SqlIdentityStore};
use async_trait::async_trait;
use iam_identity::model::{Group, Role, RoleHolder};
use iam_identity::repository::{AccessRepository, RepoResult};
use iam_identity::RepositoryError;
use sqlx::any::AnyRow;

fn group_of(row: &AnyRow) -> RepoResult<Group> {
    Ok(Group {
        id: text(row, "id")?,
        tenant: text(row, "tenant")?,
        name: text(row, "name")?,
    })
}

fn role_of(row: &AnyRow) -> RepoResult<Role> {
    Ok(Role {
        id: text(row, "id")?,
        tenant: text(row, "tenant")?,
        name: text(row, "name")?,
        permissions: split_list(&text(row, "permissions")?),
    })
}

fn holder_key<'a>(holder: RoleHolder<'a>) -> (&'static str, &'a str) {
    match holder {
        RoleHolder::User(id) => ("u", id),
        RoleHolder::Group(id) => ("g", id),
    }
}

/// An insert that may already have been done.
fn idempotent(result: Result<(), RepositoryError>) -> RepoResult<()> {
    match result {
        Err(RepositoryError::Conflict) => Ok(()),
        other => other,
    }
}

#[async_trait]
impl AccessRepository for SqlIdentityStore {
    async fn create_group(&self, g: &Group) -> RepoResult<()> {
        self.execute(
            "INSERT INTO iam_groups (id, tenant, name) VALUES (?, ?, ?)",
            args![&g.id, &g.tenant, &g.name],
        )
        .await
        .map(drop)
    }

    async fn group(&self, tenant: &str, id: &str) -> RepoResult<Option<Group>> {
        self.fetch_optional(
            "SELECT id, tenant, name FROM iam_groups WHERE tenant = ? AND id = ?",
            args![tenant, id],
            group_of,
        )
        .await
    }

    async fn list_groups(&self, tenant: &str) -> RepoResult<Vec<Group>> {
        self.fetch_all(
            "SELECT id, tenant, name FROM iam_groups WHERE tenant = ? ORDER BY name",
            args![tenant],
            group_of,
        )
        .await
    }

    async fn delete_group(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        if self
            .execute(
                "DELETE FROM iam_groups WHERE tenant = ? AND id = ?",
                args![tenant, id],
            )
            .await?
            == 0
        {
            return Ok(false);
        }
        self.execute(
            "DELETE FROM iam_group_members WHERE group_id = ?",
            args![id],
        )
        .await?;
        self.execute(
            "DELETE FROM iam_role_assignments WHERE holder_kind = 'g' AND holder_id = ?",
            args![id],
        )
        .await?;
        Ok(true)
    }

    async fn add_member(&self, tenant: &str, group: &str, user: &str) -> RepoResult<()> {
        idempotent(
            self.execute(
                "INSERT INTO iam_group_members (group_id, user_id, tenant) VALUES (?, ?, ?)",
                args![group, user, tenant],
            )
            .await
            .map(drop),
        )
    }

    async fn remove_member(&self, tenant: &str, group: &str, user: &str) -> RepoResult<bool> {
        Ok(self
            .execute(
                "DELETE FROM iam_group_members WHERE tenant = ? AND group_id = ? AND user_id = ?",
                args![tenant, group, user],
            )
            .await?
            > 0)
    }

    async fn members(&self, tenant: &str, group: &str) -> RepoResult<Vec<String>> {
        self.ids(
            "SELECT user_id AS id FROM iam_group_members WHERE tenant = ? AND group_id = ? ORDER BY user_id",
            args![tenant, group],
        )
        .await
    }

    async fn groups_of(&self, tenant: &str, user: &str) -> RepoResult<Vec<String>> {
        self.ids(
            "SELECT group_id AS id FROM iam_group_members WHERE tenant = ? AND user_id = ? ORDER BY group_id",
            args![tenant, user],
        )
        .await
    }

    async fn create_role(&self, r: &Role) -> RepoResult<()> {
        self.execute(
            "INSERT INTO iam_roles (id, tenant, name, permissions) VALUES (?, ?, ?, ?)",
            args![&r.id, &r.tenant, &r.name, &join_list(&r.permissions)],
        )
        .await
        .map(drop)
    }

    async fn role(&self, tenant: &str, id: &str) -> RepoResult<Option<Role>> {
        self.fetch_optional(
            "SELECT id, tenant, name, permissions FROM iam_roles WHERE tenant = ? AND id = ?",
            args![tenant, id],
            role_of,
        )
        .await
    }

    async fn role_by_name(&self, tenant: &str, name: &str) -> RepoResult<Option<Role>> {
        self.fetch_optional(
            "SELECT id, tenant, name, permissions FROM iam_roles WHERE tenant = ? AND name = ?",
            args![tenant, name],
            role_of,
        )
        .await
    }

    async fn list_roles(&self, tenant: &str) -> RepoResult<Vec<Role>> {
        self.fetch_all(
            "SELECT id, tenant, name, permissions FROM iam_roles WHERE tenant = ? ORDER BY name",
            args![tenant],
            role_of,
        )
        .await
    }

    async fn set_role_permissions(
        &self,
        tenant: &str,
        id: &str,
        permissions: &[String],
    ) -> RepoResult<bool> {
        self.execute(
            "UPDATE iam_roles SET permissions = ? WHERE tenant = ? AND id = ?",
            args![&join_list(permissions), tenant, id],
        )
        .await?;
        self.exists(
            "SELECT id FROM iam_roles WHERE tenant = ? AND id = ?",
            args![tenant, id],
        )
        .await
    }

    async fn delete_role(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        if self
            .execute(
                "DELETE FROM iam_roles WHERE tenant = ? AND id = ?",
                args![tenant, id],
            )
            .await?
            == 0
        {
            return Ok(false);
        }
        self.execute(
            "DELETE FROM iam_role_assignments WHERE role_id = ?",
            args![id],
        )
        .await?;
        Ok(true)
    }

    async fn assign_role(
        &self,
        tenant: &str,
        holder: RoleHolder<'_>,
        role: &str,
    ) -> RepoResult<()> {
        let (kind, id) = holder_key(holder);
        idempotent(
            self.execute(
                "INSERT INTO iam_role_assignments (holder_kind, holder_id, role_id, tenant) VALUES (?, ?, ?, ?)",
                args![kind, id, role, tenant],
            )
            .await
            .map(drop),
        )
    }

    async fn unassign_role(
        &self,
        tenant: &str,
        holder: RoleHolder<'_>,
        role: &str,
    ) -> RepoResult<bool> {
        let (kind, id) = holder_key(holder);
        Ok(self
            .execute(
                "DELETE FROM iam_role_assignments WHERE tenant = ? AND holder_kind = ? AND holder_id = ? AND role_id = ?",
                args![tenant, kind, id, role],
            )
            .await?
            > 0)
    }

    async fn effective_roles(&self, tenant: &str, user: &str) -> RepoResult<Vec<Role>> {
        self.fetch_all(
            "SELECT r.id AS id, r.tenant AS tenant, r.name AS name, r.permissions AS permissions \
             FROM iam_roles r WHERE r.tenant = ? AND r.id IN ( \
             SELECT a.role_id FROM iam_role_assignments a \
             WHERE a.tenant = ? AND a.holder_kind = 'u' AND a.holder_id = ? \
             UNION SELECT a.role_id FROM iam_role_assignments a \
             JOIN iam_group_members m ON a.holder_kind = 'g' AND a.holder_id = m.group_id \
             WHERE m.tenant = ? AND m.user_id = ? AND a.tenant = ?)",
            args![tenant, tenant, user, tenant, user, tenant],
            role_of,
        )
        .await
    }

    async fn roles_of(&self, tenant: &str, holder: RoleHolder<'_>) -> RepoResult<Vec<String>> {
        let (kind, id) = holder_key(holder);
        self.ids(
            "SELECT role_id AS id FROM iam_role_assignments WHERE tenant = ? AND holder_kind = ? AND holder_id = ? ORDER BY role_id",
            args![tenant, kind, id],
        )
        .await
    }
}
