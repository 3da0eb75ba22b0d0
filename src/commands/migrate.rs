//! `shipgate migrate`: reads the migrations and the history, decides, and applies under a lock.
//! Glue: the work is in `crate::migrate`; this file turns its answers into the Report.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use sqlx::Executor;

use super::target::{
    Target, deadline_result, refuse_own_transaction, refuse_selection, resolve_target,
    step_failure, take_backup, timed,
};
use super::{Inputs, Outcome, with_details};
use crate::checks::id_part;
use crate::cli::{GlobalArgs, MigrateArgs};
use crate::config::Resolver;
use crate::db::{self, Backend};
use crate::error::InputError;
use crate::migrate::{
    self as engine, Dialect as _, Failure, History, HistoryStatus, Item, Migration, NewRow, Plan,
    Row, Session, SessionError, Source, State, step, title,
};
use crate::report::{CheckResult, Location, Report, Status};
use crate::secret::Secret;
use crate::units::{format_duration, plural};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the per-migration results depend on, besides the plan.
#[derive(Clone, Copy)]
struct View {
    backend: Backend,
    check: bool,
    allow_out_of_order: bool,
    has_target: bool,
}

/// Everything a run needs, resolved from flags, environment and config.
struct Settings {
    target: Target,
    require_tables: Vec<String>,
    plan: engine::PlanOptions,
    check: bool,
    resume: bool,
    dry_run: bool,
    baseline: Option<String>,
    accept_checksum: Option<String>,
    mark_resolved: Option<String>,
    reason: String,
}

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
    let mut settings = resolve(global, args, inputs, &mut resolver)?;
    if (settings.check || settings.dry_run) && settings.target.backend == Backend::Sqlite {
        // Opening `mode=rwc` would create the file; these runs promise to change nothing.
        settings.target.url = Secret::new(db::sqlite_read_only(settings.target.url.expose()));
    }
    let history = History::new(&settings.target.table, settings.target.backend)
        .map_err(|e| InputError::new(e).key("table"))?;
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
        let opened = match opened {
            Some(done) => done,
            None => opening.await,
        };
        migrate(&settings, &source, &history, opened, &mut results).await
    })
    .await;
    match run {
        Ok(done) => done?,
        Err(stopped) => results.push(deadline_result(&stopped, "migrate", "applied")),
    }
    for r in &mut results {
        // Migrations run in order, so the way to reproduce one result is the same command.
        r.reproduce = Some(inputs.reproduce_base.clone());
    }
    let report = Report::new(
        "migrate",
        started,
        SystemTime::now(),
        global.strict,
        results,
    );
    Ok(Outcome {
        report,
        secrets: resolver.secrets,
    })
}

