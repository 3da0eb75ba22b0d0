//! The rows of a `rollback` report: the plan, the data-loss guard's verdict (what the down
//! scripts would destroy, said short, with every table and column in the details), each step
//! reverted or shown (dry run), and the history checked afterwards. Pure mapping.

use serde_json::json;

use super::result;
use crate::commands::with_details;
use crate::migrate::{self as engine, History, Migration, Row, SessionError, Step, title};
use crate::report::{CheckResult, Status};
use crate::units::{format_duration, plural};

/// How many names the guard's message lists before "and N more" (the details hold them all).
const LISTED: usize = 5;

/// The guard's verdict as a result: pass, or a short refusal (a warning with
/// `--allow-data-loss`) whose details list every table and column.
pub(super) fn guard_result(
    verdict: Result<&engine::Verdict, &String>,
    allow_data_loss: bool,
    dry_run: bool,
) -> CheckResult {
    let id = "rollback.data-loss";
    let name = "data-loss guard";
    let verdict = match verdict {
        Ok(v) => v,
        Err(e) => {
            let (status, then) = if allow_data_loss {
                (Status::Warn, "going ahead (--allow-data-loss given)")
            } else {
                (
                    Status::Fail,
                    "refused: fix the cause, or back the data up and pass --allow-data-loss",
                )
            };
            return with_details(
                result(
                    id,
                    name,
                    status,
                    format!("cannot tell what the down scripts destroy: {e}; {then}"),
                ),
                json!({"error": e}),
            );
        }
    };
    let how = match verdict.method {
        Some(engine::GuardMethod::Measured) => {
            "tried the down scripts in a transaction and rolled it back"
        }
        _ if dry_run => "read the down scripts' statements (a dry run does not try them)",
        _ => "read the down scripts' statements, which cannot be tried in a transaction here",
    };
    let details = json!({
        "method": how,
        "tables": verdict.tables.iter().map(|t| json!({"table": t.table, "rows": t.rows, "dropped": t.dropped})).collect::<Vec<_>>(),
        "columns": verdict.columns.iter().map(|c| json!({"table": c.table, "column": c.column, "values": c.values})).collect::<Vec<_>>(),
        "unjudged": verdict.unjudged.iter().map(|u| json!({"version": u.version, "at": u.at, "statement": u.statement})).collect::<Vec<_>>(),
        "read_instead": verdict.read_instead,
        "count_cap": engine::COUNT_CAP,
    });
    if verdict.clean() {
        let mut message = format!("the down scripts destroy no data: {how}");
        if !verdict.read_instead.is_empty() {
            message.push_str(&format!(
                "; the no-transaction down scripts of {} were read, not tried",
                verdict.read_instead.join(", ")
            ));
        }
        return with_details(result(id, name, Status::Pass, message), details);
    }
    let mut parts = Vec::new();
    if verdict.destroys_data() {
        let mut counts = Vec::new();
        if !verdict.tables.is_empty() {
            counts.push(plural(verdict.tables.len(), "table", "tables"));
        }
        if !verdict.columns.is_empty() {
            counts.push(plural(verdict.columns.len(), "column", "columns"));
        }
        let names: Vec<String> = verdict
            .tables
            .iter()
            .map(|t| {
                format!(
                    "{} ({})",
                    t.table,
                    engine::count_words(t.rows, "row", "rows")
                )
            })
            .chain(verdict.columns.iter().map(|c| {
                format!(
                    "{}.{} ({})",
                    c.table,
                    c.column,
                    engine::count_words(c.values, "value", "values")
                )
            }))
            .collect();
        parts.push(format!(
            "would destroy data in {}: {}",
            counts.join(" and "),
            listed(&names)
        ));
    }
    if !verdict.unjudged.is_empty() {
        let names: Vec<String> = verdict
            .unjudged
            .iter()
            .map(|u| format!("{} (`{}`)", u.at, u.statement))
            .collect();
        parts.push(format!(
            "cannot tell what {} would destroy: {}",
            plural(verdict.unjudged.len(), "statement", "statements"),
            listed(&names)
        ));
    }
    let (status, then) = if allow_data_loss {
        (Status::Warn, "going ahead (--allow-data-loss given)")
    } else {
        (
            Status::Fail,
            "refused: back it up and pass --allow-data-loss to go ahead",
        )
    };
    with_details(
        result(id, name, status, format!("{}; {then}", parts.join("; "))),
        details,
    )
}

