//! Tenants and users.
use super::statement::args;
use super::{int, opt_text, repo_err, text, SqlIdentityStore};
use crate::database::retry_contended;
use async_trait::async_trait;
use iam_identity::fold;
use iam_identity::model::{LoginCredential, PasswordHash, Tenant, User};
use iam_identity::repository::{RepoResult, TenantRepository, UserRepository};
use sqlx::any::AnyRow;

fn tenant_of(row: &AnyRow) -> RepoResult<Tenant> {
    Ok(Tenant {
        id: text(row, "id")?,
        display_name: text(row, "display_name")?,
        suspended: int(row, "suspended")? != 0,
        created_at: int(row, "created_at")?,
    })
}

fn user_of(row: &AnyRow) -> RepoResult<User> {
    Ok(User {
        id: text(row, "id")?,
        tenant: text(row, "tenant")?,
        username: text(row, "username")?,
        email: opt_text(row, "email")?,
        disabled: int(row, "disabled")? != 0,
        created_at: int(row, "created_at")?,
    })
}

const USER_COLUMNS: &str = "id, tenant, username, email, disabled, created_at";

#[async_trait]
impl TenantRepository for SqlIdentityStore {
    async fn create_tenant(&self, t: &Tenant) -> RepoResult<()> {
        self.execute(
            "INSERT INTO iam_tenants (id, display_name, suspended, created_at) VALUES (?, ?, ?, ?)",
            args![&t.id, &t.display_name, t.suspended, t.created_at],
        )
        .await
        .map(drop)
    }

    async fn tenant(&self, id: &str) -> RepoResult<Option<Tenant>> {
        self.fetch_optional(
            "SELECT id, display_name, suspended, created_at FROM iam_tenants WHERE id = ?",
            args![id],
            tenant_of,
        )
        .await
    }

    async fn list_tenants(&self, after: Option<&str>, limit: usize) -> RepoResult<Vec<Tenant>> {
        self.fetch_all(
            "SELECT id, display_name, suspended, created_at FROM iam_tenants WHERE id > ? ORDER BY id LIMIT ?",
            args![after.unwrap_or(""), limit as i64],
            tenant_of,
        )
        .await
    }

    async fn set_tenant_suspended(&self, id: &str, suspended: bool) -> RepoResult<bool> {
        self.execute(
            "UPDATE iam_tenants SET suspended = ? WHERE id = ?",
            args![suspended, id],
        )
        .await?;
        self.exists("SELECT id FROM iam_tenants WHERE id = ?", args![id])
            .await
    }
}

#[async_trait]
impl UserRepository for SqlIdentityStore {
    async fn create_user(&self, u: &User, password: Option<&PasswordHash>) -> RepoResult<()> {
        retry_contended(|| async move {
            let mut logins = vec![fold(&u.username)];
            if let Some(e) = &u.email {
                let e = fold(e);
                if !logins.contains(&e) {
                    logins.push(e);
                }
            }
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            self.execute_in(
                &mut tx,
                &format!("INSERT INTO iam_users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
                args![
                    &u.id,
                    &u.tenant,
                    &u.username,
                    u.email.as_deref(),
                    u.disabled,
                    u.created_at
                ],
            )
            .await?;
            for login in &logins {
                self.execute_in(
                    &mut tx,
                    "INSERT INTO iam_user_logins (tenant, login, user_id) VALUES (?, ?, ?)",
                    args![&u.tenant, login, &u.id],
                )
                .await?;
            }
            if let Some(p) = password {
                self.execute_in(
                    &mut tx,
                    "INSERT INTO iam_passwords (user_id, phc) VALUES (?, ?)",
                    args![&u.id, p.phc()],
                )
                .await?;
            }
            tx.commit().await.map_err(repo_err)
        })
        .await
    }

    async fn user(&self, tenant: &str, id: &str) -> RepoResult<Option<User>> {
        self.fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM iam_users WHERE tenant = ? AND id = ?"),
            args![tenant, id],
            user_of,
        )
        .await
    }

