//! # iam-issuer
//!
//! The issuing side of iam-rs, as a library: a signing [`KeyRing`] (ES256 by default, EdDSA
//! and RS256 selectable) whose keys go `next` → `current` → `retired` on a
//! [`RotationPolicy`], stored sealed with AES-256-GCM under a [`KeyEncryptionKey`] in any
//! [`KeyStore`]; and an [`Issuer`] that mints JWTs (`typ: at+jwt`, `kid`, `jti`) and serves
//! the JWKS and OpenID discovery documents that iam-rs validators (and any OIDC library) use.
//!
//! ```
//! use iam_issuer::{Issuer, KeyAlgorithm, KeyEncryptionKey, KeyRing, MemoryKeyStore, RotationPolicy};
//! use iam_core::clock::SystemClock;
//! use iam_core::jwt::{TokenType, Validator};
//! use iam_core::JwkSet;
//! use serde_json::{json, Map};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring = KeyRing::open(
//!     Arc::new(MemoryKeyStore::new()), // iam_store::SqlKeyStore for SQLite/PostgreSQL/MariaDB
//!     KeyEncryptionKey::generate(),    // KeyEncryptionKey::from_base64(..) from configuration
//!     KeyAlgorithm::Es256,
//!     RotationPolicy::default(),
//!     SystemClock,
//! )
//! .await?;
//! let _rotation = ring.spawn_rotation(Duration::from_secs(60));
//! let issuer = Issuer::new("https://auth.example.com", ring);
//!
//! let mut claims = Map::new();
//! claims.insert("sub".into(), json!("user-1"));
//! claims.insert("aud".into(), json!("orders-api"));
//! let minted = issuer.mint(claims, Duration::from_secs(600))?;
//!
//! // What a resource server does with the published JWKS:
//! let keys = JwkSet::from_json(issuer.jwks().to_string().as_bytes())?;
//! let validator = Validator::builder("https://auth.example.com")
//!     .audience("orders-api")
//!     .token_type(TokenType::AccessToken)
//!     .build()?;
//! let token = validator.validate(minted.token.secret(), &keys)?;
//! assert_eq!(token.claims().subject(), Some("user-1"));
//! # Ok(()) }
//! ```
//!
//! # Caveats
//! - Native targets only (aws-lc-rs), and a Tokio runtime for [`KeyRing`] (key generation runs
//!   on the blocking pool; [`KeyRing::spawn_rotation`] is a Tokio task).
//! - [`MemoryKeyStore`] loses the keys at restart, and with them every token issued: use a
//!   persistent store beyond tests and single-process demos.
//! - The key-encryption key protects keys at rest only; whoever holds it and the store can sign.
//!   Losing it loses the keys (every token then fails to validate after a restart).
#![forbid(unsafe_code)]

mod algorithm;
mod error;
mod issuer;
mod kek;
mod policy;
mod ring;
mod store;

pub use algorithm::KeyAlgorithm;
pub use error::{IssuerError, IssuerErrorKind};
/// The boxed future [`KeyStore`] methods return (iam-core's; needs no particular runtime).
pub use iam_core::jwks::BoxFuture;
pub use issuer::{Issuer, MintedToken, TokenType};
pub use kek::KeyEncryptionKey;
pub use policy::RotationPolicy;
pub use ring::{KeyInfo, KeyRing, RotationReport, RotationTask};
pub use store::{
    apply as apply_transition, KeyState, KeyStore, KeyStoreError, KeyStoreErrorKind,
    MemoryKeyStore, StoredKey, Transition,
};
