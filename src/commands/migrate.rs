//! `shipgate migrate`: reads the migrations and the history, decides, and applies under a lock.
//! Glue: the work is in `crate::migrate`; this file turns its answers into the Report.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

mod backup;
mod dry_run;
mod lint;
mod resolve;
mod rows;

use super::hooks::Pending;
use super::target::{
    backup_tool_ready, connect, deadline_result, given_database_url, lock, migrations_dir,
    refuse_own_transaction, refuse_selection, session_failure, timed,
};
use super::{Inputs, Outcome};
use crate::cli::{GlobalArgs, MigrateArgs};
use crate::config::Resolver;
use crate::db::{self, Backend};
use crate::error::InputError;
use crate::migrate::lint::ScanAhead;
use crate::migrate::{self as engine, History, Plan, Row, Session, SessionError, Source, step};
use crate::plan::hooks::Hooks;
use crate::report::{CheckResult, Status};
use crate::secret::Secret;
use dry_run::report_dry_run;
use resolve::{Settings, check_versions, resolve};
use rows::{View, check_status, report_items};

pub async fn run(
    global: &GlobalArgs,
    args: &MigrateArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    refuse_selection(
        global,
        "migrate applies migrations in order: use --to VERSION",
    )?;
    let mut resolver = Resolver::new(&inputs.env, inputs.config.source.as_ref());
    if resolve::lint_only(global, args)
        && given_database_url(&args.target, inputs, &mut resolver)?.is_none()
    {
        return lint_without_database(global, args, inputs, resolver).await;
    }
    let mut settings = resolve(global, args, inputs, &mut resolver)?;
    // `--check` and `--lint` only read: no hook is part of them.
    let hooks = match settings.check || settings.lint_only {
        true => Hooks::default(),
        false => resolve::hooks(&settings, inputs, &mut resolver)?,
    };
    let mut hooks = Pending::new("migrate", hooks, settings.dry_run);
    let reads_only = settings.check || settings.dry_run || settings.lint_only;
    if reads_only && settings.target.backend == Backend::Sqlite {
        // Opening `mode=rwc` would create the file; these runs promise to change nothing.
        settings.target.url = Secret::new(db::sqlite_read_only(settings.target.url.expose()));
    }
    let history = History::new(&settings.target.table, settings.target.backend)
        .map_err(|e| InputError::new(e.to_string()).key("table"))?;
    let started = SystemTime::now();
    let mut results = Vec::new();
    let run = step::within_deadline(settings.target.deadline, async {
        // Reading (and checksumming) thousands of files and reading the history are the two
        // costs of a no-op run: done at once. A wrong file still ends the run with exit 2 at
        // once (the connection is dropped). Not for SQLite: opening it may create the file.
        let (dir, layout) = (settings.target.dir.clone(), settings.target.layout);
        let mut loading = tokio::task::spawn_blocking(move || engine::load(&dir, layout));
        let opening = open(&settings, &history);
        tokio::pin!(opening);
        let mut opened = None;
        let loaded = if settings.target.backend == Backend::Sqlite {
            (&mut loading).await
        } else {
            tokio::select! {
                biased;
                loaded = &mut loading => loaded,
                done = &mut opening => {
                    opened = Some(done);
                    (&mut loading).await
                }
            }
        };
        let source = loaded
            .map_err(|e| InputError::new(format!("reading the migration files stopped: {e}")))??;
        check_versions(&settings, &source)?;
        let source = Arc::new(source);
        // The lint's parse needs only the files: started now, it runs while the database is
        // asked for the history (PostgreSQL only: the lint applies to nothing else).
        let ahead = settings
            .lint
            .as_ref()
            .filter(|_| settings.target.backend == Backend::Postgres)
            .map(|l| ScanAhead::start(Arc::clone(&source), l.settings.clone()));
        let opened = match opened {
            Some(done) => done,
            None => opening.await,
        };
        migrate(
            &settings,
            &source,
            &history,
            opened,
            ahead,
            &mut hooks,
            &mut results,
        )
        .await
    })
    .await;
    match run {
        Ok(done) => done?,
        Err(stopped) => results.push(deadline_result(&stopped, "migrate", "applied")),
    }
    let reason = if results.iter().any(|r| r.status.fails_run(false)) {
        "not run: the run stopped before applying migrations"
    } else {
        "not run: nothing to apply"
    };
    hooks.skip_rest(reason, &mut results);
    // Steps run in order, so the way to reproduce one result is the same command.
    Ok(super::finish(
        "migrate",
        global,
        inputs,
        started,
        results,
        super::Reproduce::Whole,
        resolver.secrets,
    ))
}

