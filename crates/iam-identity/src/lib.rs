//! Accounts and authentication for iam-rs, with no HTTP and no SQL: the account model,
//! repository traits (in-memory implementations here; SQL and Redis ones in `iam-store`),
//! argon2id on an admission-controlled pool, TOTP and recovery codes, the login flow,
//! refresh-token families, and the brute-force limiter and audit traits.
//!
//! ```
//! use iam_identity::{Identity, IdentityPolicy, LoginOutcome, LoginRequest};
//! use iam_identity::hashing::{HashingConfig, PasswordHasher};
//! use iam_identity::limiter::{LimiterPolicy, MemoryLimiter};
//! use iam_identity::memory::{MemoryChallenges, MemoryRepositories};
//! use iam_identity::repository::Repositories;
//! use iam_core::Secret;
//! use std::sync::Arc;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let repos = Repositories::from_store(
//!     Arc::new(MemoryRepositories::new()),
//!     Arc::new(MemoryChallenges::default()),
//! );
//! let hasher = Arc::new(PasswordHasher::new(HashingConfig::default()).unwrap());
//! let limiter = Arc::new(MemoryLimiter::new(LimiterPolicy::default()));
//! let identity = Identity::new(repos, hasher, limiter, IdentityPolicy::default());
//!
//! identity.create_tenant("acme", "Acme Inc.").await.unwrap();
//! let password = Secret::new("correct horse battery staple".to_string());
//! identity.create_user("acme", "alice", None, Some(&password)).await.unwrap();
//! let request = LoginRequest { tenant: "acme", login: "ALICE", password: &password, client_ip: None };
//! match identity.login(request).await.unwrap() {
//!     LoginOutcome::Session(s) => assert_eq!(s.claims.acr, "pwd"),
//!     LoginOutcome::MfaRequired(_) => unreachable!("alice has no TOTP"),
//! }
//! let refreshed = identity.refresh(/* the refresh token */ "unknown", None).await;
//! assert!(refreshed.is_err());
//! # });
//! ```
//!
//! # Caveats
//! - Repository traits take the tenant on every tenant-scoped call; an implementation must
//!   never cross tenants. Effective permissions are assembled here from per-holder role
//!   lists, so a document store needs no joins.
//! - TOTP secrets reach a repository sealed ([`sealing`]) under the key-encryption key given
//!   to [`Identity::totp_sealing`]; without one, a random key of this process seals
//!   them, which is right for in-memory repositories only.
//! - The in-process limiter and challenge store hold per instance; share them through Redis
//!   (iam-store) when several instances serve one deployment.
//! - Login timing is equalised for the invalid-credential cases (one argon2id verification
//!   each), not for rate-limited or malformed requests, which are refused before hashing.
#![forbid(unsafe_code)]

mod accounts;
pub mod audit;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod hashing;
mod identity;
pub mod limiter;
mod login;
pub mod memory;
pub mod model;
mod random;
pub mod recovery;
mod refresh;
pub mod repository;
pub mod sealing;
pub mod totp;

pub use accounts::TotpEnrollment;
pub use error::{IdentityError, PasswordRejection, RepositoryError};
pub use identity::{Identity, IdentityPolicy, PasswordPolicy};
pub use login::{
    EffectiveAccess, LoginOutcome, LoginRequest, MfaProof, MfaRequired, Session, SessionClaims,
};
pub use model::fold;
