//! `shipgate rollback`: reverts applied migrations newest first with their down scripts, after
//! refusing what cannot be undone safely, then runs the rollback hooks. Glue over
//! `crate::migrate::revert`.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

mod rows;

use super::target::{
    Target, connect, deadline_result, refuse_own_transaction, refuse_selection, resolve_target,
    step_failure, take_backup, timed,
};
use super::{Inputs, Outcome, with_details};
use crate::checks::{self, Aspect, Context, Probe, Selection, Unit, id_part};
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::config::Resolver;
use crate::db;
use crate::error::InputError;
use crate::migrate::{
    self as engine, History, HistoryStatus, Range, Session, SessionError, Source, Step, step, title,
};
use crate::report::{CheckResult, Status};
use crate::units::{format_duration, plural};
use rows::guard_result;

const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

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
    let mut target = resolve_target(global, &args.target, inputs, &mut resolver)?;
    if global.dry_run && target.backend == crate::db::Backend::Sqlite {
        target.url = crate::secret::Secret::new(db::sqlite_read_only(target.url.expose()));
    }
    let hooks = plan_hooks(inputs, &mut resolver)?;
    let range = match (&args.to, args.steps, args.all) {
        (Some(v), _, _) => Range::To(v.clone()),
        (None, Some(n), _) => Range::Steps(n as usize),
        _ => Range::All,
    };
    let source = engine::load(&target.dir, target.layout)?;
    let history =
        History::new(&target.table, target.backend).map_err(|e| InputError::new(e).key("table"))?;
    let started = SystemTime::now();
    let mut results = Vec::new();
    // The deadline bounds the hooks too: they are part of the run a CI job waits for.
    let run = step::within_deadline(target.deadline, async {
        let database_ok = rollback(
            &target,
            &source,
            &history,
            Options {
                range: &range,
                allow_data_loss: args.allow_data_loss,
                resume: args.resume,
                dry_run: global.dry_run,
            },
            &mut results,
        )
        .await?;
        if !hooks.is_empty() {
            step::enter("running the rollback hooks");
            run_hooks(hooks, database_ok, global.dry_run, &mut results).await;
        }
        Ok::<(), InputError>(())
    })
    .await;
    match run {
        Ok(done) => done?,
        // Cut off in the database part, the hooks do not run (it did not complete).
        Err(stopped) => results.push(deadline_result(&stopped, "rollback", "reverted")),
    }
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

fn result(id: &str, name: &str, status: Status, message: impl Into<String>) -> CheckResult {
    super::step_result("rollback", id, name, status, message)
}

fn step_id(step: &Step) -> String {
    format!("rollback.{}", id_part(&step.version))
}

/// The database part. Returns whether it completed (the hooks run only then).
async fn rollback(
    target: &Target,
    source: &Source,
    history: &History,
    opts: Options<'_>,
    results: &mut Vec<CheckResult>,
) -> Result<Database, InputError> {
    let dry_run = opts.dry_run;
    let failed = |e: SessionError, id: &str, name: &str, results: &mut Vec<CheckResult>| {
        results.push(result(id, name, Status::Fail, e.to_string()));
        Ok(Database::Failed)
    };
    let mut session = match connect(target).await {
        Ok(s) => s,
        Err(e) => return failed(e, "rollback.database", "database", results),
    };
    if let Err(e) = session.limit(target.lock_timeout, target.deadline).await {
        return failed(e, "rollback.database", "database", results);
    }
    // Everything below is decided under the lock: a migrate or rollback running now would
    // change which migrations are newest and how many rows they hold.
    if !dry_run {
        let t = Instant::now();
        match session
            .lock(&target.table, target.url.expose(), target.lock_timeout)
            .await
        {
            Ok(locked) => results.push(timed(
                result(
                    "rollback.lock",
                    "lock",
                    Status::Pass,
                    format!("took the {}", locked.what),
                ),
                t,
            )),
            Err(e) => return failed(e, "rollback.lock", "lock", results),
        }
    }
    let outcome = rollback_locked(&mut session, target, source, history, opts, results).await;
    session.unlock().await;
    outcome
}

/// How far and how to roll back, from the flags.
#[derive(Clone, Copy)]
struct Options<'a> {
    range: &'a Range,
    allow_data_loss: bool,
    resume: bool,
    dry_run: bool,
}

/// What the database part came to; the hooks run only after `Completed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Database {
    Completed,
    NothingToDo,
    Failed,
}

