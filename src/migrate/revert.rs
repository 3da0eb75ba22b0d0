//! Rolling back: which applied migrations a `--to`/`--steps`/`--all` covers (newest first),
//! and running their down scripts with their history rows (what those would destroy is
//! `guard`'s business).

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor};

use super::apply::{Failure, run_statement, runs_in_transaction, statements, stuck_failure};
use super::history::{History, Row, Status};
use super::source::{Layout, Migration, Source};
use crate::db::{self, Backend};
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
    let bookkeeping = |e: &dyn std::fmt::Display| super::apply::bookkeeping_failure(down, e);
    if runs_in_transaction(history.backend, down) {
        conn.execute(history.backend.begin())
            .await
            .map_err(|e| bookkeeping(&db::Error::server(&e)))?;
        let result = async {
            for (i, stmt) in stmts.iter().enumerate() {
                run_statement(conn, down, stmt, i + 1, 0, false).await?;
            }
            history
                .delete(conn, recorded_version)
                .await
                .map_err(|e| bookkeeping(&e))
        }
        .await;
        match result {
            Ok(()) => {
                if let Err(e) = conn.execute("COMMIT").await {
                    let _ = conn.execute("ROLLBACK").await;
                    return Err(bookkeeping(&db::Error::server(&e)));
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
        // An interrupted CREATE INDEX CONCURRENTLY left its index behind, built or INVALID;
        // running it again as is would fail with 42P07.
        if resume.is_some()
            && history.backend == Backend::Postgres
            && let Some(next) = stmts.get(resume_from)
        {
            let (note, done) = super::concurrent_index::settle(conn, next.text)
                .await
                .map_err(|e| stuck_failure(down, resume_from, e))?;
            resumed = note;
            resume_from += usize::from(done);
        }
        history
            .set_reverting(conn, recorded_version, resume_from)
            .await
            .map_err(|e| stuck_failure(down, resume_from, e))?;
        for (i, stmt) in stmts.iter().enumerate().skip(resume_from) {
            run_statement(conn, down, stmt, i + 1, i, true).await?;
            history
                .set_reverting(conn, recorded_version, i + 1)
                .await
                .map_err(|e| stuck_failure(down, i + 1, e))?;
        }
        history
            .delete(conn, recorded_version)
            .await
            .map_err(|e| stuck_failure(down, stmts.len(), e))?;
    }
    Ok(Reverted {
        statements: stmts.len(),
        duration: started.elapsed(),
        resumed,
    })
}

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

/// Why a step may not be rolled back; each renders its own message, with what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Applied, but its file is gone: the down script is unknown.
    NoFile { version: String, dir: String },
    /// A migration that stopped part-way must be finished first.
    Partial { version: String },
    /// A rollback of it stopped part-way, and `--resume` was not given.
    Reverting { version: String, done: i64 },
    /// Its file changed after it was applied.
    Changed { path: String, version: String },
    /// It has no down script (`title` names the migration); a Prisma migration never has one.
    NoDown { title: String, layout: Layout },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoFile { version, dir } => write!(
                f,
                "{version} is applied but has no file in {dir}: its down script is unknown"
            ),
            Refusal::Partial { version } => write!(
                f,
                "{version} stopped part-way; finish it (migrate --resume or --mark-resolved) before rolling back"
            ),
            Refusal::Reverting { version, done } => write!(
                f,
                "a rollback of {version} stopped after {done} of its down statements: fix the cause, then re-run with --resume"
            ),
            Refusal::Changed { path, version } => write!(
                f,
                "{path} changed after it was applied: its down script may not undo what ran; restore the file, or accept the change with `migrate --accept-checksum {version} --reason …`"
            ),
            Refusal::NoDown {
                title,
                layout: Layout::Prisma,
            } => write!(
                f,
                "{title} is a Prisma migration, and Prisma writes no down script: shipgate cannot undo it. \
                 Revert it the way Prisma's docs do: restore schema.prisma, write a new migration that \
                 reverses it (`prisma migrate dev --create-only`) and apply it with `shipgate migrate`; \
                 or roll back to a later version"
            ),
            Refusal::NoDown { title, .. } => write!(
                f,
                "{title} has no down script; write one, or roll back to a later version"
            ),
        }
    }
}

