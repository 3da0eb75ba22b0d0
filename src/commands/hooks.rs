//! Running hooks as report rows (`hook.<name>`): one after another in config order, or each
//! skipped with the reason. The hooks themselves are check units planned by `crate::plan::hooks`.

use std::time::Duration;

use super::step_result;
use crate::checks::{self, Context, Selection, Unit};
use crate::report::{CheckResult, Status};

/// Runs `hooks` in order; with `skip`, reports each as skipped for that reason instead. A dry
/// run says what each hook would do `when` ("after the database steps") and runs none.
pub(super) async fn run_hooks(
    command: &str,
    hooks: Vec<Unit>,
    skip: Option<&str>,
    dry_run: bool,
    when: &str,
    results: &mut Vec<CheckResult>,
) {
    let ctx = Context {
        http: crate::http_client::client(),
        dry_run,
        captured: Default::default(),
        sql: Default::default(),
    };
    for unit in hooks {
        if let Some(reason) = skip {
            let aspect = &unit.aspects[0];
            let reason = match unit.probe.dry_run().filter(|_| dry_run) {
                Some(would) => format!("{}, {when}", would.message),
                None => reason.to_string(),
            };
            let mut r = step_result(command, &aspect.id, &aspect.name, Status::Skip, reason);
            r.kind = "hook".into();
            r.location = aspect.location.clone();
            results.push(r);
            continue;
        }
        let deadline = unit.timeout + Duration::from_secs(1);
        results.extend(
            checks::run_all(vec![unit], &Selection::default(), ctx.clone(), deadline).await,
        );
    }
}
