//! The credential store on SQLite, PostgreSQL or MariaDB/MySQL (sqlx's Any driver, runtime
//! queries), and the store-backed [`CredentialVerifier`].
use iam_core::authn::BoxFuture;
use iam_core::credential::{
    generate, CredentialError, CredentialKind, CredentialVerifier, NewToken, ParsedToken, Peppers,
    VerifiedCredential,
};
use iam_core::scope::ScopeSet;
use iam_store::sqlx::{self, any::AnyRow, Row};
use iam_store::{Database, Migration};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub use iam_store::Backend;

/// The migration namespace of this service in `iam_store_migrations`.
const NAMESPACE: &str = "credential-service";

/// The version-only table this service used before iam-store; its versions are adopted.
const LEGACY_TABLE: &str = "iam_schema_migrations";

/// The schema. Version 2 makes identifiers compare byte for byte on MySQL-family servers,
/// whose binary no-pad collation differs (MariaDB's `*_nopad_bin`, MySQL 8's
/// `utf8mb4_0900_bin`); the other databases compare exactly already.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
        mysql: include_str!("../migrations/mysql/0001_init.sql"),
    },
    Migration {
        version: 2,
        sqlite: "",
        postgres: "",
        mysql: include_str!("../migrations/mysql/0002_binary_identifiers.sql"),
    },
];

/// [`MIGRATIONS`] on MariaDB.
const MARIADB_MIGRATIONS: &[Migration] = &[
    MIGRATIONS[0],
    Migration {
        version: 2,
        sqlite: "",
        postgres: "",
        mysql: include_str!("../migrations/mariadb/0002_binary_identifiers.sql"),
    },
];

/// A store failure. Never carries a token or a hash.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a sqlite:, postgres: or mysql: URL.
    #[error("DATABASE_URL must start with sqlite:, postgres: or mysql:")]
    UnsupportedUrl,
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// No randomness.
    #[error("no randomness available")]
    Random,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // sqlx errors name the failing statement's problem, never bound values.
        Self::Database(e.to_string())
    }
}

impl From<iam_store::StoreError> for StoreError {
    fn from(e: iam_store::StoreError) -> Self {
        match e {
            iam_store::StoreError::UnsupportedUrl => Self::UnsupportedUrl,
            other => Self::Database(other.to_string()),
        }
    }
}

/// Why the store refused a token: [`Refusal::Unknown`] (no credential has this lookup id)
/// is told apart from a refusal of an existing credential, so that guesses of random ids
/// cost the guesser's rate-limit budget and not the id's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential has this lookup id.
    Unknown,
    /// The credential exists: wrong secret or kind, or revoked.
    Invalid,
    /// The credential exists and has expired.
    Expired,
    /// The database failed.
    Unavailable,
}

impl From<Refusal> for CredentialError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Unknown | Refusal::Invalid => CredentialError::Invalid,
            Refusal::Expired => CredentialError::Expired,
            Refusal::Unavailable => CredentialError::Unavailable,
        }
    }
}

/// Whether a MySQL-family server is MariaDB.
async fn is_mariadb(db: &Database) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT CAST(VERSION() AS CHAR) AS v")
        .fetch_one(db.pool())
        .await?;
    let version: String = row.try_get("v")?;
    Ok(version.to_ascii_lowercase().contains("mariadb"))
}

/// A credential's metadata, as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Record {
    /// Id.
    pub id: String,
    /// `pat`, `api_key` or `service`.
    pub kind: &'static str,
    /// Display name.
    pub name: String,
    /// User id, organisation id or service name.
    pub owner: String,
    /// Tenant.
    pub tenant: Option<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, or null.
    pub expires_at: Option<String>,
    /// RFC 3339, or null (written at most once a minute).
    pub last_used_at: Option<String>,
    /// RFC 3339 when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Why it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

/// What a new credential is.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// Kind.
    pub kind: CredentialKind,
    /// Display name.
    pub name: String,
    /// Owner.
    pub owner: String,
    /// Tenant.
    pub tenant: Option<String>,
    /// Scopes.
    pub scopes: ScopeSet,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
}

