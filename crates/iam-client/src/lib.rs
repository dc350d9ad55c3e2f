//! # iam-client
//!
//! The part of iam-rs that talks to the network. Nothing is implemented here yet: this crate
//! is a documented placeholder so the workspace has its final shape.
//!
//! What will live here (see `DESIGN.md`):
//! - `RemoteJwks`: a JWK set fetched over HTTPS and cached from `Cache-Control`, refreshed on
//!   an unknown `kid` with a cooldown, one fetch in flight per URL, stale keys served while the
//!   issuer is down. It implements `iam_core::jwks::KeySource`.
//! - OIDC discovery and a registry of trusted issuers.
//! - OAuth2 client flows (authorization code + PKCE, client credentials, refresh with rotation),
//!   token introspection (RFC 7662) and revocation.
//! - The Hydra admin API, Kratos `whoami` with a session cache, and the credential service's
//!   `validate` endpoint.
#![forbid(unsafe_code)]
