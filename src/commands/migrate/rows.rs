//! The rows of a `migrate` report: the files read, the history, one row per migration that
//! ran, failed, is pending or needs attention, the applied ones together, a repair, and the
//! `--check` status (the dry run's SQL is `dry_run`'s). Pure mapping from the plan and the
//! session's outcomes; nothing here touches the database.

use serde_json::json;

use super::result;
use crate::checks::id_part;
use crate::commands::target::step_failure;
use crate::commands::with_details;
use crate::db::Backend;
use crate::migrate::{
    self as engine, Failure, History, Item, Migration, Plan, Repair, Source, State, title,
};
use crate::report::{CheckResult, Location, Status};
use crate::units::{format_duration, plural};

/// What the per-migration results depend on, besides the plan.
#[derive(Clone, Copy)]
pub(super) struct View {
    pub backend: Backend,
    pub check: bool,
    pub allow_out_of_order: bool,
    pub has_target: bool,
}

/// An empty migration (no statement, or only comments) is usually a file saved before it was
/// written: applying it records a version that changed nothing, so it is said, not hidden.
const EMPTY_MIGRATION_APPLIED: &str = "applied, but the file holds no statement (empty or only comments): its version is recorded as applied with nothing run; write its SQL in a new migration";

pub(super) fn migration_id(m: &Migration) -> String {
    format!("migration.{}", id_part(&m.version))
}

type Outcomes<'a> = (
    &'a [(usize, Result<engine::Done, Failure>)],
    Option<&'a str>,
);

/// The `migrate.source` result: how many migration files were read, from where, in which layout.
pub(super) fn source_result(source: &Source) -> CheckResult {
    with_details(
        result(
            "migrate.source",
            "migration files",
            Status::Pass,
            format!(
                "{} migrations in {} ({} layout)",
                source.migrations.len(),
                source.dir.display(),
                source.layout
            ),
        ),
        json!({"dir": source.dir.display().to_string(), "layout": source.layout.name()}),
    )
}

/// The `migrate.history` result: the table found with `count` rows (`then`: what that means,
/// e.g. "; nothing to apply"), or created by this run.
pub(super) fn history_result(
    history: &History,
    existed: bool,
    count: usize,
    then: &str,
) -> CheckResult {
    let message = if existed {
        format!("{} records {count} applied migrations{then}", history.table)
    } else {
        format!("created the history table {}", history.table)
    };
    result("migrate.history", "history table", Status::Pass, message)
}

/// The `migrate.require-tables` result (`[migrate] require_tables`).
pub(super) fn require_tables_result(required: &[String], missing: &[String]) -> CheckResult {
    let ok = missing.is_empty();
    with_details(
        result(
            "migrate.require-tables",
            "required tables",
            if ok { Status::Pass } else { Status::Fail },
            if ok {
                format!("required tables exist: {}", required.join(", "))
            } else {
                format!(
                    "Required table {} is missing: apply the migrations that create it first",
                    missing.join(", ")
                )
            },
        ),
        json!({"required": required, "missing": missing}),
    )
}

/// The result of `--accept-checksum` or `--mark-resolved` on `m` (`written`: whether a row
/// was changed, or why the write failed).
pub(super) fn repair_result(
    repair: Repair,
    m: &Migration,
    reason: &str,
    written: Result<bool, crate::db::Error>,
) -> CheckResult {
    let (id, name) = match repair {
        Repair::AcceptChecksum => ("migrate.accept-checksum", "accept checksum"),
        Repair::MarkResolved => ("migrate.mark-resolved", "mark resolved"),
    };
    let flag = repair.flag();
    let version = &m.version;
    let (status, message) = match (written, repair) {
        (Ok(true), Repair::AcceptChecksum) => (
            Status::Pass,
            format!(
                "{version} now records the checksum of {} ({reason})",
                m.up.path.display()
            ),
        ),
        (Ok(true), Repair::MarkResolved) => (
            Status::Pass,
            format!("{version} is recorded as resolved ({reason})"),
        ),
        (Ok(false), Repair::AcceptChecksum) => (
            Status::Fail,
            format!("{flag} {version}: it is not applied, so there is nothing to accept"),
        ),
        (Ok(false), Repair::MarkResolved) => (
            Status::Fail,
            format!("{flag} {version}: it has no history row"),
        ),
        (Err(e), _) => (Status::Fail, e.to_string()),
    };
    result(id, name, status, message)
}

