//! # iam-core
//!
//! What is true about a request's credentials, with no I/O and no async runtime. Every other
//! iam-rs crate builds on this one; it also compiles to `wasm32-unknown-unknown`.
//!
//! - [`jwt`]: validation of compact JWS tokens and their JWT claims, with safe defaults
//!   (algorithm bound to the key, `exp` required, issuer and audience checked, size and nesting
//!   limits before any parsing) and a validated-token cache.
//! - [`jwks`]: JWK set parsing with per-key checks; a bad key is skipped with a reason.
//! - [`claims`], [`principal`], [`scope`]: what a validated token says, turned into the one
//!   [`Principal`] type every authenticator produces.
//! - [`authn`]: the framework-neutral request view, credential extraction, the async
//!   [`Authenticator`] trait, the chain, and [`AuthError`]
//!   with its HTTP mapping (RFC 6750).
//! - [`headers`]: identity headers handed upstream, and stripping of spoofed ones.
//! - [`clock`]: time comes from a [`Clock`] the caller can replace.
//!
//! ```
//! use iam_core::jwks::JwkSet;
//! use iam_core::jwt::Validator;
//!
//! let keys = JwkSet::from_json(br#"{"keys":[]}"#).unwrap();
//! let validator = Validator::builder("https://issuer.example")
//!     .audience("my-api")
//!     .build()
//!     .unwrap();
//! let err = validator.validate("not-a-token", &keys).unwrap_err();
//! assert_eq!(err.to_string(), "malformed token: expected three base64url segments");
//! ```
//!
//! ## Crypto backends
//! One of the features `aws-lc` (default), `rust-crypto` and `external-crypto` should be
//! enabled; when several are, the first of that list wins. `rust-crypto` is pure Rust (any
//! target, wasm32 included). `external-crypto` leaves RSA and ECDSA signatures to the caller's
//! platform crypto through [`Validator::begin`](jwt::Validator::begin) /
//! [`Validator::finish`](jwt::Validator::finish) (iam-wasm hands them to WebCrypto); Ed25519
//! and HMAC stay in process.
#![forbid(unsafe_code)]

#[cfg(not(any(
    feature = "aws-lc",
    feature = "rust-crypto",
    feature = "external-crypto"
)))]
compile_error!(
    "iam-core needs a crypto backend: enable `aws-lc`, `rust-crypto` or `external-crypto`"
);

pub mod authn;
mod backend;
pub mod claims;
pub mod clock;
pub mod credential;
pub mod headers;
mod json;
pub mod jwks;
pub mod jwt;
pub mod principal;
pub mod scope;
pub mod secret;

pub use authn::{AuthError, AuthErrorKind, Authenticator, RequestView};
pub use clock::{Clock, FixedClock};
pub use jwks::JwkSet;
pub use jwt::{JwtError, JwtErrorKind, Validator};
pub use principal::{Principal, PrincipalKind};
pub use secret::Secret;

/// The README's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
