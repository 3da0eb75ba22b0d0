//! `shipgate migrate`: reads the migrations and the history, decides, and applies under a lock.
//! Glue: the work is in `crate::migrate`; this file turns its answers into the Report.

use std::time::{Instant, SystemTime};

use serde_json::json;

mod rows;

use super::target::{
    Target, connect, deadline_result, refuse_own_transaction, refuse_selection, resolve_target,
    take_backup, timed,
};
use super::{Inputs, Outcome, with_details};
use crate::cli::{GlobalArgs, MigrateArgs};
use crate::config::Resolver;
use crate::db::{self, Backend};
use crate::error::InputError;
use crate::migrate::{self as engine, History, Plan, Row, Session, SessionError, Source, step};
use crate::report::{CheckResult, Status};
use crate::secret::Secret;
use crate::units::format_duration;
use rows::{View, report_check, report_dry_run, report_items};

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
    let mut session = match connect(target).await {
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

/// `--accept-checksum` and `--mark-resolved`: audited changes of the history, never a hand edit.
/// The first one given is done (a repair is its own run).
async fn admin_update(
    conn: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &Source,
    history: &History,
    applied_by: &str,
) -> Option<CheckResult> {
    let (accept, version) = match (&settings.accept_checksum, &settings.mark_resolved) {
        (Some(version), _) => (true, version),
        (None, Some(version)) => (false, version),
        (None, None) => return None,
    };
    let (flag, id, name) = if accept {
        (
            "--accept-checksum",
            "migrate.accept-checksum",
            "accept checksum",
        )
    } else {
        ("--mark-resolved", "migrate.mark-resolved", "mark resolved")
    };
    let row = |status, message: String| Some(result(id, name, status, message));
    let Some(m) = engine::find(source, version).map(|i| &source.migrations[i]) else {
        return row(
            Status::Fail,
            format!("{flag} {version}: no migration file has that version"),
        );
    };
    let at = humantime::format_rfc3339_seconds(SystemTime::now());
    let reason = &settings.reason;
    let written = if accept {
        let entry = format!(
            "[{at}] checksum {} accepted by {applied_by}: {reason}",
            m.checksum
        );
        history
            .accept_checksum(conn, &m.version, &m.checksum, &entry)
            .await
    } else {
        let entry = format!("[{at}] partial migration marked resolved by {applied_by}: {reason}");
        history.mark_resolved(conn, &m.version, &entry).await
    };
    match written {
        Ok(true) if accept => row(
            Status::Pass,
            format!(
                "{} now records the checksum of {} ({reason})",
                m.version,
                m.up.path.display()
            ),
        ),
        Ok(true) => row(
            Status::Pass,
            format!("{} is recorded as resolved ({reason})", m.version),
        ),
        Ok(false) if accept => row(
            Status::Fail,
            format!("{flag} {version}: it is not applied, so there is nothing to accept"),
        ),
        Ok(false) => row(
            Status::Fail,
            format!("{flag} {version}: it has no history row"),
        ),
        Err(e) => row(Status::Fail, e),
    }
}

async fn read_rows(conn: &mut sqlx::AnyConnection, history: &History) -> Result<Vec<Row>, String> {
    if history.exists(conn).await? {
        history.rows(conn).await
    } else {
        Ok(Vec::new())
    }
}

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
        match engine::record_initial(
            conn,
            settings.baseline.as_deref(),
            source,
            history,
            &applied_by,
        )
        .await
        {
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
