//! Short-lived MFA challenges in memory.
use crate::model::MfaChallenge;
use crate::repository::{ChallengeStore, RepoResult};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

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
