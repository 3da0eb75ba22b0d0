//! The check engine: probes of every kind, run concurrently, each under its own timeout and all
//! inside the overall deadline. Results come back in the order the checks were given.
//!
//! A *unit* is one configured probe (one database, one directory). It reports one or more
//! *aspects* (the database is reachable; its tables exist; …). The first aspect is the
//! prerequisite of the others: when it fails, they are reported as skipped with the reason.

pub mod command;
pub mod compare;
pub mod database;
pub mod env;
pub mod expect;
pub mod http;
pub mod log;
pub mod metrics;
pub mod path;
pub mod prometheus;
pub mod redis;
pub mod redis_info;
pub mod retry;
pub mod sql;
pub mod sql_write;
pub mod tls;
pub mod tool;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::error::InputError;
use crate::report::{CheckResult, Location, Status};
use crate::units::format_duration;

/// One reported result of a unit: its id (for `--only`), its name (for people) and where it
/// is configured.
#[derive(Clone, Debug)]
pub struct Aspect {
    pub id: String,
    pub name: String,
    pub location: Option<Location>,
}

impl Aspect {
    pub fn new(id: impl Into<String>, name: impl Into<String>, location: Option<Location>) -> Self {
        Aspect {
            id: id.into(),
            name: name.into(),
            location,
        }
    }
}

/// The steps of a probe that reports several results (a database's connection, version, …).
pub trait AspectKind: Copy {
    /// What the step adds to the unit's id (`database.main` + `.version`); the first step,
    /// which stands for the unit, adds nothing.
    fn id_suffix(self) -> &'static str;
    /// The step in a result's name: `database main: server version`.
    fn title(self) -> &'static str;
}

impl Aspect {
    /// One aspect per step of a unit `KIND.NAME`, named `KIND LABEL: TITLE`.
    pub fn for_steps<A: AspectKind>(
        steps: &[A],
        kind: &str,
        name: &str,
        label: &str,
        location: Option<Location>,
    ) -> Vec<Aspect> {
        steps
            .iter()
            .map(|a| {
                Aspect::new(
                    format!("{kind}.{name}{}", a.id_suffix()),
                    format!("{kind} {label}: {}", a.title()),
                    location.clone(),
                )
            })
            .collect()
    }
}

/// What a probe found for one aspect.
#[derive(Clone, Debug)]
pub struct Finding {
    pub status: Status,
    pub message: String,
    pub details: Map<String, Value>,
    /// Time spent on this aspect alone, when the probe measured it.
    pub duration: Option<Duration>,
}

