//! The cached set: freshness, background refresh, one fetch in flight, stale-if-error.
use super::{Inner, JwksStats, RemoteJwks, State};
use iam_core::jwks::{BoxFuture, JwkSet, KeySource, KeySourceError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

impl RemoteJwks {
    /// The URL keys are fetched from.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> JwksStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        JwksStats {
            cache_hits: l(&c.cache_hits),
            fetches: l(&c.fetches),
            not_modified: l(&c.not_modified),
            failures: l(&c.failures),
            stale_served: l(&c.stale_served),
            unknown_kid_refusals: l(&c.unknown_kid_refusals),
        }
    }

    /// True once a key set has been obtained (for readiness probes).
    pub fn is_ready(&self) -> bool {
        self.read_state().set.is_some()
    }

    /// Fetch now (for example at start-up), sharing any fetch in flight.
    pub async fn refresh(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        self.inner.refresh(true).await
    }

    pub(super) fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached set when fresh; starts a background refresh when it is about to go stale.
    pub(super) fn fresh(&self) -> Option<Arc<JwkSet>> {
        let now = Instant::now();
        let state = self.read_state();
        let set = state.set.as_ref()?;
        if now >= state.fresh_until? {
            return None;
        }
        let refresh_due = state.refresh_at.is_some_and(|at| now >= at);
        let set = Arc::clone(set);
        drop(state);
        self.inner
            .counters
            .bump(&self.inner.counters.cache_hits, "iam_jwks_cache_hits_total");
        if refresh_due {
            self.spawn_background_refresh();
        }
        Some(set)
    }

    pub(super) fn spawn_background_refresh(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        handle.spawn(async move {
            let _ = inner.refresh(false).await;
            inner.refreshing.store(false, Ordering::Release);
        });
    }

    pub(super) async fn keys_slow(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        if let Some(set) = self.fresh() {
            return Ok(set);
        }
        self.inner.refresh(false).await
    }
}

impl Inner {
    /// One fetch in flight: callers that waited get the outcome of the fetch they waited
    /// for instead of starting another. `force` skips the failure cooldown.
    pub(super) async fn refresh(&self, force: bool) -> Result<Arc<JwkSet>, KeySourceError> {
        let seen = self.attempts.load(Ordering::Acquire);
        let _guard = self.fetch.lock().await;
        let now = Instant::now();
        let already_fetched = self.attempts.load(Ordering::Acquire) != seen;
        let failed_recently = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            s.last_error.is_some()
                && s.last_attempt
                    .is_some_and(|t| now.duration_since(t) < self.cfg.cooldown)
        };
        let may_fetch = force || !failed_recently;
        if !already_fetched && may_fetch {
            self.fetch_and_store().await;
        }
        self.current_or_stale()
    }

    pub(super) fn current_or_stale(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        let now = Instant::now();
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        match (&s.set, s.fresh_until, s.stale_until) {
            (Some(set), Some(fresh), _) if now < fresh => Ok(Arc::clone(set)),
            (Some(set), _, Some(stale)) if now < stale => {
                self.counters
                    .bump(&self.counters.stale_served, "iam_jwks_stale_served_total");
                tracing::warn!(url = %self.url, "serving a stale JWK set: the issuer could not be reached");
                Ok(Arc::clone(set))
            }
            _ => Err(KeySourceError::new(
                s.last_error
                    .clone()
                    .unwrap_or_else(|| "no JWK set fetched yet".to_owned()),
            )),
        }
    }
}

impl KeySource for RemoteJwks {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<JwkSet>, KeySourceError>> {
        if let Some(set) = self.fresh() {
            return Box::pin(std::future::ready(Ok(set)));
        }
        Box::pin(self.keys_slow())
    }

    fn cached_keys(&self) -> Option<Arc<JwkSet>> {
        self.fresh()
    }

    fn keys_after_unknown_kid<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<JwkSet>>, KeySourceError>> {
        Box::pin(self.after_unknown_kid(kid))
    }
}