/// Whether `step` may be rolled back as things are (`resume`: `--resume` was given).
pub fn refusal(step: &Step, source: &Source, resume: bool) -> Option<Refusal> {
    let Some(m) = step.index.map(|i| &source.migrations[i]) else {
        return Some(Refusal::NoFile {
            version: step.version.clone(),
            dir: source.dir.display().to_string(),
        });
    };
    if step.row.status == Status::Partial {
        Some(Refusal::Partial {
            version: step.version.clone(),
        })
    } else if step.row.status == Status::Reverting && !resume {
        Some(Refusal::Reverting {
            version: m.version.clone(),
            done: step.row.statements_done.unwrap_or(0),
        })
    } else if m.checksum != step.row.checksum {
        Some(Refusal::Changed {
            path: m.up.path.display().to_string(),
            version: m.version.clone(),
        })
    } else if m.down.is_none() {
        Some(Refusal::NoDown {
            title: super::plan::title(m),
            layout: source.layout,
        })
    } else {
        None
    }
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

    #[test]
    fn a_step_is_refused_with_the_reason_and_what_to_do() {
        let source = Source {
            dir: std::path::PathBuf::from("migrations"),
            layout: Layout::Sqlx,
            migrations: vec![
                migration("001", 1, Some("DROP TABLE a;")),
                migration("002", 2, None),
            ],
        };
        let row = |version: &str, status: Status, checksum: &str| Row {
            version: version.into(),
            name: String::new(),
            checksum: checksum.into(),
            applied_at: String::new(),
            execution_ms: 0,
            applied_by: String::new(),
            status,
            statements_done: Some(2),
            note: None,
        };
        let step = |index: Option<usize>, row: Row| Step {
            version: row.version.clone(),
            index,
            row,
        };
        let sum = source.migrations[0].checksum.clone();
        let ok = step(Some(0), row("001", Status::Applied, &sum));
        assert_eq!(refusal(&ok, &source, false), None);

        let gone = step(None, row("009", Status::Applied, "x"));
        let refused = refusal(&gone, &source, false).expect("no file");
        assert!(matches!(refused, Refusal::NoFile { .. }));
        assert_eq!(
            refused.to_string(),
            "009 is applied but has no file in migrations: its down script is unknown"
        );
        let partial = step(Some(0), row("001", Status::Partial, &sum));
        assert!(matches!(
            refusal(&partial, &source, true),
            Some(Refusal::Partial { .. })
        ));
        let reverting = step(Some(0), row("001", Status::Reverting, &sum));
        assert!(matches!(
            refusal(&reverting, &source, false),
            Some(Refusal::Reverting { done: 2, .. })
        ));
        assert_eq!(refusal(&reverting, &source, true), None, "--resume goes on");
        let changed = step(Some(0), row("001", Status::Applied, "other"));
        assert!(
            refusal(&changed, &source, false)
                .expect("changed")
                .to_string()
                .contains("--accept-checksum 001")
        );
        let sum2 = source.migrations[1].checksum.clone();
        let no_down = step(Some(1), row("002", Status::Applied, &sum2));
        let refused = refusal(&no_down, &source, false).expect("no down script");
        assert!(matches!(refused, Refusal::NoDown { .. }));
        assert!(
            refused
                .to_string()
                .contains("has no down script; write one")
        );
        let prisma = Source {
            layout: Layout::Prisma,
            ..source
        };
        let refused = refusal(&no_down, &prisma, false).expect("no down script");
        assert!(
            refused
                .to_string()
                .contains("is a Prisma migration, and Prisma writes no down script"),
            "{refused}"
        );
    }
}
