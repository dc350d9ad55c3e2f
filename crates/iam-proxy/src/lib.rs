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
//! - [`canonical`], [`forwarded`], [`strip`]: one reading of each request, trusted proxies,
//!   identity headers a client may not send.
//! - [`pipeline`]: authenticators, authorizers, mutators, error handlers.
//! - [`engine`]: one request to a verdict ([`admission`]: rate limits and other budgets
//!   around it); [`proxy`]: the reverse proxy and `/decisions`.
//!
//! # Caveats
//! See each module's caveats; the differences to Oathkeeper are listed in the crate README.
#![forbid(unsafe_code)]

pub mod admission;
pub mod canonical;
pub mod engine;
mod error;
pub mod forwarded;
pub mod pipeline;
pub mod proxy;
pub mod rules;
pub mod strip;

pub use error::RuleError;
