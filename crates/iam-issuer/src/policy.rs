//! [`RotationPolicy`]: when keys are published, sign, retire and disappear.
//!
//! The rule that lets every validator follow a rotation without refusing a good token:
//! - a key is published (state `next`) at least `publish_ahead` ≥ `jwks_cache_ttl` before it
//!   signs, so every cached JWKS knows it by the time its first token arrives;
//! - a key that stopped signing (state `retired`) stays published for `retain_after` ≥
//!   `max_token_lifetime` + `jwks_cache_ttl`, so every token it signed expires before the last
//!   cached JWKS without it is fetched;
//! - [`Issuer::mint`](crate::Issuer::mint) refuses lifetimes above `max_token_lifetime`, which
//!   is what makes the second rule hold.
//!
//! ```
//! use iam_issuer::RotationPolicy;
//! use std::time::Duration;
//!
//! let policy = RotationPolicy::new(
//!     Duration::from_secs(7 * 86_400), // rotate weekly
//!     Duration::from_secs(600),        // tokens live at most 10 minutes
//!     Duration::from_secs(3_600),      // the JWKS is served with max-age=3600
//! );
//! assert_eq!(policy.publish_ahead, Duration::from_secs(3_600));
//! assert_eq!(policy.retain_after, Duration::from_secs(4_200));
//! policy.validate().unwrap();
//! ```
use crate::error::{IssuerError, IssuerErrorKind};
use std::time::Duration;

const DAY: u64 = 86_400;
/// Durations above this are refused (they would overflow Unix-second arithmetic long before
/// they make sense).
const LONGEST: Duration = Duration::from_secs(100 * 365 * DAY);

/// When keys rotate. Build it with [`RotationPolicy::new`] (which derives `publish_ahead` and
/// `retain_after` from the rule) or set the fields; [`KeyRing::open`](crate::KeyRing::open)
/// refuses a policy that breaks the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub rotate_every: Duration,
    /// How long a key is published before it may sign (at least `jwks_cache_ttl`).
    pub publish_ahead: Duration,
    /// How long a retired key stays published (at least `max_token_lifetime` +
    /// `jwks_cache_ttl`); then it leaves the JWKS and is deleted.
    pub retain_after: Duration,
    /// The longest token lifetime [`Issuer::mint`](crate::Issuer::mint) accepts.
    pub max_token_lifetime: Duration,
    /// The longest time a validator may keep a fetched JWKS: serve the JWKS with
    /// `Cache-Control: max-age` no longer than this
    /// ([`Issuer::jwks_max_age`](crate::Issuer::jwks_max_age)).
    pub jwks_cache_ttl: Duration,
}

impl Default for RotationPolicy {
    /// Rotate every 30 days; tokens up to 1 hour; JWKS cached up to 24 hours (the longest
    /// iam-client's `RemoteJwks` keeps a set, whatever the server says), hence published 24 h
    /// ahead and retained 25 h.
    fn default() -> Self {
        Self::new(
            Duration::from_secs(30 * DAY),
            Duration::from_secs(3_600),
            Duration::from_secs(DAY),
        )
    }
}

impl RotationPolicy {
    /// A policy with the shortest safe `publish_ahead` (= `jwks_cache_ttl`) and
    /// `retain_after` (= `max_token_lifetime` + `jwks_cache_ttl`).
    pub fn new(
        rotate_every: Duration,
        max_token_lifetime: Duration,
        jwks_cache_ttl: Duration,
    ) -> Self {
        Self {
            rotate_every,
            publish_ahead: jwks_cache_ttl,
            retain_after: max_token_lifetime.saturating_add(jwks_cache_ttl),
            max_token_lifetime,
            jwks_cache_ttl,
        }
    }

    /// `Ok` when the policy keeps the publication rule.
    pub fn validate(&self) -> Result<(), IssuerError> {
        let fail = |rule| Err(IssuerErrorKind::InvalidPolicy(rule).into());
        let all = [
            self.rotate_every,
            self.publish_ahead,
            self.retain_after,
            self.max_token_lifetime,
            self.jwks_cache_ttl,
        ];
        if all.iter().any(|d| *d > LONGEST) {
            return fail("durations must be at most 100 years");
        }
        if self.rotate_every < Duration::from_secs(1) {
            return fail("rotate_every must be at least one second");
        }
        if self.max_token_lifetime < Duration::from_secs(1) {
            return fail("max_token_lifetime must be at least one second");
        }
        if self.publish_ahead < self.jwks_cache_ttl {
            return fail("publish_ahead must be at least jwks_cache_ttl");
        }
        if self.retain_after < self.max_token_lifetime + self.jwks_cache_ttl {
            return fail("retain_after must be at least max_token_lifetime + jwks_cache_ttl");
        }
        Ok(())
    }

    pub(crate) fn secs(d: Duration) -> i64 {
        // validate() bounds every duration far below i64::MAX seconds.
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn the_default_policy_keeps_the_publication_rule() {
        let p = RotationPolicy::default();
        p.validate().unwrap();
        assert_eq!(p.retain_after, s(25 * 3_600));
        assert_eq!(p.publish_ahead, s(DAY));
    }

    #[test]
    fn policies_that_would_drop_a_key_too_early_or_sign_too_soon_are_refused() {
        let base = RotationPolicy::new(s(DAY), s(600), s(3_600));
        let cases = [
            RotationPolicy {
                retain_after: s(4_199),
                ..base
            },
            RotationPolicy {
                publish_ahead: s(3_599),
                ..base
            },
            RotationPolicy {
                rotate_every: s(0),
                ..base
            },
            RotationPolicy::new(s(DAY), s(0), s(3_600)),
            RotationPolicy::new(s(u64::MAX), s(600), s(3_600)),
            RotationPolicy::new(s(DAY), s(u64::MAX), s(3_600)),
        ];
        for p in cases {
            let err = p.validate().unwrap_err();
            assert!(
                matches!(err.kind(), IssuerErrorKind::InvalidPolicy(_)),
                "{p:?}"
            );
        }
        base.validate().unwrap();
    }
}
