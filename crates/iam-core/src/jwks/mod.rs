//! JWK sets (RFC 7517): parsing with per-key checks, and key lookup by `kid`.
//!
//! Only public signature keys are accepted from a set: RSA of 2048 to 8192 bits (exponent odd
//! and at least 3, ROCA-weak moduli refused), EC P-256 / P-384 with the point on the curve,
//! and Ed25519. A key is bound to the algorithms it may verify: its JWK `alg` when present,
//! otherwise the algorithms of its type (RSA: RS*/PS*, P-256: ES256, P-384: ES384, Ed25519:
//! EdDSA). Symmetric (`oct`) keys are never taken from a JWK set; an HMAC secret has to be
//! configured explicitly with [`JwkSet::insert_shared_secret`].
//!
//! A bad key is skipped with a [`SkipReason`] and does not poison the rest of the set; keys
//! sharing a `kid` are all skipped (the `kid` would be ambiguous).
//!
//! ```
//! use iam_core::jwks::{JwkSet, SkipReason};
//! let set = JwkSet::from_json(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a"}]}"#).unwrap();
//! assert!(set.is_empty());
//! assert_eq!(set.skipped()[0].reason, SkipReason::SymmetricKey);
//! ```
//!
//! ## Caveats
//! - A set is immutable once built (shared secrets are added before it is shared); a key
//!   source swaps whole sets. Cached token validations are tied to the key that verified
//!   them and stop counting as soon as a set without that key is used.
mod key;
mod set;
mod source;

pub(crate) use key::Fingerprint;
pub use key::{KeyType, SkipReason, VerifyingKey};
pub(crate) use set::SelectError;
pub use set::{JwkSet, JwksError, JwksLimits, SkippedKey};
pub use source::{BoxFuture, KeySource, KeySourceError, StaticKeys};
