//! [`SqlKeyStore`]: iam-issuer's [`KeyStore`] on SQLite, PostgreSQL or MariaDB (feature
//! `issuer`).
//!
//! ```no_run
//! use iam_issuer::{KeyAlgorithm, KeyEncryptionKey, KeyRing, RotationPolicy};
//! use iam_store::{Database, SqlKeyStore};
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("sqlite://./iam-data/iam.db?mode=rwc").await?;
//! let store = SqlKeyStore::open(db).await?; // applies the "iam-issuer" migrations
//! let kek = KeyEncryptionKey::from_base64(&std::env::var("KEY_ENCRYPTION_KEY")?)?;
//! let ring = KeyRing::open(Arc::new(store), kek, KeyAlgorithm::Es256,
//!                          RotationPolicy::default(), iam_core::clock::SystemClock).await?;
//! # let _ = ring; Ok(()) }
//! ```
//!
//! One table, `iam_issuer_keys`. The store's two decisions are made by the database:
//! `generation` is `UNIQUE`, and `current_slot` (1 for the current key, `NULL` otherwise) is
//! `UNIQUE`, so no two instances can create the same generation or hold two current keys; a
//! transition runs in one transaction whose updates each name the state the caller saw
//! (`WHERE kid = ? AND state = ?`), rolled back unless every one matched. On PostgreSQL and
//! MariaDB a competing transition waits for the row lock, then matches nothing.
//!
//! # Caveats
//! - The sealed private key is stored as base64 text (one code path for the three backends);
//!   on MariaDB the JWK and the sealed key are `VARCHAR(4096)` (an RSA 2048 key needs about
//!   1.7 KB sealed, 0.5 KB as a JWK).
//! - SQLite serialises writers: a transition waits up to the pool's busy timeout (5 s) for
//!   another instance's.
use crate::database::retry_contended;
use crate::database::{Database, StoreError};
use crate::migrate::Migration;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use iam_issuer::{BoxFuture, KeyState, KeyStore, KeyStoreError, StoredKey, Transition};
use sqlx::Row as _;

/// The migrations of iam-issuer's key table (namespace [`SqlKeyStore::NAMESPACE`]).
pub const ISSUER_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sqlite: "CREATE TABLE iam_issuer_keys (
        kid VARCHAR(64) PRIMARY KEY,
        generation BIGINT NOT NULL UNIQUE,
        algorithm VARCHAR(16) NOT NULL,
        state VARCHAR(16) NOT NULL,
        current_slot INTEGER UNIQUE CHECK (current_slot = 1),
        created_at BIGINT NOT NULL,
        activated_at BIGINT,
        retired_at BIGINT,
        public_jwk TEXT NOT NULL,
        sealed_private_key TEXT NOT NULL,
        kek_id VARCHAR(64) NOT NULL
    )",
    postgres: "CREATE TABLE iam_issuer_keys (
        kid VARCHAR(64) PRIMARY KEY,
        generation BIGINT NOT NULL UNIQUE,
        algorithm VARCHAR(16) NOT NULL,
        state VARCHAR(16) NOT NULL,
        current_slot INTEGER UNIQUE CHECK (current_slot = 1),
        created_at BIGINT NOT NULL,
        activated_at BIGINT,
        retired_at BIGINT,
        public_jwk TEXT NOT NULL,
        sealed_private_key TEXT NOT NULL,
        kek_id VARCHAR(64) NOT NULL
    )",
    // VARCHAR rather than TEXT: TEXT comes back as a BLOB through the Any driver.
    mysql: "CREATE TABLE iam_issuer_keys (
        kid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
        generation BIGINT NOT NULL UNIQUE,
        algorithm VARCHAR(16) NOT NULL,
        state VARCHAR(16) NOT NULL,
        current_slot INTEGER UNIQUE CHECK (current_slot = 1),
        created_at BIGINT NOT NULL,
        activated_at BIGINT,
        retired_at BIGINT,
        public_jwk VARCHAR(4096) NOT NULL,
        sealed_private_key VARCHAR(4096) CHARACTER SET ascii NOT NULL,
        kek_id VARCHAR(64) NOT NULL
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
}];

/// iam-issuer's keys in a [`Database`]. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlKeyStore {
    db: Database,
}

