//! Switching from another tool without re-running anything: read the history table sqlx,
//! golang-migrate, dbmate, diesel or Flyway left, and say which migration files it covers; or
//! `--baseline`. What a first run records instead of running.

use sqlx::{AnyConnection, Executor};

use super::history::{History, NewRow, Row, Status};
use super::source::Source;
use crate::db::{self, Backend, table_exists};

/// Why a first run cannot start from another tool's history or `--baseline`; each message is
/// rendered here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Db(db::Error),
    /// `--baseline` names no migration file.
    NoBaseline(String),
    /// golang-migrate's dirty flag: a migration failed half-way at this version.
    Dirty(String),
    /// `schema_migrations` holds a version that is not a number.
    Unreadable(String),
}

impl From<db::Error> for Error {
    fn from(e: db::Error) -> Error {
        Error::Db(e)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Db(e) => e.fmt(f),
            Error::NoBaseline(version) => {
                write!(f, "--baseline {version}: no migration has that version")
            }
            Error::Dirty(version) => write!(
                f,
                "golang-migrate left the database dirty at version {version}: a migration failed half-way. \
                 Repair it by hand, then record what is applied with --baseline VERSION"
            ),
            Error::Unreadable(version) => write!(f, "schema_migrations holds version `{version}`"),
        }
    }
}

impl std::error::Error for Error {}

/// The rows a database without shipgate history starts from: another tool's history, or
/// `--baseline`. Nothing is written; `record_initial` writes them under the lock.
pub async fn initial_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    baseline: Option<&str>,
    source: &Source,
) -> Result<(Vec<Row>, Option<String>), Error> {
    let Some((versions, status, message)) =
        initial_versions(conn, backend, baseline, source).await?
    else {
        return Ok((Vec::new(), None));
    };
    let rows = source
        .migrations
        .iter()
        .filter(|m| versions.contains(&m.version))
        .map(|m| Row {
            version: m.version.clone(),
            name: m.name.clone(),
            checksum: m.checksum.clone(),
            applied_at: String::new(),
            execution_ms: 0,
            applied_by: String::new(),
            status,
            statements_done: None,
            note: None,
        })
        .collect();
    Ok((rows, Some(message)))
}

async fn initial_versions(
    conn: &mut AnyConnection,
    backend: Backend,
    baseline: Option<&str>,
    source: &Source,
) -> Result<Option<(Vec<String>, Status, String)>, Error> {
    if let Some(version) = baseline {
        let index = super::plan::find(source, version)
            .ok_or_else(|| Error::NoBaseline(version.to_string()))?;
        let upto = &source.migrations[index].order;
        let versions: Vec<String> = source
            .migrations
            .iter()
            .filter(|m| &m.order <= upto)
            .map(|m| m.version.clone())
            .collect();
        let message = format!(
            "baseline: {} migrations up to {version} recorded as applied, not run",
            versions.len()
        );
        return Ok(Some((versions, Status::Baseline, message)));
    }
    match read(conn, backend, source).await? {
        Some(a) if !a.versions.is_empty() || !a.unknown.is_empty() => {
            let mut message = format!(
                "adopted {} applied migrations from {} (recorded, not run)",
                a.versions.len(),
                a.table
            );
            if !a.unknown.is_empty() {
                message.push_str(&format!(
                    "; {} lists versions with no file: {}",
                    a.table,
                    a.unknown.join(", ")
                ));
            }
            Ok(Some((a.versions, Status::Adopted, message)))
        }
        _ => Ok(None),
    }
}

/// Writes the adopted or baseline rows, under the lock.
pub async fn record_initial(
    conn: &mut AnyConnection,
    baseline: Option<&str>,
    source: &Source,
    history: &History,
    applied_by: &str,
) -> Result<Option<String>, Error> {
    let Some((versions, status, message)) =
        initial_versions(conn, history.backend, baseline, source).await?
    else {
        return Ok(None);
    };
    // All rows or none: a crash half-way would leave later migrations looking pending.
    conn.execute("BEGIN")
        .await
        .map_err(|e| db::Error::server(&e))?;
    let written = write_initial(
        conn, source, history, &versions, status, &message, applied_by,
    )
    .await;
    match written {
        Ok(()) => {
            conn.execute("COMMIT")
                .await
                .map_err(|e| db::Error::server(&e))?;
            Ok(Some(message))
        }
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(e.into())
        }
    }
}