impl Finding {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Finding {
            status,
            message: message.into(),
            details: Map::new(),
            duration: None,
        }
    }

    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }

    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, message)
    }

    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, message)
    }

    pub fn skip(message: impl Into<String>) -> Self {
        Self::new(Status::Skip, message)
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn took(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// The reported result of this finding for `aspect`, which took `duration`.
    pub fn into_result(self, kind: &str, aspect: Aspect, duration: Duration) -> CheckResult {
        CheckResult {
            id: aspect.id,
            name: aspect.name,
            kind: kind.to_string(),
            status: self.status,
            duration_ms: duration.as_millis() as u64,
            message: self.message,
            details: self.details,
            location: aspect.location,
            reproduce: None,
        }
    }

    /// The status a measured value earns against warn and fail thresholds.
    pub fn graded<T: PartialOrd>(value: T, warn: T, fail: T) -> Status {
        if value > fail {
            Status::Fail
        } else if value > warn {
            Status::Warn
        } else {
            Status::Pass
        }
    }
}

/// Skipped findings for the aspects after a failed prerequisite.
pub fn skipped_after(reason: &str, count: usize) -> Vec<Finding> {
    (0..count)
        .map(|_| Finding::skip(format!("skipped: {reason}")))
        .collect()
}

/// What a unit probes, with every value already resolved.
#[derive(Debug)]
pub enum Probe {
    Env(env::EnvProbe),
    Database(database::DatabaseProbe),
    Redis(redis::RedisProbe),
    Path(path::PathProbe),
    Http(http::HttpProbe),
    Tls(tls::TlsProbe),
    Tool(tool::ToolProbe),
    Command(command::CommandProbe),
    Sql(sql::SqlProbe),
    SqlWrite(sql_write::SqlWriteProbe),
    RedisCommand(redis::RedisCommandProbe),
    Metrics(metrics::MetricsProbe),
    Prometheus(prometheus::PrometheusProbe),
    Log(log::LogProbe),
}

impl Probe {
    /// Under `--dry-run`: what this probe would do, for probes that would reach out (send a
    /// request, connect, run a program); `None` for those that only read local state
    /// (variables, directories without creating them, log files), which run as usual; a log
    /// read from a command's output is described, its command not run.
    pub fn dry_run(&self) -> Option<Finding> {
        let would = |message: String| {
            Some(Finding::skip(format!("dry run: would {message}")).detail("dry_run", true))
        };
        match self {
            Probe::Env(_) | Probe::Path(_) => None,
            Probe::Log(p) => p.would(),
            Probe::Http(p) => Some(p.would()),
            Probe::Metrics(p) => Some(p.request.would()),
            Probe::Prometheus(p) => Some(p.would()),
            Probe::Database(p) => would(format!("connect to {}", p.shown_url)),
            Probe::Redis(p) => would(format!("connect to {}", p.shown_url)),
            Probe::Tls(p) => would(format!(
                "connect to {}:{} and read its certificate",
                p.host, p.port
            )),
            Probe::Tool(p) => would(format!("run `{}`", p.command.join(" "))),
            Probe::Command(p) => Some(p.would()),
            Probe::Sql(p) => would(format!(
                "run `{}` on {}",
                expect::excerpt(&one_line(&p.query), 120),
                p.shown_url
            )),
            Probe::RedisCommand(p) => {
                would(format!("send `{}` to {}", p.command.join(" "), p.shown_url))
            }
            Probe::SqlWrite(p) => would(format!(
                "run `{}` on {} and commit",
                expect::excerpt(&one_line(&p.sql), 120),
                p.shown_url
            )),
        }
    }

    async fn run(&self, ctx: &Context, aspects: usize) -> Vec<Finding> {
        match self {
            Probe::Env(p) => p.run(),
            Probe::Database(p) => p.run(aspects).await,
            Probe::Redis(p) => p.run(aspects).await,
            Probe::Path(p) => p.run(ctx).await,
            Probe::Http(p) => vec![p.run(ctx).await],
            Probe::Tls(p) => vec![p.run().await],
            Probe::Tool(p) => vec![p.run().await],
            Probe::Command(p) => vec![p.run().await],
            Probe::Sql(p) => vec![p.run(&ctx.sql).await],
            Probe::SqlWrite(p) => vec![p.run().await],
            Probe::RedisCommand(p) => vec![p.run().await],
            Probe::Metrics(p) => vec![p.run(ctx).await],
            Probe::Prometheus(p) => vec![p.run(ctx).await],
            Probe::Log(p) => vec![p.run().await],
        }
    }
}

/// SQL (or PromQL) as one line, for a message.
pub(crate) fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug)]
pub struct Unit {
    pub kind: &'static str,
    /// The first is the prerequisite of the rest.
    pub aspects: Vec<Aspect>,
    pub timeout: Duration,
    pub probe: Probe,
    /// Units (by index, always earlier ones) that must pass before this one starts.
    pub needs: Vec<usize>,
}

/// What every probe may share: one HTTP client, the dry-run switch, the captured values.
#[derive(Clone, Debug)]
pub struct Context {
    pub http: reqwest::Client,
    /// Change nothing (no directory is created).
    pub dry_run: bool,
    pub captured: Captured,
    /// Database connections SQL checks share.
    pub sql: crate::db::SharedConnections,
}

/// Values checks captured (`capture = { token = "$.access_token" }`), by name, for the checks
/// that need them as `${captured.token}`. They are treated as secrets: tokens, mostly.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<HashMap<String, String>>>);

impl Captured {
    pub fn insert(&self, name: &str, value: String) {
        self.lock().insert(name.to_string(), value);
    }

