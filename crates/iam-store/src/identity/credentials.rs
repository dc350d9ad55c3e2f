//! TOTP, recovery codes, refresh families and tokens.
use super::statement::args;
use super::{int, join_list, opt_int, opt_text, repo_err, split_list, text, SqlIdentityStore};
use crate::database::retry_contended;
use crate::Backend;
use async_trait::async_trait;
use iam_identity::model::{
    RefreshFamily, RefreshTokenRecord, SecretText, SpendOutcome, SpentToken, TotpCredential,
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

/// The token, its family and its holder's state, for [`SpentToken`]: one read joining the
/// family, the user and the tenant (`LEFT JOIN`s: a missing one reads as NULL).
const TOKEN_IN_CONTEXT: &str = "SELECT t.family_id AS family_id, t.generation AS generation, \
     t.spent_at AS spent_at, f.id AS id, f.tenant AS tenant, f.user_id AS user_id, \
     f.acr AS acr, f.amr AS amr, f.created_at AS created_at, f.expires_at AS expires_at, \
     f.revoked_at AS revoked_at, u.disabled AS user_disabled, n.suspended AS tenant_suspended \
     FROM iam_refresh_tokens t \
     LEFT JOIN iam_refresh_families f ON f.id = t.family_id \
     LEFT JOIN iam_users u ON u.id = f.user_id AND u.tenant = f.tenant \
     LEFT JOIN iam_tenants n ON n.id = f.tenant";

/// PostgreSQL: the spend, the successor's insert and [`TOKEN_IN_CONTEXT`] in one statement.
/// The outer read sees the rows as they were when the statement started, so `spent_now`
/// tells whether this statement spent the token.
const SPEND_IN_CONTEXT_POSTGRES: &str = "WITH spent AS ( \
     UPDATE iam_refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL \
     RETURNING family_id, generation), \
     successor AS (INSERT INTO iam_refresh_tokens (token_hash, family_id, generation, spent_at) \
     SELECT $3, family_id, generation + 1, NULL FROM spent) \
     SELECT t.family_id AS family_id, t.generation AS generation, t.spent_at AS spent_at, \
     (SELECT COUNT(*) FROM spent) AS spent_now, f.id AS id, f.tenant AS tenant, \
     f.user_id AS user_id, f.acr AS acr, f.amr AS amr, f.created_at AS created_at, \
     f.expires_at AS expires_at, f.revoked_at AS revoked_at, u.disabled AS user_disabled, \
     n.suspended AS tenant_suspended \
     FROM iam_refresh_tokens t \
     LEFT JOIN iam_refresh_families f ON f.id = t.family_id \
     LEFT JOIN iam_users u ON u.id = f.user_id AND u.tenant = f.tenant \
     LEFT JOIN iam_tenants n ON n.id = f.tenant \
     WHERE t.token_hash = $2";

/// A row of [`TOKEN_IN_CONTEXT`]: the token's record, its family, and whether its tenant
/// and user may refresh.
fn token_in_context(row: &AnyRow) -> RepoResult<(RefreshTokenRecord, Option<RefreshFamily>, bool)> {
    let record = token_of(row)?;
    let family = match opt_text(row, "id")? {
        Some(_) => Some(family_of(row)?),
        None => None,
    };
    let active =
        opt_int(row, "user_disabled")? == Some(0) && opt_int(row, "tenant_suspended")? == Some(0);
    Ok((record, family, active))
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
        self.fetch_optional(
            "SELECT secret, confirmed, last_step FROM iam_totp WHERE user_id = ?",
            args![user],
            |r| {
                Ok(TotpCredential {
                    stored_secret: SecretText::new(text(r, "secret")?),
                    confirmed: int(r, "confirmed")? != 0,
                    last_step: int(r, "last_step")?,
                })
            },
        )
        .await
    }

    async fn put_pending_totp(&self, user: &str, c: &TotpCredential) -> RepoResult<bool> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            self.execute_in(
                &mut tx,
                "DELETE FROM iam_totp WHERE user_id = ? AND confirmed = 0",
                args![user],
            )
            .await?;
            let inserted = self
                .execute_in(
                    &mut tx,
                    "INSERT INTO iam_totp (user_id, secret, confirmed, last_step) VALUES (?, ?, 0, ?)",
                    args![user, c.stored_secret.secret(), c.last_step],
                )
                .await;
            match inserted {
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
        Ok(self
            .execute(
                "UPDATE iam_totp SET confirmed = 1, last_step = ? WHERE user_id = ? AND confirmed = 0",
                args![step, user],
            )
            .await?
            == 1)
    }

    async fn reseal_totp(
        &self,
        user: &str,
        from: &SecretText,
        to: &SecretText,
    ) -> RepoResult<bool> {
        Ok(self
            .execute(
                "UPDATE iam_totp SET secret = ? WHERE user_id = ? AND secret = ?",
                args![to.secret(), user, from.secret()],
            )
            .await?
            == 1)
    }

    async fn use_totp_step(&self, user: &str, step: i64) -> RepoResult<bool> {
        Ok(self
            .execute(
                "UPDATE iam_totp SET last_step = ? WHERE user_id = ? AND confirmed = 1 AND last_step < ?",
                args![step, user, step],
            )
            .await?
            == 1)
    }

    async fn delete_mfa(&self, user: &str) -> RepoResult<bool> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            self.execute_in(
                &mut tx,
                "DELETE FROM iam_recovery_codes WHERE user_id = ?",
                args![user],
            )
            .await?;
            let n = self
                .execute_in(
                    &mut tx,
                    "DELETE FROM iam_totp WHERE user_id = ?",
                    args![user],
                )
                .await?;
            tx.commit().await.map_err(repo_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn replace_recovery_codes(&self, user: &str, hashes: &[String]) -> RepoResult<()> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            self.execute_in(
                &mut tx,
                "DELETE FROM iam_recovery_codes WHERE user_id = ?",
                args![user],
            )
            .await?;
            for h in hashes {
                self.execute_in(
                    &mut tx,
                    "INSERT INTO iam_recovery_codes (user_id, code_hash, used_at) VALUES (?, ?, NULL)",
                    args![user, h],
                )
                .await?;
            }
            tx.commit().await.map_err(repo_err)
        })
        .await
    }

    async fn redeem_recovery_code(&self, user: &str, hash: &str, now: i64) -> RepoResult<bool> {
        Ok(self
            .execute(
                "UPDATE iam_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
                args![now, user, hash],
            )
            .await?
            == 1)
    }
}

