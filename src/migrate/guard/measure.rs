//! Measuring what down scripts destroy, on a database with transactional DDL (PostgreSQL,
//! SQLite): inside one transaction, note the tables and columns, run the scripts after a
//! savepoint, see which tables changed and count them as they are after, roll back to the
//! savepoint, count the same tables as they were before, and roll everything back. Nothing the
//! scripts did survives, whatever happens: the transaction is always rolled back.
//!
//! Only the tables the scripts touched are counted. PostgreSQL says which: a table gone (its oid),
//! rewritten or truncated (its relfilenode), with rows deleted or updated in this transaction
//! (`pg_stat_xact_user_tables`), or with fewer columns. SQLite has no such record, so all its
//! tables are counted (it is a local file). Tables and columns are matched by oid and attnum on
//! PostgreSQL, so a rename is not a loss; by name on SQLite.

use std::collections::HashMap;

use sqlx::{AnyConnection, Executor, Row};

use super::{COUNT_CAP, ColumnLoss, Down, Settings, TableLoss};
use crate::db::{Backend, describe_error};
use crate::migrate::apply::{execute_statement, statements};
use crate::migrate::position::line_col;
use crate::migrate::session::Dialect as _;

#[derive(Default)]
pub struct Measured {
    pub tables: Vec<TableLoss>,
    pub columns: Vec<ColumnLoss>,
}

/// A user table as the catalog shows it at one moment.
#[derive(Clone, Debug)]
struct Table {
    /// What matches it before and after: the oid on PostgreSQL, the name on SQLite.
    key: String,
    /// For people: `table`, or `schema.table` outside the current schema.
    shown: String,
    /// For SQL: quoted, schema-qualified.
    sql: String,
    /// relfilenode (changes on TRUNCATE and rewrites); 0 on SQLite.
    node: i64,
    /// Rows deleted and updated by this transaction (PostgreSQL).
    deleted: i64,
    updated: i64,
    /// (key, name): attnum on PostgreSQL, the name on SQLite.
    columns: Vec<(String, String)>,
}

/// Rows (up to the cap + 1) and, per column, whether it holds non-NULL values (how many, up to
/// the cap + 1).
struct Counts {
    rows: i64,
    non_null: HashMap<String, i64>,
}

