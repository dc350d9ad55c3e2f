//! iam-identity's repositories on SQLite, PostgreSQL and MariaDB/MySQL (feature `identity`),
//! and its limiter and MFA challenge store on Redis.
//!
//! ```no_run
//! use iam_store::identity::{RedisChallenges, SqlIdentityStore};
//! use iam_identity::repository::Repositories;
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let db = iam_store::Database::connect("sqlite://./iam-data/iam.db?mode=rwc").await?;
//! let store = Arc::new(SqlIdentityStore::open(db).await?); // applies the migrations
//! let challenges = Arc::new(RedisChallenges::new("redis://127.0.0.1/0", "iam:")?);
//! let repos = Repositories::from_store(store, challenges);
//! # let _ = repos; Ok(()) }
//! ```
//!
//! # Caveats
//! - Atomic operations (spending a refresh token, using a TOTP step, redeeming a recovery
//!   code) are single conditional `UPDATE`s, so they hold across instances sharing the
//!   database.
//! - A refresh reads what it needs with its spend: on PostgreSQL one statement (a CTE that
//!   spends the token, records its successor and joins the family, the user and the tenant),
//!   on SQLite and MariaDB one transaction; only the roles are a second statement.
//! - TOTP secrets are stored in plain base32: protect the database as you would the secrets.
//! - Every tenant-scoped statement filters on the tenant as well as the id.
mod access;
mod credentials;
mod redis_store;
pub mod schema;
pub(crate) mod statement;
mod users;

pub use redis_store::{RedisChallenges, RedisLimiter};

use crate::{Database, StoreError};
use iam_identity::RepositoryError;
use sqlx::any::AnyRow;
use sqlx::Row as _;

/// iam-identity's repositories on one [`Database`].
#[derive(Debug, Clone)]
pub struct SqlIdentityStore {
    db: Database,
}

impl SqlIdentityStore {
    /// Apply the identity migrations (namespace [`schema::NAMESPACE`]) and wrap `db`.
    pub async fn open(db: Database) -> Result<Self, StoreError> {
        db.migrate(schema::NAMESPACE, schema::MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// A sqlx error as a repository error: unique violations are conflicts.
pub(crate) fn repo_err(e: sqlx::Error) -> RepositoryError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return RepositoryError::Conflict;
        }
    }
    RepositoryError::unavailable(StoreError::from(e))
}

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, RepositoryError> {
    row.try_get::<String, _>(col).map_err(repo_err)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, RepositoryError> {
    row.try_get::<Option<String>, _>(col).map_err(repo_err)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, RepositoryError> {
    row.try_get::<i64, _>(col).map_err(repo_err)
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, RepositoryError> {
    row.try_get::<Option<i64>, _>(col).map_err(repo_err)
}

/// A list column (`\n`-separated; list items never hold a newline).
pub(crate) fn join_list(items: &[String]) -> String {
    items.join("\n")
}

pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
