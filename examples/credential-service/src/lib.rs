//! The credential service: personal access tokens, API keys and service tokens over REST
//! (`openapi.json`), stored on SQLite (the embedded default), PostgreSQL or MariaDB/MySQL.
//!
//! Environment (the contract other tooling relies on):
//! - `CREDENTIALS_LISTEN` (default `127.0.0.1:4000`);
//! - `DATABASE_URL` (default `sqlite://credentials.db?mode=rwc` in the working directory;
//!   `postgres://` and `mysql://` select those backends);
//! - `CREDENTIALS_BOOTSTRAP_TOKEN`: an admin bearer for first use;
//! - `CREDENTIALS_PEPPER`: the HMAC pepper, at least 32 bytes as hex or base64url; for
//!   rotation `2:<new>,1:<old>` (the highest version hashes new tokens, every listed version
//!   still verifies). Required when `CREDENTIALS_ENV=production`; otherwise generated and
//!   kept in `credentials.pepper` with a warning;
//! - `CREDENTIALS_ROUTE_SCOPES`: a file of `METHOD /PATTERN SCOPE` lines for `/validate`
//!   calls that pass `method` and `path` (deny by default);
//! - `REDIS_URL`: share the failed-validation counters between instances;
//! - `IAM_ISSUER`, `IAM_AUDIENCE`, `IAM_JWKS_URL`, `IAM_KRATOS_PUBLIC_URL`: how users
//!   authenticate to manage their own tokens (the middleware's settings).
#![forbid(unsafe_code)]

pub mod api;
pub mod store;

pub use api::{router, AppState, RateLimit};
pub use store::{Backend, Store};