async fn rollback_locked(
    session: &mut Session,
    target: &Target,
    source: &Source,
    history: &History,
    opts: Options<'_>,
    results: &mut Vec<CheckResult>,
) -> Result<Database, InputError> {
    let Options {
        range,
        allow_data_loss,
        resume,
        dry_run,
    } = opts;
    step::enter(format!("reading the history table {}", history.table));
    let rows = match db::answered("the history query", history.exists(session.conn())).await {
        Ok(true) => match db::answered("the history query", history.rows(session.conn())).await {
            Ok(rows) => rows,
            Err(e) => {
                results.push(result("rollback.history", "history table", Status::Fail, e));
                return Ok(Database::Failed);
            }
        },
        Ok(false) => Vec::new(),
        Err(e) => {
            results.push(result("rollback.history", "history table", Status::Fail, e));
            return Ok(Database::Failed);
        }
    };
    let steps =
        engine::select_reverts(source, &rows, range).map_err(|e| InputError::new(e).key("--to"))?;
    if steps.is_empty() {
        results.push(result(
            "rollback.plan",
            "plan",
            Status::Pass,
            format!(
                "nothing to roll back: {} records no migration in that range",
                history.table
            ),
        ));
        return Ok(Database::NothingToDo);
    }
    let versions: Vec<&str> = steps.iter().map(|s| s.version.as_str()).collect();
    results.push(with_details(
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
    ));

    // Refuse before changing anything: every reason at once.
    let mut refused = false;
    for step in &steps {
        let problem = match step.index.map(|i| &source.migrations[i]) {
            None => Some(format!(
                "{} is applied but has no file in {}: its down script is unknown",
                step.version,
                source.dir.display()
            )),
            Some(_) if !engine::revertible(&step.row) => Some(format!(
                "{} stopped part-way; finish it (migrate --resume or --mark-resolved) before rolling back",
                step.version
            )),
            Some(m) if step.row.status == HistoryStatus::Reverting && !resume => Some(format!(
                "a rollback of {} stopped after {} of its down statements: fix the cause, then re-run with --resume",
                m.version,
                step.row.statements_done.unwrap_or(0)
            )),
            Some(m) if m.checksum != step.row.checksum => Some(format!(
                "{} changed after it was applied: its down script may not undo what ran; restore the file, or accept the change with `migrate --accept-checksum {} --reason …`",
                m.up.path.display(),
                m.version
            )),
            Some(m) if m.down.is_none() => Some(format!(
                "{} has no down script; write one, or roll back to a later version",
                title(m)
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            refused = true;
            let mut r = result(&step_id(step), &step.version, Status::Fail, problem);
            r.location = step.index.map(|i| source.migrations[i].up.location());
            results.push(r);
        }
    }
    if refused {
        return Ok(Database::Failed);
    }
    for step in &steps {
        if let Some(down) = step.index.and_then(|i| source.migrations[i].down.as_ref()) {
            refuse_own_transaction(target.backend, down)?;
        }
    }

    // The data-loss guard: what the down scripts destroy, measured where the database can try
    // them in a transaction it rolls back, read from their statements elsewhere.
    step::enter("measuring what the down scripts would destroy");
    let downs: Vec<engine::Down<'_>> = steps
        .iter()
        .map(|step| {
            let m = &source.migrations[step.index.expect("checked above")];
            engine::Down {
                version: &m.version,
                script: m.down.as_ref().expect("checked above"),
                resume_from: step.resume_from(),
            }
        })
        .collect();
    let settings = engine::GuardSettings {
        backend: target.backend,
        history_table: &history.table,
        timeout: target.lock_timeout,
        // A dry run changes nothing, and trying the scripts would: a rolled-back transaction
        // keeps the sequences it advanced, and takes locks on live tables without the
        // migration lock (a dry run takes none). It reads the statements instead.
        writable: !dry_run,
    };
    let started_guard = Instant::now();
    let verdict = engine::assess(session.conn(), settings, &downs).await;
    let mut r = guard_result(verdict.as_ref(), allow_data_loss, dry_run);
    r.duration_ms = started_guard.elapsed().as_millis() as u64;
    let refused = r.status == Status::Fail;
    results.push(r);
    if refused {
        return Ok(Database::Failed);
    }

    if dry_run {
        for step in &steps {
            let m = &source.migrations[step.index.expect("checked above")];
            let down = m.down.as_ref().expect("checked above");
            let mut sql: String = engine::statements(down)
                .iter()
                .map(|s| format!("{};\n", s.text))
                .collect();
            sql.push_str(&history.delete_shown(&m.version));
            sql.push_str(";\n");
            let mut r = with_details(
                result(
                    &step_id(step),
                    &title(m),
                    Status::Skip,
                    format!("would run {} (dry run)", down.path.display()),
                ),
                json!({"sql": sql}),
            );
            r.location = Some(down.location());
            results.push(r);
        }
        return Ok(Database::Completed);
    }

    if target.backup.is_some()
        && let Err(e) = engine::backup_preflight(session.conn(), target.backend).await
    {
        results.push(result(
            "rollback.backup",
            "backup",
            Status::Fail,
            format!("{e}; nothing was changed"),
        ));
        return Ok(Database::Failed);
    }
    if !take_backup(
        "rollback",
        session.conn(),
        target,
        "rollback.backup",
        results,
    )
    .await
    {
        return Ok(Database::Failed);
    }
    let mut failed = None;
    for step in &steps {
        let m = &source.migrations[step.index.expect("checked above")];
        if let Some(f) = &failed {
            results.push(result(
                &step_id(step),
                &title(m),
                Status::Skip,
                format!("not run: {f} failed"),
            ));
            continue;
        }
        // Each row is pushed as its step ends: a run cut off by its deadline keeps the rows of
        // the steps it finished.
        match session.revert(history, m, step).await {
            Ok(done) => {
                let mut r = result(
                    &step_id(step),
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
                results.push(r);
            }
            Err(f) => {
                let r = step_failure(
                    "rollback",
                    &step_id(step),
                    &title(m),
                    &m.version,
                    &f,
                    "it was rolled back: the database is as before this step",
                );
                results.push(r);
                failed = Some(m.version.clone());
            }
        }
    }
    // "Verify the migration tracking table was cleaned."
    let reverted: Vec<&str> = steps.iter().map(|s| s.version.as_str()).collect();
    match db::answered("the history query", history.rows(session.conn())).await {
        Ok(rows) => {
            let still: Vec<&str> = rows
                .iter()
                .map(|r| r.version.as_str())
                .filter(|v| reverted.contains(v))
                .collect();
            let expected_still: Vec<&str> = match &failed {
                Some(f) => {
                    let from = reverted.iter().position(|v| v == f).unwrap_or(0);
                    reverted[from..].to_vec()
                }
                None => Vec::new(),
            };
            let ok = still.iter().all(|v| expected_still.contains(v))
                && expected_still.iter().all(|v| still.contains(v));
            results.push(with_details(
                result(
                    "rollback.verify",
                    "history cleaned",
                    if ok { Status::Pass } else { Status::Fail },
                    if still.is_empty() {
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
                    },
                ),
                json!({"remaining": rows.iter().map(|r| r.version.clone()).collect::<Vec<_>>()}),
            ));
        }
        Err(e) => results.push(result(
            "rollback.verify",
            "history cleaned",
            Status::Fail,
            e,
        )),
    }
    Ok(if failed.is_none() {
        Database::Completed
    } else {
        Database::Failed
    })
}

/// The hooks of `[rollback]`, as check units (one each).
fn plan_hooks(inputs: &Inputs, resolver: &mut Resolver<'_>) -> Result<Vec<Unit>, InputError> {
    let Some(config) = inputs.config.config.rollback.as_ref() else {
        return Ok(Vec::new());
    };
    let mut units = Vec::new();
    for hook in &config.hooks {
        let location = resolver.table_location(&hook.span);
        let timeout = resolver.duration_or(hook.timeout.as_ref(), HOOK_TIMEOUT)?;
        let probe = match (&hook.http, &hook.command) {
            (Some(http), None) => {
                Probe::Http(crate::plan::hooks::http_probe(resolver, http, timeout)?)
            }
            (None, Some(command)) => {
                let text = resolver.string(command)?;
                let words = shlex::split(&text)
                    .filter(|w| !w.is_empty())
                    .ok_or_else(|| {
                        resolver.error(
                            &command.span,
                            format!("cannot split the command `{text}` into words"),
                        )
                    })?;
                Probe::Command(checks::command::CommandProbe {
                    command: words,
                    timeout,
                })
            }
            _ => {
                return Err(resolver
                    .error(
                        &hook.span,
                        format!(
                            "hook `{}` needs exactly one of `http` or `command`",
                            hook.name
                        ),
                    )
                    .help("e.g. command = \"kubectl rollout undo deployment/api-server\""));
            }
        };
        units.push(Unit {
            kind: "hook",
            needs: Vec::new(),
            aspects: vec![Aspect::new(
                format!("hook.{}", id_part(&hook.name)),
                format!("hook {}", hook.name),
                location,
            )],
            timeout: timeout + Duration::from_secs(1),
            probe,
        });
    }
    Ok(units)
}

/// Runs the hooks one after another, in config order.
async fn run_hooks(
    hooks: Vec<Unit>,
    database: Database,
    dry_run: bool,
    results: &mut Vec<CheckResult>,
) {
    let ctx = Context {
        http: crate::http_client::client(),
        dry_run,
        captured: Default::default(),
        sql: Default::default(),
    };
    let skipped_because = if dry_run {
        Some("would run after the database steps (dry run)")
    } else {
        match database {
            Database::Completed => None,
            // A hook such as `kubectl rollout undo` is not idempotent: a rollback that reverted
            // nothing (a retry) must not run it again.
            Database::NothingToDo => Some("not run: nothing was rolled back"),
            Database::Failed => Some("not run: the database rollback did not complete"),
        }
    };
    for unit in hooks {
        if let Some(reason) = skipped_because {
            let aspect = &unit.aspects[0];
            // A dry run says what the hook would do, as every other dry-run row does.
            let reason = match unit.probe.dry_run().filter(|_| dry_run) {
                Some(would) => format!("{}, after the database steps", would.message),
                None => reason.to_string(),
            };
            let mut r = result(&aspect.id, &aspect.name, Status::Skip, reason);
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
