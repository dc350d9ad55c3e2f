//! TOTP, recovery codes, refresh families and tokens.
use super::{int, join_list, opt_int, repo_err, split_list, text, SqlIdentityStore};
use crate::database::retry_contended;
use async_trait::async_trait;
use iam_identity::model::{
    RefreshFamily, RefreshTokenRecord, SecretText, SpendOutcome, TotpCredential,
};
use iam_identity::repository::{MfaRepository, RefreshRepository, RepoResult};
use iam_identity::RepositoryError;
use sqlx::any::AnyRow;

fn family_of(row: &AnyRow) -> RepoResult<RefreshFamily> {
    Ok(RefreshFamily {
        id: text(row, "id")?,
        tenant: text(row, "tenant")?,
        user_id: text(row, "user_id")?,
        acr: text(row, "acr")?,
        amr: split_list(&text(row, "amr")?),
        created_at: int(row, "created_at")?,
        expires_at: int(row, "expires_at")?,
        revoked_at: opt_int(row, "revoked_at")?,
    })
}

fn token_of(row: &AnyRow) -> RepoResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        family_id: text(row, "family_id")?,
        generation: int(row, "generation")?,
        spent_at: opt_int(row, "spent_at")?,
    })
}

#[async_trait]
impl MfaRepository for SqlIdentityStore {
    async fn totp(&self, user: &str) -> RepoResult<Option<TotpCredential>> {
        let row = sqlx::query(
            &self
                .db
                .sql("SELECT secret, confirmed, last_step FROM iam_totp WHERE user_id = ?"),
        )
        .bind(user)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?;
        row.map(|r| {
            Ok(TotpCredential {
                stored_secret: SecretText::new(text(&r, "secret")?),
                confirmed: int(&r, "confirmed")? != 0,
                last_step: int(&r, "last_step")?,
            })
        })
        .transpose()
    }

    async fn put_pending_totp(&self, user: &str, c: &TotpCredential) -> RepoResult<bool> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            sqlx::query(
                &self
                    .db
                    .sql("DELETE FROM iam_totp WHERE user_id = ? AND confirmed = 0"),
            )
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            let inserted = sqlx::query(&self.db.sql(
                "INSERT INTO iam_totp (user_id, secret, confirmed, last_step) VALUES (?, ?, 0, ?)",
            ))
            .bind(user)
            .bind(c.stored_secret.secret())
            .bind(c.last_step)
            .execute(&mut *tx)
            .await;
            match inserted.map_err(repo_err) {
                Ok(_) => {
                    tx.commit().await.map_err(repo_err)?;
                    Ok(true)
                }
                // A confirmed credential is there.
                Err(RepositoryError::Conflict) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn confirm_totp(&self, user: &str, step: i64) -> RepoResult<bool> {
        Ok(sqlx::query(&self.db.sql(
            "UPDATE iam_totp SET confirmed = 1, last_step = ? WHERE user_id = ? AND confirmed = 0",
        ))
        .bind(step)
        .bind(user)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?
        .rows_affected()
            == 1)
    }

    async fn reseal_totp(
        &self,
        user: &str,
        from: &SecretText,
        to: &SecretText,
    ) -> RepoResult<bool> {
        let n = sqlx::query(
            &self
                .db
                .sql("UPDATE iam_totp SET secret = ? WHERE user_id = ? AND secret = ?"),
        )
        .bind(to.secret())
        .bind(user)
        .bind(from.secret())
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?;
        Ok(n.rows_affected() == 1)
    }

    async fn use_totp_step(&self, user: &str, step: i64) -> RepoResult<bool> {
        Ok(sqlx::query(&self.db.sql(
            "UPDATE iam_totp SET last_step = ? WHERE user_id = ? AND confirmed = 1 AND last_step < ?",
        ))
        .bind(step)
        .bind(user)
        .bind(step)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?
        .rows_affected()
            == 1)
    }

    async fn delete_mfa(&self, user: &str) -> RepoResult<bool> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            sqlx::query(
                &self
                    .db
                    .sql("DELETE FROM iam_recovery_codes WHERE user_id = ?"),
            )
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            let n = sqlx::query(&self.db.sql("DELETE FROM iam_totp WHERE user_id = ?"))
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(repo_err)?
                .rows_affected();
            tx.commit().await.map_err(repo_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn replace_recovery_codes(&self, user: &str, hashes: &[String]) -> RepoResult<()> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            sqlx::query(
                &self
                    .db
                    .sql("DELETE FROM iam_recovery_codes WHERE user_id = ?"),
            )
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            for h in hashes {
                sqlx::query(&self.db.sql(
                    "INSERT INTO iam_recovery_codes (user_id, code_hash, used_at) VALUES (?, ?, NULL)",
                ))
                .bind(user)
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(repo_err)?;
            }
            tx.commit().await.map_err(repo_err)
        })
        .await
    }

    async fn redeem_recovery_code(&self, user: &str, hash: &str, now: i64) -> RepoResult<bool> {
        Ok(sqlx::query(&self.db.sql(
            "UPDATE iam_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
        ))
        .bind(now)
        .bind(user)
        .bind(hash)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?
        .rows_affected()
            == 1)
    }
}

