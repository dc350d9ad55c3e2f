//! One database layer for the iam-rs services: SQLite (the embedded default), PostgreSQL and
//! MariaDB/MySQL, chosen by the URL, with migrations namespaced per service so that several
//! services can share one database.
//!
//! ```no_run
//! use iam_store::{Database, Migration};
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     sqlite: "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
//!     postgres: "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
//!     mysql: "CREATE TABLE notes (id VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, body TEXT NOT NULL)",
//! }];
//!
//! # async fn run() -> Result<(), iam_store::StoreError> {
//! let db = Database::connect("sqlite://./data/notes.db?mode=rwc").await?;
//! db.migrate("notes-service", MIGRATIONS).await?;
//! sqlx::query(&db.sql("INSERT INTO notes (id, body) VALUES (?, ?)"))
//!     .bind("n1")
//!     .bind("hello")
//!     .execute(db.pool())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! With the feature `issuer`, [`SqlKeyStore`] keeps iam-issuer's signing keys (sealed) in the
//! database. With the feature `identity`, `identity::SqlIdentityStore` implements
//! iam-identity's repositories, and `identity::RedisLimiter` / `identity::RedisChallenges` its
//! limiter and MFA challenges on Redis.
//!
//! # Caveats
//! - Queries go through sqlx's `Any` driver: write `?` placeholders and pass the text through
//!   [`Database::sql`], which numbers them for PostgreSQL.
//! - A migration script is split on `;` into statements, outside comments, quoted text and
//!   PostgreSQL dollar quotes (MariaDB procedure bodies with `DELIMITER` are not supported).
//! - Each applied migration's SHA-256 is recorded; a script edited after it was applied is
//!   refused at start ([`StoreError::MigrationChanged`]) rather than silently skipped.
//! - A transaction the database aborts to break a deadlock or a serialization conflict
//!   (InnoDB gap locks make two users' delete-then-insert collide) is run again by
//!   [`retry_contended`], a few times with a jittered pause, instead of failing the request.
//! - Migrations of one namespace run under a lock (PostgreSQL advisory lock, MariaDB
//!   `GET_LOCK`, SQLite's write lock), so instances starting together apply each once.
#![forbid(unsafe_code)]

mod database;
#[cfg(feature = "identity")]
pub mod identity;
#[cfg(feature = "issuer")]
mod issuer_keys;
mod migrate;

pub use database::{
    is_contended, is_contention, retry_contended, Backend, Database, StoreError,
    CONTENTION_ATTEMPTS,
};
#[cfg(feature = "issuer")]
pub use issuer_keys::{SqlKeyStore, ISSUER_MIGRATIONS};
pub use migrate::Migration;
pub use sqlx;

/// The README's examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
