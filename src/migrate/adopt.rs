//! Switching from another tool without re-running anything: read the history table sqlx,
//! golang-migrate, dbmate, diesel or Flyway left, and say which migration files it covers.

use sqlx::AnyConnection;

use super::source::Source;
use crate::db::{Backend, describe_error, table_exists};

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
) -> Result<Option<Adoption>, String> {
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
                .map_err(|e| format!("cannot read {table}: {}", describe_error(&e)))?
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
) -> Result<Vec<String>, String> {
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
                return Err(format!(
                    "golang-migrate left the database dirty at version {current}: a migration failed half-way. \
                     Repair it by hand, then record what is applied with --baseline VERSION"
                ));
            }
            let current = order(&current)
                .ok_or_else(|| format!("schema_migrations holds version `{current}`"))?;
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
        .map_err(|e| format!("cannot read schema_migrations: {}", describe_error(&e))),
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