/// The first few names, then how many more.
fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        text.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    text
}

/// The `rollback.plan` result: the versions to revert, newest first.
pub(super) fn plan_result(history: &History, steps: &[Step]) -> CheckResult {
    if steps.is_empty() {
        return result(
            "rollback.plan",
            "plan",
            Status::Pass,
            format!(
                "nothing to roll back: {} records no migration in that range",
                history.table
            ),
        );
    }
    let versions: Vec<&str> = steps.iter().map(|s| s.version.as_str()).collect();
    with_details(
        result(
            "rollback.plan",
            "plan",
            Status::Pass,
            format!(
                "rolling back {} migrations: {}",
                steps.len(),
                versions.join(", ")
            ),
        ),
        json!({"versions": versions}),
    )
}

/// What a dry run would run for one step: the down script's statements and the history
/// row's DELETE, as SQL.
pub(super) fn dry_run_result(id: &str, m: &Migration, history: &History) -> CheckResult {
    let down = m.down.as_ref().expect("refused without a down script");
    let mut sql: String = engine::statements(down)
        .iter()
        .map(|s| format!("{};\n", s.text))
        .collect();
    sql.push_str(&history.delete_shown(&m.version));
    sql.push_str(";\n");
    let mut r = with_details(
        result(
            id,
            &title(m),
            Status::Skip,
            format!("would run {} (dry run)", down.path.display()),
        ),
        json!({"sql": sql}),
    );
    r.location = Some(down.location());
    r
}

/// A step reverted.
pub(super) fn reverted_result(id: &str, m: &Migration, done: &engine::Reverted) -> CheckResult {
    let mut r = result(
        id,
        &title(m),
        Status::Pass,
        format!(
            "reverted in {} ({} of {}){}",
            format_duration(done.duration),
            plural(done.statements, "statement", "statements"),
            m.down
                .as_ref()
                .map(|d| d.path.display().to_string())
                .unwrap_or_default(),
            done.resumed
                .as_ref()
                .map(|r| format!("; {r}"))
                .unwrap_or_default()
        ),
    );
    r.duration_ms = done.duration.as_millis() as u64;
    r
}

/// The `rollback.verify` result: the history, read again, no longer lists what was reverted
/// (and still lists the step that `failed` and those after it).
pub(super) fn cleaned_result(
    history: &History,
    reverted: &[&str],
    failed: Option<&str>,
    now: Result<Vec<Row>, SessionError>,
) -> CheckResult {
    let rows = match now {
        Ok(rows) => rows,
        Err(e) => {
            return result(
                "rollback.verify",
                "history cleaned",
                Status::Fail,
                e.to_string(),
            );
        }
    };
    let still: Vec<&str> = rows
        .iter()
        .map(|r| r.version.as_str())
        .filter(|v| reverted.contains(v))
        .collect();
    let expected_still: &[&str] = match failed {
        Some(f) => {
            let from = reverted.iter().position(|v| *v == f).unwrap_or(0);
            &reverted[from..]
        }
        None => &[],
    };
    let ok = still.iter().all(|v| expected_still.contains(v))
        && expected_still.iter().all(|v| still.contains(v));
    let message = if still.is_empty() {
        format!("{} no longer lists {}", history.table, reverted.join(", "))
    } else if ok {
        format!(
            "{} still lists {} (not reverted)",
            history.table,
            still.join(", ")
        )
    } else {
        format!(
            "{} unexpectedly still lists {}",
            history.table,
            still.join(", ")
        )
    };
    with_details(
        result(
            "rollback.verify",
            "history cleaned",
            if ok { Status::Pass } else { Status::Fail },
            message,
        ),
        json!({"remaining": rows.iter().map(|r| r.version.clone()).collect::<Vec<_>>()}),
    )
}
