//! # iam-proxy
//!
//! An identity-aware proxy engine that reads Ory Oathkeeper's access rules: rule repositories
//! with hot reload, one canonical request identity for matching and forwarding, the
//! authenticator → authorizer → mutator pipeline with Oathkeeper's error handlers, and a
//! tower service that forwards allowed requests (reverse proxy) or answers `/decisions`
//! (Traefik ForwardAuth, nginx `auth_request`, Envoy `ext_authz`). No HTTP server inside:
//! embed it in any tower stack (`examples/access-proxy` is the ready binary).
//!
//! - [`rules`]: the rule format, matching (`regexp`/`glob`), repositories.
//!
//! # Caveats
//! See each module's caveats; the differences to Oathkeeper are listed in the crate README.
#![forbid(unsafe_code)]

mod error;
pub mod rules;

pub use error::RuleError;
