//! The history table: which migrations ran, when, by whom, with which checksum, and how far a
//! non-transactional migration got. One SQL dialect per backend, chosen here and nowhere else.

use sqlx::{AnyConnection, Executor, Row as _};

use crate::db::{Backend, Error, table_exists};

/// What the table's `status` column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Ran to the end.
    Applied,
    /// A non-transactional migration stopped after `statements_done` statements.
    Partial,
    /// Recorded from another tool's history table, not run by shipgate.
    Adopted,
    /// Recorded by `--baseline`, not run.
    Baseline,
    /// A partial migration a person finished by hand (`--mark-resolved`).
    Resolved,
    /// A rollback outside a transaction stopped after `statements_done` statements of the down
    /// script.
    Reverting,
    /// A value this version does not know (written by hand, or by a newer shipgate): treated as
    /// a migration that ran, as before there was a type for it; never written back.
    Unknown,
}

impl Status {
    /// Every status shipgate writes.
    const WRITTEN: [Status; 6] = [
        Status::Applied,
        Status::Partial,
        Status::Adopted,
        Status::Baseline,
        Status::Resolved,
        Status::Reverting,
    ];

    /// The column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Partial => "partial",
            Status::Adopted => "adopted",
            Status::Baseline => "baseline",
            Status::Resolved => "resolved",
            Status::Reverting => "reverting",
            Status::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Status {
        Status::WRITTEN
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or(Status::Unknown)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub version: String,
    pub name: String,
    pub checksum: String,
    pub applied_at: String,
    pub execution_ms: i64,
    pub applied_by: String,
    pub status: Status,
    /// For a partial migration: how many statements completed.
    pub statements_done: Option<i64>,
    pub note: Option<String>,
}

/// The table, by its (validated) name, on one backend.
#[derive(Clone, Debug)]
pub struct History {
    pub table: String,
    pub backend: Backend,
}

/// A string as an SQL literal, for statements that are shown, never run.
fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// A history table name that cannot be written into SQL as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadTableName(pub String);

impl std::fmt::Display for BadTableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not a usable table name: letters, digits and `_`, optionally `schema.table`",
            self.0
        )
    }
}

impl std::error::Error for BadTableName {}

/// Table names are written into SQL: letters, digits and `_`, optionally `schema.table`.
pub fn validate_table_name(name: &str) -> Result<(), BadTableName> {
    let part_ok = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && p.len() <= 63
    };
    let parts: Vec<&str> = name.split('.').collect();
    if (1..=2).contains(&parts.len()) && parts.iter().all(|p| part_ok(p)) {
        Ok(())
    } else {
        Err(BadTableName(name.to_string()))
    }
}

impl History {
    pub fn new(table: &str, backend: Backend) -> Result<History, BadTableName> {
        validate_table_name(table)?;
        Ok(History {
            table: table.to_string(),
            backend,
        })
    }

