//! A query whose result is compared with an expectation ("the migration table shows 3 rows"),
//! read-only and always rolled back; or a constraint probe that must fail with a SQLSTATE (the
//! runbook's "insert the same email twice, expect a unique violation"), also always rolled back.

use std::time::Duration;

use sqlx::{AnyConnection, Column, Executor, Row, TypeInfo};

use super::Finding;
use crate::db::{Backend, SharedConnections, describe_error};
use crate::secret::Secret;
use crate::units::format_duration;

/// Rows as text (`None` for NULL), or the error and its SQLSTATE.
type QueryResult = Result<Vec<Vec<Option<String>>>, (String, Option<String>)>;

#[derive(Clone, Debug, PartialEq)]
pub enum SqlExpect {
    /// The first column of the first row, as text, equals this.
    Equals(String),
    /// The first column of the first row is a number at least this.
    AtLeast(f64),
    /// This many rows.
    Rows(usize),
    /// No rows.
    Empty,
    /// The statement fails with this SQLSTATE (e.g. 23505, unique violation).
    Error(String),
}

#[derive(Debug)]
pub struct SqlProbe {
    pub url: Secret,
    pub shown_url: String,
    pub backend: Result<Backend, super::database::EmptyUrl>,
    pub query: String,
    pub expect: SqlExpect,
    pub timeout: Duration,
}

impl SqlProbe {
    pub async fn run(&self, connections: &SharedConnections) -> Finding {
        let backend = match &self.backend {
            Ok(b) => *b,
            Err(e) => return Finding::fail(e.to_string()),
        };
        let mut lease = match connections.take(self.url.expose(), self.timeout).await {
            Ok(c) => c,
            Err(e) => return Finding::fail(format!("cannot connect to {}: {e}", self.shown_url)),
        };
        let conn = &mut lease.conn;
        // Read-only unless probing for an error; rolled back either way: a check changes nothing.
        let begin = match (&self.expect, backend) {
            (SqlExpect::Error(_), Backend::MySql) => "START TRANSACTION",
            (SqlExpect::Error(_), _) => "BEGIN",
            (_, Backend::Postgres) => "BEGIN READ ONLY",
            (_, Backend::MySql) => "START TRANSACTION READ ONLY",
            (_, Backend::Sqlite) => "BEGIN",
        };
        match tokio::time::timeout(self.timeout, conn.execute(begin)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Finding::fail(format!("{begin} failed: {}", describe_error(&e))),
            Err(_) => {
                return Finding::fail(format!(
                    "{begin} did not finish within {}",
                    format_duration(self.timeout)
                ));
            }
        }
        let outcome = tokio::time::timeout(self.timeout, async {
            match run_query(conn, &self.query).await {
                // sqlx's Any driver cannot decode some PostgreSQL types (`name`, `oid`, arrays):
                // ask the server for the rows as JSON text instead.
                Err((message, _))
                    if backend == Backend::Postgres
                        && message.contains("Any driver does not support") =>
                {
                    run_query_as_json(conn, &self.query).await
                }
                other => other,
            }
        })
        .await;
        // A query cut off by its timeout leaves the connection mid-exchange: it is closed, not
        // shared. So is one whose ROLLBACK did not go through.
        let rolled_back = outcome.is_ok()
            && tokio::time::timeout(self.timeout, conn.execute("ROLLBACK"))
                .await
                .is_ok_and(|r| r.is_ok());
        if rolled_back {
            lease.give_back();
        }
        let finding = match outcome {
            Err(_) => Finding::fail(format!(
                "the query did not finish within {}",
                format_duration(self.timeout)
            )),
            Ok(result) => self.judge(result),
        };
        finding.detail("query", self.query.clone())
    }