    async fn user_by_login(&self, tenant: &str, folded_login: &str) -> RepoResult<Option<User>> {
        let Some(id) = self
            .fetch_optional(
                "SELECT user_id FROM iam_user_logins WHERE tenant = ? AND login = ?",
                args![tenant, folded_login],
                |row| text(row, "user_id"),
            )
            .await?
        else {
            return Ok(None);
        };
        self.user(tenant, &id).await
    }

    async fn login_credential(
        &self,
        tenant: &str,
        folded_login: &str,
    ) -> RepoResult<Option<LoginCredential>> {
        self.fetch_optional(
            "SELECT u.id AS id, u.tenant AS tenant, u.username AS username, u.email AS email, \
             u.disabled AS disabled, u.created_at AS created_at, p.phc AS phc \
             FROM iam_user_logins l JOIN iam_users u ON u.id = l.user_id AND u.tenant = l.tenant \
             LEFT JOIN iam_passwords p ON p.user_id = u.id \
             WHERE l.tenant = ? AND l.login = ?",
            args![tenant, folded_login],
            |r| {
                Ok(LoginCredential {
                    user: user_of(r)?,
                    password: opt_text(r, "phc")?.map(PasswordHash::new),
                })
            },
        )
        .await
    }

    async fn list_users(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> RepoResult<Vec<User>> {
        self.fetch_all(
            &format!(
                "SELECT {USER_COLUMNS} FROM iam_users WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?"
            ),
            args![tenant, after.unwrap_or(""), limit as i64],
            user_of,
        )
        .await
    }

    async fn set_user_disabled(&self, tenant: &str, id: &str, disabled: bool) -> RepoResult<bool> {
        self.execute(
            "UPDATE iam_users SET disabled = ? WHERE tenant = ? AND id = ?",
            args![disabled, tenant, id],
        )
        .await?;
        self.exists(
            "SELECT id FROM iam_users WHERE tenant = ? AND id = ?",
            args![tenant, id],
        )
        .await
    }

    async fn delete_user(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            let deleted = self
                .execute_in(
                    &mut tx,
                    "DELETE FROM iam_users WHERE tenant = ? AND id = ?",
                    args![tenant, id],
                )
                .await?;
            if deleted == 0 {
                return Ok(false);
            }
            for sql in [
                "DELETE FROM iam_user_logins WHERE user_id = ?",
                "DELETE FROM iam_passwords WHERE user_id = ?",
                "DELETE FROM iam_group_members WHERE user_id = ?",
                "DELETE FROM iam_role_assignments WHERE holder_kind = 'u' AND holder_id = ?",
                "DELETE FROM iam_totp WHERE user_id = ?",
                "DELETE FROM iam_recovery_codes WHERE user_id = ?",
                "DELETE FROM iam_refresh_tokens WHERE family_id IN (SELECT id FROM iam_refresh_families WHERE user_id = ?)",
                "DELETE FROM iam_refresh_families WHERE user_id = ?",
            ] {
                self.execute_in(&mut tx, sql, args![id]).await?;
            }
            tx.commit().await.map_err(repo_err)?;
            Ok(true)
        })
        .await
    }

    async fn password_hash(&self, tenant: &str, id: &str) -> RepoResult<Option<PasswordHash>> {
        self.fetch_optional(
            "SELECT p.phc AS phc FROM iam_passwords p, iam_users u WHERE u.tenant = ? AND u.id = ? AND p.user_id = u.id",
            args![tenant, id],
            |row| text(row, "phc").map(PasswordHash::new),
        )
        .await
    }

    async fn set_password_hash(
        &self,
        tenant: &str,
        id: &str,
        hash: &PasswordHash,
    ) -> RepoResult<bool> {
        retry_contended(|| async move {
            if !self
                .exists(
                    "SELECT id FROM iam_users WHERE tenant = ? AND id = ?",
                    args![tenant, id],
                )
                .await?
            {
                return Ok(false);
            }
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            self.execute_in(
                &mut tx,
                "DELETE FROM iam_passwords WHERE user_id = ?",
                args![id],
            )
            .await?;
            self.execute_in(
                &mut tx,
                "INSERT INTO iam_passwords (user_id, phc) VALUES (?, ?)",
                args![id, hash.phc()],
            )
            .await?;
            tx.commit().await.map_err(repo_err)?;
            Ok(true)
        })
        .await
    }
}