    /// Every `${captured.NAME}` replaced by its value, written by `encode`; one not captured
    /// (yet) stays as written.
    pub fn fill(&self, text: &str, encode: fn(&str) -> String) -> String {
        let values = self.lock();
        let mut out = text.to_string();
        for (name, value) in values.iter() {
            let placeholder = format!("${{{}{name}}}", crate::config::interp::CAPTURED);
            if out.contains(&placeholder) {
                out = out.replace(&placeholder, &encode(value));
            }
        }
        out
    }

    pub fn values(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Names only: the values are secrets.
impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.lock().keys()).finish()
    }
}

/// `--only` and `--skip`: an id selects itself and everything below it (`database` selects
/// `database.main` and `database.main.tables`).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl Selection {
    fn matches(pattern: &str, id: &str) -> bool {
        id == pattern
            || id
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.'))
    }

    pub fn selects(&self, id: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| Self::matches(p, id)))
            && !self.skip.iter().any(|p| Self::matches(p, id))
    }

    /// Refuses an `--only` that names no check: a typo must not turn into a green run.
    pub fn validate(&self, units: &[Unit]) -> Result<(), InputError> {
        let ids: Vec<&str> = units
            .iter()
            .flat_map(|u| u.aspects.iter().map(|a| a.id.as_str()))
            .collect();
        self.validate_ids(&ids)
    }

    /// Refuses an `--only`/`--skip` that names no result id, or that leaves nothing selected.
    pub fn validate_ids(&self, ids: &[&str]) -> Result<(), InputError> {
        for pattern in self.only.iter().chain(&self.skip) {
            if !ids.iter().any(|id| Self::matches(pattern, id)) {
                let mut err = InputError::new(format!("no check has the id `{pattern}`"));
                err = match crate::error::did_you_mean(pattern, ids.iter().copied()) {
                    Some(near) => err.help(format!("did you mean `{near}`?")),
                    None => err.help(format!("the check ids are: {}", ids.join(", "))),
                };
                return Err(err);
            }
        }
        if !ids.is_empty() && !ids.iter().any(|id| self.selects(id)) {
            return Err(InputError::new("--only and --skip leave no check to run")
                .help(format!("the check ids are: {}", ids.join(", "))));
        }
        Ok(())
    }
}