    pub fn create_sql(&self) -> String {
        let (timestamp, now, text) = match self.backend {
            Backend::Postgres => ("TIMESTAMPTZ", "now()", "TEXT"),
            Backend::MySql => ("TIMESTAMP(3)", "CURRENT_TIMESTAMP(3)", "TEXT"),
            Backend::Sqlite => ("TEXT", "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", "TEXT"),
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n  \
             version VARCHAR(255) NOT NULL PRIMARY KEY,\n  \
             name VARCHAR(255) NOT NULL,\n  \
             checksum VARCHAR(64) NOT NULL,\n  \
             applied_at {timestamp} NOT NULL DEFAULT {now},\n  \
             execution_ms BIGINT NOT NULL,\n  \
             applied_by VARCHAR(255) NOT NULL,\n  \
             shipgate_version VARCHAR(32) NOT NULL,\n  \
             status VARCHAR(16) NOT NULL,\n  \
             statements_done BIGINT NULL,\n  \
             note {text} NULL\n)",
            table = self.table
        )
    }

    pub async fn exists(&self, conn: &mut AnyConnection) -> Result<bool, Error> {
        table_exists(conn, self.backend, &self.table).await
    }

    pub async fn create(&self, conn: &mut AnyConnection) -> Result<(), Error> {
        conn.execute(sqlx::AssertSqlSafe(self.create_sql()))
            .await
            .map(|_| ())
            .map_err(|e| {
                Error::statement(
                    format!("cannot create the history table {}", self.table),
                    &e,
                )
            })
    }

    /// Every row, oldest first.
    pub async fn rows(&self, conn: &mut AnyConnection) -> Result<Vec<Row>, Error> {
        let applied_at = match self.backend {
            Backend::Postgres => "CAST(applied_at AS TEXT)",
            Backend::MySql => "CAST(applied_at AS CHAR)",
            Backend::Sqlite => "applied_at",
        };
        let sql = format!(
            "SELECT version, name, checksum, {applied_at}, execution_ms, applied_by, status, statements_done, note \
             FROM {} ORDER BY applied_at, version",
            self.table
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.read_error(&e))?;
        rows.iter()
            .map(|r| {
                Ok(Row {
                    version: r.try_get(0)?,
                    name: r.try_get(1)?,
                    checksum: r.try_get(2)?,
                    applied_at: r.try_get(3)?,
                    execution_ms: r.try_get(4)?,
                    applied_by: r.try_get(5)?,
                    status: Status::parse(r.try_get::<String, _>(6)?.as_str()),
                    statements_done: r.try_get(7)?,
                    note: r.try_get(8)?,
                })
            })
            .collect::<Result<Vec<Row>, sqlx::Error>>()
            .map_err(|e| Error::Statement {
                doing: format!("the history table {} has unexpected columns", self.table),
                cause: e.to_string(),
            })
    }

    /// The INSERT that records a migration, with bind parameters; `--dry-run` shows it with
    /// the values it would bind.
    pub fn insert_sql(&self) -> String {
        let p = |n| self.backend.param(n);
        format!(
            "INSERT INTO {} (version, name, checksum, execution_ms, applied_by, shipgate_version, status, statements_done, note) \
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            self.table,
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7),
            p(8),
            p(9)
        )
    }

    /// The INSERT with its values written in, for showing (never for running).
    pub fn insert_shown(&self, row: &NewRow<'_>) -> String {
        let lit = literal;
        format!(
            "INSERT INTO {} (version, name, checksum, execution_ms, applied_by, shipgate_version, status, statements_done, note) \
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            self.table,
            lit(row.version),
            lit(row.name),
            lit(row.checksum),
            row.execution_ms,
            lit(row.applied_by),
            lit(env!("CARGO_PKG_VERSION")),
            lit(row.status.as_str()),
            row.statements_done
                .map_or("NULL".to_string(), |n| n.to_string()),
            row.note.map_or("NULL".to_string(), lit),
        )
    }

    /// Whether a version is recorded (read inside a migration's transaction, after the lock).
    pub async fn has(&self, conn: &mut AnyConnection, version: &str) -> Result<bool, Error> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE version = {}",
            self.table,
            self.backend.param(1)
        );
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .bind(version.to_string())
            .fetch_one(&mut *conn)
            .await
            .map(|n| n > 0)
            .map_err(|e| self.read_error(&e))
    }

    /// Records that the file of an applied migration changed on purpose: its checksum becomes
    /// the file's, and the reason is kept in the row's note.
    pub async fn accept_checksum(
        &self,
        conn: &mut AnyConnection,
        version: &str,
        checksum: &str,
        entry: &str,
    ) -> Result<bool, Error> {
        self.update(conn, "checksum", checksum, version, entry)
            .await
    }

    /// Records that a person finished a partial migration by hand.
    pub async fn mark_resolved(
        &self,
        conn: &mut AnyConnection,
        version: &str,
        entry: &str,
    ) -> Result<bool, Error> {
        self.update(conn, "status", Status::Resolved.as_str(), version, entry)
            .await
    }

    async fn update(
        &self,
        conn: &mut AnyConnection,
        column: &str,
        value: &str,
        version: &str,
        entry: &str,
    ) -> Result<bool, Error> {
        let p = |n| self.backend.param(n);
        let concat = match self.backend {
            Backend::MySql => format!("CONCAT(COALESCE(note, ''), {})", p(2)),
            _ => format!("COALESCE(note, '') || {}", p(2)),
        };
        // Only a partial migration can be marked resolved.
        let done = if column == "status" {
            format!(
                ", statements_done = NULL WHERE status = '{}' AND",
                Status::Partial
            )
        } else {
            " WHERE".to_string()
        };
        let sql = format!(
            "UPDATE {} SET {column} = {}, note = {concat}{done} version = {}",
            self.table,
            p(1),
            p(3)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.to_string())
            .bind(format!("{entry}\n"))
            .bind(version.to_string())
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(|e| self.write_error(&e))
    }

    /// Records how far a rollback outside a transaction got (the row exists: it was applied).
    pub async fn set_reverting(
        &self,
        conn: &mut AnyConnection,
        version: &str,
        done: usize,
    ) -> Result<(), Error> {
        let p = |n| self.backend.param(n);
        let sql = format!(
            "UPDATE {} SET status = {}, statements_done = {} WHERE version = {}",
            self.table,
            p(1),
            p(2),
            p(3)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(Status::Reverting.as_str())
            .bind(done as i64)
            .bind(version.to_string())
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| self.write_error(&e))
    }

    /// The DELETE of one version's row with its value written in, for showing (never for
    /// running).
    pub fn delete_shown(&self, version: &str) -> String {
        format!(
            "DELETE FROM {} WHERE version = {}",
            self.table,
            literal(version)
        )
    }

    pub fn delete_sql(&self) -> String {
        format!(
            "DELETE FROM {} WHERE version = {}",
            self.table,
            self.backend.param(1)
        )
    }

    pub async fn insert(&self, conn: &mut AnyConnection, row: &NewRow<'_>) -> Result<(), Error> {
        sqlx::query(sqlx::AssertSqlSafe(self.insert_sql()))
            .bind(row.version.to_string())
            .bind(row.name.to_string())
            .bind(row.checksum.to_string())
            .bind(row.execution_ms)
            .bind(row.applied_by.to_string())
            .bind(env!("CARGO_PKG_VERSION"))
            .bind(row.status.as_str())
            .bind(row.statements_done)
            .bind(row.note.map(str::to_string))
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| self.write_error(&e))
    }

    pub async fn delete(&self, conn: &mut AnyConnection, version: &str) -> Result<(), Error> {
        sqlx::query(sqlx::AssertSqlSafe(self.delete_sql()))
            .bind(version.to_string())
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| self.write_error(&e))
    }

    fn write_error(&self, e: &sqlx::Error) -> Error {
        Error::statement(format!("cannot write the history table {}", self.table), e)
    }

    fn read_error(&self, e: &sqlx::Error) -> Error {
        Error::statement(format!("cannot read the history table {}", self.table), e)
    }

    /// Records (or moves forward) the progress of a non-transactional migration.
    pub async fn record_progress(
        &self,
        conn: &mut AnyConnection,
        row: &NewRow<'_>,
    ) -> Result<(), Error> {
        // One UPDATE moves the row forward atomically; only the first record inserts it. (A
        // DELETE then INSERT could lose the row to a crash in between.)
        let p = |n| self.backend.param(n);
        let sql = format!(
            "UPDATE {} SET checksum = {}, execution_ms = {}, status = {}, statements_done = {} WHERE version = {}",
            self.table,
            p(1),
            p(2),
            p(3),
            p(4),
            p(5)
        );
        let updated = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(row.checksum.to_string())
            .bind(row.execution_ms)
            .bind(row.status.as_str())
            .bind(row.statements_done)
            .bind(row.version.to_string())
            .execute(&mut *conn)
            .await
            .map_err(|e| self.write_error(&e))?;
        if updated.rows_affected() == 0 {
            self.insert(conn, row).await?;
        }
        Ok(())
    }
}

