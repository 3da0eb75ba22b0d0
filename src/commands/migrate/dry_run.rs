//! The rows of `migrate --dry-run`: for each migration that would run, the SQL it would send
//! (its statements, in the transaction it would open, and the history row's INSERT with the
//! values it would bind); the others as a real run would report them.

use serde_json::json;

use super::resolve::Settings;
use super::result;
use super::rows::{applied_result, migration_id, report_missing, state_result};
use crate::commands::with_details;
use crate::migrate::{
    self as engine, Dialect as _, History, HistoryStatus, NewRow, Plan, Source, State, title,
};
use crate::report::{CheckResult, Status};
use crate::units::plural;

const EMPTY_MIGRATION_PENDING: &str = "would apply nothing: the file holds no statement (empty or only comments), and its version would be recorded as applied (dry run)";

pub(super) fn report_dry_run(
    settings: &Settings,
    source: &Source,
    history: &History,
    plan: &Plan,
    table_exists: bool,
    results: &mut Vec<CheckResult>,
) {
    if !table_exists {
        results.push(with_details(
            result(
                "migrate.history",
                "history table",
                Status::Skip,
                format!("would create the history table {} (dry run)", history.table),
            ),
            json!({"sql": format!("{};", history.create_sql())}),
        ));
    }
    // A real run takes the backup even with nothing to apply (not when it is refused first).
    if let Some(dir) = &settings.target.backup
        && (!plan.to_apply.is_empty() || plan.blockers(&settings.plan).is_empty())
    {
        let (nothing, first) = match plan.to_apply.is_empty() {
            true => ("nothing to apply; ", ""),
            false => ("", " first"),
        };
        results.push(result(
            "migrate.backup",
            "backup",
            Status::Skip,
            format!(
                "{nothing}would back the database up into {}{first} (dry run)",
                dir.display()
            ),
        ));
        if settings.verify_backup {
            results.push(result(
                "migrate.backup-verify",
                "backup restore test",
                Status::Skip,
                format!(
                    "would restore the backup into {}, compare every table's row count with the database's, then drop it, before any migration (dry run)",
                    crate::migrate::throwaway_kind(settings.target.backend)
                ),
            ));
        }
    }
    let blockers = plan.blockers(&settings.plan);
    let mut runs = vec![false; plan.items.len()];
    if blockers.is_empty() {
        for &i in &plan.to_apply {
            runs[i] = true;
        }
    }
    results.extend(applied_result(plan, settings.view()));
    for (i, item) in plan.items.iter().enumerate() {
        let m = &source.migrations[item.index];
        if item.state == State::Applied {
            continue;
        }
        if runs[i] {
            let stmts = engine::statements(&m.up);
            let in_tx = engine::runs_in_transaction(settings.target.backend, &m.up);
            let insert = history.insert_shown(&NewRow {
                version: &m.version,
                name: &m.name,
                checksum: &m.checksum,
                execution_ms: 0,
                applied_by: "(you)",
                status: HistoryStatus::Applied,
                statements_done: None,
                note: None,
            });
            let mut sql = String::new();
            if in_tx {
                sql.push_str(settings.target.backend.begin());
                sql.push_str(";\n");
            }
            for s in &stmts {
                sql.push_str(s.text);
                sql.push_str(";\n");
            }
            sql.push_str(&insert);
            sql.push_str(";\n");
            if in_tx {
                sql.push_str("COMMIT;\n");
            }
            let note = if settings.target.backend.commits_ddl() && !in_tx {
                " (MySQL commits DDL implicitly: run statement by statement, progress recorded)"
            } else if !in_tx {
                " (no transaction: statement by statement, progress recorded)"
            } else {
                ""
            };
            let (status, message) = if stmts.is_empty() {
                (Status::Warn, EMPTY_MIGRATION_PENDING.to_string())
            } else {
                (
                    Status::Skip,
                    format!(
                        "would apply {}{note} (dry run)",
                        plural(stmts.len(), "statement", "statements")
                    ),
                )
            };
            let mut r = with_details(
                result(&migration_id(m), &title(m), status, message),
                json!({"sql": sql, "transaction": in_tx}),
            );
            r.location = Some(m.up.location());
            results.push(r);
        } else {
            let mut r = state_result(m, item, &item.state, settings.view(), None);
            if r.location.is_none() && r.status.fails_run(false) {
                r.location = Some(m.up.location());
            }
            results.push(r);
        }
    }
    report_missing(source, plan, results);
}