/// Runs every selected unit concurrently and returns their results in unit order. A unit
/// starts once the units it needs have passed, and is skipped when one did not; a unit needed
/// by a selected one runs (and is reported) even when not selected itself.
pub async fn run_all(
    units: Vec<Unit>,
    selection: &Selection,
    ctx: Context,
    deadline: Duration,
) -> Vec<CheckResult> {
    let ctx = Arc::new(ctx);
    let started = Instant::now();
    let mut wanted: Vec<bool> = units
        .iter()
        .map(|u| u.aspects.iter().any(|a| selection.selects(&a.id)))
        .collect();
    // `--only` pulls in what a selected check needs; `--skip` is obeyed: a check whose need it
    // leaves out is skipped, not run against something that was never set up.
    let not_skipped = Selection {
        only: Vec::new(),
        skip: selection.skip.clone(),
    };
    let mut forced = vec![false; units.len()];
    let mut blocked: Vec<Option<String>> = vec![None; units.len()];
    // Needs point backwards, so one pass from the end reaches every transitive need.
    for i in (0..units.len()).rev() {
        if !wanted[i] {
            continue;
        }
        let left_out = units[i]
            .needs
            .iter()
            .find(|&&j| !wanted[j] && !not_skipped.selects(&units[j].aspects[0].id));
        if let Some(&j) = left_out {
            blocked[i] = Some(format!(
                "needs {}, which --skip leaves out",
                units[j].aspects[0].id
            ));
            continue;
        }
        for &j in &units[i].needs {
            if !wanted[j] {
                wanted[j] = true;
                forced[j] = true;
            }
        }
    }
    let mut new_index = vec![usize::MAX; units.len()];
    let mut kept = Vec::new();
    for (i, mut unit) in units.into_iter().enumerate() {
        if wanted[i] {
            if blocked[i].is_some() {
                unit.needs.clear();
            }
            unit.needs = unit.needs.iter().map(|&j| new_index[j]).collect();
            new_index[i] = kept.len();
            kept.push((Arc::new(unit), forced[i], blocked[i].take()));
        }
    }
    // Each unit announces whether it passed; dependents wait for that.
    let (senders, receivers): (Vec<_>, Vec<_>) = kept
        .iter()
        .map(|_| tokio::sync::watch::channel(None::<bool>))
        .unzip();
    let tasks: Vec<_> = kept
        .iter()
        .zip(senders)
        .map(|((unit, _, blocked), done)| {
            let (unit, ctx, blocked) = (Arc::clone(unit), Arc::clone(&ctx), blocked.clone());
            let needs: Vec<(String, tokio::sync::watch::Receiver<Option<bool>>)> = unit
                .needs
                .iter()
                .map(|&j| (kept[j].0.aspects[0].id.clone(), receivers[j].clone()))
                .collect();
            tokio::spawn(async move {
                if let Some(reason) = blocked {
                    let _ = done.send(Some(false));
                    return (Ok(skipped_after(&reason, unit.aspects.len())), Duration::ZERO);
                }
                // A dry run describes what would reach out instead of doing it, whatever it
                // needs: its needs were not run either.
                if ctx.dry_run && let Some(would) = unit.probe.dry_run() {
                    let _ = done.send(Some(false));
                    let rest = skipped_after("dry run", unit.aspects.len() - 1);
                    return (Ok(std::iter::once(would).chain(rest).collect()), Duration::ZERO);
                }
                for (id, mut rx) in needs {
                    let passed = matches!(rx.wait_for(Option::is_some).await.as_deref(), Ok(Some(true)));
                    if !passed {
                        let _ = done.send(Some(false));
                        let reason = format!("needs {id}, which did not pass");
                        return (Ok(skipped_after(&reason, unit.aspects.len())), Duration::ZERO);
                    }
                }
                let begun = Instant::now();
                let findings =
                    tokio::time::timeout(unit.timeout, unit.probe.run(&ctx, unit.aspects.len()))
                        .await;
                // Passed: every aspect (the tables of a database, not only its connection), and
                // the first one was not skipped.
                let passed = matches!(&findings, Ok(f) if f.first().is_some_and(|first| first.status != Status::Skip)
                    && f.iter().all(|f| !f.status.fails_run(false)));
                let _ = done.send(Some(passed));
                (findings, begun.elapsed())
            })
        })
        .collect();

    let mut results = Vec::new();
    let overall = tokio::time::sleep(deadline);
    tokio::pin!(overall);
    for ((unit, forced, _), mut task) in kept.iter().zip(tasks) {
        // Biased: a check that finished in time is reported even once the deadline has passed.
        let outcome = tokio::select! {
            biased;
            joined = &mut task => Some(joined),
            _ = &mut overall => None,
        };
        let findings = match outcome {
            Some(Ok((Ok(findings), elapsed))) => complete(unit, findings, elapsed),
            Some(Ok((Err(_), elapsed))) => timed_out(unit, elapsed),
            Some(Err(join_error)) => {
                let message = format!("the check crashed: {join_error}");
                let mut f = vec![Finding::new(Status::Error, message)];
                f.extend(skipped_after(
                    &format!("{} crashed", unit.aspects[0].id),
                    unit.aspects.len() - 1,
                ));
                f.into_iter().map(|f| (f, started.elapsed())).collect()
            }
            None => {
                task.abort();
                let message = format!(
                    "did not finish before the overall deadline of {} (raise --timeout, or lower this check's timeout)",
                    format_duration(deadline)
                );
                let reason = format!("{} was cut off by the overall deadline", unit.aspects[0].id);
                std::iter::once(Finding::new(Status::Error, message))
                    .chain(skipped_after(&reason, unit.aspects.len() - 1))
                    .map(|f| (f, started.elapsed()))
                    .collect()
            }
        };
        let shown = if *forced { &not_skipped } else { selection };
        results.extend(to_results(unit, findings, shown));
    }
    results
}

/// Pads or trims a probe's findings to its aspects, so every declared aspect is reported once.
fn complete(
    unit: &Unit,
    mut findings: Vec<Finding>,
    elapsed: Duration,
) -> Vec<(Finding, Duration)> {
    findings.truncate(unit.aspects.len());
    while findings.len() < unit.aspects.len() {
        findings.push(Finding::skip("skipped: not reached"));
    }
    findings
        .into_iter()
        .map(|f| {
            let d = f.duration.unwrap_or(elapsed);
            (f, d)
        })
        .collect()
}

