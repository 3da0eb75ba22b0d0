//! `shipgate rollback`: reverts applied migrations newest first with their down scripts, after
//! refusing what cannot be undone safely, then runs the rollback hooks. Glue over
//! `crate::migrate::revert`.

use std::time::{Instant, SystemTime};

mod rows;

use super::hooks::Pending;
use super::target::{
    MigrationTarget, backup_tool_ready, connect, deadline_result, lock, refuse_own_transaction,
    refuse_selection, resolve_target, session_failure, step_failure, take_backup, timed,
};
use super::{Inputs, Outcome};
use crate::checks::id_part;
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::config::hooks::HookConfig;
use crate::config::{Located, Resolver};
use crate::db;
use crate::error::InputError;
use crate::migrate::{self as engine, History, Range, Session, Source, Step, step, title};
use crate::plan;
use crate::plan::hooks::HookDatabase;
use crate::report::{CheckResult, Status};
use rows::guard_result;

pub async fn run(
    global: &GlobalArgs,
    args: &RollbackArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    refuse_selection(
        global,
        "rollback reverts in order: use --to VERSION or --steps N",
    )?;
    let mut resolver = Resolver::new(&inputs.env, inputs.config.source.as_ref());
    let config = inputs.config.config.rollback.as_ref();
    let hook_config = config.map_or(&[][..], |c| &c.hooks[..]);
    let started = SystemTime::now();
    let results = if args.app_only {
        let hooks = plan::hooks::hooks(hook_config, None, &mut resolver)?;
        if hooks.is_empty() {
            return Err(InputError::new(
                "--app-only runs the [[rollback.hooks]], and the config has none: nothing would be rolled back",
            )
            .help("add [[rollback.hooks]] (e.g. command = \"kubectl rollout undo deployment/api\"), or roll the database back with --to, --steps or --all"));
        }
        app_only(hooks, global).await
    } else {
        with_database(global, args, inputs, hook_config, &mut resolver).await?
    };
    // Steps run in order, so the way to reproduce one result is the same command.
    Ok(super::finish(
        "rollback",
        global,
        inputs,
        started,
        results,
        super::Reproduce::Whole,
        resolver.secrets,
    ))
}

/// The database rollback, between its hooks.
async fn with_database(
    global: &GlobalArgs,
    args: &RollbackArgs,
    inputs: &Inputs,
    hook_config: &[Located<HookConfig>],
    resolver: &mut Resolver<'_>,
) -> Result<Vec<CheckResult>, InputError> {
    let mut target = resolve_target(global, &args.target, inputs, resolver)?;
    let database = HookDatabase {
        url: &target.url,
        shown_url: &target.shown_url,
        backend: target.backend,
        lock_timeout: target.lock_timeout,
    };
    let hooks = plan::hooks::hooks(hook_config, Some(&database), resolver)?;
    if global.dry_run && target.backend == crate::db::Backend::Sqlite {
        target.url = crate::secret::Secret::new(db::sqlite_read_only(target.url.expose()));
    }
    let range = match (&args.to, args.steps, args.all) {
        (Some(v), _, _) => Range::To(v.clone()),
        (None, Some(n), _) => Range::Steps(n as usize),
        _ => Range::All,
    };
    let source = engine::load(&target.dir, target.layout)?;
    let history = History::new(&target.table, target.backend)
        .map_err(|e| InputError::new(e.to_string()).key("table"))?;
    let mut results = Vec::new();
    let mut hooks = Pending::new("rollback", hooks, global.dry_run);
    let flags = RollbackFlags {
        range: &range,
        allow_data_loss: args.allow_data_loss,
        resume: args.resume,
        dry_run: global.dry_run,
    };
    // The deadline bounds the hooks too: they are part of the run a CI job waits for.
    let run = step::within_deadline(target.deadline, async {
        let database =
            rollback(&target, &source, &history, flags, &mut hooks, &mut results).await?;
        let outcome = match database {
            DatabaseOutcome::Completed => Ok(()),
            // A hook such as `kubectl rollout undo` is not idempotent: a rollback that reverted
            // nothing (a retry) must not run it again.
            DatabaseOutcome::NothingToDo => Err("not run: nothing was rolled back"),
            DatabaseOutcome::Failed => Err("not run: the database rollback did not complete"),
        };
        hooks.after(outcome, &mut results).await;
        Ok::<_, InputError>(outcome)
    })
    .await;
    let skipped_because = match run {
        Ok(done) => done?.err(),
        // Cut off, the hooks not reached do not run (the database part did not complete).
        Err(stopped) => {
            results.push(deadline_result(&stopped, "rollback", "reverted"));
            Some("not run: the run stopped at its deadline")
        }
    };
    hooks.skip_rest(skipped_because.unwrap_or("not run"), &mut results);
    Ok(results)
}