#[async_trait]
impl RefreshRepository for SqlIdentityStore {
    async fn create_family(&self, f: &RefreshFamily, token_hash: &str) -> RepoResult<()> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            sqlx::query(&self.db.sql(
                "INSERT INTO iam_refresh_families (id, tenant, user_id, acr, amr, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            ))
            .bind(&f.id)
            .bind(&f.tenant)
            .bind(&f.user_id)
            .bind(&f.acr)
            .bind(join_list(&f.amr))
            .bind(f.created_at)
            .bind(f.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            sqlx::query(&self.db.sql(
                "INSERT INTO iam_refresh_tokens (token_hash, family_id, generation, spent_at) VALUES (?, ?, 0, NULL)",
            ))
            .bind(token_hash)
            .bind(&f.id)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            tx.commit().await.map_err(repo_err)
        })
        .await
    }

    async fn family(&self, id: &str) -> RepoResult<Option<RefreshFamily>> {
        sqlx::query(&self.db.sql(
            "SELECT id, tenant, user_id, acr, amr, created_at, expires_at, revoked_at FROM iam_refresh_families WHERE id = ?",
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?
        .as_ref()
        .map(family_of)
        .transpose()
    }

    async fn spend_token(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> RepoResult<SpendOutcome> {
        // One transaction: the spend and its successor commit together, so a failure between
        // them cannot leave a spent token without a successor (the client's retry would then
        // look like a replay and revoke its family).
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            let spent = sqlx::query(&self.db.sql(
                "UPDATE iam_refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL",
            ))
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?
            .rows_affected()
                == 1;
            let record = sqlx::query(&self.db.sql(
                "SELECT family_id, generation, spent_at FROM iam_refresh_tokens WHERE token_hash = ?",
            ))
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(repo_err)?
            .as_ref()
            .map(token_of)
            .transpose()?;
            let Some(record) = record else {
                return Ok(SpendOutcome::Unknown);
            };
            if !spent {
                return Ok(SpendOutcome::AlreadySpent(record));
            }
            sqlx::query(&self.db.sql(
                "INSERT INTO iam_refresh_tokens (token_hash, family_id, generation, spent_at) VALUES (?, ?, ?, NULL)",
            ))
            .bind(successor_hash)
            .bind(&record.family_id)
            .bind(record.generation + 1)
            .execute(&mut *tx)
            .await
            .map_err(repo_err)?;
            tx.commit().await.map_err(repo_err)?;
            Ok(SpendOutcome::Spent(record))
        })
        .await
    }

    async fn token(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>> {
        sqlx::query(&self.db.sql(
            "SELECT family_id, generation, spent_at FROM iam_refresh_tokens WHERE token_hash = ?",
        ))
        .bind(token_hash)
        .fetch_optional(self.db.pool())
        .await
        .map_err(repo_err)?
        .as_ref()
        .map(token_of)
        .transpose()
    }

    async fn revoke_family(&self, id: &str, now: i64) -> RepoResult<bool> {
        sqlx::query(&self.db.sql(
            "UPDATE iam_refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(now)
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?;
        self.exists("SELECT id FROM iam_refresh_families WHERE id = ?", &[id])
            .await
    }

    async fn revoke_user_families(&self, tenant: &str, user: &str, now: i64) -> RepoResult<u64> {
        Ok(sqlx::query(&self.db.sql(
            "UPDATE iam_refresh_families SET revoked_at = ? WHERE tenant = ? AND user_id = ? AND revoked_at IS NULL",
        ))
        .bind(now)
        .bind(tenant)
        .bind(user)
        .execute(self.db.pool())
        .await
        .map_err(repo_err)?
        .rows_affected())
    }
}
