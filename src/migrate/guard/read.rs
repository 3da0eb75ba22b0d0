//! Judging down scripts by their statements, where they cannot be tried (MySQL, whose DDL
//! commits; a no-transaction script; a read-only dry run): what each statement destroys
//! ([`super::statement`]), followed through renames, then counted as the database is now.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::statement::{Effect, Name, effects};
use super::{COUNT_CAP, ColumnLoss, Down, Settings, TableLoss, Unjudged};
use crate::db::{Backend, describe_error};
use crate::migrate::apply::statements;
use crate::migrate::position::line_col;
use crate::migrate::session::Dialect as _;

#[derive(Default)]
pub struct Judged {
    pub tables: Vec<TableLoss>,
    pub columns: Vec<ColumnLoss>,
    pub unjudged: Vec<Unjudged>,
}

/// What the statements would destroy, followed through renames, then counted as the database is
/// now.
pub async fn judge(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    downs: &[Down<'_>],
) -> Result<Judged, String> {
    let backend = settings.backend;
    let mut judged = Judged::default();
    // Current name → the name it had before the scripts (a rename then a drop loses the original).
    let mut tables: HashMap<Name, Name> = HashMap::new();
    let mut columns: HashMap<(Name, String), String> = HashMap::new();
    let mut at_risk: Vec<(Name, Option<String>, bool)> = Vec::new();
    let mut schemas: Vec<String> = Vec::new();
    let original = |tables: &HashMap<Name, Name>, n: &Name| {
        tables.get(n).cloned().unwrap_or_else(|| n.clone())
    };
    for down in downs {
        for stmt in statements(down.script).iter().skip(down.resume_from) {
            for effect in effects(stmt.text, backend) {
                match effect {
                    Effect::Table { name, dropped } => {
                        at_risk.push((original(&tables, &name), None, dropped));
                    }
                    Effect::Column { table, column } => {
                        let t = original(&tables, &table);
                        let c = columns
                            .get(&(t.clone(), column.clone()))
                            .cloned()
                            .unwrap_or(column);
                        at_risk.push((t, Some(c), false));
                    }
                    Effect::Schema(s) => schemas.push(s),
                    Effect::RenameTable { from, to } => {
                        let o = original(&tables, &from);
                        tables.insert(to, o);
                    }
                    Effect::RenameColumn { table, from, to } => {
                        let t = original(&tables, &table);
                        let o = columns
                            .get(&(t.clone(), from.clone()))
                            .cloned()
                            .unwrap_or(from);
                        columns.insert((t, to), o);
                    }
                    Effect::Keeps => {}
                    Effect::Unknown => {
                        let (line, _) = line_col(&down.script.text, stmt.offset);
                        let words: Vec<&str> = stmt.text.split_whitespace().take(6).collect();
                        judged.unjudged.push(Unjudged {
                            version: down.version.to_string(),
                            at: format!("{}:{line}", down.script.path.display()),
                            statement: words.join(" "),
                        });
                    }
                }
            }
        }
    }
    for (table, column, dropped) in at_risk {
        match column {
            None => {
                if judged.tables.iter().any(|t| t.table == table.shown()) {
                    continue;
                }
                if let Some(rows) = count(conn, settings, &table, None).await?
                    && rows > 0
                {
                    judged.tables.push(TableLoss {
                        table: table.shown(),
                        rows,
                        dropped,
                    });
                }
            }
            Some(column) => {
                if judged
                    .columns
                    .iter()
                    .any(|c| c.table == table.shown() && c.column == column)
                {
                    continue;
                }
                if let Some(values) = count(conn, settings, &table, Some(&column)).await?
                    && values > 0
                {
                    judged.columns.push(ColumnLoss {
                        table: table.shown(),
                        column,
                        values,
                    });
                }
            }
        }
    }
    for schema in schemas {
        for table in schema_tables(conn, backend, &schema).await? {
            if let Some(rows) = count(conn, settings, &table, None).await?
                && rows > 0
            {
                judged.tables.push(TableLoss {
                    table: table.shown(),
                    rows,
                    dropped: true,
                });
            }
        }
    }
    Ok(judged)
}

fn qualified(backend: Backend, name: &Name) -> String {
    match &name.schema {
        Some(s) => format!(
            "{}.{}",
            backend.quote_ident(s),
            backend.quote_ident(&name.table)
        ),
        None => backend.quote_ident(&name.table),
    }
}

/// [`count_now`] within the guard's timeout: outside a transaction no `statement_timeout` bounds
/// it, and a `WHERE c IS NOT NULL` over a big, mostly NULL table is a scan. A few seconds more
/// than the session's lock wait timeout, so that a lock wait ends with the server's own reason.
async fn count(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    table: &Name,
    column: Option<&str>,
) -> Result<Option<i64>, String> {
    let limit = settings.timeout + std::time::Duration::from_secs(5);
    tokio::time::timeout(limit, count_now(conn, settings.backend, table, column))
        .await
        .map_err(|_| {
            format!(
                "counting what the rollback would destroy in {} took longer than {}",
                table.shown(),
                crate::units::format_duration(limit)
            )
        })?
}

/// Rows of a table (or non-NULL values of a column), up to COUNT_CAP + 1; `None` when the table
/// or column does not exist now (a later migration dropped it: it holds nothing).
async fn count_now(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &Name,
    column: Option<&str>,
) -> Result<Option<i64>, String> {
    let what = match column {
        Some(c) => format!("column {}.{c}", table.shown()),
        None => format!("table {}", table.shown()),
    };
    let failed = |e: sqlx::Error| {
        format!(
            "cannot count what the rollback would destroy in {what}: {}",
            describe_error(&e)
        )
    };
    let exists: i64 = match backend {
        Backend::Postgres => sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid \
               AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p') AND ($2 IS NULL OR a.attname IS NOT NULL)",
        )
        .bind(qualified(backend, table))
        .bind(column.map(str::to_string)),
        Backend::MySql => sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables t \
             WHERE t.table_schema = COALESCE(?, DATABASE()) AND t.table_name = ? AND t.table_type = 'BASE TABLE' \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM information_schema.columns c \
                 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = ?))",
        )
        .bind(table.schema.clone())
        .bind(table.table.clone())
        .bind(column.map(str::to_string))
        .bind(column.map(str::to_string)),
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master m WHERE m.type = 'table' AND m.name = ? \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = ?))",
        )
        .bind(table.table.clone())
        .bind(column.map(str::to_string))
        .bind(column.map(str::to_string)),
    }
    .fetch_one(&mut *conn)
    .await
    .map_err(failed)?;
    if exists == 0 {
        return Ok(None);
    }
    let limit = COUNT_CAP + 1;
    let filter = match column {
        Some(c) => format!(" WHERE {} IS NOT NULL", backend.quote_ident(c)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {}{filter} LIMIT {limit}) AS at_risk",
        qualified(backend, table)
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .map(Some)
        .map_err(failed)
}

/// The tables of a schema (a MySQL database) that `DROP SCHEMA` removes with it.
async fn schema_tables(
    conn: &mut AnyConnection,
    backend: Backend,
    schema: &str,
) -> Result<Vec<Name>, String> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1"
        }
        Backend::MySql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY 1"
        }
        // SQLite has no schemas to drop.
        Backend::Sqlite => return Ok(Vec::new()),
    };
    let names: Vec<String> = sqlx::query_scalar(sql)
        .bind(schema.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| {
            format!(
                "cannot list the tables of schema {schema}: {}",
                describe_error(&e)
            )
        })?;
    Ok(names
        .into_iter()
        .map(|table| Name {
            schema: Some(schema.to_string()),
            table,
        })
        .collect())
}
