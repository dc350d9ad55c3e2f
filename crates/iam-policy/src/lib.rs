//! # iam-policy
//!
//! Authorization for iam-rs: "IAM decides what goes into the token; services decide what to
//! allow". One OPA-compatible input document ([`PolicyInput`], with a JSON Schema), one
//! decision-point trait ([`PolicyDecisionPoint`] → [`Decision`] `{allow, reasons,
//! obligations}`) and three engines that answer it:
//!
//! - [`Rbac`]: roles → permissions from a file, wildcards from `iam_core::scope`, and the
//!   common attribute rules (same tenant, owner, minimum assurance level, time-boxed role,
//!   explicit denies) in plain Rust; for teams that never write Rego.
//! - [`Rego`] (feature `rego`, default): the `.rego` files OPA runs, evaluated in process by
//!   regorus, loaded from a bundle directory and hot-reloaded by an atomic swap.
//! - [`OpaClient`] (feature `opa`, default): a real OPA server's REST API, with a bounded
//!   decision cache keyed by the input's digest, a timeout, and failure closed.
//!
//! Plus [`DecisionLog`] (every decision as a structured line, claims redacted) and
//! [`PolicyGuard`], the part of a route guard that iam-axum's `RequireLayer::policy` and
//! iam-actix's `RequireMiddleware::policy` share (403 with the policy's reasons, 503 when it
//! cannot decide).
//!
//! ```
//! use iam_core::principal::{AssuranceLevel, Principal, PrincipalKind};
//! use iam_policy::{PolicyDecisionPoint, PolicyInput, Rego, Resource};
//! let rego = Rego::from_modules([("authz.rego", r#"
//!     package iam.authz
//!     default allow := false
//!     allow if {
//!         input.action == "documents:delete"
//!         input.subject.aal == "aal2"
//!     }
//!     decision := {"allow": allow, "reasons": [r | not allow; r := "assurance_too_low"]}
//! "#)], serde_json::json!({}), "data.iam.authz.decision").unwrap();
//! let alice = Principal::builder("alice", PrincipalKind::UserSession)
//!     .assurance_level(AssuranceLevel::Aal1).build();
//! let input = PolicyInput::new(&alice, "documents:delete", Resource::new("documents").id("d1"));
//! let decision = futures_executor::block_on(rego.decide(&input)).unwrap();
//! assert!(!decision.allow);
//! assert_eq!(decision.reasons, ["assurance_too_low"]);
//! ```
//!
//! ## Caveats
//! - Every engine fails closed: an input past the [`InputLimits`] is denied before
//!   evaluation, and an engine that cannot decide returns a [`PolicyError`] (503 at a route
//!   guard) or, with [`FailureMode::Deny`], a deny; never an allow.
//! - `Rbac` and a Rego policy are two ways to write a policy; they agree only where their
//!   authors made them agree. The crate's parity suite shows how (one table, three engines).
#![forbid(unsafe_code)]

pub mod decision;
pub mod guard;
pub mod input;
pub mod log;
#[cfg(feature = "opa")]
pub mod opa;
pub mod rbac;
#[cfg(feature = "rego")]
pub mod rego;

pub use decision::{BoxFuture, Decision, FailureMode, PolicyDecisionPoint, PolicyError};
pub use guard::{forbidden, unavailable, PolicyGuard};
pub use input::{
    ClientAddr, InputDigest, InputLimits, InputRejection, PolicyInput, RequestContext, Resource,
    Subject, INPUT_SCHEMA,
};
pub use log::DecisionLog;
#[cfg(feature = "opa")]
pub use opa::OpaClient;
pub use rbac::{AssuranceName, Rbac, Rule};
#[cfg(feature = "rego")]
pub use rego::Rego;

/// A policy, rules file or OPA client that cannot be set up (at start or reload, never per
/// request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyLoadError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The RBAC file is not valid.
    #[error("invalid RBAC rules: {0}")]
    Rbac(String),
    /// A Rego module or data file does not load, or the entrypoint is not defined.
    #[error("invalid Rego bundle: {0}")]
    Rego(String),
    /// The OPA client's URL or path is not valid.
    #[error("invalid OPA client settings: {0}")]
    Opa(String),
}

/// The README's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
