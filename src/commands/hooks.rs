//! Running hooks as report rows (`hook.<name>`): the `before` hooks in order until one fails,
//! the `after` hooks by the outcome of the database steps, or each skipped with the reason. The
//! hooks themselves are check units planned by `crate::plan::hooks`.

use std::time::Duration;

use super::step_result;
use crate::checks::{self, Context, Selection, Unit};
use crate::plan::hooks::{Hook, Hooks};
use crate::report::{CheckResult, Status};

/// A command's hooks until they have run: the glue calls [`Pending::before`] where the database
/// steps start and [`Pending::after`] where they end; [`Pending::skip_rest`] reports the hooks a
/// run never reached.
pub(super) struct Pending {
    command: &'static str,
    hooks: Hooks,
    dry_run: bool,
    /// Whether the `before` hooks ran (so there may be state for `always` hooks to restore).
    reached: bool,
}

impl Pending {
    pub(super) fn new(command: &'static str, hooks: Hooks, dry_run: bool) -> Pending {
        Pending {
            command,
            hooks,
            dry_run,
            reached: false,
        }
    }

    /// The `before` hooks, in order: true when the database steps may go ahead.
    pub(super) async fn before(&mut self, results: &mut Vec<CheckResult>) -> bool {
        self.reached = true;
        let hooks = std::mem::take(&mut self.hooks.before);
        if hooks.is_empty() {
            return true;
        }
        crate::migrate::step::enter(format!(
            "running the {} hooks before the database steps",
            self.command
        ));
        run_before(self.command, hooks, self.dry_run, results).await
    }

    /// The `after` hooks, by the outcome of the database steps (`Err`: why they did not
    /// complete).
    pub(super) async fn after(
        &mut self,
        outcome: Result<(), &str>,
        results: &mut Vec<CheckResult>,
    ) {
        let hooks = std::mem::take(&mut self.hooks.after);
        if hooks.is_empty() {
            return;
        }
        crate::migrate::step::enter(format!("running the {} hooks", self.command));
        let reached = self.reached;
        run_after(self.command, hooks, outcome, reached, self.dry_run, results).await;
    }

    /// The hooks not run yet, skipped for `reason`.
    pub(super) fn skip_rest(self, reason: &str, results: &mut Vec<CheckResult>) {
        skip_all(self.command, self.hooks, reason, results);
    }
}

/// Runs the `before` hooks in order; after one fails, the rest are skipped. True when every one
/// passed (the database steps may go ahead). A dry run shows each and runs none.
async fn run_before(
    command: &str,
    hooks: Vec<Hook>,
    dry_run: bool,
    results: &mut Vec<CheckResult>,
) -> bool {
    let mut failed: Option<String> = None;
    for hook in hooks {
        if dry_run {
            results.push(skipped(
                command,
                &hook.unit,
                "",
                true,
                "before the database steps",
            ));
            continue;
        }
        if let Some(name) = &failed {
            let reason = format!("not run: {name} failed");
            results.push(skipped(command, &hook.unit, &reason, false, ""));
            continue;
        }
        // The aspect's name is "hook <name>".
        let name = hook.unit.aspects[0].name.clone();
        let ran = run(hook.unit, dry_run).await;
        if ran.iter().any(|r| r.status.fails_run(false)) {
            failed = Some(name);
        }
        results.extend(ran);
    }
    failed.is_none()
}

/// Runs the `after` hooks: all when the database steps completed (`outcome` is `Ok`); else,
/// with the reason in `Err`, only those marked `always` — and only if the run got as far as
/// changing things (`reached`), since before that there is no state to restore.
async fn run_after(
    command: &str,
    hooks: Vec<Hook>,
    outcome: Result<(), &str>,
    reached: bool,
    dry_run: bool,
    results: &mut Vec<CheckResult>,
) {
    for hook in hooks {
        if dry_run {
            results.push(skipped(
                command,
                &hook.unit,
                "",
                true,
                "after the database steps",
            ));
            continue;
        }
        match outcome {
            Ok(()) => results.extend(run(hook.unit, dry_run).await),
            Err(_) if hook.always && reached => results.extend(run(hook.unit, dry_run).await),
            Err(reason) => results.push(skipped(command, &hook.unit, reason, false, "")),
        }
    }
}

/// Every hook reported as skipped, for a run that stopped before reaching them.
fn skip_all(command: &str, hooks: Hooks, reason: &str, results: &mut Vec<CheckResult>) {
    for (hook, when) in hooks
        .before
        .iter()
        .map(|h| (h, "before the database steps"))
        .chain(hooks.after.iter().map(|h| (h, "after the database steps")))
    {
        results.push(skipped(command, &hook.unit, reason, false, when));
    }
}

/// A hook's row when it does not run: under a dry run, what it would do `when`.
fn skipped(command: &str, unit: &Unit, reason: &str, dry_run: bool, when: &str) -> CheckResult {
    let aspect = &unit.aspects[0];
    let reason = match unit.probe.dry_run().filter(|_| dry_run) {
        Some(would) => format!("{}, {when}", would.message),
        None => reason.to_string(),
    };
    let mut r = step_result(command, &aspect.id, &aspect.name, Status::Skip, reason);
    r.kind = "hook".into();
    r.location = aspect.location.clone();
    r
}

async fn run(unit: Unit, dry_run: bool) -> Vec<CheckResult> {
    let ctx = Context {
        http: crate::http_client::client(),
        dry_run,
        captured: Default::default(),
        sql: Default::default(),
    };
    let deadline = unit.timeout + Duration::from_secs(1);
    checks::run_all(vec![unit], &Selection::default(), ctx, deadline).await
}