#[async_trait]
impl RefreshRepository for SqlIdentityStore {
    async fn create_family(&self, f: &RefreshFamily, token_hash: &str) -> RepoResult<()> {
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            self.execute_in(
                &mut tx,
                "INSERT INTO iam_refresh_families (id, tenant, user_id, acr, amr, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                args![
                    &f.id,
                    &f.tenant,
                    &f.user_id,
                    &f.acr,
                    &join_list(&f.amr),
                    f.created_at,
                    f.expires_at
                ],
            )
            .await?;
            self.execute_in(
                &mut tx,
                "INSERT INTO iam_refresh_tokens (token_hash, family_id, generation, spent_at) VALUES (?, ?, 0, NULL)",
                args![token_hash, &f.id],
            )
            .await?;
            tx.commit().await.map_err(repo_err)
        })
        .await
    }

    async fn family(&self, id: &str) -> RepoResult<Option<RefreshFamily>> {
        self.fetch_optional(
            "SELECT id, tenant, user_id, acr, amr, created_at, expires_at, revoked_at FROM iam_refresh_families WHERE id = ?",
            args![id],
            family_of,
        )
        .await
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
            let spent = self
                .execute_in(
                    &mut tx,
                    "UPDATE iam_refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL",
                    args![now, token_hash],
                )
                .await?
                == 1;
            let record = self
                .fetch_optional_in(
                    &mut tx,
                    "SELECT family_id, generation, spent_at FROM iam_refresh_tokens WHERE token_hash = ?",
                    args![token_hash],
                    token_of,
                )
                .await?;
            let Some(record) = record else {
                return Ok(SpendOutcome::Unknown);
            };
            if !spent {
                return Ok(SpendOutcome::AlreadySpent(record));
            }
            self.execute_in(
                &mut tx,
                "INSERT INTO iam_refresh_tokens (token_hash, family_id, generation, spent_at) VALUES (?, ?, ?, NULL)",
                args![successor_hash, &record.family_id, record.generation + 1],
            )
            .await?;
            tx.commit().await.map_err(repo_err)?;
            Ok(SpendOutcome::Spent(record))
        })
        .await
    }

    async fn spend_token_with_family(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> RepoResult<SpentToken> {
        if self.db.backend() == Backend::Postgres {
            return self
                .spend_in_one_statement(token_hash, successor_hash, now)
                .await;
        }
        // SQLite and MariaDB: `spend_token`'s transaction, its read joined with the family,
        // the user and the tenant.
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(repo_err)?;
            let spent = self
                .execute_in(
                    &mut tx,
                    "UPDATE iam_refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL",
                    args![now, token_hash],
                )
                .await?
                == 1;
            let sql = format!("{TOKEN_IN_CONTEXT} WHERE t.token_hash = ?");
            let found = self
                .fetch_optional_in(&mut tx, &sql, args![token_hash], token_in_context)
                .await?;
            let Some((record, family, active)) = found else {
                return Ok(unknown());
            };
            if spent {
                self.execute_in(
                    &mut tx,
                    "INSERT INTO iam_refresh_tokens (token_hash, family_id, generation, spent_at) VALUES (?, ?, ?, NULL)",
                    args![successor_hash, &record.family_id, record.generation + 1],
                )
                .await?;
            }
            tx.commit().await.map_err(repo_err)?;
            Ok(SpentToken {
                outcome: if spent {
                    SpendOutcome::Spent(record)
                } else {
                    SpendOutcome::AlreadySpent(record)
                },
                family,
                holder_active: Some(active),
            })
        })
        .await
    }

    async fn token(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>> {
        self.fetch_optional(
            "SELECT family_id, generation, spent_at FROM iam_refresh_tokens WHERE token_hash = ?",
            args![token_hash],
            token_of,
        )
        .await
    }

    async fn revoke_family(&self, id: &str, now: i64) -> RepoResult<bool> {
        self.execute(
            "UPDATE iam_refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            args![now, id],
        )
        .await?;
        self.exists(
            "SELECT id FROM iam_refresh_families WHERE id = ?",
            args![id],
        )
        .await
    }

    async fn revoke_user_families(&self, tenant: &str, user: &str, now: i64) -> RepoResult<u64> {
        self.execute(
            "UPDATE iam_refresh_families SET revoked_at = ? WHERE tenant = ? AND user_id = ? AND revoked_at IS NULL",
            args![now, tenant, user],
        )
        .await
    }
}

