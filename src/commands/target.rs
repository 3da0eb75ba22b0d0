//! What `migrate` and `rollback` share as glue: the database target resolved from flags, env
//! and config, the refusals both make, and the rows both report (backup, a failed script, the
//! deadline). Engines stay in `crate::migrate`; this file only turns their answers into rows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Inputs, step_result, with_details};
use crate::cli::{GlobalArgs, MigrationsArgs};
use crate::config::{Located, Resolver};
use crate::db::Backend;
use crate::error::InputError;
use crate::migrate::{
    self as engine, Failure, Layout, Script, Session, SessionError, Stopped, step,
};
use crate::report::{CheckResult, Location, Status};
use crate::secret::{Secret, mask_url};
use crate::units::{format_duration, plural};

const DEFAULT_TABLE: &str = "shipgate_migrations";
const DEFAULT_DIR: &str = "migrations";
/// Where Prisma keeps its migrations, from the project's root.
const PRISMA_DIR: &str = "prisma/migrations";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// A dump of a large database takes a while; it still has a deadline.
pub(super) const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// Refuses (exit 2) a script with its own BEGIN/COMMIT that would run inside shipgate's
/// transaction.
pub(super) fn refuse_own_transaction(backend: Backend, script: &Script) -> Result<(), InputError> {
    match engine::own_transaction_control(backend, script) {
        Some(line) => Err(InputError::new(format!(
            "{} controls its own transaction (BEGIN/COMMIT/ROLLBACK): inside shipgate's transaction that would commit part of it and leave the rest, and its history row, outside",
            script.path.display()
        ))
        .at(Some(Location {
            file: script.path.display().to_string(),
            line,
            column: 1,
        }))
        .help("remove those statements (each migration already runs in one transaction), or mark the file `-- shipgate:no-transaction`")),
        None => Ok(()),
    }
}

/// `--only`/`--skip` pick checks of `preflight`; a migration run is one ordered sequence.
pub(super) fn refuse_selection(global: &GlobalArgs, instead: &str) -> Result<(), InputError> {
    if global.only.is_empty() && global.skip.is_empty() {
        return Ok(());
    }
    Err(InputError::new("--only and --skip do not apply here").help(instead.to_string()))
}

/// Where the migrations and their history are, resolved: shared by `migrate` and `rollback`.
pub(super) struct MigrationTarget {
    /// Where `--backup` writes, when given.
    pub backup: Option<PathBuf>,
    pub url: Secret,
    pub shown_url: String,
    pub backend: Backend,
    pub dir: PathBuf,
    pub layout: Option<Layout>,
    pub table: String,
    pub lock_timeout: Duration,
    /// The whole run's deadline (`--timeout`, else `[migrate] timeout`); none: each step keeps
    /// its own bound (connect 30 s, each lock poll 10 s, `--lock-timeout`, the backup 1 h).
    pub deadline: Option<Duration>,
}

/// `migrations`, or Prisma's `prisma/migrations` in a project that has that and no `migrations`.
fn default_dir() -> PathBuf {
    let prisma = Path::new(PRISMA_DIR);
    if !Path::new(DEFAULT_DIR).exists() && prisma.is_dir() {
        prisma.to_path_buf()
    } else {
        PathBuf::from(DEFAULT_DIR)
    }
}