fn resolve(
    global: &GlobalArgs,
    args: &MigrateArgs,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<Settings, InputError> {
    let config = inputs.config.config.migrate.as_ref();
    let target = resolve_target(global, &args.target, inputs, resolver)?;
    let allow_out_of_order_config =
        resolver.value_or(config.and_then(|c| c.allow_out_of_order.as_ref()), false)?;
    let require_tables = config
        .map(|c| {
            c.require_tables
                .iter()
                .map(|t| resolver.string(t))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(Settings {
        target,
        require_tables,
        plan: engine::PlanOptions {
            to: args.to.clone(),
            allow_out_of_order: args.allow_out_of_order || allow_out_of_order_config,
        },
        check: args.check,
        resume: args.resume,
        dry_run: global.dry_run,
        baseline: args.baseline.clone(),
        accept_checksum: args.accept_checksum.clone(),
        mark_resolved: args.mark_resolved.clone(),
        reason: args.reason.clone().unwrap_or_default(),
    })
}

impl Settings {
    fn view(&self) -> View {
        View {
            backend: self.target.backend,
            check: self.check,
            allow_out_of_order: self.plan.allow_out_of_order,
            has_target: self.plan.to.is_some(),
        }
    }
}

fn result(id: &str, name: &str, status: Status, message: impl Into<String>) -> CheckResult {
    super::step_result("migrate", id, name, status, message)
}

/// Versions named by flags must be files' versions (exit 2 otherwise).
fn check_versions(settings: &Settings, source: &Source) -> Result<(), InputError> {
    for (flag, version) in [
        ("--baseline", &settings.baseline),
        ("--accept-checksum", &settings.accept_checksum),
        ("--mark-resolved", &settings.mark_resolved),
        ("--to", &settings.plan.to),
    ] {
        if let Some(v) = version
            && engine::find(source, v).is_none()
        {
            return Err(InputError::new(format!(
                "{flag} {v}: no migration in {} has that version",
                source.dir.display()
            ))
            .help("versions are the file names' first part, e.g. 001-lp-base or 20240101120000"));
        }
    }
    Ok(())
}

/// The database as a run finds it before deciding anything: connected, its session bounded,
/// and its history read. Each failure is the result that reports it.
struct Opened {
    session: Session,
    /// The `migrate.database` result, timed.
    connected: CheckResult,
    /// When reading the history started (the `migrate.history` row's time).
    history_read: Instant,
    /// Whether the history table exists, and its rows; or why they could not be read.
    history: Result<(bool, Vec<Row>), String>,
}

/// Connects, bounds the session and reads the history (nothing here needs the migration
/// files, so it runs while they are read).
async fn open(settings: &Settings, history: &History) -> Result<Opened, Vec<CheckResult>> {
    let t = Instant::now();
    let target = &settings.target;
    let mut session = match Session::connect(
        target.url.expose(),
        &target.shown_url,
        target.backend,
        CONNECT_TIMEOUT,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            return Err(vec![result(
                "migrate.database",
                "database",
                Status::Fail,
                e.to_string(),
            )]);
        }
    };
    let connected = timed(
        result(
            "migrate.database",
            "database",
            Status::Pass,
            format!("connected to {}", settings.target.shown_url),
        ),
        t,
    );
    let limited = session.limit(target.lock_timeout, target.deadline).await;
    if let Err(e) = limited {
        return Err(vec![
            connected,
            result("migrate.database", "database", Status::Fail, e.to_string()),
        ]);
    }
    step::enter(format!("reading the history table {}", history.table));
    let history_read = Instant::now();
    let conn = session.conn();
    let read = match db::answered("the history query", history.exists(conn)).await {
        Ok(exists) => db::answered("the history query", read_rows(conn, history))
            .await
            .map(|rows| (exists, rows)),
        Err(e) => Err(e),
    };
    step::enter("reading the migration files");
    Ok(Opened {
        session,
        connected,
        history_read,
        history: read,
    })
}

fn migration_id(m: &Migration) -> String {
    format!("migration.{}", id_part(&m.version))
}

async fn migrate(
    settings: &Settings,
    source: &Source,
    history: &History,
    opened: Result<Opened, Vec<CheckResult>>,
    results: &mut Vec<CheckResult>,
) -> Result<(), InputError> {
    results.push(with_details(
        result(
            "migrate.source",
            "migration files",
            Status::Pass,
            format!(
                "{} migrations in {} ({} layout)",
                source.migrations.len(),
                source.dir.display(),
                source.layout
            ),
        ),
        json!({"dir": source.dir.display().to_string(), "layout": source.layout.name()}),
    ));
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
    let conn = session.conn();

    if !settings.require_tables.is_empty() {
        step::enter("checking the required tables");
        let mut missing = Vec::new();
        for table in &settings.require_tables {
            match db::answered(
                "a required-table query",
                db::table_exists(conn, settings.target.backend, table),
            )
            .await
            {
                Ok(true) => {}
                Ok(false) => missing.push(table.clone()),
                Err(e) => missing.push(format!("{table} ({e})")),
            }
        }
        let ok = missing.is_empty();
        results.push(with_details(
            result(
                "migrate.require-tables",
                "required tables",
                if ok { Status::Pass } else { Status::Fail },
                if ok {
                    format!(
                        "required tables exist: {}",
                        settings.require_tables.join(", ")
                    )
                } else {
                    format!(
                        "Required table {} is missing: apply the migrations that create it first",
                        missing.join(", ")
                    )
                },
            ),
            json!({"required": settings.require_tables, "missing": missing}),
        ));
        if !ok {
            return Ok(());
        }
    }

    let (table_exists, rows) = match read {
        Ok(read) => read,
        Err(e) => {
            results.push(result("migrate.history", "history table", Status::Fail, e));
            return Ok(());
        }
    };
    // A database shipgate never migrated: what another tool's history (or --baseline) says.
    // Only then: after `rollback --all` the table exists, empty, and must stay the truth.
    let first_run = !table_exists || (rows.is_empty() && settings.baseline.is_some());
    let (rows, adoption) = if first_run {
        match initial_rows(conn, settings, source).await {
            Ok((virtual_rows, adoption)) => (virtual_rows, adoption),
            Err(e) => {
                results.push(result("migrate.adopt", "existing history", Status::Fail, e));
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
    let plan =
        Plan::new(source, &rows, &settings.plan).map_err(|e| InputError::new(e).key("--to"))?;
    let admin = settings.accept_checksum.is_some() || settings.mark_resolved.is_some();
    for &i in &plan.to_apply {
        let m = &source.migrations[plan.items[i].index];
        refuse_own_transaction(settings.target.backend, &m.up)?;
    }

    if (settings.check || settings.dry_run)
        && let Some(message) = &adoption
    {
        {
            results.push(result(
                "migrate.adopt",
                "existing history",
                Status::Skip,
                format!("would record: {message}"),
            ));
        }
    }
    if settings.check {
        report_check(source, &plan, settings.view(), results);
        return Ok(());
    }
    if settings.dry_run {
        report_dry_run(settings, source, history, &plan, conn, results).await;
        return Ok(());
    }
    // Refuse before taking the lock; checked again under it.
    // A `partial` row may be a migration running right now in another process: only under the
    // lock does it mean one that stopped.
    if !admin && engine::blocked_before_lock(&plan, &settings.plan) {
        report_items(source, &plan, settings.view(), None, results);
        return Ok(());
    }

    // Nothing to do: every file applied and unchanged, nothing stopped part-way, no repair or
    // adoption asked for. The lock would only make this run wait behind another migrator to
    // find the same, and reading the history again under it doubles the cost of a no-op run.
    // (Work in progress elsewhere shows here: uncommitted as pending, no-transaction as partial.)
    if !admin && !first_run && plan.to_apply.is_empty() && plan.blockers(&settings.plan).is_empty()
    {
        results.push(timed(
            result(
                "migrate.history",
                "history table",
                Status::Pass,
                format!(
                    "{} records {} applied migrations; nothing to apply",
                    history.table,
                    rows.len()
                ),
            ),
            history_read,
        ));
        report_items(source, &plan, settings.view(), None, results);
        return Ok(());
    }

    let backup_wanted =
        settings.target.backup.is_some() && (!plan.to_apply.is_empty() || settings.resume);
    if backup_wanted {
        step::enter("checking the backup tool");
    }
    if backup_wanted && let Err(e) = engine::backup_preflight(conn, settings.target.backend).await {
        results.push(result(
            "migrate.backup",
            "backup",
            Status::Fail,
            format!("{e}; nothing was changed"),
        ));
        return Ok(());
    }

    // The lock, then the table, then a fresh look: another migrator may have run meanwhile.
    let t = Instant::now();
    let target = &settings.target;
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
            results.push(timed(
                result(
                    "migrate.lock",
                    "lock",
                    Status::Pass,
                    format!("took the {}{waited}", locked.what),
                ),
                t,
            ));
        }
        Err(e @ SessionError::LockKey(_)) => {
            results.push(result("migrate.lock", "lock", Status::Fail, e.to_string()));
            return Ok(());
        }
        Err(e) => {
            results.push(timed(
                result("migrate.lock", "lock", Status::Fail, e.to_string()),
                t,
            ));
            return Ok(());
        }
    };
    if backup_wanted
        && !take_backup(
            "migrate",
            session.conn(),
            &settings.target,
            "migrate.backup",
            results,
        )
        .await
    {
        session.unlock().await;
        return Ok(());
    }
    let outcome = apply_all(settings, source, history, &mut session, results).await;
    session.unlock().await;
    outcome
}

/// The rows a database without shipgate history starts from: another tool's history, or
/// `--baseline`. Nothing is written; `record_initial` writes them under the lock.
async fn initial_rows(
    conn: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &Source,
) -> Result<(Vec<Row>, Option<String>), String> {
    let Some((versions, status, message)) = initial_versions(conn, settings, source).await? else {
        return Ok((Vec::new(), None));
    };
    let rows = source
        .migrations
        .iter()
        .filter(|m| versions.contains(&m.version))
        .map(|m| Row {
            version: m.version.clone(),
            name: m.name.clone(),
            checksum: m.checksum.clone(),
            applied_at: String::new(),
            execution_ms: 0,
            applied_by: String::new(),
            status,
            statements_done: None,
            note: None,
        })
        .collect();
    Ok((rows, Some(message)))
}

async fn initial_versions(
    conn: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &Source,
) -> Result<Option<(Vec<String>, HistoryStatus, String)>, String> {
    if let Some(version) = &settings.baseline {
        let index = engine::find(source, version)
            .ok_or_else(|| format!("--baseline {version}: no migration has that version"))?;
        let upto = &source.migrations[index].order;
        let versions: Vec<String> = source
            .migrations
            .iter()
            .filter(|m| &m.order <= upto)
            .map(|m| m.version.clone())
            .collect();
        let message = format!(
            "baseline: {} migrations up to {version} recorded as applied, not run",
            versions.len()
        );
        return Ok(Some((versions, HistoryStatus::Baseline, message)));
    }
    match engine::read_adoption(conn, settings.target.backend, source).await? {
        Some(a) if !a.versions.is_empty() || !a.unknown.is_empty() => {
            let mut message = format!(
                "adopted {} applied migrations from {} (recorded, not run)",
                a.versions.len(),
                a.table
            );
            if !a.unknown.is_empty() {
                message.push_str(&format!(
                    "; {} lists versions with no file: {}",
                    a.table,
                    a.unknown.join(", ")
                ));
            }
            Ok(Some((a.versions, HistoryStatus::Adopted, message)))
        }
        _ => Ok(None),
    }
}

/// Writes the adopted or baseline rows, under the lock.
async fn record_initial(
    conn: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &Source,
    history: &History,
    applied_by: &str,
) -> Result<Option<String>, String> {
    let Some((versions, status, message)) = initial_versions(conn, settings, source).await? else {
        return Ok(None);
    };
    // All rows or none: a crash half-way would leave later migrations looking pending.
    conn.execute("BEGIN")
        .await
        .map_err(|e| db::describe_error(&e))?;
    let written = write_initial(
        conn, source, history, &versions, status, &message, applied_by,
    )
    .await;
    match written {
        Ok(()) => {
            conn.execute("COMMIT")
                .await
                .map_err(|e| db::describe_error(&e))?;
            Ok(Some(message))
        }
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn write_initial(
    conn: &mut sqlx::AnyConnection,
    source: &Source,
    history: &History,
    versions: &[String],
    status: HistoryStatus,
    message: &str,
    applied_by: &str,
) -> Result<(), String> {
    for m in source
        .migrations
        .iter()
        .filter(|m| versions.contains(&m.version))
    {
        let note = format!("{status}: {message}");
        history
            .insert(
                conn,
                &NewRow {
                    version: &m.version,
                    name: &m.name,
                    checksum: &m.checksum,
                    execution_ms: 0,
                    applied_by,
                    status,
                    statements_done: None,
                    note: Some(&note),
                },
            )
            .await?;
    }
    Ok(())
}

/// `--accept-checksum` and `--mark-resolved`: audited changes of the history, never a hand edit.
async fn admin_update(
    conn: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &Source,
    history: &History,
    applied_by: &str,
) -> Option<CheckResult> {
    let at = humantime::format_rfc3339_seconds(SystemTime::now());
    if let Some(version) = &settings.accept_checksum {
        let Some(m) = engine::find(source, version).map(|i| &source.migrations[i]) else {
            return Some(result(
                "migrate.accept-checksum",
                "accept checksum",
                Status::Fail,
                format!("--accept-checksum {version}: no migration file has that version"),
            ));
        };
        let entry = format!(
            "[{at}] checksum {} accepted by {applied_by}: {}",
            m.checksum, settings.reason
        );
        return Some(
            match history
                .accept_checksum(conn, &m.version, &m.checksum, &entry)
                .await
            {
                Ok(true) => result(
                    "migrate.accept-checksum",
                    "accept checksum",
                    Status::Pass,
                    format!(
                        "{} now records the checksum of {} ({})",
                        m.version,
                        m.up.path.display(),
                        settings.reason
                    ),
                ),
                Ok(false) => result(
                    "migrate.accept-checksum",
                    "accept checksum",
                    Status::Fail,
                    format!(
                        "--accept-checksum {version}: it is not applied, so there is nothing to accept"
                    ),
                ),
                Err(e) => result(
                    "migrate.accept-checksum",
                    "accept checksum",
                    Status::Fail,
                    e,
                ),
            },
        );
    }
    if let Some(version) = &settings.mark_resolved {
        let Some(m) = engine::find(source, version).map(|i| &source.migrations[i]) else {
            return Some(result(
                "migrate.mark-resolved",
                "mark resolved",
                Status::Fail,
                format!("--mark-resolved {version}: no migration file has that version"),
            ));
        };
        let entry = format!(
            "[{at}] partial migration marked resolved by {applied_by}: {}",
            settings.reason
        );
        return Some(
            match history.mark_resolved(conn, &m.version, &entry).await {
                Ok(true) => result(
                    "migrate.mark-resolved",
                    "mark resolved",
                    Status::Pass,
                    format!(
                        "{} is recorded as resolved ({})",
                        m.version, settings.reason
                    ),
                ),
                Ok(false) => result(
                    "migrate.mark-resolved",
                    "mark resolved",
                    Status::Fail,
                    format!("--mark-resolved {version}: it has no history row"),
                ),
                Err(e) => result("migrate.mark-resolved", "mark resolved", Status::Fail, e),
            },
        );
    }
    None
}

async fn read_rows(conn: &mut sqlx::AnyConnection, history: &History) -> Result<Vec<Row>, String> {
    if history.exists(conn).await? {
        history.rows(conn).await
    } else {
        Ok(Vec::new())
    }
}

/// An empty migration (no statement, or only comments) is usually a file saved before it was
/// written: applying it records a version that changed nothing, so it is said, not hidden.
const EMPTY_MIGRATION_APPLIED: &str = "applied, but the file holds no statement (empty or only comments): its version is recorded as applied with nothing run; write its SQL in a new migration";
const EMPTY_MIGRATION_PENDING: &str = "would apply nothing: the file holds no statement (empty or only comments), and its version would be recorded as applied (dry run)";

async fn apply_all(
    settings: &Settings,
    source: &Source,
    history: &History,
    session: &mut Session,
    results: &mut Vec<CheckResult>,
) -> Result<(), InputError> {
    let t = Instant::now();
    let conn = session.conn();
    let existed = match db::answered("the history query", history.exists(conn)).await {
        Ok(e) => e,
        Err(e) => {
            results.push(result("migrate.history", "history table", Status::Fail, e));
            return Ok(());
        }
    };
    if !existed && let Err(e) = history.create(conn).await {
        results.push(result("migrate.history", "history table", Status::Fail, e));
        return Ok(());
    }
    let mut rows = match db::answered("the history query", history.rows(conn)).await {
        Ok(r) => r,
        Err(e) => {
            results.push(result("migrate.history", "history table", Status::Fail, e));
            return Ok(());
        }
    };
    let applied_by = engine::applied_by(|k| std::env::var(k).ok());
    if !existed || (rows.is_empty() && settings.baseline.is_some()) {
        match record_initial(conn, settings, source, history, &applied_by).await {
            Ok(Some(message)) => results.push(result(
                "migrate.adopt",
                "existing history",
                Status::Pass,
                message,
            )),
            Ok(None) => {}
            Err(e) => {
                results.push(result("migrate.adopt", "existing history", Status::Fail, e));
                return Ok(());
            }
        }
    }
    if let Some(r) = admin_update(conn, settings, source, history, &applied_by).await {
        // A repair of the history is its own run: what is pending is applied by the next one,
        // after a person has seen the repair.
        results.push(r);
        return Ok(());
    }
    rows = match db::answered("the history query", history.rows(conn)).await {
        Ok(r) => r,
        Err(e) => {
            results.push(result("migrate.history", "history table", Status::Fail, e));
            return Ok(());
        }
    };
    results.push(timed(
        result(
            "migrate.history",
            "history table",
            Status::Pass,
            if existed {
                format!(
                    "{} records {} applied migrations",
                    history.table,
                    rows.len()
                )
            } else {
                format!("created the history table {}", history.table)
            },
        ),
        t,
    ));
    let plan =
        Plan::new(source, &rows, &settings.plan).map_err(|e| InputError::new(e).key("--to"))?;
    if engine::blocked(&plan, &settings.plan, settings.resume) {
        report_items(source, &plan, settings.view(), None, results);
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
    Ok(())
}

type Outcomes<'a> = (
    &'a [(usize, Result<engine::Done, Failure>)],
    Option<&'a str>,
);

/// One `migrate.applied` result for the migrations applied before this run, one result per
/// migration that ran, failed, is pending or needs attention, and one per recorded version
/// whose file is gone.
fn report_items(
    source: &Source,
    plan: &Plan,
    view: View,
    outcomes: Option<Outcomes<'_>>,
    results: &mut Vec<CheckResult>,
) {
    let mut by_item: Vec<Option<&Result<engine::Done, Failure>>> = vec![None; plan.items.len()];
    for (i, outcome) in outcomes.map_or(&[][..], |(o, _)| o) {
        by_item[*i] = Some(outcome);
    }
    // Nothing runs an `Applied` item: it has no outcome.
    results.extend(applied_result(plan, view));
    for (i, item) in plan.items.iter().enumerate() {
        let m = &source.migrations[item.index];
        let outcome = by_item[i];
        if item.state == State::Applied {
            continue;
        }
        let r = match (outcome, &item.state) {
            (Some(Ok(done)), _) if done.already_applied => result(
                &migration_id(m),
                &title(m),
                Status::Skip,
                "applied meanwhile by another migrator",
            ),
            (Some(Ok(done)), _) if done.statements == 0 => with_details(
                result(
                    &migration_id(m),
                    &title(m),
                    Status::Warn,
                    EMPTY_MIGRATION_APPLIED,
                ),
                json!({"statements": 0, "duration_ms": done.duration.as_millis() as u64}),
            ),
            (Some(Ok(done)), _) => with_details(
                result(
                    &migration_id(m),
                    &title(m),
                    Status::Pass,
                    format!(
                        "applied in {} ({}){}",
                        format_duration(done.duration),
                        plural(done.statements, "statement", "statements"),
                        done.resumed
                            .as_ref()
                            .map(|r| format!("; {r}"))
                            .unwrap_or_default()
                    ),
                ),
                json!({"statements": done.statements, "duration_ms": done.duration.as_millis() as u64, "transaction": engine::runs_in_transaction(view.backend, &m.up), "resumed": done.resumed}),
            ),
            (Some(Err(f)), _) => failure_result(m, f),
            (None, state) => state_result(m, item, state, view, outcomes.and_then(|(_, f)| f)),
        };
        let mut r = r;
        if let Some(Ok(done)) = outcome {
            r.duration_ms = done.duration.as_millis() as u64;
        }
        if r.location.is_none() && (r.status.fails_run(false) || r.status == Status::Warn) {
            r.location = Some(m.up.location());
        }
        results.push(r);
    }
    report_missing(source, plan, results);
}

/// The migrations applied before this run (and untouched by it), in one result: a no-op run over
/// 5,000 migrations is one row, one JUnit case and one Markdown line, not 5,000. The list is in
/// `details` (shown with `-v`). None when there are none.
fn applied_result(plan: &Plan, view: View) -> Option<CheckResult> {
    let applied: Vec<String> = plan
        .items
        .iter()
        .filter(|item| item.state == State::Applied)
        .map(|item| match &item.row {
            Some(row) if !row.applied_at.is_empty() => {
                format!("{} at {}", row.version, row.applied_at)
            }
            Some(row) => row.version.clone(),
            None => String::new(),
        })
        .collect();
    if applied.is_empty() {
        return None;
    }
    let newest = plan
        .items
        .iter()
        .rev()
        .find(|item| item.state == State::Applied)
        .and_then(|item| item.row.as_ref())
        .map(|row| format!(", the newest {}", row.version))
        .unwrap_or_default();
    Some(with_details(
        result(
            "migrate.applied",
            "applied migrations",
            if view.check {
                Status::Pass
            } else {
                Status::Skip
            },
            format!(
                "{} already applied{newest}",
                plural(applied.len(), "migration", "migrations")
            ),
        ),
        json!({"count": applied.len(), "applied": applied}),
    ))
}

/// Recorded versions whose file is gone: a warning, the history is not rewritten.
fn report_missing(source: &Source, plan: &Plan, results: &mut Vec<CheckResult>) {
    for row in &plan.missing {
        results.push(with_details(
            result(
                &format!("migration.{}", id_part(&row.version)),
                &row.version,
                Status::Warn,
                format!(
                    "{} is recorded as applied ({} by {}) but has no file in {}",
                    row.version,
                    row.applied_at,
                    row.applied_by,
                    source.dir.display()
                ),
            ),
            json!({"applied_at": row.applied_at, "applied_by": row.applied_by}),
        ));
    }
}

fn state_result(
    m: &Migration,
    item: &Item,
    state: &State,
    view: View,
    failed: Option<&str>,
) -> CheckResult {
    let id = migration_id(m);
    let name = title(m);
    match state {
        // Reported together by `applied_result`; one alone reads the same way.
        State::Applied => {
            let row = item.row.as_ref();
            result(
                &id,
                &name,
                if view.check {
                    Status::Pass
                } else {
                    Status::Skip
                },
                format!(
                    "already applied{}",
                    row.map(|r| format!(" at {} by {}", r.applied_at, r.applied_by))
                        .unwrap_or_default()
                ),
            )
        }
        State::Drifted { recorded } => with_details(
            result(
                &id,
                &name,
                Status::Fail,
                format!(
                    "{} changed after it was applied; restore the file as it was (checksum {}), write a new migration for the change, or accept it with --accept-checksum {} --reason '…'",
                    m.up.path.display(),
                    recorded.chars().take(12).collect::<String>(),
                    m.version
                ),
            ),
            json!({"recorded_checksum": recorded, "file_checksum": m.checksum}),
        ),
        State::OutOfOrder if !view.allow_out_of_order => result(
            &id,
            &name,
            Status::Fail,
            "pending, but older than a migration already applied: rename it to a newer version, or pass --allow-out-of-order",
        ),
        State::Reverting { statements_done } => result(
            &id,
            &name,
            Status::Fail,
            format!(
                "a rollback of it stopped after {statements_done} statements of its down script: finish it with `shipgate rollback --resume` (same range) before migrating"
            ),
        ),
        State::Partial { statements_done } => {
            let stmts = engine::statements(&m.up);
            let next = stmts.get(*statements_done as usize);
            let mut r = result(
                &id,
                &name,
                Status::Fail,
                format!(
                    "stopped after {statements_done} of {} statements{}: re-run with --resume to continue from there once the cause is fixed",
                    stmts.len(),
                    next.map(|s| {
                        let (line, _) = engine::line_col(&m.up.text, s.offset);
                        format!(
                            "; statement {} at {}:{line} did not complete",
                            statements_done + 1,
                            m.up.path.display()
                        )
                    })
                    .unwrap_or_default()
                ),
            );
            if let Some(s) = next {
                let (line, column) = engine::line_col(&m.up.text, s.offset);
                r.location = Some(Location {
                    file: m.up.path.display().to_string(),
                    line,
                    column,
                });
            }
            r
        }
        State::Pending | State::OutOfOrder => {
            if view.check {
                result(&id, &name, Status::Fail, "pending")
            } else if let Some(f) = failed {
                result(&id, &name, Status::Skip, format!("not run: {f} failed"))
            } else if view.has_target {
                result(&id, &name, Status::Skip, "pending, after --to")
            } else {
                result(&id, &name, Status::Skip, "pending, not run")
            }
        }
    }
}

fn failure_result(m: &Migration, f: &Failure) -> CheckResult {
    step_failure(
        "migrate",
        &migration_id(m),
        &title(m),
        &m.version,
        f,
        "nothing of it was applied",
    )
}

fn report_check(source: &Source, plan: &Plan, view: View, results: &mut Vec<CheckResult>) {
    report_items(source, plan, view, None, results);
    let pending = plan.pending();
    let drifted = plan.drifted();
    let partial = plan
        .items
        .iter()
        .filter(|i| matches!(i.state, State::Partial { .. } | State::Reverting { .. }))
        .count();
    results.push(with_details(
        result(
            "migrate.status",
            "migration status",
            if pending + drifted + partial == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            if pending + drifted + partial == 0 {
                "the database is up to date".to_string()
            } else {
                format!(
                    "{pending} pending, {drifted} changed after being applied, {partial} stopped part-way"
                )
            },
        ),
        json!({"pending": pending, "drifted": drifted, "partial": partial, "missing_files": plan.missing.len()}),
    ));
}

async fn report_dry_run(
    settings: &Settings,
    source: &Source,
    history: &History,
    plan: &Plan,
    conn: &mut sqlx::AnyConnection,
    results: &mut Vec<CheckResult>,
) {
    let exists = history.exists(conn).await.unwrap_or(false);
    if !exists {
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
    if let Some(dir) = &settings.target.backup
        && !plan.to_apply.is_empty()
    {
        results.push(result(
            "migrate.backup",
            "backup",
            Status::Skip,
            format!(
                "would back the database up into {} first (dry run)",
                dir.display()
            ),
        ));
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
