//! Migrations, namespaced per service.
//!
//! One table, `iam_store_migrations (namespace, version, checksum, applied_at)`, records what
//! each service applied, so two services that both have a version 1 can share a database.
use crate::database::{placeholders, Backend, Database, StoreError};
use sha2::{Digest as _, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row as _};

/// One schema change, written once per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in increasing order; never reuse or renumber one.
    pub version: i64,
    /// The SQLite script (statements separated by `;`).
    pub sqlite: &'static str,
    /// The PostgreSQL script.
    pub postgres: &'static str,
    /// The MariaDB/MySQL script.
    pub mysql: &'static str,
}

impl Migration {
    fn script(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
            Backend::MySql => self.mysql,
        }
    }
}

const LEGACY: &str = "adopted";

fn create_table(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => {
            "CREATE TABLE IF NOT EXISTS iam_store_migrations (\
             namespace VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
             version BIGINT NOT NULL, checksum VARCHAR(64) NOT NULL, applied_at BIGINT NOT NULL, \
             PRIMARY KEY (namespace, version))"
        }
        _ => {
            "CREATE TABLE IF NOT EXISTS iam_store_migrations (\
             namespace VARCHAR(128) NOT NULL, version BIGINT NOT NULL, \
             checksum VARCHAR(64) NOT NULL, applied_at BIGINT NOT NULL, \
             PRIMARY KEY (namespace, version))"
        }
    }
}

