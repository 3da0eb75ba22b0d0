//! The data-loss guard's verdict as a `rollback` report row: what the down scripts would
//! destroy, said short, with every table and column in the details.

use serde_json::json;

use super::result;
use crate::commands::with_details;
use crate::migrate as engine;
use crate::report::{CheckResult, Status};
use crate::units::plural;

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