pub async fn measure(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    downs: &[Down<'_>],
) -> Result<Measured, String> {
    conn.execute(settings.backend.begin()).await.map_err(|e| {
        format!(
            "cannot open the transaction the down scripts are tried in: {}",
            describe_error(&e)
        )
    })?;
    let result = measure_in_transaction(conn, settings, downs).await;
    // Always rolled back: the scripts were only tried.
    let rolled_back = conn.execute("ROLLBACK").await;
    // Said first: a trial that may not have been undone outranks what the trial found.
    rolled_back.map_err(|e| {
        format!(
            "cannot roll back the transaction the down scripts were tried in: {}",
            describe_error(&e)
        )
    })?;
    result
}

async fn measure_in_transaction(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    downs: &[Down<'_>],
) -> Result<Measured, String> {
    let backend = settings.backend;
    if backend == Backend::Postgres {
        // Every query of the guard, and every statement of the scripts it tries, is bounded.
        let ms = settings.timeout.as_millis().max(1);
        exec(conn, &format!("SET LOCAL statement_timeout = {ms}")).await?;
    }
    let before = catalog(conn, settings).await?;
    exec(conn, "SAVEPOINT shipgate_guard").await?;
    for down in downs {
        for (i, stmt) in statements(down.script)
            .iter()
            .enumerate()
            .skip(down.resume_from)
        {
            // Its own step text: a deadline here cut off a trial, not a migration.
            crate::migrate::step::enter(format!(
                "trying statement {} of {} (line {}) for the data-loss guard, in a transaction that is rolled back",
                i + 1,
                down.script.path.display(),
                line_col(&down.script.text, stmt.offset).0
            ));
            execute_statement(conn, down.script, stmt, i + 1, 0, false)
                .await
                .map_err(|f| {
                    format!(
                        "the down script of {} failed at {}:{} when the guard tried it: {}",
                        down.version, f.location.file, f.location.line, f.message
                    )
                })?;
        }
    }
    let after = catalog(conn, settings).await?;
    let after_by_key: HashMap<&str, &Table> = after.iter().map(|t| (t.key.as_str(), t)).collect();
    // The tables the scripts touched, and their counts as the scripts left them.
    let mut touched: Vec<(&Table, Option<(&Table, Counts)>)> = Vec::new();
    for t in &before {
        match after_by_key.get(t.key.as_str()) {
            None => touched.push((t, None)),
            Some(a) => {
                let lost_column = t.columns.iter().any(|c| !a.columns.contains(c));
                let changed = backend == Backend::Sqlite
                    || a.node != t.node
                    || a.deleted > 0
                    || a.updated > 0
                    || lost_column;
                if changed {
                    let counts = count(conn, settings.backend, a).await?;
                    touched.push((t, Some((a, counts))));
                }
            }
        }
    }
    exec(conn, "ROLLBACK TO SAVEPOINT shipgate_guard").await?;
    let mut measured = Measured::default();
    for (t, after) in touched {
        let was = count(conn, settings.backend, t).await?;
        if was.rows == 0 {
            continue;
        }
        let Some((a, now)) = after else {
            measured.tables.push(TableLoss {
                table: t.shown.clone(),
                rows: was.rows,
                dropped: true,
            });
            continue;
        };
        // Counts stop at the cap: past it, the deletions PostgreSQL recorded say what was lost.
        let lost = if was.rows > COUNT_CAP && now.rows > COUNT_CAP {
            a.deleted
        } else {
            (was.rows - now.rows).max(0)
        };
        if lost > 0 {
            measured.tables.push(TableLoss {
                table: t.shown.clone(),
                rows: lost,
                dropped: false,
            });
        }
        if now.rows == 0 {
            // Emptied: the table's loss says it all.
            continue;
        }
        for (key, name) in &t.columns {
            let held = was.non_null.get(key).copied().unwrap_or(0);
            if held == 0 {
                continue;
            }
            let holds = a
                .columns
                .iter()
                .find(|(k, _)| k == key)
                .map(|(k, _)| now.non_null.get(k).copied().unwrap_or(0));
            // Exact counts on both sides (no row lost, none past the cap) also show values set
            // to NULL in some rows. Past the cap the counts come from the first rows read, which
            // an UPDATE reorders: only "NULL everywhere" is sure there.
            let exact = lost == 0 && was.rows <= COUNT_CAP && now.rows <= COUNT_CAP;
            let gone = match holds {
                None | Some(0) => held,
                Some(n) if exact => (held - n).max(0),
                Some(_) => 0,
            };
            if gone > 0 {
                measured.columns.push(ColumnLoss {
                    table: t.shown.clone(),
                    column: name.clone(),
                    values: gone,
                });
            }
        }
    }
    Ok(measured)
}

async fn exec(conn: &mut AnyConnection, sql: &str) -> Result<(), String> {
    conn.execute(sqlx::AssertSqlSafe(sql.to_string()))
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "the data-loss guard's `{sql}` failed: {}",
                describe_error(&e)
            )
        })
}

