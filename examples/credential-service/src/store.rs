//! The credential store on SQLite, PostgreSQL or MariaDB/MySQL (sqlx's Any driver, runtime
//! queries), and the store-backed [`CredentialVerifier`].
use iam_core::authn::BoxFuture;
use iam_core::credential::{
    generate, CredentialError, CredentialKind, CredentialVerifier, NewToken, ParsedToken, Peppers,
    VerifiedCredential,
};
use iam_core::scope::ScopeSet;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The database, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` (the embedded default).
    Sqlite,
    /// `postgres:` / `postgresql:`.
    Postgres,
    /// `mysql:` / `mariadb:`.
    MySql,
}

impl Backend {
    /// The backend a URL selects.
    pub fn of(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            _ => None,
        }
    }
    fn migrations(self) -> &'static [(i64, &'static str)] {
        match self {
            Self::Sqlite => &[(1, include_str!("../migrations/sqlite/0001_init.sql"))],
            Self::Postgres => &[(1, include_str!("../migrations/postgres/0001_init.sql"))],
            Self::MySql => &[
                (1, include_str!("../migrations/mysql/0001_init.sql")),
                (
                    2,
                    include_str!("../migrations/mysql/0002_binary_identifiers.sql"),
                ),
            ],
        }
    }
}

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
    pool: AnyPool,
    backend: Backend,
    peppers: Peppers,
    /// Credential id → last use not yet written.
    last_used: Mutex<HashMap<String, i64>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
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
    /// Connect to `url` and apply the migrations of its backend.
    pub async fn connect(url: &str, peppers: Peppers) -> Result<Self, StoreError> {
        let backend = Backend::of(url).ok_or(StoreError::UnsupportedUrl)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await?;
        let store = Self {
            pool,
            backend,
            peppers,
            last_used: Mutex::new(HashMap::new()),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `?` placeholders, numbered for PostgreSQL.
    fn sql(&self, sql: &str) -> String {
        if self.backend != Backend::Postgres {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS iam_schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for (version, script) in self.backend.migrations() {
            let done = sqlx::query(
                &self.sql("SELECT version FROM iam_schema_migrations WHERE version = ?"),
            )
            .bind(*version)
            .fetch_optional(&self.pool)
            .await?;
            if done.is_some() {
                continue;
            }
            let script = self.collations(script).await?;
            for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(statement).execute(&self.pool).await?;
            }
            sqlx::query(
                &self.sql("INSERT INTO iam_schema_migrations (version, applied_at) VALUES (?, ?)"),
            )
            .bind(*version)
            .bind(now())
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// `{BIN}` / `{ASCII_BIN}` in a MySQL-family script: the exact (binary, no padding)
    /// collation of this server. MariaDB's `*_bin` collations pad trailing spaces
    /// (`'alice ' = 'alice'`); its `*_nopad_bin` ones and MySQL 8's `utf8mb4_0900_bin` do not.
    async fn collations(&self, script: &str) -> Result<String, StoreError> {
        if !script.contains("{BIN}") && !script.contains("{ASCII_BIN}") {
            return Ok(script.to_owned());
        }
        let row = sqlx::query("SELECT CAST(VERSION() AS CHAR) AS v")
            .fetch_one(&self.pool)
            .await?;
        let version: String = row.try_get("v")?;
        let (bin, ascii) = if version.to_ascii_lowercase().contains("mariadb") {
            (
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
                "CHARACTER SET ascii COLLATE ascii_nopad_bin",
            )
        } else {
            (
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin",
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin",
            )
        };
        Ok(script.replace("{ASCII_BIN}", ascii).replace("{BIN}", bin))
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
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
        sqlx::query(&self.sql(
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
        .execute(&self.pool)
        .await?;
        Ok((row.record(), token))
    }

    /// Credentials, newest first; `owner` filters.
    pub async fn list(&self, owner: Option<&str>) -> Result<Vec<Record>, StoreError> {
        let rows = match owner {
            Some(o) => {
                sqlx::query(&self.sql(&format!(
                    "SELECT {COLUMNS} FROM credentials WHERE owner = ? ORDER BY created_at DESC, id"
                )))
                .bind(o.to_owned())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM credentials ORDER BY created_at DESC, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(|r| Ok(Row_::from(r)?.record())).collect()
    }

    async fn row(&self, id: &str) -> Result<Option<Row_>, StoreError> {
        let row =
            sqlx::query(&self.sql(&format!("SELECT {COLUMNS} FROM credentials WHERE id = ?")))
                .bind(id.to_owned())
                .fetch_optional(&self.pool)
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
        sqlx::query(&self.sql(
            "UPDATE credentials SET lookup_id = ?, hash = ?, pepper_version = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(token.parsed().lookup_id())
        .bind(hex(&hash))
        .bind(i64::from(version))
        .bind(id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(Some((row.record(), token)))
    }

    /// Revoke; `false` when there is no such live credential.
    pub async fn revoke(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.sql(
            "UPDATE credentials SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
        ))
        .bind(now())
        .bind(reason.to_owned())
        .bind(id.to_owned())
        .execute(&self.pool)
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
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {COLUMNS} FROM credentials WHERE lookup_id = ?"
        )))
        .bind(token.lookup_id().to_owned())
        .fetch_optional(&self.pool)
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
            sqlx::query(&self.sql("UPDATE credentials SET last_used_at = ? WHERE id = ?"))
                .bind(*t)
                .bind(id.clone())
                .execute(&self.pool)
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
