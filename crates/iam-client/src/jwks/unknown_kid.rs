//! Unknown kids: a refetch at most once per cooldown, and kids a fetch confirmed absent remembered.
use super::{Inner, RemoteJwks};
use iam_core::jwks::{JwkSet, KeySourceError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::Instant;

impl RemoteJwks {
    pub(super) async fn after_unknown_kid(
        &self,
        kid: &str,
    ) -> Result<Option<Arc<JwkSet>>, KeySourceError> {
        let inner = &self.inner;
        let now = Instant::now();
        if kid.len() > MAX_KID_LEN || inner.is_recently_unknown(kid, now) {
            inner.count_refusal();
            return Ok(None);
        }
        if inner.in_cooldown(now) {
            // Not remembered: this kid was never looked up. The set is refetched as soon as
            // the cooldown ends, once for every kid refused meanwhile.
            inner.count_refusal();
            self.schedule_refetch();
            return Ok(None);
        }
        let set = inner.refresh(true).await?;
        if set.get(kid).is_some() {
            return Ok(Some(set));
        }
        inner.remember_if_confirmed(kid);
        Ok(None)
    }

    /// One task per cooldown: sleep until it ends, then fetch once for every kid refused.
    pub(super) fn schedule_refetch(&self) {
        let inner = &self.inner;
        inner.refetch_wanted.store(true, Ordering::Release);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if inner.refetch_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        handle.spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let due = inner.cooldown_ends();
                drop(inner);
                if let Some(due) = due {
                    tokio::time::sleep_until(due).await;
                }
                let Some(inner) = weak.upgrade() else { return };
                if inner.in_cooldown(Instant::now()) {
                    // Another fetch ended meanwhile; it started before some refusals, so wait
                    // for the end of its cooldown too.
                    continue;
                }
                if inner.refetch_wanted.swap(false, Ordering::AcqRel) {
                    let _ = inner.refresh(true).await;
                }
                inner.refetch_scheduled.store(false, Ordering::Release);
                // A refusal that came after the swap above but saw the flag still set did not
                // spawn a task: take its place.
                if !inner.refetch_wanted.load(Ordering::Acquire)
                    || inner.refetch_scheduled.swap(true, Ordering::AcqRel)
                {
                    return;
                }
            }
        });
    }
}

/// Longest kid worth a lookup; longer ones are junk and never fetched for.
const MAX_KID_LEN: usize = 256;

impl Inner {
    pub(super) fn count_refusal(&self) {
        self.counters.bump(
            &self.counters.unknown_kid_refusals,
            "iam_jwks_unknown_kid_refusals_total",
        );
    }

    pub(super) fn is_recently_unknown(&self, kid: &str, now: Instant) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        unknown
            .get(kid)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.cfg.cooldown)
    }

    /// Remember `kid` as unknown when the last fetch succeeded (and so confirmed it absent),
    /// with that fetch's time; a failed fetch confirms nothing.
    pub(super) fn remember_if_confirmed(&self, kid: &str) {
        let confirmed_at = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            match (s.last_error.is_none(), s.last_attempt) {
                (true, Some(at)) => at,
                _ => return,
            }
        };
        let now = Instant::now();
        let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        if unknown.len() >= self.cfg.unknown_kid_memory {
            let cooldown = self.cfg.cooldown;
            unknown.retain(|_, t| now.saturating_duration_since(*t) < cooldown);
            if unknown.len() >= self.cfg.unknown_kid_memory {
                unknown.clear();
            }
        }
        unknown.insert(kid.to_owned(), confirmed_at);
    }

    /// When the cooldown of the last fetch ends (`None`: no fetch yet).
    pub(super) fn cooldown_ends(&self) -> Option<Instant> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.last_attempt.map(|t| t + self.cfg.cooldown)
    }

    pub(super) fn in_cooldown(&self, now: Instant) -> bool {
        self.cooldown_ends().is_some_and(|end| now < end)
    }
}
