//! Switching from another tool without re-running anything: read the history table sqlx,
//! golang-migrate, dbmate, diesel, Flyway or Prisma left, and say which migration files it
//! covers; or `--baseline`. What a first run records instead of running.

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
    /// Prisma's `_prisma_migrations` holds migrations started but neither finished nor rolled
    /// back (a failed `prisma migrate deploy`): they may have run part-way. Their names.
    Unfinished(Vec<String>),
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
            Error::Unfinished(names) => {
                let first = &names[0];
                write!(
                    f,
                    "_prisma_migrations records {} as started but not finished (a failed Prisma \
                     migration; it may have run part-way), so shipgate cannot tell what is applied. \
                     Repair the schema by hand, then mark it with `prisma migrate resolve --applied {first}` \
                     (or `--rolled-back {first}`) and run again; or record what is applied with --baseline VERSION",
                    names.join(", ")
                )
            }
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
    let candidates: [(&str, String); 5] = [
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
        ("_prisma_migrations", String::new()),
    ];
    for (table, sql) in candidates {
        if !table_exists(conn, backend, table).await? {
            continue;
        }
        if table == "_prisma_migrations" {
            return prisma_migrations(conn, backend, source).await.map(Some);
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

/// Prisma keeps a row per attempt: `migration_name` is the folder (`20240101120000_init`),
/// applied when `finished_at` is set and `rolled_back_at` is not. A row with neither is a
/// failed migration that may have run part-way: Prisma itself refuses to deploy past it
/// (P3009), and so does adoption ([`Error::Unfinished`]): taking it as applied could skip what
/// is missing, taking it as pending would run it again over what it did.
async fn prisma_migrations(
    conn: &mut AnyConnection,
    backend: Backend,
    source: &Source,
) -> Result<Adoption, Error> {
    let name = text(backend, "migration_name");
    let names = |condition: &str| {
        format!(
            "SELECT {name} FROM _prisma_migrations WHERE {condition} AND rolled_back_at IS NULL \
             ORDER BY started_at, migration_name"
        )
    };
    let unfinished: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(names("finished_at IS NULL")))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db::Error::statement("cannot read _prisma_migrations", &e))?;
    if !unfinished.is_empty() {
        return Err(Error::Unfinished(unfinished));
    }
    let finished: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(names("finished_at IS NOT NULL")))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db::Error::statement("cannot read _prisma_migrations", &e))?;
    let (mut covered, mut unknown) = (Vec::new(), Vec::new());
    for name in finished {
        match prisma_matching(source, &name) {
            Some(v) if !covered.contains(&v) => covered.push(v),
            Some(_) => {}
            None => unknown.push(name),
        }
    }
    Ok(Adoption {
        table: "_prisma_migrations".to_string(),
        versions: covered,
        unknown,
    })
}

/// The file version a Prisma `migration_name` names: the migration in the folder of that name,
/// else the one with its version (the name up to the first `_`).
fn prisma_matching(source: &Source, name: &str) -> Option<String> {
    let name = name.trim();
    source
        .migrations
        .iter()
        .find(|m| {
            m.up.path
                .parent()
                .and_then(|dir| dir.file_name())
                .is_some_and(|folder| folder == name)
        })
        .map(|m| m.version.clone())
        .or_else(|| matching(source, name.split_once('_').map_or(name, |(v, _)| v)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prisma_migration_name_is_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["20240101120000_init", "20240102093000_add_email"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("migration.sql"), "SELECT 1;").unwrap();
        }
        let source = super::super::source::load(dir.path(), None).unwrap();
        assert_eq!(
            prisma_matching(&source, "20240102093000_add_email").as_deref(),
            Some("20240102093000")
        );
        // A renamed folder still matches by its version; another version does not.
        assert_eq!(
            prisma_matching(&source, "20240101120000_first").as_deref(),
            Some("20240101120000")
        );
        assert_eq!(prisma_matching(&source, "20231231000000_old"), None);
    }

    #[test]
    fn an_unfinished_prisma_migration_is_named_with_what_to_do() {
        let e = Error::Unfinished(vec!["20240102093000_add_email".into()]).to_string();
        assert!(
            e.contains("records 20240102093000_add_email as started but not finished"),
            "{e}"
        );
        assert!(
            e.contains("prisma migrate resolve --applied 20240102093000_add_email"),
            "{e}"
        );
        assert!(e.contains("--baseline"), "{e}");
    }
}
