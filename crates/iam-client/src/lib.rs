//! # iam-client
//!
//! The part of iam-rs that talks to the network. iam-core decides what is true about a
//! token; this crate fetches what it needs to decide, with caches that keep the network off
//! the request path.
//!
//! What is here now:
//! - [`RemoteJwks`]: a JWK set fetched over HTTPS, implementing
//!   [`iam_core::jwks::KeySource`] (see its docs for the caching rules and defaults).
//!
//! What will live here (see `DESIGN.md` and the open issues): OIDC discovery and a registry
//! of trusted issuers; OAuth2 client flows (authorization code + PKCE, client credentials,
//! refresh with rotation), token introspection (RFC 7662) and revocation; the Hydra admin API,
//! Kratos `whoami` with a session cache, and the credential service's `validate`.
#![forbid(unsafe_code)]

mod cache_control;
pub mod jwks;

pub use jwks::{JwksStats, RemoteJwks, RemoteJwksBuilder, RemoteJwksError};
