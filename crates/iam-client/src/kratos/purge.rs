//! Purges: dropping revoked sessions from the in-process cache, on this instance and, through
//! the shared store's announcements, on every instance (see the [module docs](super)).
use super::sessions::{Entry, Inner};
use super::store::PurgeEvent;
use iam_core::authn::BoxFuture;
use std::sync::atomic::Ordering;

/// The purge watch: the task before it is started, its handle after.
pub(super) struct Watch {
    pub(super) pending: Option<BoxFuture<'static, ()>>,
    pub(super) running: Option<tokio::task::AbortHandle>,
}

impl Inner {
    /// Bump the epoch, then drop what `keep` refuses: an insert racing with this either
    /// happens before the `retain` (and is dropped by it) or sees the new epoch (and drops
    /// itself).
    pub(super) fn purge_local(&self, keep: impl Fn(&Entry) -> bool) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.retain(keep);
    }

    pub(super) fn on_purge(&self, event: PurgeEvent) {
        let sessions_only = |e: &Entry| matches!(e, Entry::Refused { .. });
        match event {
            PurgeEvent::Live => {
                self.purge_local(sessions_only);
                self.live.store(true, Ordering::SeqCst);
            }
            PurgeEvent::Lost => {
                self.live.store(false, Ordering::SeqCst);
                self.purge_local(sessions_only);
            }
            PurgeEvent::Session(id) => {
                self.purges.fetch_add(1, Ordering::SeqCst);
                self.purge_local(|e| match e {
                    Entry::Session { principal, .. } => principal.session_id() != Some(id.as_str()),
                    Entry::Refused { .. } => true,
                });
            }
            PurgeEvent::Identity(id) => {
                self.purges.fetch_add(1, Ordering::SeqCst);
                self.purge_local(|e| match e {
                    Entry::Session { identity_id, .. } => **identity_id != *id,
                    Entry::Refused { .. } => true,
                });
            }
        }
    }

    /// Start the purge watch on the current tokio runtime, once (a no-op outside one: the
    /// next call inside a runtime starts it).
    pub(super) fn start_watch(&self) {
        if !self.watch_pending.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = watch.pending.take() {
            watch.running = Some(runtime.spawn(task).abort_handle());
            self.watch_pending.store(false, Ordering::Release);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let watch = self.watch.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = watch.running.take() {
            task.abort();
        }
    }
}
