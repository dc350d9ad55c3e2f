//! The bootstrap admin token (`CREDENTIALS_BOOTSTRAP_TOKEN`): for first use only.
//!
//! At least [`Bootstrap::MIN_LEN`] bytes (the binary refuses to start with a shorter one),
//! accepted until it expires (`CREDENTIALS_BOOTSTRAP_TTL_SECONDS`, default one hour from
//! start), and at most [`Bootstrap::MAX_FAILURES_PER_MINUTE`] failed attempts a minute: past
//! them no bearer is compared with it for the rest of the minute, so guessing it online is
//! bounded. Caveat: anyone can use up the attempts of a minute; create an admin user or a
//! service token and unset the bootstrap token once set up.
use std::sync::Mutex;
use std::time::Duration;

/// A bootstrap token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// Shorter than [`Bootstrap::MIN_LEN`] bytes.
    #[error("CREDENTIALS_BOOTSTRAP_TOKEN must be at least 32 bytes")]
    TooShort,
    /// Control characters or spaces (it could not be sent as a bearer).
    #[error("CREDENTIALS_BOOTSTRAP_TOKEN must be visible ASCII")]
    NotVisibleAscii,
}

/// The bootstrap admin token, its expiry and its failed-attempt window.
pub struct Bootstrap {
    token: String,
    expires_at: i64,
    /// (minute, failures in it)
    failures: Mutex<(i64, u32)>,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: not shown.
        f.debug_struct("Bootstrap")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Bootstrap {
    /// The shortest accepted token, in bytes.
    pub const MIN_LEN: usize = 32;
    /// Failed attempts a minute before comparisons stop for the rest of that minute.
    pub const MAX_FAILURES_PER_MINUTE: u32 = 10;

    /// `token`, accepted for `lifetime` from now.
    pub fn new(token: impl Into<String>, lifetime: Duration) -> Result<Self, BootstrapError> {
        let token = token.into();
        if token.len() < Self::MIN_LEN {
            return Err(BootstrapError::TooShort);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BootstrapError::NotVisibleAscii);
        }
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            token,
            expires_at: crate::store::now().saturating_add(lifetime),
            failures: Mutex::new((0, 0)),
        })
    }

    /// True when `presented` is the token, it has not expired and the attempts of this
    /// minute are not used up.
    pub(crate) fn accepts(&self, presented: &str, now: i64) -> bool {
        if now >= self.expires_at {
            return false;
        }
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.0 == now / 60 && f.1 >= Self::MAX_FAILURES_PER_MINUTE {
            return false;
        }
        same_secret(presented, &self.token)
    }

    /// Count a bearer that was neither this token nor anything else the service accepts.
    pub(crate) fn failed(&self, now: i64) {
        if now >= self.expires_at {
            return;
        }
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.0 != now / 60 {
            *f = (now / 60, 0);
        }
        f.1 = f.1.saturating_add(1);
        if f.1 == Self::MAX_FAILURES_PER_MINUTE {
            tracing::warn!(
                audit = "bootstrap_failures",
                "failed bootstrap attempts burst; the bootstrap token is refused for the rest of this minute"
            );
        }
    }
}

/// Constant-time comparison of two secrets (length leaks, content does not).
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_bootstrap_token_shorter_than_32_bytes_is_refused() {
        assert_eq!(
            Bootstrap::new(&GOOD[..31], Duration::from_secs(60)).unwrap_err(),
            BootstrapError::TooShort
        );
        assert!(Bootstrap::new(GOOD, Duration::from_secs(60)).is_ok());
        assert!(!format!(
            "{:?}",
            Bootstrap::new(GOOD, Duration::from_secs(60)).unwrap()
        )
        .contains(GOOD));
    }

    #[test]
    fn the_bootstrap_token_is_refused_once_expired() {
        let b = Bootstrap::new(GOOD, Duration::from_secs(60)).unwrap();
        let now = crate::store::now();
        assert!(b.accepts(GOOD, now));
        assert!(!b.accepts(GOOD, now + 61));
    }

    #[test]
    fn failed_bootstrap_attempts_are_limited_per_minute() {
        let b = Bootstrap::new(GOOD, Duration::from_secs(3600)).unwrap();
        let now = crate::store::now() / 60 * 60;
        for _ in 0..Bootstrap::MAX_FAILURES_PER_MINUTE {
            b.failed(now);
        }
        // Even the right token is not compared for the rest of the minute ...
        assert!(!b.accepts(GOOD, now + 1));
        // ... and is accepted again the next minute.
        assert!(b.accepts(GOOD, now + 60));
    }
}