fn timed_out(unit: &Unit, elapsed: Duration) -> Vec<(Finding, Duration)> {
    let first = Finding::fail(format!(
        "no answer within {} (the check's timeout)",
        format_duration(unit.timeout)
    ))
    .detail("timeout_ms", unit.timeout.as_millis() as u64);
    let reason = format!("{} timed out", unit.aspects[0].id);
    std::iter::once(first)
        .chain(skipped_after(&reason, unit.aspects.len() - 1))
        .map(|f| (f, elapsed))
        .collect()
}

/// Keeps the selected aspects; keeps the prerequisite too when a selected aspect was skipped
/// because of it, so `--only database.main.tables` shows why it could not run.
fn to_results(
    unit: &Unit,
    findings: Vec<(Finding, Duration)>,
    selection: &Selection,
) -> Vec<CheckResult> {
    let prerequisite_needed = findings
        .iter()
        .zip(&unit.aspects)
        .skip(1)
        .any(|((f, _), a)| selection.selects(&a.id) && f.status == Status::Skip)
        && findings[0].0.status.fails_run(false);
    findings
        .into_iter()
        .zip(&unit.aspects)
        .enumerate()
        .filter(|(i, (_, a))| selection.selects(&a.id) || (*i == 0 && prerequisite_needed))
        .map(|(_, ((finding, duration), aspect))| {
            finding.into_result(unit.kind, aspect.clone(), duration)
        })
        .collect()
}

/// Aspect ids are `kind.name[.aspect]`; names from config become id-safe here.
pub fn id_part(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() {
        "unnamed".into()
    } else {
        trimmed.to_string()
    }
}

/// What to start for `program`, run without a shell. On Unix, the name itself (the OS searches
/// PATH). On Windows, the PATH entry found with PATHEXT, as a shell would: std only tries
/// `.exe`, so `npm` (which is `npm.cmd`) would otherwise be "not found"; a name that resolves to
/// nothing is passed on unchanged, to fail as before.
pub(crate) fn program_to_run(program: &str) -> std::ffi::OsString {
    #[cfg(windows)]
    return resolve_in(program, std::env::var_os("PATH"));
    #[cfg(not(windows))]
    program.into()
}

#[cfg(windows)]
fn resolve_in(program: &str, path: Option<std::ffi::OsString>) -> std::ffi::OsString {
    let cwd = std::env::current_dir().unwrap_or_default();
    match which::which_in(program, path, cwd) {
        Ok(found) => found.into_os_string(),
        Err(_) => program.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(windows)]
    #[test]
    fn a_cmd_script_on_path_is_run_by_its_full_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fake-npm.cmd"), "@echo 10.0.0\r\n").unwrap();
        let path = Some(dir.path().as_os_str().to_owned());
        let found = std::path::PathBuf::from(resolve_in("fake-npm", path.clone()));
        // PATHEXT may give the extension in capitals: Windows names are case-insensitive.
        assert_eq!(found.parent(), Some(dir.path()));
        let name = found.file_name().unwrap().to_string_lossy().to_lowercase();
        assert_eq!(name, "fake-npm.cmd");
        assert_eq!(resolve_in("no-such-tool", path), "no-such-tool");
    }

    #[test]
    fn selection_by_prefix() {
        let s = Selection {
            only: vec!["database".into()],
            skip: vec!["database.main.latency".into()],
        };
        assert!(s.selects("database.main"));
        assert!(s.selects("database.main.tables"));
        assert!(!s.selects("database.main.latency"));
        assert!(!s.selects("databases.x"));
        assert!(!s.selects("redis.cache"));
    }

    #[test]
    fn grading() {
        assert_eq!(Finding::graded(50, 100, 500), Status::Pass);
        assert_eq!(Finding::graded(150, 100, 500), Status::Warn);
        assert_eq!(Finding::graded(501, 100, 500), Status::Fail);
    }

    #[test]
    fn id_parts() {
        assert_eq!(id_part("api.example.com"), "api-example-com");
        assert_eq!(id_part("lp-reports"), "lp-reports");
        assert_eq!(id_part("///"), "unnamed");
    }
}
