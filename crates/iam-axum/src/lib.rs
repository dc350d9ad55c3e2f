//! # iam-axum
//!
//! iam-rs for tower and axum: one layer in front of a router, one extractor in a handler.
//!
//! The chain usually comes from [`iam_client::JwtConfig`](https://docs.rs/iam-client): the
//! issuer's keys found by OIDC discovery (retried in the background while the issuer is
//! down), cached and refreshed, plus Kratos sessions or personal access tokens appended with
//! `AuthChain::with`:
//!
//! ```
//! use axum::{routing::get, Router};
//! use iam_axum::{Auth, IamLayer, RequireLayer};
//! use iam_client::JwtConfig;
//!
//! let chain = JwtConfig::new("https://auth.example.com/")   // or JwtConfig::from_env("IAM_")
//!     .audience("orders-api")
//!     .chain()
//!     .unwrap();
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "secret" }).route_layer(RequireLayer::permission("admin:read")))
//!     .route("/me", get(|Auth(p): Auth| async move { p.subject().to_owned() }))
//!     .layer(IamLayer::required(chain));
//! ```
//!
//! Without the network (tests, a fixed key set), build the chain from iam-core directly:
//!
//! ```
//! use iam_core::authn::{AuthChain, JwtAuthenticator};
//! use iam_core::jwks::{JwkSet, StaticKeys};
//! use iam_core::jwt::Validator;
//!
//! let validator = Validator::builder("https://auth.example.com/").audience("orders-api").build().unwrap();
//! let chain = AuthChain::new().with(JwtAuthenticator::new(validator, StaticKeys::new(JwkSet::new())));
//! let layer = iam_axum::IamLayer::required(chain);
//! ```
//!
//! - [`IamLayer`] / [`IamService`]: a plain tower layer, an adapter of iam-core's
//!   `authn::Gate` (axum, tonic, hyper). It strips every
//!   identity header the client sent (`X-User-ID`, ... in any case, repeated or empty), runs
//!   the authenticator chain, puts the [`Principal`] in the request extensions, and answers
//!   failures with iam-core's HTTP mapping (RFC 6750 `WWW-Authenticate`, JSON body that never
//!   echoes the token). [`IamLayer::required`] refuses requests without credentials;
//!   [`IamLayer::optional`] lets them through with no principal (bad credentials are still
//!   refused).
//! - Extractors: [`Auth`] (401 when there is no principal) and `Option<Auth>`.
//! - [`RequireLayer`] / [`RequireService`]: per-route scope / permission / assurance guard
//!   (iam-core's `authn::Guard`), 403 `insufficient_scope` naming the scope; or
//!   [`RequireLayer::policy`]: a policy decision point (iam-policy's `Rbac`, `Rego`,
//!   `OpaClient`) asked about the route's resource, 403 with the policy's reasons, 503 when it
//!   cannot decide.
//!
//! Extractors depend on `axum-core` only, not `axum`.
#![forbid(unsafe_code)]

mod extract;
mod layer;
mod require;

pub use extract::{Auth, AuthRejection};
pub use iam_core::principal::Principal;
pub use layer::{IamFuture, IamLayer, IamService};
pub use require::{RequireLayer, RequireService};

/// Turn iam-core's HTTP answer into a response with any body that can be made from a string.
pub(crate) fn response<B: From<String>>(err: &iam_core::AuthError) -> http::Response<B> {
    err.to_response().map(B::from)
}

/// The README's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
