//! What the database says of the tables findings name: rows and size, read from the catalog
//! (`pg_class.reltuples`, `pg_relation_size`), never by scanning a large table.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{AnyConnection, Executor};

use crate::db;
use crate::migrate::step;
use crate::units::format_size;

/// Rows and size of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFacts {
    pub rows: u64,
    pub bytes: u64,
    /// The row count is the planner's estimate (`reltuples`), not a count.
    pub estimated: bool,
}

impl TableFacts {
    /// `12 M rows, 1.9 GiB`, `120 rows, 16.0 KiB`.
    pub fn describe(&self) -> String {
        let rows = match self.rows {
            UNCOUNTED => format!("more rows than {}s could count", COUNT_BOUND.as_secs()),
            n if n >= 10_000_000 => format!("{} M rows", n / 1_000_000),
            n if n >= 1_000_000 => format!("{:.1} M rows", n as f64 / 1e6),
            n if n >= 10_000 => format!("{} k rows", n / 1_000),
            1 => "1 row".to_string(),
            n => format!("{n} rows"),
        };
        let about = if self.estimated { "about " } else { "" };
        format!("{about}{rows}, {}", format_size(self.bytes))
    }
}

/// What the database said; `connected` is false when lint ran without one.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub connected: bool,
    tables: HashMap<String, TableFacts>,
}

impl Facts {
    /// The facts of a table by its name as a finding wrote it.
    pub fn get(&self, table: &str) -> Option<&TableFacts> {
        self.tables.get(table)
    }
}

/// The rows of a table [`COUNT_BOUND`] could not count: large by any measure.
const UNCOUNTED: u64 = u64::MAX;

/// A table never analyzed has no estimate (`reltuples` = -1 since PostgreSQL 14): it is counted,
/// with this bound; a count that takes longer means a table that is large by any measure.
const COUNT_BOUND: Duration = Duration::from_secs(2);

/// The server's version as `scan` takes it (`15.4`; a distribution's suffix dropped).
pub async fn server_version(conn: &mut AnyConnection) -> Result<String, db::Error> {
    let what = "reading the server version";
    let version: String = db::answered(what, async {
        sqlx::query_scalar("SELECT current_setting('server_version')")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db::Error::statement(what, &e))
    })
    .await?;
    Ok(version.split_whitespace().next().unwrap_or("").to_string())
}

/// The sizes of `tables` (names as written; a table the database does not have, or will not
/// tell about, is left out: its findings are weighed as for an unknown table).
pub async fn read(conn: &mut AnyConnection, tables: &[String]) -> Result<Facts, db::Error> {
    let mut facts = Facts {
        connected: true,
        tables: HashMap::new(),
    };
    for table in tables {
        step::enter(format!("reading the size of {table} for the lint"));
        let what = format!("reading the size of {table}");
        // `regclass::text` is the name quoted as SQL needs it, for the count below.
        let found: Option<(f64, i64, String)> = db::answered(&what, async {
            let row = sqlx::query_as(
                "SELECT c.reltuples::float8, pg_relation_size(c.oid)::int8, c.oid::regclass::text \
                 FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')",
            )
            .bind(table)
            .fetch_optional(&mut *conn)
            .await;
            match row {
                Ok(row) => Ok(row),
                // A name PostgreSQL refuses (`invalid name syntax`): not a table it has.
                Err(sqlx::Error::Database(_)) => Ok(None),
                Err(e) => Err(db::Error::statement(&what, &e)),
            }
        })
        .await?;
        let Some((reltuples, bytes, quoted)) = found else {
            continue;
        };
        let bytes = bytes.max(0) as u64;
        let (rows, estimated) = if reltuples >= 0.0 {
            (reltuples as u64, true)
        } else {
            match db::answered(&what, count(conn, &quoted)).await? {
                Counted::Rows(n) => (n, false),
                Counted::StoppedAtBound => (UNCOUNTED, false),
                Counted::Refused => continue,
            }
        };
        facts.tables.insert(
            table.clone(),
            TableFacts {
                rows,
                bytes,
                estimated,
            },
        );
    }
    Ok(facts)
}

enum Counted {
    Rows(u64),
    /// Still counting at [`COUNT_BOUND`]: large by any measure.
    StoppedAtBound,
    /// The server would not count (no SELECT privilege, …): the size stays unknown.
    Refused,
}

/// `count(*)` of `quoted` within [`COUNT_BOUND`] (the server's `statement_timeout`), in a
/// read-only transaction rolled back.
async fn count(conn: &mut AnyConnection, quoted: &str) -> Result<Counted, db::Error> {
    const QUERY_CANCELED: &str = "57014";
    let bound = format!("SET LOCAL statement_timeout = {}", COUNT_BOUND.as_millis());
    let begun = conn.execute("BEGIN READ ONLY").await;
    if let Err(e) = begun {
        return Err(db::Error::statement("starting the count of a table", &e));
    }
    let counted = async {
        conn.execute(sqlx::AssertSqlSafe(bound)).await?;
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {quoted}"
        )))
        .fetch_one(&mut *conn)
        .await
    }
    .await;
    let _ = conn.execute("ROLLBACK").await;
    Ok(match counted {
        Ok(n) => Counted::Rows(n.max(0) as u64),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(QUERY_CANCELED) => {
            Counted::StoppedAtBound
        }
        Err(sqlx::Error::Database(_)) => Counted::Refused,
        Err(e) => return Err(db::Error::statement("counting the rows of a table", &e)),
    })
}