/// One `migrate.applied` result for the migrations applied before this run, one result per
/// migration that ran, failed, is pending or needs attention, and one per recorded version
/// whose file is gone.
pub(super) fn report_items(
    source: &Source,
    plan: &Plan,
    view: View,
    outcomes: Option<Outcomes<'_>>,
    results: &mut Vec<CheckResult>,
) {
    let mut by_item: Vec<Option<&Result<engine::Done, Failure>>> = vec![None; plan.items.len()];
    for (i, outcome) in outcomes.map_or(&[][..], |(o, _)| o) {
        by_item[*i] = Some(outcome);
    }
    // Nothing runs an `Applied` item: it has no outcome.
    results.extend(applied_result(plan, view));
    for (i, item) in plan.items.iter().enumerate() {
        let m = &source.migrations[item.index];
        let outcome = by_item[i];
        if item.state == State::Applied {
            continue;
        }
        let r = match (outcome, &item.state) {
            (Some(Ok(done)), _) if done.already_applied => result(
                &migration_id(m),
                &title(m),
                Status::Skip,
                "applied meanwhile by another migrator",
            ),
            (Some(Ok(done)), _) if done.statements == 0 => with_details(
                result(
                    &migration_id(m),
                    &title(m),
                    Status::Warn,
                    EMPTY_MIGRATION_APPLIED,
                ),
                json!({"statements": 0, "duration_ms": done.duration.as_millis() as u64}),
            ),
            (Some(Ok(done)), _) => with_details(
                result(
                    &migration_id(m),
                    &title(m),
                    Status::Pass,
                    format!(
                        "applied in {} ({}){}",
                        format_duration(done.duration),
                        plural(done.statements, "statement", "statements"),
                        done.resumed
                            .as_ref()
                            .map(|r| format!("; {r}"))
                            .unwrap_or_default()
                    ),
                ),
                json!({"statements": done.statements, "duration_ms": done.duration.as_millis() as u64, "transaction": engine::runs_in_transaction(view.backend, &m.up), "resumed": done.resumed}),
            ),
            (Some(Err(f)), _) => failure_result(m, f),
            (None, state) => state_result(m, item, state, view, outcomes.and_then(|(_, f)| f)),
        };
        let mut r = r;
        if let Some(Ok(done)) = outcome {
            r.duration_ms = done.duration.as_millis() as u64;
        }
        if r.location.is_none() && (r.status.fails_run(false) || r.status == Status::Warn) {
            r.location = Some(m.up.location());
        }
        results.push(r);
    }
    report_missing(source, plan, results);
}

/// The migrations applied before this run (and untouched by it), in one result: a no-op run over
/// 5,000 migrations is one row, one JUnit case and one Markdown line, not 5,000. The list is in
/// `details` (shown with `-v`). None when there are none.
pub(super) fn applied_result(plan: &Plan, view: View) -> Option<CheckResult> {
    let applied: Vec<String> = plan
        .items
        .iter()
        .filter(|item| item.state == State::Applied)
        .map(|item| match &item.row {
            Some(row) if !row.applied_at.is_empty() => {
                format!("{} at {}", row.version, row.applied_at)
            }
            Some(row) => row.version.clone(),
            None => String::new(),
        })
        .collect();
    if applied.is_empty() {
        return None;
    }
    let newest = plan
        .items
        .iter()
        .rev()
        .find(|item| item.state == State::Applied)
        .and_then(|item| item.row.as_ref())
        .map(|row| format!(", the newest {}", row.version))
        .unwrap_or_default();
    Some(with_details(
        result(
            "migrate.applied",
            "applied migrations",
            if view.check {
                Status::Pass
            } else {
                Status::Skip
            },
            format!(
                "{} already applied{newest}",
                plural(applied.len(), "migration", "migrations")
            ),
        ),
        json!({"count": applied.len(), "applied": applied}),
    ))
}