/// `--lint` where no database is given (a pull request's job without one): every file linted as
/// Squawk alone judges it.
async fn lint_without_database(
    global: &GlobalArgs,
    args: &MigrateArgs,
    inputs: &Inputs,
    mut resolver: Resolver<'_>,
) -> Result<Outcome, InputError> {
    let started = SystemTime::now();
    // Flags that describe the database or the history would do nothing here: refused, not
    // ignored.
    for (flag, given) in [
        ("--table", args.target.table.is_some()),
        ("--lock-timeout", args.target.lock_timeout.is_some()),
        ("--allow-out-of-order", args.allow_out_of_order),
    ] {
        if given {
            return Err(InputError::new(format!(
                "{flag} needs a database, and none is given: without one, --lint reads the \
                 migration files alone"
            ))
            .help("pass --database-url or set DATABASE_URL, or leave the flag out"));
        }
    }
    let (dir, layout) = migrations_dir(&args.target, inputs, &mut resolver)?;
    let lint_plan = resolve::lint_plan(args, inputs, &mut resolver)?;
    let mut results = Vec::new();
    let deadline = global.timeout;
    let to = args.to.clone();
    let run = step::within_deadline(deadline, async {
        let source = tokio::task::spawn_blocking(move || engine::load(&dir, layout))
            .await
            .map_err(|e| InputError::new(format!("reading the migration files stopped: {e}")))??;
        // `--to`: the files up to that version (no history says which of them are applied).
        let last = match &to {
            Some(v) => resolve::find_version("--to", v, &source)?,
            None => source.migrations.len().saturating_sub(1),
        };
        results.push(rows::source_result(&source));
        lint::lint_rows_without_database(&lint_plan, &source, last, &mut results);
        Ok::<_, InputError>(())
    })
    .await;
    match run {
        Ok(done) => done?,
        Err(stopped) => results.push(deadline_result(&stopped, "migrate", "linted")),
    }
    Ok(super::finish(
        "migrate",
        global,
        inputs,
        started,
        results,
        super::Reproduce::Whole,
        resolver.secrets,
    ))
}

fn result(id: &str, name: &str, status: Status, message: impl Into<String>) -> CheckResult {
    super::step_result("migrate", id, name, status, message)
}

/// The database as a run finds it before deciding anything: connected, its session bounded,
/// and its history read (`None`: no history table yet). Each failure is the result that
/// reports it.
struct Opened {
    session: Session,
    /// The `migrate.database` result, timed.
    connected: CheckResult,
    /// When reading the history started (the `migrate.history` row's time).
    history_read: Instant,
    history: Result<Option<Vec<Row>>, SessionError>,
}

/// Connects, bounds the session and reads the history (nothing here needs the migration
/// files, so it runs while they are read).
async fn open(settings: &Settings, history: &History) -> Result<Opened, Vec<CheckResult>> {
    let t = Instant::now();
    let target = &settings.target;
    let mut session = connect(target)
        .await
        .map_err(|e| vec![session_failure("migrate", &e)])?;
    let connected = timed(
        result(
            "migrate.database",
            "database",
            Status::Pass,
            format!("connected to {}", settings.target.shown_url),
        ),
        t,
    );
    if let Err(e) = session.limit(target.lock_timeout, target.deadline).await {
        return Err(vec![connected, session_failure("migrate", &e)]);
    }
    let history_read = Instant::now();
    let read = session.read_history(history).await;
    step::enter("reading the migration files");
    Ok(Opened {
        session,
        connected,
        history_read,
        history: read,
    })
}

