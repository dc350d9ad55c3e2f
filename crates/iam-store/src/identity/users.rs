//! Tenants and users.
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

impl SqlIdentityStore {
    /// Whether a row exists (MariaDB reports 0 affected rows for an UPDATE that changes
    /// nothing, so "found" cannot come from the row count there).
    pub(crate) async fn exists(&self, sql: &str, binds: &[&str]) -> RepoResult<bool> {
        let sql = self.db.sql(sql);
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(*b);
        }
        Ok(q.fetch_optional(self.db.pool())
            .await
            .map_err(repo_err)?
            .is_some())
    }
}

#[async_trait]
impl TenantRepository for SqlIdentityStore {
    async fn create_tenant(&self, t: &Tenant) -> RepoResult<()> {
        sqlx::query(&self.db.sql(
            "INSERT INTO iam_tenants (id, display_name, suspended, created_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(&t.id)
        .bind(&t.display_name)
        .bind(i64::from(t.suspended))
        .bind(t.created_at)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> RepoResult<Option<Tenant>> {
        sqlx::query(
            &self.db.sql(
                "SELECT id, display_name, suspended, created_at FROM iam_tenants WHERE id = ?",
            ),
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?
        .as_ref()
        .map(tenant_of)
        .transpose()
    }

    async fn list_tenants(&self, after: Option<&str>, limit: usize) -> RepoResult<Vec<Tenant>> {
        sqlx::query(&self.db.sql(
            "SELECT id, display_name, suspended, created_at FROM iam_tenants WHERE id > ? ORDER BY id LIMIT ?",
        ))
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await
        .map_err(repo_err)?
        .iter()
        .map(tenant_of)
        .collect()
    }

    async fn set_tenant_suspended(&self, id: &str, suspended: bool) -> RepoResult<bool> {
        sqlx::query(
            &self
                .db
                .sql("UPDATE iam_tenants SET suspended = ? WHERE id = ?"),
        )
        .bind(i64::from(suspended))
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?;
        self.exists("SELECT id FROM iam_tenants WHERE id = ?", &[id])
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
            sqlx::query(&self.db.sql(&format!(
                "INSERT INTO iam_users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            )))
            .bind(&u.id)
            .bind(&u.tenant)
            .bind(&u.username)
            .bind(u.email.as_deref())
            .bind(i64::from(u.disabled))
            .bind(u.created_at)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            for login in &logins {
                sqlx::query(
                    &self.db.sql(
                        "INSERT INTO iam_user_logins (tenant, login, user_id) VALUES (?, ?, ?)",
                    ),
                )
                .bind(&u.tenant)
                .bind(login)
                .bind(&u.id)
                .execute(&mut *tx)
                .await
                .map_err(repo_err)?;
            }
            if let Some(p) = password {
                sqlx::query(
                    &self
                        .db
                        .sql("INSERT INTO iam_passwords (user_id, phc) VALUES (?, ?)"),
                )
                .bind(&u.id)
                .bind(p.phc())
                .execute(&mut *tx)
                .await
                .map_err(repo_err)?;
            }
            tx.commit().await.map_err(repo_err)
        })
        .await
    }

    async fn user(&self, tenant: &str, id: &str) -> RepoResult<Option<User>> {
        sqlx::query(&self.db.sql(&format!(
            "SELECT {USER_COLUMNS} FROM iam_users WHERE tenant = ? AND id = ?"
        )))
        .bind(tenant)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?
        .as_ref()
        .map(user_of)
        .transpose()
    }

    async fn user_by_login(&self, tenant: &str, folded_login: &str) -> RepoResult<Option<User>> {
        let Some(row) = sqlx::query(
            &self
                .db
                .sql("SELECT user_id FROM iam_user_logins WHERE tenant = ? AND login = ?"),
        )
        .bind(tenant)
        .bind(folded_login)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?
        else {
            return Ok(None);
        };
        self.user(tenant, &text(&row, "user_id")?).await
    }

    async fn login_credential(
        &self,
        tenant: &str,
        folded_login: &str,
    ) -> RepoResult<Option<LoginCredential>> {
        let row = sqlx::query(&self.db.sql(
            "SELECT u.id AS id, u.tenant AS tenant, u.username AS username, u.email AS email, \
             u.disabled AS disabled, u.created_at AS created_at, p.phc AS phc \
             FROM iam_user_logins l JOIN iam_users u ON u.id = l.user_id AND u.tenant = l.tenant \
             LEFT JOIN iam_passwords p ON p.user_id = u.id \
             WHERE l.tenant = ? AND l.login = ?",
        ))
        .bind(tenant)
        .bind(folded_login)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?;
        row.map(|r| {
            Ok(LoginCredential {
                user: user_of(&r)?,
                password: opt_text(&r, "phc")?.map(PasswordHash::new),
            })
        })
        .transpose()
    }

    async fn list_users(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> RepoResult<Vec<User>> {
        sqlx::query(&self.db.sql(&format!(
            "SELECT {USER_COLUMNS} FROM iam_users WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?"
        )))
        .bind(tenant)
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await
        .map_err(repo_err)?
        .iter()
        .map(user_of)
        .collect()
    }

    async fn set_user_disabled(&self, tenant: &str, id: &str, disabled: bool) -> RepoResult<bool> {
        sqlx::query(
            &self
                .db
                .sql("UPDATE iam_users SET disabled = ? WHERE tenant = ? AND id = ?"),
        )
        .bind(i64::from(disabled))
        .bind(tenant)
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?;
        self.exists(
            "SELECT id FROM iam_users WHERE tenant = ? AND id = ?",
            &[tenant, id],
        )
        .await
    }

    async fn delete_user(&self, tenant: &str, id: &str) -> RepoResult<bool> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            let deleted = sqlx::query(
                &self
                    .db
                    .sql("DELETE FROM iam_users WHERE tenant = ? AND id = ?"),
            )
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?
            .rows_affected();
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
                sqlx::query(&self.db.sql(sql))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(repo_err)?;
            }
            tx.commit().await.map_err(repo_err)?;
            Ok(true)
        })
        .await
    }

    async fn password_hash(&self, tenant: &str, id: &str) -> RepoResult<Option<PasswordHash>> {
        let row = sqlx::query(&self.db.sql(
            "SELECT p.phc AS phc FROM iam_passwords p, iam_users u WHERE u.tenant = ? AND u.id = ? AND p.user_id = u.id",
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?;
        row.map(|r| text(&r, "phc").map(PasswordHash::new))
            .transpose()
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
                    &[tenant, id],
                )
                .await?
            {
                return Ok(false);
            }
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            sqlx::query(&self.db.sql("DELETE FROM iam_passwords WHERE user_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(repo_err)?;
            sqlx::query(
                &self
                    .db
                    .sql("INSERT INTO iam_passwords (user_id, phc) VALUES (?, ?)"),
            )
            .bind(id)
            .bind(hash.phc())
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            tx.commit().await.map_err(repo_err)?;
            Ok(true)
        })
        .await
    }
}