/// `--app-only`: an application-only rollback, its hooks and no database step, within
/// `--timeout` when given.
async fn app_only(hooks: plan::hooks::Hooks, global: &GlobalArgs) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let mut hooks = Pending::new("rollback", hooks, global.dry_run);
    let run = step::within_deadline(global.timeout, async {
        let why = "not run: a hook before it failed";
        let outcome = if hooks.before(&mut results).await {
            Ok(())
        } else {
            Err(why)
        };
        hooks.after(outcome, &mut results).await;
    })
    .await;
    if let Err(stopped) = run {
        results.push(deadline_result(&stopped, "rollback", "reverted"));
        hooks.skip_rest("not run: the run stopped at its deadline", &mut results);
    }
    results
}

fn result(id: &str, name: &str, status: Status, message: impl Into<String>) -> CheckResult {
    super::step_result("rollback", id, name, status, message)
}

fn step_id(step: &Step) -> String {
    format!("rollback.{}", id_part(&step.version))
}

/// The database part. Returns whether it completed (the hooks run only then).
async fn rollback(
    target: &MigrationTarget,
    source: &Source,
    history: &History,
    opts: RollbackFlags<'_>,
    hooks: &mut Pending,
    results: &mut Vec<CheckResult>,
) -> Result<DatabaseOutcome, InputError> {
    let mut session = match connect(target).await {
        Ok(s) => s,
        Err(e) => {
            results.push(session_failure("rollback", &e));
            return Ok(DatabaseOutcome::Failed);
        }
    };
    if let Err(e) = session.limit(target.lock_timeout, target.deadline).await {
        results.push(session_failure("rollback", &e));
        return Ok(DatabaseOutcome::Failed);
    }
    // Everything below is decided under the lock: a migrate or rollback running now would
    // change which migrations are newest and how many rows they hold.
    if !opts.dry_run && !lock(&mut session, "rollback", target, results).await {
        return Ok(DatabaseOutcome::Failed);
    }
    let outcome =
        rollback_locked(&mut session, target, source, history, opts, hooks, results).await;
    session.unlock().await;
    outcome
}

/// How far and how to roll back, from the flags.
#[derive(Clone, Copy)]
struct RollbackFlags<'a> {
    range: &'a Range,
    allow_data_loss: bool,
    resume: bool,
    dry_run: bool,
}

/// What the database part came to; the hooks run only after `Completed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DatabaseOutcome {
    Completed,
    NothingToDo,
    Failed,
}

