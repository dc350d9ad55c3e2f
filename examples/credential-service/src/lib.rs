//! The credential service: personal access tokens, API keys and service tokens over REST
//! (`openapi.json`), stored on SQLite (the embedded default), PostgreSQL or MariaDB/MySQL.
//!
//! Environment (the contract other tooling relies on):
//! - `CREDENTIALS_LISTEN` (default `127.0.0.1:4000`);
//! - `DATABASE_URL` (default `sqlite://credentials.db?mode=rwc` in the working directory;
//!   `postgres://` and `mysql://` select those backends);
//! - `CREDENTIALS_METRICS_LISTEN`: serve `/metrics` on this (internal) address only, not on
//!   `CREDENTIALS_LISTEN`;
//! - `CREDENTIALS_BOOTSTRAP_TOKEN`: an admin bearer for first use, at least 32 bytes (the
//!   service exits with status 2 otherwise), accepted for `CREDENTIALS_BOOTSTRAP_TTL_SECONDS`
//!   (default 3600) after start, with at most 10 failed attempts a minute;
//! - `CREDENTIALS_PAT_MAX_DAYS`: the longest lifetime of a personal access token (default
//!   90); every PAT needs an `expires_at` within it;
//! - `CREDENTIALS_PEPPER`: the HMAC pepper, at least 32 bytes as hex or base64url; for
//!   rotation `2:<new>,1:<old>` (the highest version hashes new tokens, every listed version
//!   still verifies). Required when `CREDENTIALS_ENV=production`; otherwise generated and
//!   kept in `credentials.pepper` (created once, mode 0600, never overwritten) with a warning;
//! - `CREDENTIALS_ROUTE_SCOPES`: a file of `METHOD /PATTERN SCOPE` lines for `/validate`
//!   calls that pass `method` and `path` (deny by default);
//! - `REDIS_URL`: share the failed-validation budgets between instances (see [`limit`]);
//! - `IAM_ISSUER`, `IAM_AUDIENCE`, `IAM_JWKS_URL`, `IAM_KRATOS_PUBLIC_URL`: how users
//!   authenticate to manage their own tokens (the middleware's settings). Each URL must be
//!   `https` or loopback; `IAM_DANGEROUS_ALLOW_HTTP=1` allows plain http elsewhere (logged as a
//!   warning at start), for a network you control.
#![forbid(unsafe_code)]

pub mod api;
pub mod bootstrap;
pub mod limit;
pub mod pepper_file;
pub mod store;

pub use api::{api_router, health, router, AppState, Options, RateLimit};
pub use bootstrap::Bootstrap;
pub use store::{Backend, Store};