fn checksum(script: &str) -> String {
    Sha256::digest(script.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The statements of a script: split on `;` outside comments (`-- …`, `/* … */`, and `# …`
/// on MariaDB), quoted text (`'…'`, `"…"`, `` `…` ``; backslash escapes on MariaDB) and
/// PostgreSQL dollar quotes (`$tag$…$tag$`). A statement made only of comments is dropped
/// (MariaDB refuses an empty query).
pub(crate) fn statements(script: &str, backend: Backend) -> Vec<&str> {
    let mysql = backend == Backend::MySql;
    let b = script.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    // Whether the current statement holds anything but comments and blanks.
    let mut has_code = false;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => i = line_end(b, i),
            b'#' if mysql => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = find(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
            }
            q @ (b'\'' | b'"' | b'`') => {
                has_code = true;
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && mysql && q != b'`' {
                        i += 2;
                    } else if b[i] == q {
                        i += 1;
                        // A doubled quote is an escaped quote: stay inside.
                        if b.get(i) != Some(&q) {
                            break;
                        }
                        i += 1;
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' if backend == Backend::Postgres => {
                has_code = true;
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map(|n| i + 1 + n);
                match tag_end {
                    Some(e) if b[e] == b'$' => {
                        let tag = &b[i..=e];
                        i = find(b, e + 1, tag).map_or(b.len(), |f| f + tag.len());
                    }
                    _ => i += 1,
                }
            }
            b';' => {
                if has_code {
                    out.push(script[start..i].trim());
                }
                has_code = false;
                i += 1;
                start = i;
            }
            c => {
                has_code |= !c.is_ascii_whitespace();
                i += 1;
            }
        }
    }
    if has_code {
        out.push(script[start..].trim());
    }
    out
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| from + n + 1)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A 63-bit key for PostgreSQL's advisory lock, from the namespace.
fn lock_key(namespace: &str) -> i64 {
    let d = Sha256::digest(format!("iam-store:{namespace}").as_bytes());
    i64::from_be_bytes([d[0] & 0x7f, d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

impl Database {
    /// Apply the migrations of `namespace` not yet applied, in version order, under a lock.
    /// Returns the versions applied now.
    pub async fn migrate(
        &self,
        namespace: &str,
        migrations: &[Migration],
    ) -> Result<Vec<i64>, StoreError> {
        let backend = self.backend();
        let mut conn = self.pool().acquire().await?;
        // The lock first: two PostgreSQL sessions running `CREATE TABLE IF NOT EXISTS` at
        // once can both miss the table and one then fails on the catalogue's unique index
        // (seen with two test processes on an emptied database).
        lock(&mut conn, backend, namespace).await?;
        let created = sqlx::query(create_table(backend))
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(StoreError::from);
        let result = match created {
            Ok(()) => apply(&mut conn, backend, namespace, migrations).await,
            Err(e) => Err(e),
        };
        let unlocked = unlock(&mut conn, backend, namespace).await;
        let applied = result?;
        unlocked?;
        for v in &applied {
            tracing::info!(namespace, version = v, "migration applied");
        }
        Ok(applied)
    }

    /// Record every version in an older, un-namespaced table (`version` column; the
    /// credential service's `iam_schema_migrations`) as applied for `namespace`, once.
    /// A missing table is not an error.
    pub async fn adopt_legacy_migrations(
        &self,
        namespace: &str,
        table: &str,
    ) -> Result<usize, StoreError> {
        if !table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::Database("invalid legacy table name".into()));
        }
        let backend = self.backend();
        sqlx::query(create_table(backend))
            .execute(self.pool())
            .await?;
        let rows = match sqlx::query(&format!("SELECT version FROM {table}"))
            .fetch_all(self.pool())
            .await
        {
            Ok(rows) => rows,
            Err(_) => return Ok(0),
        };
        let mut adopted = 0;
        for row in rows {
            let version: i64 = row.try_get("version")?;
            let exists = sqlx::query(&placeholders(
                backend,
                "SELECT version FROM iam_store_migrations WHERE namespace = ? AND version = ?",
            ))
            .bind(namespace)
            .bind(version)
            .fetch_optional(self.pool())
            .await?;
            if exists.is_none() {
                sqlx::query(&placeholders(
                    backend,
                    "INSERT INTO iam_store_migrations (namespace, version, checksum, applied_at) VALUES (?, ?, ?, ?)",
                ))
                .bind(namespace)
                .bind(version)
                .bind(LEGACY)
                .bind(now())
                .execute(self.pool())
                .await?;
                adopted += 1;
            }
        }
        Ok(adopted)
    }
}

async fn lock(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    namespace: &str,
) -> Result<(), StoreError> {
    match backend {
        Backend::Postgres => {
            sqlx::query(&format!("SELECT pg_advisory_lock({})", lock_key(namespace)))
                .execute(&mut **conn)
                .await?;
        }
        Backend::MySql => {
            let got: Option<i64> = sqlx::query("SELECT GET_LOCK(?, 60) AS got")
                .bind(format!("iam-store:{namespace}"))
                .fetch_one(&mut **conn)
                .await?
                .try_get("got")?;
            if got != Some(1) {
                return Err(StoreError::Database(
                    "timed out waiting for the migration lock".into(),
                ));
            }
        }
        Backend::Sqlite => {
            // Takes the database's write lock now; released by COMMIT/ROLLBACK in unlock.
            sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await?;
        }
    }
    Ok(())
}

async fn unlock(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    namespace: &str,
) -> Result<(), StoreError> {
    match backend {
        Backend::Postgres => {
            sqlx::query(&format!(
                "SELECT pg_advisory_unlock({})",
                lock_key(namespace)
            ))
            .execute(&mut **conn)
            .await?;
        }
        Backend::MySql => {
            sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(format!("iam-store:{namespace}"))
                .execute(&mut **conn)
                .await?;
        }
        Backend::Sqlite => {
            // apply() ends with COMMIT on success; after a failure roll back what is open.
            let _ = sqlx::query("ROLLBACK").execute(&mut **conn).await;
        }
    }
    Ok(())
}

async fn apply(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    namespace: &str,
    migrations: &[Migration],
) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query(&placeholders(
        backend,
        "SELECT version, checksum FROM iam_store_migrations WHERE namespace = ?",
    ))
    .bind(namespace)
    .fetch_all(&mut **conn)
    .await?;
    let mut done = std::collections::HashMap::new();
    for row in rows {
        let version: i64 = row.try_get("version")?;
        let sum: String = row.try_get("checksum")?;
        done.insert(version, sum);
    }
    let known: std::collections::HashSet<i64> = migrations.iter().map(|m| m.version).collect();
    if let Some(v) = done.keys().copied().filter(|v| !known.contains(v)).max() {
        return Err(StoreError::MigrationUnknown {
            namespace: namespace.to_owned(),
            version: v,
        });
    }
    let mut ordered: Vec<&Migration> = migrations.iter().collect();
    ordered.sort_by_key(|m| m.version);
    let mut applied = Vec::new();
    for m in ordered {
        let script = m.script(backend);
        let sum = checksum(script);
        match done.get(&m.version) {
            Some(stored) if stored == &sum || stored == LEGACY => continue,
            Some(_) => {
                return Err(StoreError::MigrationChanged {
                    namespace: namespace.to_owned(),
                    version: m.version,
                })
            }
            None => {}
        }
        // PostgreSQL runs DDL in transactions: all of a migration or none of it. (SQLite is
        // already inside the lock's transaction; MariaDB commits DDL implicitly.)
        if backend == Backend::Postgres {
            sqlx::query("BEGIN").execute(&mut **conn).await?;
        }
        let run = async {
            for statement in statements(script, backend) {
                sqlx::query(statement).execute(&mut **conn).await?;
            }
            sqlx::query(&placeholders(
                backend,
                "INSERT INTO iam_store_migrations (namespace, version, checksum, applied_at) VALUES (?, ?, ?, ?)",
            ))
            .bind(namespace)
            .bind(m.version)
            .bind(&sum)
            .bind(now())
            .execute(&mut **conn)
            .await?;
            Ok::<(), StoreError>(())
        }
        .await;
        if backend == Backend::Postgres {
            let end = if run.is_ok() { "COMMIT" } else { "ROLLBACK" };
            sqlx::query(end).execute(&mut **conn).await?;
        }
        run?;
        applied.push(m.version);
    }
    if backend == Backend::Sqlite {
        sqlx::query("COMMIT").execute(&mut **conn).await?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::statements;
    use crate::database::Backend;

    #[test]
    fn semicolons_in_comments_and_quotes_do_not_split_statements() {
        let script =
            "-- one; two\nCREATE TABLE a (x TEXT DEFAULT 'a;b', y TEXT DEFAULT 'it''s; ok');\n\
                      /* block; comment */ INSERT INTO \"we;ird\" VALUES (1);\n\
                      -- only a trailing comment; nothing else\n";
        let want = vec![
            "-- one; two\nCREATE TABLE a (x TEXT DEFAULT 'a;b', y TEXT DEFAULT 'it''s; ok')",
            "/* block; comment */ INSERT INTO \"we;ird\" VALUES (1)",
        ];
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            assert_eq!(statements(script, backend), want, "{backend:?}");
        }
    }

    #[test]
    fn dialect_specific_comments_quotes_and_escapes() {
        let pg = "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                  SELECT 'a\\'; SELECT 1 # 2;";
        assert_eq!(
            statements(pg, Backend::Postgres),
            vec![
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "SELECT 'a\\'",
                "SELECT 1 # 2",
            ]
        );
        let my = "# a; comment\nSELECT 'it\\'s; fine';\nSELECT `a;b`, c$d$e";
        assert_eq!(
            statements(my, Backend::MySql),
            vec!["# a; comment\nSELECT 'it\\'s; fine'", "SELECT `a;b`, c$d$e"]
        );
    }

    #[test]
    fn unterminated_quotes_and_comments_end_at_the_script_end_without_panicking() {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            for s in [
                "'abc", "/* abc", "$x$ abc", "$", "-", "--", "\"", "a\\", "'\\", "#", "$$",
            ] {
                let _ = statements(s, backend);
            }
            assert!(statements("  ;; -- x\n ; /* y */", backend).is_empty());
        }
    }

    #[test]
    fn lock_keys_differ_per_namespace_and_are_positive() {
        let (a, b) = (super::lock_key("a"), super::lock_key("b"));
        assert_ne!(a, b);
        assert!(a >= 0 && b >= 0);
    }
}