async fn migrate(
    settings: &Settings,
    source: &Source,
    history: &History,
    opened: Result<Opened, Vec<CheckResult>>,
    ahead: Option<ScanAhead>,
    hooks: &mut Pending,
    results: &mut Vec<CheckResult>,
) -> Result<(), InputError> {
    results.push(rows::source_result(source));
    let Opened {
        mut session,
        connected,
        history_read,
        history: read,
    } = match opened {
        Ok(opened) => opened,
        Err(failed) => {
            results.extend(failed);
            return Ok(());
        }
    };
    results.push(connected);

    if !settings.require_tables.is_empty() {
        let missing = session.missing_tables(&settings.require_tables).await;
        let ok = missing.is_empty();
        results.push(rows::require_tables_result(
            &settings.require_tables,
            &missing,
        ));
        if !ok {
            return Ok(());
        }
    }

    let (table_exists, rows) = match read {
        Ok(read) => (read.is_some(), read.unwrap_or_default()),
        Err(e) => {
            results.push(session_failure("migrate", &e));
            return Ok(());
        }
    };
    // A database shipgate never migrated: what another tool's history (or --baseline) says.
    // Only then: after `rollback --all` the table exists, empty, and must stay the truth.
    let first_run = !table_exists || (rows.is_empty() && settings.baseline.is_some());
    let (rows, adoption) = if first_run {
        let conn = session.conn();
        match engine::initial_rows(
            conn,
            settings.target.backend,
            settings.baseline.as_deref(),
            source,
        )
        .await
        {
            Ok((virtual_rows, adoption)) => (virtual_rows, adoption),
            Err(e) => {
                results.push(session_failure("migrate", &SessionError::Adopt(e)));
                return Ok(());
            }
        }
    } else {
        if settings.baseline.is_some() {
            return Err(InputError::new(format!(
                "--baseline: {} already records {} migrations",
                settings.target.table,
                rows.len()
            ))
            .help("a baseline is for a database with no migration history at all"));
        }
        (rows, None)
    };
    let plan = Plan::new(source, &rows, &settings.plan)
        .map_err(|e| InputError::new(e.to_string()).key("--to"))?;
    for &i in &plan.to_apply {
        let m = &source.migrations[plan.items[i].index];
        refuse_own_transaction(settings.target.backend, &m.up)?;
    }

    if settings.lint_only {
        lint::lint_rows(settings, ahead, source, &plan, &mut session, results).await;
        return Ok(());
    }
    if (settings.check || settings.dry_run)
        && let Some(message) = &adoption
    {
        results.push(result(
            "migrate.adopt",
            "existing history",
            Status::Skip,
            format!("would record: {message}"),
        ));
    }
    if settings.check {
        report_items(source, &plan, settings.view(), None, results);
        lint::lint_rows(settings, ahead, source, &plan, &mut session, results).await;
        results.push(check_status(&plan));
        return Ok(());
    }
    if settings.dry_run {
        // The hooks a run would run around these migrations (none when nothing would apply).
        let would_apply = !plan.to_apply.is_empty() && plan.blockers(&settings.plan).is_empty();
        if would_apply {
            hooks.before(results).await;
        }
        report_dry_run(settings, source, history, &plan, table_exists, results);
        lint::lint_rows(settings, ahead, source, &plan, &mut session, results).await;
        if would_apply {
            hooks.after(Ok(()), results).await;
        }
        return Ok(());
    }
    // Refuse before taking the lock; checked again under it.
    // A `partial` row may be a migration running right now in another process: only under the
    // lock does it mean one that stopped.
    let repair = settings.repair.is_some();
    if !repair && engine::blocked_before_lock(&plan, &settings.plan) {
        report_items(source, &plan, settings.view(), None, results);
        return Ok(());
    }

    // Nothing to do: every file applied and unchanged, nothing stopped part-way, no repair or
    // adoption asked for. The lock would only make this run wait behind another migrator to
    // find the same, and reading the history again under it doubles the cost of a no-op run.
    // (Work in progress elsewhere shows here: uncommitted as pending, no-transaction as partial.)
    // With --backup the backup is still taken, under the lock.
    let nothing_to_apply = !repair
        && !first_run
        && plan.to_apply.is_empty()
        && plan.blockers(&settings.plan).is_empty();
    if nothing_to_apply && settings.target.backup.is_none() {
        let r = rows::history_result(history, true, rows.len(), "; nothing to apply");
        results.push(timed(r, history_read));
        report_items(source, &plan, settings.view(), None, results);
        return Ok(());
    }

    let backup_wanted = settings.target.backup.is_some();
    let verify = settings.verify_backup;
    if backup_wanted
        && !backup_tool_ready("migrate", &mut session, &settings.target, verify, results).await
    {
        return Ok(());
    }

    // The lock, then the table, then a fresh look: another migrator may have run meanwhile.
    if !lock(&mut session, "migrate", &settings.target, results).await {
        return Ok(());
    }
    if backup_wanted && !backup::back_up(settings, &mut session, nothing_to_apply, results).await {
        session.unlock().await;
        return Ok(());
    }
    let outcome = apply_all(settings, source, history, &mut session, hooks, results).await;
    session.unlock().await;
    outcome
}

