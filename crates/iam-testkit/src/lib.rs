//! The shared test kit of iam-rs (not published).
//!
//! Every test in the workspace takes its fixtures from here instead of building its own:
//! - [`keys`]: signing keys for every algorithm the validator accepts, their JWKs, and a
//!   [`keys::Signer`] that signs any header and payload, hostile ones included;
//! - [`server`]: one scripted loopback HTTP server with a request log, for JWKS endpoints,
//!   identity-provider doubles and upstreams;
//! - [`schema`]: checks a double's bodies against a published OpenAPI document, so a double
//!   answers with exactly the shapes the real server does;
//! - [`data`]: the vendored specifications and test vectors (no `../shared` needed);
//! - [`scratch`]: a temporary directory and SQLite database, a free loopback port;
//! - [`peers`]: the Go-built peers (Hydra, Kratos, Oathkeeper, OPA) as child processes;
//! - [`services`]: the backing services (Redis, PostgreSQL, MariaDB) that `scripts/test`
//!   starts, for tests marked `#[ignore = "needs …"]`;
//! - `app` (feature `axum`): an axum router under test, served on a loopback port;
//! - `requests` (feature `core`): the status a bearer token gets from an authenticator;
//! - `conformance` (feature `conformance`): the fixtures every framework adapter runs;
//! - [`verdicts`]: the native verdict export the wasm parity tests replay.
//!
//! Test code: `unwrap` and `panic!` are the right answer to a broken fixture here.
#![forbid(unsafe_code)]

pub mod agent;
#[cfg(feature = "axum")]
pub mod app;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod data;
pub mod keys;
pub mod peers;
#[cfg(feature = "core")]
pub mod requests;
pub mod schema;
pub mod scratch;
pub mod server;
pub mod services;
pub mod verdicts;

pub use keys::{b64, Signer};
pub use server::{LoopbackServer, RecordedRequest, Reply};
