//! Running one migration script: statement by statement, in one transaction with its history
//! row, or — for a no-transaction script — outside one, with its progress recorded after every
//! statement. A failure comes back with the statement, SQLSTATE, detail, hint and the spot in
//! the file.

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor};

use super::history::{History, NewRow, Status};
use super::position::{code_frame, file_position, line_col};
use super::source::{Migration, Script};
use super::split::{Statement, split};
use crate::db::{Backend, describe_error};
use crate::migrate::session::Dialect as _;
use crate::report::Location;

/// Why a script stopped, and where.
#[derive(Clone, Debug)]
pub struct Failure {
    pub message: String,
    pub sqlstate: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based index of the failing statement (0 when the failure was not a statement's).
    pub statement: usize,
    pub location: Location,
    pub code_frame: Option<String>,
    /// Statements of a no-transaction script that completed before the failure.
    pub completed: usize,
    /// Whether the database keeps changes made before the failure (no-transaction, MySQL DDL).
    pub partial: bool,
}

#[derive(Clone, Debug)]
pub struct Done {
    pub statements: usize,
    pub duration: Duration,
    /// Another migrator recorded it first (seen inside our transaction): nothing was run.
    pub already_applied: bool,
    /// What resuming found of the interrupted statement (an index already built, or left
    /// INVALID and rebuilt), for the report.
    pub resumed: Option<String>,
}

/// How a script is run on this backend.
pub fn runs_in_transaction(backend: Backend, script: &Script) -> bool {
    // MySQL commits DDL implicitly: with DDL a transaction would promise an atomicity it cannot
    // keep, so such a script runs statement by statement with recorded progress. A DML-only
    // script (a data migration) still gets its transaction.
    !script.no_transaction
        && (!backend.commits_ddl()
            || !statements(script)
                .iter()
                .any(|s| commits_implicitly(s.text)))
}

/// MySQL statements that end the open transaction by themselves.
fn commits_implicitly(statement: &str) -> bool {
    let first = statement
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "CREATE"
            | "ALTER"
            | "DROP"
            | "RENAME"
            | "TRUNCATE"
            | "LOCK"
            | "UNLOCK"
            | "GRANT"
            | "REVOKE"
            | "ANALYZE"
            | "OPTIMIZE"
            | "REPAIR"
            | "INSTALL"
            | "UNINSTALL"
            | "FLUSH"
            | "LOAD"
    )
}

/// A transaction-control statement in a script shipgate wraps in its own transaction: its
/// `COMMIT` would end shipgate's transaction and leave the rest, and the history row, outside
/// it. Returns the line of the first one.
pub fn own_transaction_control(backend: Backend, script: &Script) -> Option<u32> {
    if !runs_in_transaction(backend, script) {
        return None;
    }
    statements(script).iter().find_map(|s| {
        let words: Vec<String> = s
            .text
            .split_whitespace()
            .take(2)
            .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
            .collect();
        let first = words.first().map(String::as_str).unwrap_or("");
        let second = words.get(1).map(String::as_str).unwrap_or("");
        let control = match first {
            "BEGIN" => second != "ATOMIC",
            "START" => second == "TRANSACTION",
            // `ABORT` is PostgreSQL's ROLLBACK; `PREPARE TRANSACTION` leaves one behind.
            "COMMIT" | "ROLLBACK" | "END" | "ABORT" | "SAVEPOINT" | "RELEASE" => true,
            "PREPARE" => second == "TRANSACTION",
            _ => false,
        };
        control.then(|| line_col(&script.text, s.offset).0)
    })
}

/// The statements of a script, with absolute offsets into the file.
pub fn statements(script: &Script) -> Vec<Statement<'_>> {
    split(script.sql())
        .into_iter()
        .map(|s| Statement {
            text: s.text,
            offset: s.offset + script.start,
        })
        .collect()
}