fn unknown() -> SpentToken {
    SpentToken {
        outcome: SpendOutcome::Unknown,
        family: None,
        holder_active: None,
    }
}

impl SqlIdentityStore {
    /// PostgreSQL's refresh read: one statement, one round trip, no explicit transaction
    /// (a statement is atomic on its own).
    async fn spend_in_one_statement(
        &self,
        token_hash: &str,
        successor_hash: &str,
        now: i64,
    ) -> RepoResult<SpentToken> {
        let row = retry_contended(|| async move {
            sqlx::query(SPEND_IN_CONTEXT_POSTGRES)
                .bind(now)
                .bind(token_hash)
                .bind(successor_hash)
                .fetch_optional(self.db.pool())
                .await
                .map_err(repo_err)
        })
        .await?;
        let Some(row) = row else {
            return Ok(unknown());
        };
        let (mut record, family, active) = token_in_context(&row)?;
        let outcome = if int(&row, "spent_now")? == 1 {
            SpendOutcome::Spent(record)
        } else {
            if record.spent_at.is_none() {
                // A concurrent refresh spent it after this statement's snapshot was taken
                // (its UPDATE waited for that one and then matched nothing): read the time
                // it was spent, which the grace window and the shared answer depend on.
                match self.token(token_hash).await? {
                    Some(now_stored) => record = now_stored,
                    None => return Ok(unknown()),
                }
            }
            SpendOutcome::AlreadySpent(record)
        };
        Ok(SpentToken {
            outcome,
            family,
            holder_active: Some(active),
        })
    }
}
