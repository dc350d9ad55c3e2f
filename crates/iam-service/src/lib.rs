//! What every iam-rs service binary needs, written once.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use iam_service::{health::Health, metrics::Metrics, Env, Service};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! iam_service::telemetry::init();
//! let env = Env::new("ORDERS_");
//! let listen = env.socket_addr("LISTEN", "127.0.0.1:3000")?;
//! let app = Router::new().route("/orders", get(|| async { "[]" }));
//! Service::new(app)
//!     .health(Health::new())
//!     .metrics(Metrics::global())
//!     .serve(listen)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! - [`config`]: typed configuration errors and environment readers ([`Env`]); a binary exits
//!   with status 2 and one line naming the variable on a bad setting.
//! - [`telemetry`]: the tracing subscriber (`RUST_LOG`, `LOG_FORMAT=json`).
//! - [`metrics`]: the Prometheus exporter behind the `metrics` facade, served at `/metrics`,
//!   on the main listener or a separate internal one.
//! - [`health`]: `/health/alive` and `/health/ready` with readiness checks.
//! - [`shutdown`]: graceful shutdown on SIGINT and SIGTERM.
//! - [`problem`]: JSON error answers, including the body-limit and JSON rejections.
//! - [`ratelimit`]: a rate-limiter trait with an in-process GCRA (governor) and a
//!   Redis-shared GCRA behind it.
//! - [`client_ip`]: the client address, from `X-Forwarded-For` only when the peer is a
//!   trusted proxy.
//!
//! # Caveats
//! - The Prometheus recorder is process-global; [`metrics::Metrics::global`] installs it once.
//! - The Redis limiter counts in Redis: when Redis is unreachable it falls back to its
//!   in-process limiter (limits then hold per instance, never switched off).
#![forbid(unsafe_code)]

pub mod client_ip;
pub mod config;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod ratelimit;
mod serve;
pub mod shutdown;
pub mod telemetry;

pub use config::{ConfigError, Env};
pub use problem::Problem;
pub use serve::{serve_listeners, ServeError, Service};

/// The README's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