    fn judge(&self, result: QueryResult) -> Finding {
        match (&self.expect, result) {
            (SqlExpect::Error(code), Err((message, Some(state)))) if &state == code => {
                Finding::pass(format!(
                    "failed as expected with SQLSTATE {state}: {message} (rolled back)"
                ))
            }
            (SqlExpect::Error(code), Err((message, state))) => Finding::fail(format!(
                "expected SQLSTATE {code}, got {}: {message}",
                state.as_deref().unwrap_or("no SQLSTATE")
            )),
            (SqlExpect::Error(code), Ok(_)) => Finding::fail(format!(
                "expected the statement to fail with SQLSTATE {code}, but it succeeded (rolled back)"
            )),
            (_, Err((message, state))) => Finding::fail(format!(
                "the query failed{}: {message}",
                state
                    .map(|s| format!(" (SQLSTATE {s})"))
                    .unwrap_or_default()
            )),
            (expect, Ok(rows)) => {
                let first = rows.first().and_then(|r| r.first()).cloned().flatten();
                let shown = first.clone().unwrap_or_else(|| "NULL".into());
                let (ok, wanted) = match expect {
                    SqlExpect::Equals(v) => {
                        (first.as_deref() == Some(v.as_str()), format!("`{v}`"))
                    }
                    SqlExpect::AtLeast(n) => (
                        first
                            .as_deref()
                            .and_then(|f| f.parse::<f64>().ok())
                            .is_some_and(|x| x >= *n),
                        format!("at least {n}"),
                    ),
                    SqlExpect::Rows(n) => (rows.len() == *n, count_rows(*n)),
                    SqlExpect::Empty => (rows.is_empty(), "no rows".to_string()),
                    SqlExpect::Error(_) => unreachable!("handled above"),
                };
                let got = match expect {
                    SqlExpect::Rows(_) | SqlExpect::Empty => count_rows(rows.len()),
                    _ if rows.is_empty() => "no rows".to_string(),
                    _ => format!("`{shown}`"),
                };
                let finding = if ok {
                    Finding::pass(format!("got {got} as expected"))
                } else if let (SqlExpect::Rows(_) | SqlExpect::Empty, Some(row)) =
                    (expect, rows.first())
                {
                    // "got 1 row" alone sends the reader to the details for what is wrong.
                    Finding::fail(format!(
                        "expected {wanted}, got {got}, the first: {}",
                        row_text(row)
                    ))
                } else {
                    Finding::fail(format!("expected {wanted}, got {got}"))
                };
                let preview: Vec<Vec<Option<String>>> = rows.into_iter().take(5).collect();
                finding.detail("rows", serde_json::to_value(preview).unwrap_or_default())
            }
        }
    }
}

fn count_rows(n: usize) -> String {
    match n {
        0 => "no rows".to_string(),
        1 => "1 row".to_string(),
        n => format!("{n} rows"),
    }
}

/// One row as a message shows it: `a | b | NULL`, cut at 200 characters.
fn row_text(row: &[Option<String>]) -> String {
    let text = row
        .iter()
        .map(|v| v.as_deref().unwrap_or("NULL"))
        .collect::<Vec<_>>()
        .join(" | ");
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

/// PostgreSQL rows as JSON text (for column types the Any driver cannot decode).
async fn run_query_as_json(conn: &mut AnyConnection, query: &str) -> QueryResult {
    let fail = |e: sqlx::Error| {
        let state = e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned());
        (describe_error(&e), state)
    };
    let wrapped = format!("SELECT row_to_json(shipgate_q)::text FROM ({query}) AS shipgate_q");
    let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(wrapped))
        .fetch_all(&mut *conn)
        .await
        .map_err(fail)?;
    // row_to_json writes the columns in query order; an IndexMap keeps that order.
    Ok(texts
        .iter()
        .map(|t| {
            let row: indexmap::IndexMap<String, serde_json::Value> =
                serde_json::from_str(t).unwrap_or_default();
            row.values()
                .map(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect()
        })
        .collect())
}

/// Rows as text (the Any driver decodes the common types; anything else shows its type name).
async fn run_query(conn: &mut AnyConnection, query: &str) -> QueryResult {
    let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_string()))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| {
            let state = e
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned());
            (describe_error(&e), state)
        })?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.columns().len())
                .map(|i| {
                    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                        v
                    } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                        v.map(|n| n.to_string())
                    } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                        v.map(|n| n.to_string())
                    } else if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
                        v.map(|b| b.to_string())
                    } else {
                        Some(format!("<{}>", row.columns()[i].type_info().name()))
                    }
                })
                .collect()
        })
        .collect())
}
