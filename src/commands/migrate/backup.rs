//! `--backup` and `--verify-backup` in a migrate run, under the lock and before any migration:
//! the backup (taken even when nothing is pending, and then said so), and the proof that it
//! restores (`migrate.backup-verify`). Glue: the work is in `crate::migrate`.

use std::time::Instant;

use serde_json::json;

use super::resolve::Settings;
use super::result;
use crate::commands::target::{BACKUP_TIMEOUT, take_backup, timed};
use crate::commands::with_details;
use crate::migrate::{self as engine, RestoreCleanup, Session, step};
use crate::report::{CheckResult, Status};
use crate::units::plural;

const ID: &str = "migrate.backup-verify";
const TITLE: &str = "backup restore test";

/// Takes the backup and, with `--verify-backup`, restores and compares it. False when the run
/// must stop (nothing has changed).
pub(super) async fn back_up(
    settings: &Settings,
    session: &mut Session,
    nothing_to_apply: bool,
    results: &mut Vec<CheckResult>,
) -> bool {
    let target = &settings.target;
    let backend = target.backend;
    // The source is counted before the dump and again after the restore: rows the application
    // writes meanwhile do not fail the comparison.
    let before = if settings.verify_backup {
        step::enter("counting the rows of every table before the backup");
        let t = Instant::now();
        // Exact counts of a large database take a while; they too are bounded.
        let limit = step::remaining().map_or(BACKUP_TIMEOUT, |left| left.min(BACKUP_TIMEOUT));
        let counted =
            tokio::time::timeout(limit, engine::count_tables(session.conn(), backend, None)).await;
        match counted {
            Ok(Ok(counts)) => Some(counts),
            Err(_) => {
                let message = format!(
                    "counting the rows of every table did not finish within {}; nothing was changed. Leave --verify-backup out for a database this large, or raise --timeout",
                    crate::units::format_duration(limit)
                );
                results.push(timed(result(ID, TITLE, Status::Fail, message), t));
                return false;
            }
            Ok(Err(cause)) => {
                let message =
                    format!("cannot count the rows of the database: {cause}; nothing was changed");
                results.push(timed(result(ID, TITLE, Status::Fail, message), t));
                return false;
            }
        }
    } else {
        None
    };
    let note = match nothing_to_apply {
        true => "nothing to apply; backup taken: ",
        false => "backed up to ",
    };
    let Some(backup) = take_backup(
        "migrate",
        session.conn(),
        target,
        ("migrate.backup", note),
        results,
    )
    .await
    else {
        return false;
    };
    let Some(before) = before else {
        return true;
    };
    let t = Instant::now();
    // Within the run's deadline, keeping time to drop the throwaway.
    let budget = step::remaining().map_or(BACKUP_TIMEOUT, |left| left.min(BACKUP_TIMEOUT));
    let verification = engine::verify_backup(
        session.conn(),
        backend,
        target.url.expose(),
        &backup.path,
        &before,
        budget,
    )
    .await;
    let (dropped, throwaway, drop_failed) = match &verification.cleanup {
        RestoreCleanup::Nothing => (String::new(), None, false),
        RestoreCleanup::Dropped { name } => (format!("; dropped {name}"), Some(name), false),
        RestoreCleanup::Failed { name, cause } => (
            format!(
                "; could not drop the throwaway database {name} ({cause}): drop it by hand (DROP DATABASE {name})"
            ),
            Some(name),
            true,
        ),
    };
    let into = match throwaway {
        Some(name) => format!("restored into {name}"),
        None => format!(
            "read {} (read-only, PRAGMA quick_check ok)",
            backup.path.display()
        ),
    };
    let r = match &verification.outcome {
        Ok(v) => {
            let rows: i64 = v.counts.values().sum();
            let changed = match v.changed.as_slice() {
                [] => String::new(),
                list => format!(
                    " ({} written to during the backup, within the counts before and after)",
                    list.join(", ")
                ),
            };
            let status = if drop_failed {
                Status::Warn
            } else {
                Status::Pass
            };
            with_details(
                result(
                    ID,
                    TITLE,
                    status,
                    format!(
                        "{into}: {} and {} as in the database{changed}{dropped}",
                        plural(v.counts.len(), "table", "tables"),
                        plural(rows as usize, "row", "rows"),
                    ),
                ),
                json!({"tables": v.counts, "changed": v.changed, "throwaway": throwaway, "dropped": !drop_failed}),
            )
        }
        Err(e) => with_details(
            result(
                ID,
                TITLE,
                Status::Fail,
                format!(
                    "{e}; no migration ran, nothing was changed{dropped} (the backup {} is kept)",
                    backup.path.display()
                ),
            ),
            json!({"throwaway": throwaway, "dropped": !drop_failed}),
        ),
    };
    results.push(timed(r, t));
    verification.outcome.is_ok()
}
