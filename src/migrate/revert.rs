//! Rolling back: which applied migrations a `--to`/`--steps`/`--all` covers (newest first),
//! and running their down scripts with their history rows (what those would destroy is
//! `guard`'s business).

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor};

use super::apply::{Failure, run_statement, runs_in_transaction, statements};
use super::history::{History, Row, Status};
use super::source::{Migration, Source};
use crate::db::{Backend, describe_error};
use crate::migrate::session::Dialect as _;

/// How far to roll back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Range {
    /// Revert everything applied after this version (it stays).
    To(String),
    /// Revert the newest N applied migrations.
    Steps(usize),
    All,
}

/// One migration to revert.
#[derive(Clone, Debug)]
pub struct Step {
    pub version: String,
    /// Index into `Source::migrations`, when the file exists.
    pub index: Option<usize>,
    pub row: Row,
}

/// The applied migrations a range covers, newest first.
pub fn select(source: &Source, rows: &[Row], range: &Range) -> Result<Vec<Step>, String> {
    let mut applied: Vec<Step> = rows
        .iter()
        .map(|r| Step {
            version: r.version.clone(),
            // The same file a migrate run matched the row to: by version, or by number when
            // the file was renamed after it ran.
            index: source
                .migrations
                .iter()
                .position(|m| m.version == r.version)
                .or_else(|| {
                    let order = super::plan::order_of(&r.version)?;
                    source.migrations.iter().position(|m| m.order == order)
                }),
            row: r.clone(),
        })
        .collect();
    // Ordered by the file each row was matched to (renamed files included), not by its name.
    let order = |s: &Step| s.index.map(|i| source.migrations[i].order.clone());
    // Newest first, in the order they were applied (a total order: ties, such as rows adopted
    // in one go, fall back to the file order).
    applied.sort_by(|a, b| {
        let key = |s: &Step| (s.row.applied_at.clone(), order(s).unwrap_or_default());
        key(b).cmp(&key(a))
    });
    match range {
        Range::All => Ok(applied),
        Range::Steps(n) => Ok(applied.into_iter().take(*n).collect()),
        Range::To(version) => {
            let index = super::plan::find(source, version)
                .ok_or_else(|| format!("--to {version}: no migration file has that version"))?;
            let target = &source.migrations[index];
            let Some(target_applied_at) = applied
                .iter()
                .find(|s| s.index == Some(index))
                .map(|s| s.row.applied_at.clone())
            else {
                return Err(format!(
                    "--to {version}: {} is not applied, so it cannot be the point to roll back to",
                    target.version
                ));
            };
            Ok(applied
                .into_iter()
                .filter(|s| match order(s) {
                    Some(o) => o > target.order,
                    // A row without a file: only if it was applied after the target.
                    None => s.row.applied_at > target_applied_at,
                })
                .collect())
        }
    }
}

#[derive(Clone, Debug)]
pub struct Reverted {
    pub statements: usize,
    pub duration: Duration,
    /// What resuming found of the interrupted statement (an index already built, or left
    /// INVALID and rebuilt), for the report.
    pub resumed: Option<String>,
}