async fn rollback_locked(
    session: &mut Session,
    target: &MigrationTarget,
    source: &Source,
    history: &History,
    opts: RollbackFlags<'_>,
    hooks: &mut Pending,
    results: &mut Vec<CheckResult>,
) -> Result<DatabaseOutcome, InputError> {
    let rows = match session.read_history(history).await {
        Ok(rows) => rows.unwrap_or_default(),
        Err(e) => {
            results.push(session_failure("rollback", &e));
            return Ok(DatabaseOutcome::Failed);
        }
    };
    let steps = engine::select_reverts(source, &rows, opts.range)
        .map_err(|e| InputError::new(e).key("--to"))?;
    results.push(rows::plan_result(history, &steps));
    if steps.is_empty() {
        return Ok(DatabaseOutcome::NothingToDo);
    }

    // Refuse before changing anything: every reason at once.
    let mut refused = false;
    for step in &steps {
        if let Some(refusal) = engine::refusal(step, source, opts.resume) {
            refused = true;
            let mut r = result(
                &step_id(step),
                &step.version,
                Status::Fail,
                refusal.to_string(),
            );
            r.location = step.index.map(|i| source.migrations[i].up.location());
            results.push(r);
        }
    }
    if refused {
        return Ok(DatabaseOutcome::Failed);
    }
    // Every step has a file with a down script from here on.
    let migration = |step: &Step| &source.migrations[step.index.expect("refused above")];
    for step in &steps {
        if let Some(down) = &migration(step).down {
            refuse_own_transaction(target.backend, down)?;
        }
    }

    // The data-loss guard: what the down scripts destroy, measured where the database can try
    // them in a transaction it rolls back, read from their statements elsewhere.
    step::enter("measuring what the down scripts would destroy");
    let downs: Vec<engine::Down<'_>> = steps
        .iter()
        .map(|step| engine::Down {
            version: &migration(step).version,
            script: migration(step).down.as_ref().expect("refused above"),
            resume_from: step.resume_from(),
        })
        .collect();
    let settings = engine::GuardSettings {
        backend: target.backend,
        history_table: &history.table,
        timeout: target.lock_timeout,
        // A dry run changes nothing, and trying the scripts would: a rolled-back transaction
        // keeps the sequences it advanced, and takes locks on live tables without the
        // migration lock (a dry run takes none). It reads the statements instead.
        writable: !opts.dry_run,
    };
    let t = Instant::now();
    let verdict = engine::assess(session.conn(), settings, &downs).await;
    let r = timed(
        guard_result(verdict.as_ref(), opts.allow_data_loss, opts.dry_run),
        t,
    );
    let refused = r.status == Status::Fail;
    results.push(r);
    if refused {
        return Ok(DatabaseOutcome::Failed);
    }

    if opts.dry_run {
        hooks.before(results).await;
        for step in &steps {
            results.push(rows::dry_run_result(
                &step_id(step),
                migration(step),
                history,
            ));
        }
        return Ok(DatabaseOutcome::Completed);
    }

    if target.backup.is_some()
        && (!backup_tool_ready("rollback", session, target, false, results).await
            || take_backup(
                "rollback",
                session.conn(),
                target,
                ("rollback.backup", "backed up to "),
                results,
            )
            .await
            .is_none())
    {
        return Ok(DatabaseOutcome::Failed);
    }
    let mut failed = None;
    if !hooks.before(results).await {
        failed = Some("a hook before the rollback".to_string());
    }
    for step in &steps {
        let m = migration(step);
        if let Some(f) = &failed {
            let message = format!("not run: {f} failed");
            results.push(result(&step_id(step), &title(m), Status::Skip, message));
            continue;
        }
        // Each row is pushed as its step ends: a run cut off by its deadline keeps the rows of
        // the steps it finished.
        match session.revert(history, m, step).await {
            Ok(done) => results.push(rows::reverted_result(&step_id(step), m, &done)),
            Err(f) => {
                results.push(step_failure(
                    "rollback",
                    &step_id(step),
                    &title(m),
                    &m.version,
                    &f,
                    "it was rolled back: the database is as before this step",
                ));
                failed = Some(m.version.clone());
            }
        }
    }
    // "Verify the migration tracking table was cleaned."
    let reverted: Vec<&str> = steps.iter().map(|s| s.version.as_str()).collect();
    let now = session.read_history(history).await;
    results.push(rows::cleaned_result(
        history,
        &reverted,
        failed.as_deref(),
        now.map(Option::unwrap_or_default),
    ));
    Ok(if failed.is_none() {
        DatabaseOutcome::Completed
    } else {
        DatabaseOutcome::Failed
    })
}