/// Recorded versions whose file is gone: a warning, the history is not rewritten.
pub(super) fn report_missing(source: &Source, plan: &Plan, results: &mut Vec<CheckResult>) {
    for row in &plan.missing {
        results.push(with_details(
            result(
                &format!("migration.{}", id_part(&row.version)),
                &row.version,
                Status::Warn,
                format!(
                    "{} is recorded as applied ({} by {}) but has no file in {}",
                    row.version,
                    row.applied_at,
                    row.applied_by,
                    source.dir.display()
                ),
            ),
            json!({"applied_at": row.applied_at, "applied_by": row.applied_by}),
        ));
    }
}

pub(super) fn state_result(
    m: &Migration,
    item: &Item,
    state: &State,
    view: View,
    failed: Option<&str>,
) -> CheckResult {
    let id = migration_id(m);
    let name = title(m);
    match state {
        // Reported together by `applied_result`; one alone reads the same way.
        State::Applied => {
            let row = item.row.as_ref();
            result(
                &id,
                &name,
                if view.check {
                    Status::Pass
                } else {
                    Status::Skip
                },
                format!(
                    "already applied{}",
                    row.map(|r| format!(" at {} by {}", r.applied_at, r.applied_by))
                        .unwrap_or_default()
                ),
            )
        }
        State::Drifted { recorded } => with_details(
            result(
                &id,
                &name,
                Status::Fail,
                format!(
                    "{} changed after it was applied; restore the file as it was (checksum {}), write a new migration for the change, or accept it with --accept-checksum {} --reason '…'",
                    m.up.path.display(),
                    recorded.chars().take(12).collect::<String>(),
                    m.version
                ),
            ),
            json!({"recorded_checksum": recorded, "file_checksum": m.checksum}),
        ),
        State::OutOfOrder if !view.allow_out_of_order => result(
            &id,
            &name,
            Status::Fail,
            "pending, but older than a migration already applied: rename it to a newer version, or pass --allow-out-of-order",
        ),
        State::Reverting { statements_done } => result(
            &id,
            &name,
            Status::Fail,
            format!(
                "a rollback of it stopped after {statements_done} statements of its down script: finish it with `shipgate rollback --resume` (same range) before migrating"
            ),
        ),
        State::Partial { statements_done } => {
            let stmts = engine::statements(&m.up);
            let next = stmts.get(*statements_done as usize);
            let mut r = result(
                &id,
                &name,
                Status::Fail,
                format!(
                    "stopped after {statements_done} of {} statements{}: re-run with --resume to continue from there once the cause is fixed",
                    stmts.len(),
                    next.map(|s| {
                        let (line, _) = engine::line_col(&m.up.text, s.offset);
                        format!(
                            "; statement {} at {}:{line} did not complete",
                            statements_done + 1,
                            m.up.path.display()
                        )
                    })
                    .unwrap_or_default()
                ),
            );
            if let Some(s) = next {
                let (line, column) = engine::line_col(&m.up.text, s.offset);
                r.location = Some(Location {
                    file: m.up.path.display().to_string(),
                    line,
                    column,
                });
            }
            r
        }
        State::Pending | State::OutOfOrder => {
            if view.check {
                result(&id, &name, Status::Fail, "pending")
            } else if let Some(f) = failed {
                result(&id, &name, Status::Skip, format!("not run: {f} failed"))
            } else if view.has_target {
                result(&id, &name, Status::Skip, "pending, after --to")
            } else {
                result(&id, &name, Status::Skip, "pending, not run")
            }
        }
    }
}

pub(super) fn failure_result(m: &Migration, f: &Failure) -> CheckResult {
    step_failure(
        "migrate",
        &migration_id(m),
        &title(m),
        &m.version,
        f,
        "nothing of it was applied",
    )
}

/// `--check`'s verdict on the history: its last row.
pub(super) fn check_status(plan: &Plan) -> CheckResult {
    let pending = plan.pending();
    let drifted = plan.drifted();
    let partial = plan
        .items
        .iter()
        .filter(|i| matches!(i.state, State::Partial { .. } | State::Reverting { .. }))
        .count();
    with_details(
        result(
            "migrate.status",
            "migration status",
            if pending + drifted + partial == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            if pending + drifted + partial == 0 {
                "the database is up to date".to_string()
            } else {
                format!(
                    "{pending} pending, {drifted} changed after being applied, {partial} stopped part-way"
                )
            },
        ),
        json!({"pending": pending, "drifted": drifted, "partial": partial, "missing_files": plan.missing.len()}),
    )
}
