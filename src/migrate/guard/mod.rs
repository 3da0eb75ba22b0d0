//! The rollback data-loss guard: what the down scripts of a rollback would destroy.
//!
//! Where the database has transactional DDL (PostgreSQL, SQLite) the guard does not guess from
//! the SQL: it runs the down scripts in a transaction, compares the tables, columns and rows
//! before and after, and rolls back ([`measure`]). Anything a script does — a data-modifying CTE,
//! a `DO` block, `DROP SCHEMA … CASCADE`, a rename then a drop — shows in the comparison, and a
//! column that a down script re-adds and another drops again is seen to hold nothing.
//!
//! MySQL commits DDL as it goes, so there the scripts cannot be tried: the guard reads their
//! statements instead ([`read`]) and counts what they name. So does a no-transaction down script
//! on PostgreSQL (`DROP INDEX CONCURRENTLY` cannot run inside the measuring transaction): it is
//! judged by its statements and left out of the measurement. A statement the reader cannot judge
//! (a `DO` block, a CTE, a procedure call) is listed as unjudged: the rollback is refused for it
//! unless `--allow-data-loss`, never passed silently.

mod lexer;
mod measure;
mod read;
mod statement;

use std::time::Duration;

use sqlx::AnyConnection;

use super::source::Script;
use crate::db::Backend;
use crate::migrate::session::Dialect as _;

/// Counts stop here: the guard needs "any?", the message a size; a full count of a big table
/// while holding the migration lock would take as long as a scan. A count above it reads as
/// "more than COUNT_CAP".
pub const COUNT_CAP: i64 = 10_000;

/// One down script to run, in rollback order (newest first).
#[derive(Clone, Copy, Debug)]
pub struct Down<'a> {
    pub version: &'a str,
    pub script: &'a Script,
    /// Statements already run by an interrupted rollback (`--resume`): they are not judged again.
    pub resume_from: usize,
}

/// A table whose rows would be lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLoss {
    /// As the database names it (`schema.table` outside the default schema).
    pub table: String,
    /// Rows lost, up to [`COUNT_CAP`] + 1.
    pub rows: i64,
    /// Dropped, not just emptied.
    pub dropped: bool,
}

/// A column whose values would be lost (dropped, or set to NULL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnLoss {
    pub table: String,
    pub column: String,
    /// Non-NULL values lost, up to [`COUNT_CAP`] + 1.
    pub values: i64,
}

/// A statement the guard could not judge without running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unjudged {
    pub version: String,
    /// `file:line`.
    pub at: String,
    /// Its first words.
    pub statement: String,
}

/// How the verdict was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The down scripts ran in a transaction that was rolled back.
    Measured,
    /// The statements were read (MySQL; a read-only SQLite dry run).
    Read,
}

#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub tables: Vec<TableLoss>,
    pub columns: Vec<ColumnLoss>,
    pub unjudged: Vec<Unjudged>,
    /// Versions whose down script was read instead of measured (no-transaction scripts).
    pub read_instead: Vec<String>,
    pub method: Option<Method>,
}

impl Verdict {
    pub fn destroys_data(&self) -> bool {
        !self.tables.is_empty() || !self.columns.is_empty()
    }

    /// Nothing lost and nothing left unjudged.
    pub fn clean(&self) -> bool {
        !self.destroys_data() && self.unjudged.is_empty()
    }
}

/// What the guard needs to know about the run.
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    pub backend: Backend,
    /// The history table: its rows are the rollback's own business.
    pub history_table: &'a str,
    /// Bounds every statement the guard sends (and the down scripts it tries).
    pub timeout: Duration,
    /// The connection may write (false for a read-only SQLite dry run: the scripts are read).
    pub writable: bool,
}

/// Judges the down scripts, in order. An error means the guard could not tell (a count without
/// privilege, a lock wait that timed out, a down script that fails): the caller must refuse.
pub async fn assess(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    downs: &[Down<'_>],
) -> Result<Verdict, String> {
    let measurable = !settings.backend.commits_ddl() && settings.writable;
    let mut verdict = Verdict::default();
    // Tried in rollback order up to the first no-transaction script, which cannot run in the
    // transaction; it and every later script are read, since those may depend on it.
    let (tried, read): (Vec<Down<'_>>, Vec<Down<'_>>) = if measurable {
        let first_untried = downs
            .iter()
            .position(|d| d.script.no_transaction)
            .unwrap_or(downs.len());
        (
            downs[..first_untried].to_vec(),
            downs[first_untried..].to_vec(),
        )
    } else {
        (Vec::new(), downs.to_vec())
    };
    if !tried.is_empty() {
        let m = measure::measure(conn, settings, &tried).await?;
        verdict.tables = m.tables;
        verdict.columns = m.columns;
        verdict.method = Some(Method::Measured);
    } else {
        verdict.method = Some(Method::Read);
    }
    if measurable {
        verdict.read_instead = read.iter().map(|d| d.version.to_string()).collect();
    }
    if !read.is_empty() {
        let r = read::judge(conn, settings, &read).await?;
        merge(&mut verdict, r);
    }
    Ok(verdict)
}

/// Adds what the statements say to what was measured, once per table and column.
fn merge(verdict: &mut Verdict, read: read::Judged) {
    for t in read.tables {
        if !verdict.tables.iter().any(|x| x.table == t.table) {
            verdict.tables.push(t);
        }
    }
    for c in read.columns {
        let dropped_with_table = verdict
            .tables
            .iter()
            .any(|t| t.dropped && t.table == c.table);
        if !dropped_with_table
            && !verdict
                .columns
                .iter()
                .any(|x| x.table == c.table && x.column == c.column)
        {
            verdict.columns.push(c);
        }
    }
    verdict.unjudged.extend(read.unjudged);
}

/// `n rows`, or `more than COUNT_CAP rows` at the cap.
pub fn count_words(n: i64, one: &str, many: &str) -> String {
    if n > COUNT_CAP {
        format!("more than {COUNT_CAP} {many}")
    } else if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