/// The user tables and their columns, without the history table.
async fn catalog(conn: &mut AnyConnection, settings: Settings<'_>) -> Result<Vec<Table>, String> {
    let quote = |name: &str| settings.backend.quote_ident(name);
    let history = settings
        .history_table
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .trim_matches('"');
    let failed = |e: sqlx::Error| format!("cannot read the list of tables: {}", describe_error(&e));
    let mut tables = Vec::new();
    match settings.backend {
        Backend::Postgres => {
            let rows = sqlx::query(
                "SELECT c.oid::bigint AS oid, n.nspname::text AS schema, c.relname::text AS name, \
                   COALESCE(n.nspname = current_schema(), false) AS current, c.relfilenode::bigint AS node, \
                   COALESCE(s.n_tup_del, 0)::bigint AS deleted, COALESCE(s.n_tup_upd, 0)::bigint AS updated \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_stat_xact_user_tables s ON s.relid = c.oid \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
                 ORDER BY n.nspname, c.relname",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
            let columns = sqlx::query(
                "SELECT a.attrelid::bigint AS oid, a.attnum::bigint AS num, a.attname::text AS name \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
                 ORDER BY a.attrelid, a.attnum",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
            let mut by_oid: HashMap<i64, Vec<(String, String)>> = HashMap::new();
            for c in columns {
                let oid: i64 = c.try_get("oid").map_err(failed)?;
                let num: i64 = c.try_get("num").map_err(failed)?;
                let name: String = c.try_get("name").map_err(failed)?;
                by_oid.entry(oid).or_default().push((num.to_string(), name));
            }
            for r in rows {
                let oid: i64 = r.try_get("oid").map_err(failed)?;
                let schema: String = r.try_get("schema").map_err(failed)?;
                let name: String = r.try_get("name").map_err(failed)?;
                let current: bool = r.try_get("current").map_err(failed)?;
                if current && name == history {
                    continue;
                }
                tables.push(Table {
                    key: oid.to_string(),
                    shown: if current {
                        name.clone()
                    } else {
                        format!("{schema}.{name}")
                    },
                    sql: format!("{}.{}", quote(&schema), quote(&name)),
                    node: r.try_get("node").map_err(failed)?,
                    deleted: r.try_get("deleted").map_err(failed)?,
                    updated: r.try_get("updated").map_err(failed)?,
                    columns: by_oid.remove(&oid).unwrap_or_default(),
                });
            }
        }
        Backend::Sqlite => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
            for name in names {
                if name == history {
                    continue;
                }
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                        .bind(name.clone())
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(failed)?;
                tables.push(Table {
                    key: name.clone(),
                    shown: name.clone(),
                    sql: quote(&name),
                    node: 0,
                    deleted: 0,
                    updated: 0,
                    columns: columns.into_iter().map(|c| (c.clone(), c)).collect(),
                });
            }
        }
        Backend::MySql => unreachable!("MySQL commits DDL: its down scripts are read, not tried"),
    }
    Ok(tables)
}

/// Rows and non-NULL values per column, read from at most COUNT_CAP + 1 rows; a column that
/// shows no value there in a bigger table is asked once more with `EXISTS`.
async fn count(conn: &mut AnyConnection, backend: Backend, t: &Table) -> Result<Counts, String> {
    let quote = |name: &str| backend.quote_ident(name);
    let failed = |e: sqlx::Error| {
        format!(
            "cannot count the rows of {} (the guard must know what a rollback destroys): {}",
            t.shown,
            describe_error(&e)
        )
    };
    let limit = COUNT_CAP + 1;
    let picked = if t.columns.is_empty() {
        "1".to_string()
    } else {
        t.columns
            .iter()
            .map(|(_, c)| quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let counted: String = std::iter::once("count(*)".to_string())
        .chain(
            t.columns
                .iter()
                .enumerate()
                .map(|(i, (_, c))| format!("count(s.{}) AS c{i}", quote(c))),
        )
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {counted} FROM (SELECT {picked} FROM {} LIMIT {limit}) AS s",
        t.sql
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .map_err(failed)?;
    let rows: i64 = row.try_get(0).map_err(failed)?;
    let mut non_null = HashMap::new();
    for (i, (key, name)) in t.columns.iter().enumerate() {
        let mut n: i64 = row.try_get(i + 1).map_err(failed)?;
        if n == 0 && rows > COUNT_CAP {
            let sql = format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} IS NOT NULL LIMIT 1) AS s",
                t.sql,
                quote(name)
            );
            n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await
                .map_err(failed)?;
        }
        non_null.insert(key.clone(), n);
    }
    Ok(Counts { rows, non_null })
}