/// Current Unix time.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The store.
pub struct Store {
    db: Database,
    peppers: Peppers,
    /// Credential id → last use not yet written.
    last_used: Mutex<HashMap<String, i64>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, kind, lookup_id, hash, pepper_version, owner, tenant, name, scopes, \
                       created_at, expires_at, last_used_at, revoked_at, revoked_reason";

struct Row_ {
    id: String,
    kind: CredentialKind,
    hash: String,
    pepper_version: i64,
    owner: String,
    tenant: Option<String>,
    name: String,
    scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
}

impl Row_ {
    fn from(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let kind: String = r.try_get("kind")?;
        Ok(Self {
            id: r.try_get("id")?,
            kind: CredentialKind::from_name(&kind)
                .ok_or_else(|| sqlx::Error::Decode("unknown credential kind".into()))?,
            hash: r.try_get("hash")?,
            pepper_version: r.try_get("pepper_version")?,
            owner: r.try_get("owner")?,
            tenant: r.try_get("tenant")?,
            name: r.try_get("name")?,
            scopes: r.try_get("scopes")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            last_used_at: r.try_get("last_used_at")?,
            revoked_at: r.try_get("revoked_at")?,
            revoked_reason: r.try_get("revoked_reason")?,
        })
    }
    fn record(&self) -> Record {
        Record {
            id: self.id.clone(),
            kind: self.kind.as_str(),
            name: self.name.clone(),
            owner: self.owner.clone(),
            tenant: self.tenant.clone(),
            scopes: ScopeSet::from_space_separated(&self.scopes)
                .iter()
                .map(str::to_owned)
                .collect(),
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
            last_used_at: self.last_used_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
            revoked_reason: self.revoked_reason.clone(),
        }
    }
}

impl Store {
    /// Connect to `url` and apply the migrations of its backend (after adopting the
    /// versions an older build recorded in its own table, so they are not applied twice).
    pub async fn connect(url: &str, peppers: Peppers) -> Result<Self, StoreError> {
        let db = Database::connect(url).await?;
        db.adopt_legacy_migrations(NAMESPACE, LEGACY_TABLE).await?;
        let migrations = if db.backend() == Backend::MySql && is_mariadb(&db).await? {
            MARIADB_MIGRATIONS
        } else {
            MIGRATIONS
        };
        db.migrate(NAMESPACE, migrations).await?;
        Ok(Self {
            db,
            peppers,
            last_used: Mutex::new(HashMap::new()),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The database (its pool, placeholders, `ping`).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// `Ok` when the database answers (`/health/ready`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    fn new_id() -> Result<String, StoreError> {
        let mut b = [0u8; 12];
        getrandom::getrandom(&mut b).map_err(|_| StoreError::Random)?;
        Ok(format!("cred_{}", hex(&b)))
    }

    /// Create a credential; the token is returned this once.
    pub async fn create(&self, new: NewCredential) -> Result<(Record, NewToken), StoreError> {
        let token = generate(new.kind).map_err(|_| StoreError::Random)?;
        let (version, hash) = self.peppers.hash(token.secret());
        let row = Row_ {
            id: Self::new_id()?,
            kind: new.kind,
            hash: hex(&hash),
            pepper_version: i64::from(version),
            owner: new.owner,
            tenant: new.tenant,
            name: new.name,
            scopes: new.scopes.to_space_separated(),
            created_at: now(),
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
        };
        sqlx::query(&self.db.sql(
            "INSERT INTO credentials (id, kind, lookup_id, hash, pepper_version, owner, tenant, name, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&row.id)
        .bind(row.kind.as_str())
        .bind(token.parsed().lookup_id())
        .bind(&row.hash)
        .bind(row.pepper_version)
        .bind(&row.owner)
        .bind(row.tenant.clone())
        .bind(&row.name)
        .bind(&row.scopes)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(self.db.pool())
        .await?;
        Ok((row.record(), token))
    }

    /// Credentials, newest first; `owner` filters.
    pub async fn list(&self, owner: Option<&str>) -> Result<Vec<Record>, StoreError> {
        let rows = match owner {
            Some(o) => {
                sqlx::query(&self.db.sql(&format!(
                    "SELECT {COLUMNS} FROM credentials WHERE owner = ? ORDER BY created_at DESC, id"
                )))
                .bind(o.to_owned())
                .fetch_all(self.db.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM credentials ORDER BY created_at DESC, id"
                ))
                .fetch_all(self.db.pool())
                .await?
            }
        };
        rows.iter().map(|r| Ok(Row_::from(r)?.record())).collect()
    }

    async fn row(&self, id: &str) -> Result<Option<Row_>, StoreError> {
        let row = sqlx::query(
            &self
                .db
                .sql(&format!("SELECT {COLUMNS} FROM credentials WHERE id = ?")),
        )
        .bind(id.to_owned())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(Row_::from).transpose()?)
    }

    /// One credential.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.row(id).await?.map(|r| r.record()))
    }

    /// A new secret for a live credential (same metadata); the old one is dead at once.
    pub async fn regenerate(&self, id: &str) -> Result<Option<(Record, NewToken)>, StoreError> {
        let Some(row) = self.row(id).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() {
            return Ok(None);
        }
        let token = generate(row.kind).map_err(|_| StoreError::Random)?;
        let (version, hash) = self.peppers.hash(token.secret());
        sqlx::query(&self.db.sql(
            "UPDATE credentials SET lookup_id = ?, hash = ?, pepper_version = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(token.parsed().lookup_id())
        .bind(hex(&hash))
        .bind(i64::from(version))
        .bind(id.to_owned())
        .execute(self.db.pool())
        .await?;
        Ok(Some((row.record(), token)))
    }

    /// Revoke; `false` when there is no such live credential.
    pub async fn revoke(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.db.sql(
            "UPDATE credentials SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(now())
        .bind(reason.to_owned())
        .bind(id.to_owned())
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The live personal access tokens of `owner` holding a scope `still_held` refuses,
    /// revoked with `reason`; their records are returned (for the audit log).
    pub async fn revoke_pats_exceeding(
        &self,
        owner: &str,
        still_held: impl Fn(&str) -> bool,
        reason: &str,
    ) -> Result<Vec<Record>, StoreError> {
        let mut revoked = Vec::new();
        for record in self.list(Some(owner)).await? {
            if record.kind != CredentialKind::PersonalAccessToken.as_str()
                || record.revoked_at.is_some()
                || record.scopes.iter().all(|s| still_held(s))
            {
                continue;
            }
            if self.revoke(&record.id, reason).await? {
                revoked.push(record);
            }
        }
        Ok(revoked)
    }

    /// Verify a token, telling an unknown lookup id apart from other refusals.
    pub async fn check(&self, token: ParsedToken<'_>) -> Result<VerifiedCredential, Refusal> {
        let row = sqlx::query(&self.db.sql(&format!(
            "SELECT {COLUMNS} FROM credentials WHERE lookup_id = ?"
        )))
        .bind(token.lookup_id().to_owned())
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "credential lookup failed");
            Refusal::Unavailable
        })?;
        let row = row
            .as_ref()
            .map(Row_::from)
            .transpose()
            .map_err(|_| Refusal::Unavailable)?
            .ok_or(Refusal::Unknown)?;
        let version = u32::try_from(row.pepper_version).map_err(|_| Refusal::Invalid)?;
        let stored = unhex(&row.hash).ok_or(Refusal::Invalid)?;
        // Constant-time HMAC comparison; the kind must match the row's too.
        if row.kind != token.kind() || !self.peppers.verify(token.secret(), version, &stored) {
            return Err(Refusal::Invalid);
        }
        if row.revoked_at.is_some() {
            return Err(Refusal::Invalid);
        }
        let t = now();
        if row.expires_at.is_some_and(|e| e <= t) {
            return Err(Refusal::Expired);
        }
        if let Ok(mut pending) = self.last_used.lock() {
            pending.insert(row.id.clone(), t);
        }
        Ok(VerifiedCredential {
            kind: row.kind,
            id: row.id,
            owner: row.owner,
            tenant: row.tenant,
            scopes: ScopeSet::from_space_separated(&row.scopes),
            expires_at: row.expires_at,
        })
    }

    /// Write the pending `last_used_at` values (one write per credential however many uses;
    /// called every minute and at shutdown).
    pub async fn flush_last_used(&self) -> Result<usize, StoreError> {
        let pending: Vec<(String, i64)> = match self.last_used.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(0),
        };
        for (id, t) in &pending {
            sqlx::query(
                &self
                    .db
                    .sql("UPDATE credentials SET last_used_at = ? WHERE id = ?"),
            )
            .bind(*t)
            .bind(id.clone())
            .execute(self.db.pool())
            .await?;
        }
        Ok(pending.len())
    }
}

impl CredentialVerifier for Store {
    fn verify<'a>(
        &'a self,
        token: ParsedToken<'a>,
    ) -> BoxFuture<'a, Result<VerifiedCredential, CredentialError>> {
        Box::pin(async move { self.check(token).await.map_err(CredentialError::from) })
    }
}
