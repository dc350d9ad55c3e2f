//! The challenges this instance answered, so a replay is refused (Hydra v2.3 cannot tell).
use super::ProviderError;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// SHA-256 of each answered challenge with when it was answered; bounded.
#[derive(Debug)]
pub(super) struct UsedChallenges {
    seen: Mutex<HashMap<[u8; 32], Instant>>,
    ttl: Duration,
    capacity: usize,
}

fn key(challenge: &str) -> [u8; 32] {
    Sha256::digest(challenge.as_bytes()).into()
}

impl UsedChallenges {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    /// Answered before (and still remembered)?
    pub(super) fn is_used(&self, challenge: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&key(challenge))
            .is_some_and(|at| at.elapsed() <= self.ttl)
    }

    /// Take the challenge for one answer: of two concurrent callers exactly one succeeds.
    /// Full (after dropping the expired): [`ProviderError::Unavailable`], never a pass.
    pub(super) fn claim(&self, challenge: &str) -> Result<(), ProviderError> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(challenge);
        if seen
            .get(&k)
            .is_some_and(|at| now.duration_since(*at) <= self.ttl)
        {
            return Err(ProviderError::ChallengeUsed);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, at| now.duration_since(*at) <= self.ttl);
            if seen.len() >= self.capacity {
                tracing::error!("the record of answered challenges is full");
                return Err(ProviderError::Unavailable);
            }
        }
        seen.insert(k, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_claimed_once() {
        let used = UsedChallenges::new(Duration::from_secs(60), 10);
        assert!(!used.is_used("c1"));
        used.claim("c1").unwrap();
        assert!(used.is_used("c1"));
        assert!(matches!(
            used.claim("c1"),
            Err(ProviderError::ChallengeUsed)
        ));
        used.claim("c2").unwrap();
    }

    #[test]
    fn a_full_record_refuses_instead_of_forgetting() {
        let used = UsedChallenges::new(Duration::from_secs(60), 2);
        used.claim("a").unwrap();
        used.claim("b").unwrap();
        assert!(matches!(used.claim("c"), Err(ProviderError::Unavailable)));
        assert!(matches!(used.claim("a"), Err(ProviderError::ChallengeUsed)));
    }

    #[test]
    fn expired_entries_make_room() {
        let used = UsedChallenges::new(Duration::ZERO, 1);
        used.claim("a").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        used.claim("b").unwrap();
    }
}
