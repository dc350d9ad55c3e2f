//! One way to run a statement: SQL with `?` placeholders (rewritten for the backend by
//! [`Database::sql`](crate::Database::sql)) and its arguments, on the pool or on a
//! transaction's connection. Every repository method is one call here, so binding, error
//! mapping and row mapping are written once.
use super::{repo_err, text, SqlIdentityStore};
use iam_identity::repository::RepoResult;
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::AnyConnection;

/// A value bound to the next `?` of a statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Arg::OptText(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

/// Flags are stored as 0 / 1 (one integer type on every backend).
impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Arg::Int(i64::from(b))
    }
}

/// The arguments of a statement, in placeholder order: `args![tenant, id, 42_i64]`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::identity::statement::Arg::from($arg)),*]
    };
}
pub(crate) use args;

fn bound<'q>(sql: &'q str, args: &[Arg<'q>]) -> Query<'q, Any, AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |q, arg| match *arg {
        Arg::Text(s) => q.bind(s),
        Arg::OptText(s) => q.bind(s),
        Arg::Int(n) => q.bind(n),
    })
}

impl SqlIdentityStore {
    /// Run a statement on the pool: the number of rows it changed.
    pub(crate) async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> RepoResult<u64> {
        let sql = self.db.sql(sql);
        Ok(bound(&sql, args)
            .execute(self.db.pool())
            .await
            .map_err(repo_err)?
            .rows_affected())
    }

    /// Run a statement in a transaction (`&mut *tx`): the number of rows it changed.
    pub(crate) async fn execute_in(
        &self,
        conn: &mut AnyConnection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> RepoResult<u64> {
        let sql = self.db.sql(sql);
        Ok(bound(&sql, args)
            .execute(conn)
            .await
            .map_err(repo_err)?
            .rows_affected())
    }

    /// The first row a query answers, mapped by `map`.
    pub(crate) async fn fetch_optional<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: fn(&AnyRow) -> RepoResult<T>,
    ) -> RepoResult<Option<T>> {
        let sql = self.db.sql(sql);
        bound(&sql, args)
            .fetch_optional(self.db.pool())
            .await
            .map_err(repo_err)?
            .as_ref()
            .map(map)
            .transpose()
    }

    /// [`Self::fetch_optional`] in a transaction (`&mut *tx`).
    pub(crate) async fn fetch_optional_in<T>(
        &self,
        conn: &mut AnyConnection,
        sql: &str,
        args: &[Arg<'_>],
        map: fn(&AnyRow) -> RepoResult<T>,
    ) -> RepoResult<Option<T>> {
        let sql = self.db.sql(sql);
        bound(&sql, args)
            .fetch_optional(conn)
            .await
            .map_err(repo_err)?
            .as_ref()
            .map(map)
            .transpose()
    }

    /// Every row a query answers, mapped by `map`.
    pub(crate) async fn fetch_all<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: fn(&AnyRow) -> RepoResult<T>,
    ) -> RepoResult<Vec<T>> {
        let sql = self.db.sql(sql);
        bound(&sql, args)
            .fetch_all(self.db.pool())
            .await
            .map_err(repo_err)?
            .iter()
            .map(map)
            .collect()
    }

    /// The `id` column of every row a query answers.
    pub(crate) async fn ids(&self, sql: &str, args: &[Arg<'_>]) -> RepoResult<Vec<String>> {
        self.fetch_all(sql, args, |row| text(row, "id")).await
    }

    /// Whether a query answers a row (MariaDB reports 0 affected rows for an UPDATE that
    /// changes nothing, so "found" cannot come from the row count there).
    pub(crate) async fn exists(&self, sql: &str, args: &[Arg<'_>]) -> RepoResult<bool> {
        Ok(self.fetch_optional(sql, args, |_| Ok(())).await?.is_some())
    }
}