fn unavailable(e: impl Into<StoreError>) -> KeyStoreError {
    KeyStoreError::unavailable(e.into())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqlKeyStore {
    /// The migration namespace.
    pub const NAMESPACE: &'static str = "iam-issuer";

    /// The store on `db`, after applying [`ISSUER_MIGRATIONS`].
    pub async fn open(db: Database) -> Result<Self, StoreError> {
        db.migrate(Self::NAMESPACE, ISSUER_MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn load_all(&self) -> Result<Vec<StoredKey>, KeyStoreError> {
        let rows = sqlx::query(
            "SELECT kid, generation, algorithm, state, created_at, activated_at, retired_at, \
             public_jwk, sealed_private_key, kek_id FROM iam_issuer_keys",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let get_str = |name: &'static str| -> Result<String, KeyStoreError> {
                    row.try_get::<String, _>(name)
                        .map_err(|_| KeyStoreError::corrupt(name))
                };
                let get_i64 = |name: &'static str| -> Result<i64, KeyStoreError> {
                    row.try_get::<i64, _>(name)
                        .map_err(|_| KeyStoreError::corrupt(name))
                };
                let get_opt = |name: &'static str| -> Result<Option<i64>, KeyStoreError> {
                    row.try_get::<Option<i64>, _>(name)
                        .map_err(|_| KeyStoreError::corrupt(name))
                };
                let state = KeyState::from_name(&get_str("state")?)
                    .ok_or(KeyStoreError::corrupt("state"))?;
                let sealed = STANDARD
                    .decode(get_str("sealed_private_key")?)
                    .map_err(|_| KeyStoreError::corrupt("sealed_private_key"))?;
                Ok(StoredKey {
                    kid: get_str("kid")?,
                    generation: get_i64("generation")?,
                    algorithm: get_str("algorithm")?,
                    state,
                    created_at: get_i64("created_at")?,
                    activated_at: get_opt("activated_at")?,
                    retired_at: get_opt("retired_at")?,
                    public_jwk: get_str("public_jwk")?,
                    sealed_private_key: sealed,
                    kek_id: get_str("kek_id")?,
                })
            })
            .collect()
    }

    async fn insert_one(&self, key: &StoredKey) -> Result<bool, KeyStoreError> {
        let sql = self.db.sql(
            "INSERT INTO iam_issuer_keys (kid, generation, algorithm, state, current_slot, \
             created_at, activated_at, retired_at, public_jwk, sealed_private_key, kek_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let result = sqlx::query(&sql)
            .bind(&key.kid)
            .bind(key.generation)
            .bind(&key.algorithm)
            .bind(key.state.as_str())
            .bind((key.state == KeyState::Current).then_some(1_i64))
            .bind(key.created_at)
            .bind(key.activated_at)
            .bind(key.retired_at)
            .bind(&key.public_jwk)
            .bind(STANDARD.encode(&key.sealed_private_key))
            .bind(&key.kek_id)
            .execute(self.db.pool())
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn transition_all(&self, changes: &[Transition]) -> Result<bool, KeyStoreError> {
        // Keys leaving `current` first, so the slot is free for the one entering it.
        let mut ordered: Vec<&Transition> = changes.iter().collect();
        ordered.sort_by_key(|c| c.to == KeyState::Current);
        let ordered = &ordered;
        retry_contended(|| async move {
            let mut tx = self.db.pool().begin().await.map_err(unavailable)?;
            for &change in ordered {
                let (sql, at) = match change.to {
                    KeyState::Current => (
                        "UPDATE iam_issuer_keys SET state = 'current', current_slot = 1, \
                         activated_at = ? WHERE kid = ? AND state = ?",
                        Some(change.at),
                    ),
                    KeyState::Retired => (
                        "UPDATE iam_issuer_keys SET state = 'retired', current_slot = NULL, \
                         retired_at = ? WHERE kid = ? AND state = ?",
                        Some(change.at),
                    ),
                    KeyState::Next => (
                        "UPDATE iam_issuer_keys SET state = 'next', current_slot = NULL \
                         WHERE kid = ? AND state = ?",
                        None,
                    ),
                };
                let sql = self.db.sql(sql);
                let mut query = sqlx::query(&sql);
                if let Some(at) = at {
                    query = query.bind(at);
                }
                let result = query
                    .bind(&change.kid)
                    .bind(change.from.as_str())
                    .execute(&mut *tx)
                    .await;
                let matched = match result {
                    Ok(done) => done.rows_affected() == 1,
                    Err(e) if is_unique_violation(&e) => false,
                    Err(e) => {
                        let _ = tx.rollback().await;
                        return Err(unavailable(e));
                    }
                };
                if !matched {
                    tx.rollback().await.map_err(unavailable)?;
                    return Ok(false);
                }
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(true)
        })
        .await
    }
}

impl KeyStore for SqlKeyStore {
    fn load(&self) -> BoxFuture<'_, Result<Vec<StoredKey>, KeyStoreError>> {
        Box::pin(self.load_all())
    }

    fn insert<'a>(&'a self, key: &'a StoredKey) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        Box::pin(self.insert_one(key))
    }

    fn transition<'a>(
        &'a self,
        changes: &'a [Transition],
    ) -> BoxFuture<'a, Result<bool, KeyStoreError>> {
        Box::pin(self.transition_all(changes))
    }

    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(async move {
            let sql = self.db.sql("DELETE FROM iam_issuer_keys WHERE kid = ?");
            sqlx::query(&sql)
                .bind(kid)
                .execute(self.db.pool())
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }
}
