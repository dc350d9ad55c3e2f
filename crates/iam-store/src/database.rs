//! Connecting by URL, placeholders, health.
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::borrow::Cow;
use std::time::Duration;

/// The database, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
        match url.split(':').next()? {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            _ => None,
        }
    }
}

/// A database failure. Never carries a bound value or the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Not a sqlite:, postgres: or mysql: URL.
    #[error("the database URL must start with sqlite:, postgres: or mysql:")]
    UnsupportedUrl,
    /// The SQLite file's directory cannot be created.
    #[error("cannot create the database directory: {0}")]
    Directory(std::io::ErrorKind),
    /// The database failed or cannot be reached.
    #[error("database error: {0}")]
    Database(String),
    /// A migration already applied has been edited since.
    #[error("migration {namespace}/{version} was changed after it was applied")]
    MigrationChanged {
        /// The service's namespace.
        namespace: String,
        /// The version.
        version: i64,
    },
    /// The database holds a migration newer than this binary knows (a downgrade).
    #[error("the database has migration {namespace}/{version}, newer than this build knows")]
    MigrationUnknown {
        /// The service's namespace.
        namespace: String,
        /// The version.
        version: i64,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // sqlx errors name the statement's problem, never bound values; a connection error
        // may name the host, never the password.
        Self::Database(e.to_string())
    }
}

/// A connection pool on one of the three backends.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connect to `url` (`sqlite://path?mode=rwc`, `postgres://…`, `mysql://…`). For SQLite
    /// the file's directory is created when missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = Backend::of(url).ok_or(StoreError::UnsupportedUrl)?;
        if backend == Backend::Sqlite {
            if let Some(dir) = sqlite_dir(url) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Directory(e.kind()))?;
            }
        }
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self { pool, backend })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `sql` with its `?` placeholders numbered (`$1`, `$2`, …) for PostgreSQL; unchanged
    /// for the others. `?` inside string literals is left alone.
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        placeholders(self.backend, sql)
    }

    /// `Ok` when the database answers `SELECT 1`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Close every connection (at shutdown, after the last writes).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn placeholders(backend: Backend, sql: &str) -> Cow<'_, str> {
    if backend != Backend::Postgres || !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut in_string = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The directory of an SQLite file URL (`sqlite://dir/file.db?…`, `sqlite:dir/file.db`).
fn sqlite_dir(url: &str) -> Option<&std::path::Path> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_string_literals() {
        assert_eq!(
            placeholders(
                Backend::Postgres,
                "SELECT '?' , a FROM t WHERE a = ? AND b = ?"
            ),
            "SELECT '?' , a FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(placeholders(Backend::MySql, "a = ?"), "a = ?");
    }

    #[test]
    fn the_backend_and_the_sqlite_directory_come_from_the_url() {
        assert_eq!(Backend::of("postgresql://x"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mariadb://x"), Some(Backend::MySql));
        assert_eq!(Backend::of("redis://x"), None);
        assert_eq!(
            sqlite_dir("sqlite://./iam-data/iam.db?mode=rwc"),
            Some(std::path::Path::new("./iam-data"))
        );
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_dir("sqlite://x.db"), None);
    }
}