/// Runs a down script and deletes the history row, in one transaction where the database
/// allows it. `resume`: the statements an interrupted rollback of it completed (`--resume`).
pub async fn revert(
    conn: &mut AnyConnection,
    history: &History,
    m: &Migration,
    recorded_version: &str,
    resume: Option<usize>,
) -> Result<Reverted, Failure> {
    let mut resume_from = resume.unwrap_or(0);
    let mut resumed = None;
    let started = Instant::now();
    let down = m
        .down
        .as_ref()
        .expect("revert is only called for migrations with a down script");
    let stmts = statements(down);
    let bookkeeping = |message: String| super::apply::bookkeeping_failure(down, message);
    if runs_in_transaction(history.backend, down) {
        conn.execute(history.backend.begin())
            .await
            .map_err(|e| bookkeeping(describe_error(&e)))?;
        let result = async {
            for (i, stmt) in stmts.iter().enumerate() {
                run_statement(conn, down, stmt, i + 1, 0, false).await?;
            }
            history
                .delete(conn, recorded_version)
                .await
                .map_err(bookkeeping)
        }
        .await;
        match result {
            Ok(()) => {
                if let Err(e) = conn.execute("COMMIT").await {
                    let _ = conn.execute("ROLLBACK").await;
                    return Err(bookkeeping(describe_error(&e)));
                }
            }
            Err(f) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(f);
            }
        }
    } else {
        // Outside a transaction every statement sticks: record how far it got, so a failed or
        // killed rollback can be resumed instead of re-running statements already done.
        // A bookkeeping failure here comes after statements that stayed: it says how many.
        let stuck = |done: usize| {
            move |e: String| Failure {
                completed: done,
                partial: done > 0,
                ..bookkeeping(e)
            }
        };
        // An interrupted CREATE INDEX CONCURRENTLY left its index behind, built or INVALID;
        // running it again as is would fail with 42P07.
        if resume.is_some()
            && history.backend == Backend::Postgres
            && let Some(next) = stmts.get(resume_from)
        {
            let (note, done) = super::concurrent_index::settle(conn, next.text)
                .await
                .map_err(stuck(resume_from))?;
            resumed = note;
            resume_from += usize::from(done);
        }
        history
            .set_reverting(conn, recorded_version, resume_from)
            .await
            .map_err(stuck(resume_from))?;
        for (i, stmt) in stmts.iter().enumerate().skip(resume_from) {
            run_statement(conn, down, stmt, i + 1, i, true).await?;
            history
                .set_reverting(conn, recorded_version, i + 1)
                .await
                .map_err(stuck(i + 1))?;
        }
        history
            .delete(conn, recorded_version)
            .await
            .map_err(stuck(stmts.len()))?;
    }
    Ok(Reverted {
        statements: stmts.len(),
        duration: started.elapsed(),
        resumed,
    })
}

/// Whether a row may be reverted at all (a partial migration must be finished first).
impl Step {
    /// Down statements an interrupted rollback of this step already ran (`--resume` skips them).
    pub fn resume_from(&self) -> usize {
        if self.row.status == Status::Reverting {
            self.row.statements_done.unwrap_or(0).max(0) as usize
        } else {
            0
        }
    }
}

pub fn revertible(row: &Row) -> bool {
    row.status != Status::Partial
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{Layout, Script, checksum};

    fn migration(version: &str, order: u64, down: Option<&str>) -> Migration {
        let script = |sql: &str| Script {
            path: format!("{version}.sql").into(),
            text: sql.into(),
            start: 0,
            end: sql.len(),
            no_transaction: false,
        };
        Migration {
            version: version.into(),
            order: vec![order],
            name: String::new(),
            up: script("SELECT 1"),
            down: down.map(script),
            checksum: checksum("SELECT 1"),
        }
    }

    fn row(version: &str) -> Row {
        Row {
            version: version.into(),
            name: String::new(),
            checksum: String::new(),
            applied_at: format!("2026-01-0{version}"),
            execution_ms: 0,
            applied_by: String::new(),
            status: Status::Applied,
            statements_done: None,
            note: None,
        }
    }

    #[test]
    fn ranges_newest_first() {
        let source = Source {
            dir: "m".into(),
            layout: Layout::UpDown,
            migrations: vec![
                migration("1", 1, Some("")),
                migration("2", 2, None),
                migration("3", 3, Some("")),
            ],
        };
        let rows = vec![row("1"), row("2"), row("3")];
        let versions = |steps: Vec<Step>| steps.into_iter().map(|s| s.version).collect::<Vec<_>>();
        assert_eq!(
            versions(select(&source, &rows, &Range::All).unwrap()),
            ["3", "2", "1"]
        );
        assert_eq!(
            versions(select(&source, &rows, &Range::Steps(2)).unwrap()),
            ["3", "2"]
        );
        assert_eq!(
            versions(select(&source, &rows, &Range::To("1".into())).unwrap()),
            ["3", "2"]
        );
        assert!(
            select(&source, &rows[..1], &Range::To("2".into()))
                .unwrap_err()
                .contains("not applied")
        );
    }
}
