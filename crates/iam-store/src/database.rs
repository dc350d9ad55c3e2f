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
    /// The database aborted a transaction to break a deadlock or a serialization conflict
    /// with a concurrent one; the same transaction run again may succeed
    /// ([`retry_contended`] does that).
    #[error("transaction aborted by a concurrent one: {0}")]
    Contention(String),
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
        if is_contention(&e) {
            Self::Contention(e.to_string())
        } else {
            Self::Database(e.to_string())
        }
    }
}

/// Whether the database aborted the statement's transaction to break a deadlock or a
/// serialization conflict with a concurrent transaction: SQLSTATE `40001` (PostgreSQL
/// serialization failure, MariaDB/MySQL deadlock 1213), `40P01` (PostgreSQL deadlock), or
/// SQLite's `SQLITE_BUSY` / `SQLITE_BUSY_SNAPSHOT` after its busy timeout.
pub fn is_contention(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40001" | "40P01" | "5" | "517"))
}

/// Whether `e` or one of its sources is a [`StoreError::Contention`].
pub fn is_contended(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if matches!(
            e.downcast_ref::<StoreError>(),
            Some(StoreError::Contention(_))
        ) {
            return true;
        }
        next = e.source();
    }
    false
}

/// How many times [`retry_contended`] runs a transaction at most.
pub const CONTENTION_ATTEMPTS: u32 = 8;

/// Run `transaction` (a closure that runs one whole transaction from `BEGIN` to `COMMIT`)
/// again while the database aborts it as the victim of a deadlock or serialization conflict
/// ([`is_contended`]), at most [`CONTENTION_ATTEMPTS`] times, with a short randomised pause
/// that grows between attempts so two colliding transactions do not collide again. Every
/// other outcome, and the last contention error, is returned as is.
///
/// InnoDB's gap locks make two transactions that each delete-then-insert a row of a
/// different user deadlock; MySQL's manual asks applications to "always be prepared to
/// re-issue a transaction if it fails due to deadlock". Only wrap work that is safe to run
/// again: a transaction that was rolled back changed nothing.
pub async fn retry_contended<T, E, F, Fut>(mut transaction: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::error::Error + 'static,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(e) if attempt < CONTENTION_ATTEMPTS && is_contended(&e) => {
                tracing::debug!(attempt, "transaction aborted by a concurrent one, retrying");
                tokio::time::sleep(contention_pause(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// 2^attempt ms, plus up to as much again at random (2–4, 4–8, … 64–128 ms).
fn contention_pause(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = 1u64 << attempt.min(6);
    // A fresh `RandomState` is seeded per instance; enough jitter to split two colliders.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    Duration::from_millis(base + h.finish() % (base + 1))
}

/// A connection pool on one of the three backends.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connect to `url` (`sqlite://path?mode=rwc`, `postgres://…`, `mysql://…`). For SQLite
    /// the file's directory is created when missing, and the file is put in WAL mode
    /// (write-ahead log, `synchronous = FULL`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = Backend::of(url).ok_or(StoreError::UnsupportedUrl)?;
        if backend == Backend::Sqlite {
            if let Some(dir) = sqlite_dir(url) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Directory(e.kind()))?;
            }
        }
        sqlx::any::install_default_drivers();
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::MySql {
            // READ COMMITTED, PostgreSQL's default: InnoDB's REPEATABLE READ takes gap locks
            // on every search, so two users' delete-then-insert deadlock on neighbouring
            // rows. Every statement here is written for READ COMMITTED (conditional
            // updates, unique keys), which PostgreSQL already runs.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            });
        }
        if backend == Backend::Sqlite {
            // Write-ahead logging: a commit appends to the log and syncs it once, where the
            // default rollback journal syncs the journal, the database and the directory
            // (start-up, which commits the migrations, the keys and the bootstrap, was
            // mostly waiting on those); readers no longer wait for a writer either.
            // `synchronous` stays FULL: a committed spend of a refresh token or a TOTP step
            // survives a power cut. WAL is a property of the file, kept once set.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            });
        }
        let pool = options.connect(url).await?;
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

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] StoreError);

    #[tokio::test]
    async fn only_contention_is_retried_and_never_more_than_the_bound() {
        let contended = || Wrapped(StoreError::Contention("deadlock".into()));
        assert!(is_contended(&contended()));
        assert!(!is_contended(&Wrapped(StoreError::Database("x".into()))));
        // Contended twice, then through.
        let mut runs = 0;
        let out: Result<u8, Wrapped> = retry_contended(|| {
            runs += 1;
            let r = if runs < 3 { Err(contended()) } else { Ok(7) };
            async move { r }
        })
        .await;
        assert_eq!((out.unwrap(), runs), (7, 3));
        // Any other failure is returned at once.
        let mut runs = 0;
        let out: Result<u8, Wrapped> = retry_contended(|| {
            runs += 1;
            async { Err(Wrapped(StoreError::Database("down".into()))) }
        })
        .await;
        assert!(matches!(out, Err(Wrapped(StoreError::Database(_)))));
        assert_eq!(runs, 1);
        // Contended for ever: bounded, and the contention error comes out.
        let mut runs = 0;
        let out: Result<u8, Wrapped> = retry_contended(|| {
            runs += 1;
            let e = contended();
            async move { Err(e) }
        })
        .await;
        assert!(matches!(out, Err(Wrapped(StoreError::Contention(_)))));
        assert_eq!(runs, CONTENTION_ATTEMPTS);
        assert!(
            (1..=CONTENTION_ATTEMPTS).all(|a| contention_pause(a) <= Duration::from_millis(128))
        );
    }

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