/// A row to write.
pub struct NewRow<'a> {
    pub version: &'a str,
    pub name: &'a str,
    pub checksum: &'a str,
    pub execution_ms: i64,
    pub applied_by: &'a str,
    pub status: Status,
    pub statements_done: Option<i64>,
    pub note: Option<&'a str>,
}

/// Who is applying: the CI actor when there is one, else user@host.
pub fn applied_by(get: impl Fn(&str) -> Option<String>) -> String {
    if let Some(actor) = get("GITHUB_ACTOR").filter(|a| !a.is_empty()) {
        return format!("{actor} (GitHub Actions)");
    }
    if let Some(user) = get("GITLAB_USER_LOGIN").filter(|a| !a.is_empty()) {
        return format!("{user} (GitLab CI)");
    }
    let user = get("USER")
        .or_else(|| get("LOGNAME"))
        .or_else(|| get("USERNAME"))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(nameless_user);
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{user}@{host}")
}

/// The user when no variable names one (a bare container, say).
#[cfg(unix)]
fn nameless_user() -> String {
    format!("uid{}", rustix::process::getuid().as_raw())
}

/// The user when no variable names one: Windows sets `USERNAME` for every session, so this
/// is an unusual environment, and a user id is not a number there.
#[cfg(windows)]
fn nameless_user() -> String {
    "unknown-user".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written() {
        for s in Status::WRITTEN {
            assert_eq!(Status::parse(s.as_str()), s);
        }
        assert_eq!(Status::Reverting.to_string(), "reverting");
        assert_eq!(Status::parse("finished by hand"), Status::Unknown);
    }

    #[test]
    fn table_names() {
        assert!(validate_table_name("lp_reporting_migrations").is_ok());
        assert!(validate_table_name("ops.shipgate_migrations").is_ok());
        for bad in ["", "a b", "x;drop", "a.b.c", "1abc", "\"q\""] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insert_statements() {
        let h = History::new("m", Backend::Postgres).unwrap();
        assert!(
            h.insert_sql()
                .ends_with("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        );
        let h = History::new("m", Backend::MySql).unwrap();
        assert!(
            h.insert_sql()
                .ends_with("VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        );
        let sql = h.insert_shown(&NewRow {
            version: "001-lp-base",
            name: "lp's base",
            checksum: "ab",
            execution_ms: 12,
            applied_by: "ci",
            status: Status::Applied,
            statements_done: None,
            note: None,
        });
        assert!(sql.starts_with("INSERT INTO m (version, name"), "{sql}");
        assert!(
            sql.contains("'001-lp-base', 'lp''s base', 'ab', 12, 'ci'"),
            "{sql}"
        );
        assert!(sql.ends_with("'applied', NULL, NULL)"), "{sql}");
    }

    #[test]
    fn applied_by_prefers_the_ci_actor() {
        let env = |k: &str| (k == "GITHUB_ACTOR").then(|| "octocat".to_string());
        assert_eq!(applied_by(env), "octocat (GitHub Actions)");
        let env = |k: &str| (k == "USER").then(|| "deploy".to_string());
        assert!(applied_by(env).starts_with("deploy@"));
    }
}