async fn write_initial(
    conn: &mut AnyConnection,
    source: &Source,
    history: &History,
    versions: &[String],
    status: Status,
    message: &str,
    applied_by: &str,
) -> Result<(), db::Error> {
    for m in source
        .migrations
        .iter()
        .filter(|m| versions.contains(&m.version))
    {
        let note = format!("{status}: {message}");
        history
            .insert(
                conn,
                &NewRow {
                    version: &m.version,
                    name: &m.name,
                    checksum: &m.checksum,
                    execution_ms: 0,
                    applied_by,
                    status,
                    statements_done: None,
                    note: Some(&note),
                },
            )
            .await?;
    }
    Ok(())
}

/// What another tool's history says is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    /// The foreign table it came from.
    pub table: String,
    /// Versions (of our files) it covers.
    pub versions: Vec<String>,
    /// Versions it lists that no file has.
    pub unknown: Vec<String>,
}

fn text(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Postgres => format!("CAST({column} AS TEXT)"),
        Backend::MySql => format!("CAST({column} AS CHAR)"),
        Backend::Sqlite => format!("CAST({column} AS TEXT)"),
    }
}

/// The first foreign history table found, read. `Err` for a state that must not be adopted
/// (golang-migrate's dirty flag).
pub async fn read(
    conn: &mut AnyConnection,
    backend: Backend,
    source: &Source,
) -> Result<Option<Adoption>, Error> {
    let v = text(backend, "version");
    let candidates: [(&str, String); 4] = [
        (
            "_sqlx_migrations",
            format!("SELECT {v} FROM _sqlx_migrations WHERE success"),
        ),
        ("schema_migrations", String::new()),
        (
            "__diesel_schema_migrations",
            format!("SELECT {v} FROM __diesel_schema_migrations"),
        ),
        (
            "flyway_schema_history",
            format!("SELECT {v} FROM flyway_schema_history WHERE success AND version IS NOT NULL"),
        ),
    ];
    for (table, sql) in candidates {
        if !table_exists(conn, backend, table).await? {
            continue;
        }
        let versions = if table == "schema_migrations" {
            schema_migrations(conn, backend, source).await?
        } else {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| db::Error::statement(format!("cannot read {table}"), &e))?
        };
        let (mut covered, mut unknown) = (Vec::new(), Vec::new());
        for version in versions {
            match matching(source, &version) {
                Some(v) => covered.push(v),
                None => unknown.push(version),
            }
        }
        return Ok(Some(Adoption {
            table: table.to_string(),
            versions: covered,
            unknown,
        }));
    }
    Ok(None)
}

/// golang-migrate keeps one row (the current version, and whether it is dirty); dbmate keeps
/// one row per applied version.
async fn schema_migrations(
    conn: &mut AnyConnection,
    backend: Backend,
    source: &Source,
) -> Result<Vec<String>, Error> {
    let v = text(backend, "version");
    let golang: Result<Vec<(String, bool)>, _> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {v}, dirty FROM schema_migrations"
    )))
    .fetch_all(&mut *conn)
    .await;
    match golang {
        Ok(rows) => {
            let Some((current, dirty)) = rows.into_iter().next() else {
                return Ok(Vec::new());
            };
            if dirty {
                return Err(Error::Dirty(current));
            }
            let current = order(&current).ok_or_else(|| Error::Unreadable(current.clone()))?;
            Ok(source
                .migrations
                .iter()
                .filter(|m| m.order <= current)
                .map(|m| m.version.clone())
                .collect())
        }
        Err(_) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT {v} FROM schema_migrations"
        )))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| db::Error::statement("cannot read schema_migrations", &e).into()),
    }
}

fn order(version: &str) -> Option<Vec<u64>> {
    version
        .trim()
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect()
}

/// The file version a foreign version names: the same id, or the same number.
fn matching(source: &Source, version: &str) -> Option<String> {
    let version = version.trim();
    if let Some(m) = source.migrations.iter().find(|m| m.version == version) {
        return Some(m.version.clone());
    }
    let wanted = order(version)?;
    source
        .migrations
        .iter()
        .find(|m| m.order == wanted)
        .map(|m| m.version.clone())
}