/// Applies `m`, skipping the first `resume_from` statements (a resumed partial migration).
pub async fn apply(
    conn: &mut AnyConnection,
    history: &History,
    m: &Migration,
    applied_by: &str,
    resume_from: usize,
) -> Result<Done, Failure> {
    let started = Instant::now();
    let script = &m.up;
    let stmts = statements(script);
    let row = |status, done: Option<i64>, ms| NewRow {
        version: &m.version,
        name: &m.name,
        checksum: &m.checksum,
        execution_ms: ms,
        applied_by,
        status,
        statements_done: done,
        note: None,
    };
    if runs_in_transaction(history.backend, script) {
        run_control(conn, history.backend.begin(), script).await?;
        // SQLite has no session lock: another migrator may have recorded this migration while
        // we waited for the write lock. (PostgreSQL and MySQL hold a session lock for the run.)
        let recheck = if !history.backend.has_session_lock() {
            history.has(conn, &m.version).await
        } else {
            Ok(false)
        };
        match recheck {
            Ok(true) => {
                let _ = conn.execute("ROLLBACK").await;
                return Ok(Done {
                    statements: 0,
                    duration: started.elapsed(),
                    already_applied: true,
                    resumed: None,
                });
            }
            Ok(false) => {}
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(bookkeeping_failure(script, e));
            }
        }
        let result = async {
            for (i, stmt) in stmts.iter().enumerate() {
                run_statement(conn, script, stmt, i + 1, 0, false).await?;
            }
            let ms = started.elapsed().as_millis() as i64;
            super::step::enter(format!("recording {} in the history table", m.version));
            history
                .insert(conn, &row(Status::Applied, None, ms))
                .await
                .map_err(|e| bookkeeping_failure(script, e))
        }
        .await;
        match result {
            Ok(()) => {
                if let Err(f) = run_control(conn, "COMMIT", script).await {
                    // A failed COMMIT may leave the transaction open (SQLite BUSY).
                    let _ = conn.execute("ROLLBACK").await;
                    return Err(f);
                }
                Ok(Done {
                    statements: stmts.len(),
                    duration: started.elapsed(),
                    already_applied: false,
                    resumed: None,
                })
            }
            Err(failure) => {
                let _ = conn.execute("ROLLBACK").await;
                Err(failure)
            }
        }
    } else {
        let record = |done: usize| {
            row(
                Status::Partial,
                Some(done as i64),
                started.elapsed().as_millis() as i64,
            )
        };
        // Recorded before the first statement: a crash at any point leaves a row saying how far it got.
        // Without a transaction, statements that ran stay: a bookkeeping failure says how many.
        // Resuming (a partial row is recorded): an interrupted CREATE INDEX CONCURRENTLY left
        // its index behind, built or INVALID; running it again as is would fail with 42P07.
        let mut resume_from = resume_from;
        let mut resumed = None;
        if history.backend == Backend::Postgres
            && let Some(next) = stmts.get(resume_from)
            && history
                .has(conn, &m.version)
                .await
                .map_err(|e| stuck_failure(script, resume_from, e))?
        {
            let (note, done) = super::concurrent_index::settle(conn, next.text)
                .await
                .map_err(|e| stuck_failure(script, resume_from, e))?;
            resumed = note;
            resume_from += usize::from(done);
        }
        history
            .record_progress(conn, &record(resume_from))
            .await
            .map_err(|e| stuck_failure(script, resume_from, e))?;
        for (i, stmt) in stmts.iter().enumerate().skip(resume_from) {
            run_statement(conn, script, stmt, i + 1, i, true).await?;
            history
                .record_progress(conn, &record(i + 1))
                .await
                .map_err(|e| stuck_failure(script, i + 1, e))?;
        }
        let ms = started.elapsed().as_millis() as i64;
        history
            .record_progress(conn, &row(Status::Applied, None, ms))
            .await
            .map_err(|e| stuck_failure(script, stmts.len(), e))?;
        Ok(Done {
            statements: stmts.len(),
            duration: started.elapsed(),
            already_applied: false,
            resumed,
        })
    }
}

async fn run_control(
    conn: &mut AnyConnection,
    sql: &'static str,
    script: &Script,
) -> Result<(), Failure> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| bookkeeping_failure(script, format!("{sql} failed: {}", describe_error(&e))))
}

/// Runs one statement; on error, places it in the file.
pub async fn run_statement(
    conn: &mut AnyConnection,
    script: &Script,
    stmt: &Statement<'_>,
    index: usize,
    completed: usize,
    partial: bool,
) -> Result<(), Failure> {
    super::step::enter(format!(
        "running statement {index} of {} (line {})",
        script.path.display(),
        line_col(&script.text, stmt.offset).0
    ));
    execute_statement(conn, script, stmt, index, completed, partial).await
}

/// Runs one statement without naming it as the run's current step (the caller does); on
/// error, places it in the file.
pub async fn execute_statement(
    conn: &mut AnyConnection,
    script: &Script,
    stmt: &Statement<'_>,
    index: usize,
    completed: usize,
    partial: bool,
) -> Result<(), Failure> {
    // Sent without arguments: the simple query protocol, where CREATE INDEX CONCURRENTLY works.
    match conn
        .execute(sqlx::AssertSqlSafe(stmt.text.to_string()))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(failure(script, stmt, index, completed, partial, &e)),
    }
}

fn failure(
    script: &Script,
    stmt: &Statement<'_>,
    index: usize,
    completed: usize,
    partial: bool,
    e: &sqlx::Error,
) -> Failure {
    let (mut line, mut column) = line_col(&script.text, stmt.offset);
    let (mut sqlstate, mut detail, mut hint) = (None, None, None);
    if let Some(db) = e.as_database_error() {
        sqlstate = db.code().map(|c| c.into_owned());
        if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            detail = pg.detail().map(str::to_string);
            hint = pg.hint().map(str::to_string);
            if let Some(sqlx::postgres::PgErrorPosition::Original(p)) = pg.position()
                && let Some((l, c)) = file_position(&script.text, stmt.offset, stmt.text, p)
            {
                (line, column) = (l, c);
            }
        }
    }
    Failure {
        message: describe_error(e),
        sqlstate,
        detail,
        hint,
        statement: index,
        location: Location {
            file: script.path.display().to_string(),
            line,
            column,
        },
        code_frame: Some(code_frame(&script.text, line, column)),
        completed,
        partial,
    }
}

/// A bookkeeping failure of a script run outside a transaction, after `done` of its statements
/// took effect and stayed.
pub(crate) fn stuck_failure(script: &Script, done: usize, e: impl std::fmt::Display) -> Failure {
    Failure {
        completed: done,
        partial: done > 0,
        ..bookkeeping_failure(script, e)
    }
}

/// A failure of shipgate's own statements (BEGIN, COMMIT, the history row) around a script.
pub(crate) fn bookkeeping_failure(script: &Script, e: impl std::fmt::Display) -> Failure {
    Failure {
        message: e.to_string(),
        sqlstate: None,
        detail: None,
        hint: None,
        statement: 0,
        location: script.location(),
        code_frame: None,
        completed: 0,
        partial: false,
    }
}