/// Under the lock: the history made ready (created, adopted), then a repair if one was asked
/// for, else the plan against the history as it is now, applied.
async fn apply_all(
    settings: &Settings,
    source: &Source,
    history: &History,
    session: &mut Session,
    hooks: &mut Pending,
    results: &mut Vec<CheckResult>,
) -> Result<(), InputError> {
    let t = Instant::now();
    let applied_by = engine::applied_by(|k| std::env::var(k).ok());
    let prepared = match session
        .prepare_history(history, source, settings.baseline.as_deref(), &applied_by)
        .await
    {
        Ok(prepared) => prepared,
        Err(e) => {
            results.push(session_failure("migrate", &e));
            return Ok(());
        }
    };
    if let Some(message) = prepared.adopted {
        results.push(result(
            "migrate.adopt",
            "existing history",
            Status::Pass,
            message,
        ));
    }
    if let Some((repair, version)) = &settings.repair {
        // A repair of the history is its own run: what is pending is applied by the next one,
        // after a person has seen the repair.
        let i = engine::find(source, version).expect("check_versions found it");
        let m = &source.migrations[i];
        let written = session
            .repair(history, m, *repair, &settings.reason, &applied_by)
            .await;
        results.push(rows::repair_result(*repair, m, &settings.reason, written));
        return Ok(());
    }
    let r = rows::history_result(history, prepared.existed, prepared.rows.len(), "");
    results.push(timed(r, t));
    let plan = Plan::new(source, &prepared.rows, &settings.plan)
        .map_err(|e| InputError::new(e.to_string()).key("--to"))?;
    // Another migrator may have applied everything meanwhile: then the hooks have nothing to
    // wrap either.
    let resumes = settings.resume
        && plan
            .items
            .iter()
            .any(|i| matches!(i.state, engine::State::Partial { .. }));
    if engine::blocked(&plan, &settings.plan, settings.resume)
        || (plan.to_apply.is_empty() && !resumes)
    {
        report_items(source, &plan, settings.view(), None, results);
        return Ok(());
    }
    if !hooks.before(results).await {
        report_items(source, &plan, settings.view(), None, results);
        let why = "not run: a hook before the migrations failed";
        hooks.after(Err(why), results).await;
        return Ok(());
    }
    let applied = session
        .apply(history, source, &plan, settings.resume, &applied_by)
        .await;
    report_items(
        source,
        &plan,
        settings.view(),
        Some((&applied.outcomes, applied.failed.as_deref())),
        results,
    );
    let why = applied
        .failed
        .as_ref()
        .map(|v| format!("not run: {v} failed"));
    hooks
        .after(why.as_deref().map_or(Ok(()), Err), results)
        .await;
    Ok(())
}