/// The database URL the flags, `DATABASE_URL` or the config give, if any: `--database-url`, else
/// `DATABASE_URL`, else `database_url` under `[migrate]`, else the first `[[preflight.database]]`.
pub(super) fn given_database_url(
    args: &MigrationsArgs,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<Option<String>, InputError> {
    let config = inputs.config.config.migrate.as_ref();
    let url = match (&args.database_url, inputs.env.get("DATABASE_URL")) {
        (Some(flag), _) => resolver.string(&Located::unplaced(flag.clone()))?,
        (None, Some(env)) if !env.is_empty() => {
            resolver.string(&Located::unplaced(env.to_string()))?
        }
        _ => match (
            config.and_then(|c| c.database_url.as_ref()),
            first_preflight_database(inputs),
        ) {
            (Some(text), _) | (None, Some(text)) => resolver.string(text)?,
            (None, None) => return Ok(None),
        },
    };
    Ok(Some(url))
}

/// Where the migration files are (`--dir`, `[migrate] dir`, else the default) and the layout
/// forced by `--layout` or `[migrate] layout`, if any.
pub(super) fn migrations_dir(
    args: &MigrationsArgs,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<(PathBuf, Option<Layout>), InputError> {
    let config = inputs.config.config.migrate.as_ref();
    let dir = match (&args.dir, config.and_then(|c| c.dir.as_ref())) {
        (Some(d), _) => d.clone(),
        (None, Some(text)) => PathBuf::from(resolver.string(text)?),
        (None, None) => default_dir(),
    };
    let layout = args
        .layout
        .clone()
        .or_else(|| config.and_then(|c| c.layout.clone()))
        .map(|l| Layout::parse(&l).map_err(|e| InputError::new(e.to_string()).key("layout")))
        .transpose()?;
    Ok((dir, layout))
}

pub(super) fn resolve_target(
    global: &GlobalArgs,
    args: &MigrationsArgs,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<MigrationTarget, InputError> {
    let config = inputs.config.config.migrate.as_ref();
    let Some(url) = given_database_url(args, inputs, resolver)? else {
        return Err(InputError::new("no database given")
            .help("pass --database-url, set DATABASE_URL, or set `database_url` under [migrate]"));
    };
    if url.trim().is_empty() {
        return Err(InputError::new("the database URL is empty").help("its variable may be unset"));
    }
    let (backend, url) = Backend::from_url(&url).map_err(|e| InputError::new(e.to_string()))?;
    let url = with_application_name(backend, &url);
    let (dir, layout) = migrations_dir(args, inputs, resolver)?;
    let table = args
        .table
        .clone()
        .or_else(|| config.and_then(|c| c.table.clone()))
        .unwrap_or_else(|| DEFAULT_TABLE.to_string());
    let lock_timeout = match (
        &args.lock_timeout,
        config.and_then(|c| c.lock_timeout.as_ref()),
    ) {
        (Some(flag), _) => crate::units::parse_duration(flag).map_err(InputError::new)?,
        (None, Some(text)) => resolver.duration(text)?,
        (None, None) => DEFAULT_LOCK_TIMEOUT,
    };
    let deadline = match (global.timeout, config.and_then(|c| c.timeout.as_ref())) {
        (Some(flag), _) => Some(flag),
        (None, Some(text)) => Some(resolver.duration(text)?),
        (None, None) => None,
    };
    Ok(MigrationTarget {
        backup: args.backup.clone(),
        shown_url: mask_url(&url),
        url: Secret::new(url),
        backend,
        dir,
        layout,
        table,
        lock_timeout,
        deadline,
    })
}

fn first_preflight_database(inputs: &Inputs) -> Option<&crate::config::Text> {
    let databases = &inputs.config.config.preflight.as_ref()?.database;
    databases
        .iter()
        .find(|d| d.name.as_deref() == Some("main"))
        .or(databases.first())
        .map(|d| &d.url)
}

/// Names the session in `pg_stat_activity`, so a waiting migrator can say who holds the lock.
fn with_application_name(backend: Backend, url: &str) -> String {
    if backend != Backend::Postgres || url.contains("application_name=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name=shipgate%20migrate")
}

/// Connects to the target's database (the session's first step, for both commands).
pub(super) async fn connect(target: &MigrationTarget) -> Result<Session, SessionError> {
    Session::connect(
        target.url.expose(),
        &target.shown_url,
        target.backend,
        CONNECT_TIMEOUT,
    )
    .await
}

/// The failing row of a session step (`<command>.database`, `.lock`, `.history`, `.adopt`).
pub(super) fn session_failure(command: &str, e: &SessionError) -> CheckResult {
    let (stage, name) = e.stage();
    step_result(
        command,
        &format!("{command}.{stage}"),
        name,
        Status::Fail,
        e.to_string(),
    )
}

/// Takes the one-migrator-at-a-time lock and records the `<command>.lock` result (how long it
/// waited, and for whom). False when it was not taken (nothing may change then).
pub(super) async fn lock(
    session: &mut Session,
    command: &str,
    target: &MigrationTarget,
    results: &mut Vec<CheckResult>,
) -> bool {
    let t = Instant::now();
    match session
        .lock(&target.table, target.url.expose(), target.lock_timeout)
        .await
    {
        Ok(locked) => {
            let waited = match &locked.held_by {
                Some(h) => format!(
                    " after waiting {} for {}",
                    format_duration(locked.waited),
                    h.describe()
                ),
                None => String::new(),
            };
            let id = format!("{command}.lock");
            let message = format!("took the {}{waited}", locked.what);
            results.push(timed(
                step_result(command, &id, "lock", Status::Pass, message),
                t,
            ));
            true
        }
        // The key query failed before any wait: the row's time would say nothing.
        Err(e @ SessionError::LockKey(_)) => {
            results.push(session_failure(command, &e));
            false
        }
        Err(e) => {
            results.push(timed(session_failure(command, &e), t));
            false
        }
    }
}

/// Whether the `--backup` tool can dump this database (and, to `verify` it, restore it), before
/// anything changes; records the failing `<command>.backup` result when it cannot.
pub(super) async fn backup_tool_ready(
    command: &str,
    session: &mut Session,
    target: &MigrationTarget,
    verify: bool,
    results: &mut Vec<CheckResult>,
) -> bool {
    step::enter("checking the backup tool");
    match engine::backup_preflight(session.conn(), target.backend, verify).await {
        Ok(()) => true,
        Err(e) => {
            let id = format!("{command}.backup");
            let message = format!("{e}; nothing was changed");
            results.push(step_result(command, &id, "backup", Status::Fail, message));
            false
        }
    }
}

/// Takes the `--backup` (named after the command) when one is asked for; records the result,
/// its message led by `note` ("backed up to "). `None` when it failed or none was asked
/// for (nothing may change after a failure).
pub(super) async fn take_backup(
    command: &str,
    conn: &mut sqlx::AnyConnection,
    target: &MigrationTarget,
    (id, note): (&str, &str),
    results: &mut Vec<CheckResult>,
) -> Option<engine::Backup> {
    let dir = target.backup.as_ref()?;
    let t = Instant::now();
    step::enter(format!("backing the database up into {}", dir.display()));
    match engine::take_backup(
        conn,
        target.backend,
        target.url.expose(),
        dir,
        command,
        BACKUP_TIMEOUT,
    )
    .await
    {
        Ok(b) => {
            results.push(timed(
                with_details(
                    step_result(
                        command,
                        id,
                        "backup",
                        Status::Pass,
                        format!(
                            "{note}{} ({})",
                            b.path.display(),
                            crate::units::format_size(b.bytes)
                        ),
                    ),
                    json!({"path": b.path.display().to_string(), "bytes": b.bytes}),
                ),
                t,
            ));
            Some(b)
        }
        Err(e) => {
            results.push(timed(
                step_result(
                    command,
                    id,
                    "backup",
                    Status::Fail,
                    format!("{e}; nothing was changed"),
                ),
                t,
            ));
            None
        }
    }
}

/// A script that failed while migrating or rolling back: where, why, and what state it left
/// (`undone`: what a failure inside a transaction means for this command).
pub(super) fn step_failure(
    command: &str,
    id: &str,
    title: &str,
    version: &str,
    f: &Failure,
    undone: &str,
) -> CheckResult {
    let what = if f.statement > 0 {
        format!(" at statement {}", f.statement)
    } else {
        String::new()
    };
    let state = if f.partial {
        format!(
            "; {} before it took effect and stay: fix the cause, then re-run with --resume",
            plural(f.completed, "statement", "statements")
        )
    } else {
        format!("; {undone}")
    };
    let mut r = with_details(
        step_result(
            command,
            id,
            title,
            Status::Fail,
            format!(
                "{version} failed{what}: {}{}{state}",
                f.message,
                f.sqlstate
                    .as_ref()
                    .map(|c| format!(" (SQLSTATE {c})"))
                    .unwrap_or_default()
            ),
        ),
        json!({
            "sqlstate": f.sqlstate,
            "detail": f.detail,
            "hint": f.hint,
            "statement": f.statement,
            "completed": f.partial.then_some(f.completed),
            "code_frame": f.code_frame,
        }),
    );
    r.details.retain(|_, v| !v.is_null());
    r.location = Some(f.location.clone());
    r
}

/// The failing `<command>.deadline` result; `done` is what finishing a migration means
/// here ("applied", "reverted").
pub(super) fn deadline_result(stopped: &Stopped, command: &str, done: &str) -> CheckResult {
    let step = if stopped.step.is_empty() {
        "starting".to_string()
    } else {
        stopped.step.clone()
    };
    let finished = match stopped.finished.as_slice() {
        [] => format!("no migration was {done} before it"),
        [one] => format!("1 migration {done} before it stays recorded ({one})"),
        list => format!(
            "{} migrations {done} before it stay recorded ({})",
            list.len(),
            list.join(", ")
        ),
    };
    // Cut off inside a migration's script or its history write: say what became of it.
    let in_script = ["applying", "reverting", "running statement", "recording"]
        .iter()
        .any(|p| step.starts_with(p));
    let cut = if in_script {
        "; the migration it cut off was rolled back by the server when the connection closed (one without a transaction is recorded up to its last completed statement: re-run with --resume)"
    } else {
        ""
    };
    with_details(
        step_result(
            command,
            &format!("{command}.deadline"),
            "deadline",
            Status::Fail,
            format!(
                "stopped after --timeout {} while {step}; {finished}{cut}. Re-run once the database answers (or what it waited for is done), or raise --timeout",
                format_duration(stopped.after)
            ),
        ),
        json!({"timeout_ms": stopped.after.as_millis() as u64, "step": step, "finished": stopped.finished}),
    )
}

pub(super) fn timed(mut r: CheckResult, t: Instant) -> CheckResult {
    r.duration_ms = t.elapsed().as_millis() as u64;
    r
}
