//! The `id_token` mutator's signing keys: in a database shared by every instance when one is
//! configured, else in memory.
//!
//! | file key | variable (prefix `ACCESS_PROXY_`) | meaning |
//! |---|---|---|
//! | `id_token_keys.database_url` | `ID_TOKEN_DATABASE_URL` | SQLite, PostgreSQL or MariaDB URL of the key store |
//! | `id_token_keys.key_encryption_key` | `ID_TOKEN_KEY_ENCRYPTION_KEY` | 32 bytes, base64: seals the private keys at rest (required with a database) |
//!
//! With a database, the key ring is iam-issuer's over iam-store's `SqlKeyStore`: every
//! instance signs with the same current key, publishes the same JWKS and rotates it together
//! (the store decides, see iam-issuer's `KeyRing`). Without one, each instance generates its
//! own ES256 keys at start and publishes only those: upstreams must then trust the JWKS of
//! every instance, and a restart changes the keys.
//!
//! ```
//! use access_proxy::keys::IdTokenKeysConfig;
//! let env = iam_service::Env::with_lookup("ACCESS_PROXY_", |_| None);
//! let doc = serde_json::json!({"id_token_keys": {"database_url": "sqlite://keys.db?mode=rwc"}});
//! // A database without a key-encryption key is refused: a generated one would make the
//! // stored keys unreadable by the other instances and after a restart.
//! assert!(IdTokenKeysConfig::from_document(&doc, &env).is_err());
//! ```
//!
//! # Caveats
//! - `SqlKeyStore` keeps one key table (`iam_issuer_keys`): give the proxy a database (or
//!   SQLite file) of its own; sharing iam-api's would sign with iam-api's keys.
//! - The key store must answer at start (the ring is opened then); afterwards tokens are
//!   signed from memory and a failed rotation tick is logged and retried on the next one.
use iam_core::Secret;
use iam_issuer::{
    KeyAlgorithm, KeyEncryptionKey, KeyRing, KeyStore, MemoryKeyStore, RotationPolicy,
};
use iam_service::{ConfigError, Env};
use serde_json::Value;
use std::sync::Arc;

/// Where the `id_token` keys live.
#[derive(Debug, Clone, Default)]
pub struct IdTokenKeysConfig {
    /// The key store's database URL (may hold a password).
    pub database_url: Option<Secret>,
    /// Seals the private keys at rest (required with a database).
    pub key_encryption_key: Option<KeyEncryptionKey>,
}

impl IdTokenKeysConfig {
    /// Read the `id_token_keys` section of `doc` and the environment overrides.
    pub fn from_document(doc: &Value, env: &Env) -> Result<Self, ConfigError> {
        let at = |var: &str, key: &str| {
            env.get(var).or_else(|| {
                doc.pointer(&format!("/id_token_keys/{key}"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
            })
        };
        let database_url = at("ID_TOKEN_DATABASE_URL", "database_url").map(Secret::new);
        let key_encryption_key = at("ID_TOKEN_KEY_ENCRYPTION_KEY", "key_encryption_key")
            .map(|text| {
                KeyEncryptionKey::from_base64(&text).map_err(|_| {
                    ConfigError::invalid(
                        env.name("ID_TOKEN_KEY_ENCRYPTION_KEY"),
                        "must be 32 bytes, base64",
                    )
                })
            })
            .transpose()?;
        if database_url.is_some() && key_encryption_key.is_none() {
            return Err(ConfigError::invalid(
                env.name("ID_TOKEN_KEY_ENCRYPTION_KEY"),
                "required with ID_TOKEN_DATABASE_URL (every instance must read the same keys)",
            ));
        }
        Ok(Self {
            database_url,
            key_encryption_key,
        })
    }

    /// Open the key ring: ES256 on the default rotation policy (every 30 days, tokens up to
    /// one hour), from the database when one is configured.
    pub async fn open(&self) -> Result<KeyRing, ConfigError> {
        const URL_VAR: &str = "ACCESS_PROXY_ID_TOKEN_DATABASE_URL";
        let (store, kek): (Arc<dyn KeyStore>, KeyEncryptionKey) = match &self.database_url {
            Some(url) => {
                let db = iam_store::Database::connect(url.secret())
                    .await
                    .map_err(|e| ConfigError::invalid(URL_VAR, e.to_string()))?;
                let store = iam_store::SqlKeyStore::open(db)
                    .await
                    .map_err(|e| ConfigError::invalid(URL_VAR, e.to_string()))?;
                let kek = self.key_encryption_key.clone().ok_or_else(|| {
                    ConfigError::invalid("ACCESS_PROXY_ID_TOKEN_KEY_ENCRYPTION_KEY", "missing")
                })?;
                (Arc::new(store), kek)
            }
            None => (
                Arc::new(MemoryKeyStore::new()),
                self.key_encryption_key
                    .clone()
                    .unwrap_or_else(KeyEncryptionKey::generate),
            ),
        };
        KeyRing::open(
            store,
            kek,
            KeyAlgorithm::Es256,
            RotationPolicy::default(),
            iam_core::clock::SystemClock,
        )
        .await
        .map_err(|e| ConfigError::invalid("mutators.id_token", e.to_string()))
    }
}
