//! TOTP, recovery codes and refresh families in memory.
use super::*;
use crate::model::{RefreshFamily, RefreshTokenRecord, SecretText, SpendOutcome, TotpCredential};
use crate::repository::{MfaRepository, RefreshRepository, RepoResult};
use async_trait::async_trait;

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
