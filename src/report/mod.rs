//! The one model every subcommand returns, and the renderers that turn it into text.
//! Renderers are pure functions `&Report -> String`: they do no I/O and read no environment.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod slack;

use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Redactor;

/// The `schema` field of every JSON report. Changing a field of [`Report`] is a breaking change.
pub const REPORT_SCHEMA: &str = "shipgate.report/v1";

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Pass,
    Skip,
    Warn,
    Fail,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }

    /// Whether this result makes the run fail (warnings only under `--strict`).
    pub fn fails_run(self, strict: bool) -> bool {
        match self {
            Status::Fail | Status::Error => true,
            Status::Warn => strict,
            Status::Pass | Status::Skip => false,
        }
    }
}

/// Where a result's cause is written: a config entry, a migration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Location {
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based.
    pub column: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Stable identifier, usable with `--only` and `--skip` (e.g. `database.main.tables`).
    pub id: String,
    pub name: String,
    /// The probe kind: `env`, `database`, `redis`, `path`, `http`, `tls`, `tool`, …
    pub kind: String,
    pub status: Status,
    pub duration_ms: u64,
    /// One sentence a person can act on.
    pub message: String,
    /// Structured facts behind the message (versions, latencies, missing names, …).
    pub details: serde_json::Map<String, serde_json::Value>,
    pub location: Option<Location>,
    /// The local command that re-runs just this check.
    pub reproduce: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub warnings: usize,
    pub skipped: usize,
    pub errors: usize,
    /// The run's verdict, which the exit code states.
    pub status: RunStatus,
}

/// The verdict of a whole run. A result may also be `skip` or `error`; a run is not: skipped
/// checks do not change it, and a check that errored fails it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Everything passed or was skipped; under `--strict`, no warnings either.
    #[default]
    Pass,
    /// Warnings and nothing worse, without `--strict`: the run passes (exit 0).
    Warn,
    /// A check failed or errored, or warned under `--strict` (exit 1).
    Fail,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        self.as_status().as_str()
    }

    /// The result status shown for the run (its icon and colour).
    pub fn as_status(self) -> Status {
        match self {
            RunStatus::Pass => Status::Pass,
            RunStatus::Warn => Status::Warn,
            RunStatus::Fail => Status::Fail,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Always `shipgate.report/v1`.
    pub schema: String,
    pub tool: ToolInfo,
    /// The subcommand: `preflight`, …
    pub command: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    pub duration_ms: u64,
    /// Whether warnings fail the run.
    pub strict: bool,
    /// The command line of the run, shell-quoted, without output options; secrets from
    /// variables as `"${NAME}"`, others masked. `shipgate rerun` runs it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<String>,
    pub summary: Summary,
    /// `verify --watch`: the schedule and each round that ran. The results of every round are
    /// in `results`, each with its round number in `details.round`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
    pub results: Vec<CheckResult>,
}

/// The key of a result's `details` that holds its round under `verify --watch` (1-based).
pub const ROUND_KEY: &str = "round";

/// `verify --watch DURATION --every DURATION`: the same checks run in rounds, the first at
/// once, then one every `every_ms` until `watch_ms` has passed; the first failing round ends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Watch {
    /// How long the checks are watched (`--watch`), in milliseconds.
    pub watch_ms: u64,
    /// The time between the starts of two rounds (`--every`), in milliseconds.
    pub every_ms: u64,
    /// The rounds the schedule holds: `watch_ms / every_ms + 1`.
    pub planned_rounds: u32,
    /// The round that failed, which ended the watch; none when every round passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_round: Option<u32>,
    /// Under `--dry-run` one round runs (sending nothing) and the others are only announced.
    pub dry_run: bool,
    /// Ctrl-C ended the watch early: `rounds` are those that finished (exit 130 when they
    /// passed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// The rounds that ran, in order.
    pub rounds: Vec<Round>,
}

/// One round of `verify --watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Round {
    /// 1-based.
    pub round: u32,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// The counts and verdict of this round's results alone.
    pub summary: Summary,
}

impl Round {
    /// `HH:MM:SS` (UTC) of `started_at`.
    pub fn clock(&self) -> &str {
        self.started_at.get(11..19).unwrap_or(&self.started_at)
    }
}

impl Watch {
    /// One sentence on how the watch went, for the renderers.
    pub fn sentence(&self) -> String {
        let every = crate::units::format_duration(Duration::from_millis(self.every_ms));
        let watch = crate::units::format_duration(Duration::from_millis(self.watch_ms));
        let schedule = format!("every {every} for {watch}");
        let ran = self.rounds.len();
        if self.dry_run {
            return format!(
                "watch: dry run: ran round 1 of {}; would repeat the checks {schedule}",
                self.planned_rounds
            );
        }
        if self.interrupted && self.failed_round.is_none() {
            return format!(
                "watch: interrupted after {ran}/{} rounds passed, {schedule}",
                self.planned_rounds
            );
        }
        match self
            .failed_round
            .and_then(|n| self.rounds.iter().find(|r| r.round == n))
        {
            Some(failed) => {
                let before = match failed.round {
                    1 => "the first round".to_string(),
                    2 => "after round 1 passed".to_string(),
                    n => format!("after rounds 1-{} passed", n - 1),
                };
                let first = if failed.round == 1 {
                    format!("failed in {before}")
                } else {
                    format!("failed in round {}, {before}", failed.round)
                };
                format!(
                    "watch: {first} (round {}/{} started at {} UTC; {schedule})",
                    failed.round,
                    self.planned_rounds,
                    failed.clock()
                )
            }
            None => format!(
                "watch: {ran}/{} rounds passed, {schedule}",
                self.planned_rounds
            ),
        }
    }
}

impl Report {
    pub fn new(
        command: &str,
        started: SystemTime,
        finished: SystemTime,
        strict: bool,
        results: Vec<CheckResult>,
    ) -> Report {
        let duration = finished.duration_since(started).unwrap_or(Duration::ZERO);
        Report {
            schema: REPORT_SCHEMA.to_string(),
            tool: ToolInfo {
                name: "shipgate".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            command: command.to_string(),
            started_at: humantime::format_rfc3339_millis(started).to_string(),
            finished_at: humantime::format_rfc3339_millis(finished).to_string(),
            duration_ms: duration.as_millis() as u64,
            strict,
            invocation: None,
            summary: Summary::of(&results, strict),
            watch: None,
            results,
        }
    }

    /// [`crate::exit::PASSED`] when the run passed (warnings allowed unless `--strict`),
    /// [`crate::exit::FAILED`] when a check failed or errored.
    pub fn exit_code(&self) -> u8 {
        if self.watch.as_ref().is_some_and(|w| w.interrupted)
            && self.summary.status != RunStatus::Fail
        {
            return crate::exit::INTERRUPTED;
        }
        match self.summary.status {
            RunStatus::Pass | RunStatus::Warn => crate::exit::PASSED,
            RunStatus::Fail => crate::exit::FAILED,
        }
    }

    /// Masks every known secret in every string of the report. Runs once, before any renderer.
    pub fn redact(&mut self, redactor: &Redactor) {
        self.invocation = self.invocation.as_deref().map(|s| redactor.redact(s));
        for r in &mut self.results {
            // Ids and file names come from config values too (`path = "/srv/${TOKEN}"`).
            r.id = redactor.redact(&r.id);
            if let Some(loc) = &mut r.location {
                loc.file = redactor.redact(&loc.file);
            }
            r.name = redactor.redact(&r.name);
            r.message = redactor.redact(&r.message);
            r.reproduce = r.reproduce.as_deref().map(|s| redactor.redact(s));
            let mut details = serde_json::Value::Object(std::mem::take(&mut r.details));
            redactor.redact_json(&mut details);
            if let serde_json::Value::Object(map) = details {
                r.details = map;
            }
        }
    }

    /// Results that did not pass, worst first, then in report order: what annotations show.
    pub fn problems(&self) -> Vec<&CheckResult> {
        let mut problems: Vec<&CheckResult> = self
            .results
            .iter()
            .filter(|r| matches!(r.status, Status::Warn | Status::Fail | Status::Error))
            .collect();
        problems.sort_by_key(|r| std::cmp::Reverse(r.status));
        problems
    }
}

impl Summary {
    pub fn of(results: &[CheckResult], strict: bool) -> Summary {
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        let (passed, failed, warnings, skipped, errors) = (
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Warn),
            count(Status::Skip),
            count(Status::Error),
        );
        let status = if failed + errors > 0 || (strict && warnings > 0) {
            RunStatus::Fail
        } else if warnings > 0 {
            RunStatus::Warn
        } else {
            RunStatus::Pass
        };
        Summary {
            total: results.len(),
            passed,
            failed,
            warnings,
            skipped,
            errors,
            status,
        }
    }
}

/// The JSON Schema of the report, as checked into `schemas/report.schema.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Report)).expect("schema serialises")
}

#[cfg(test)]
pub(crate) mod sample {
    use super::*;

    /// A report with one result of each status, used by the renderer tests.
    pub fn report() -> Report {
        let mk = |id: &str, status: Status, message: &str| CheckResult {
            id: id.into(),
            name: id.replace('.', " "),
            kind: id.split('.').next().unwrap().into(),
            status,
            duration_ms: 12,
            message: message.into(),
            details: serde_json::Map::new(),
            location: None,
            reproduce: Some(format!("shipgate preflight --only {id}")),
        };
        let mut fail = mk("database.main.tables", Status::Fail, "missing table funds");
        fail.details
            .insert("missing".into(), serde_json::json!(["funds"]));
        fail.location = Some(Location {
            file: "shipgate.toml".into(),
            line: 7,
            column: 1,
        });
        let results = vec![
            mk("env.DATABASE_URL", Status::Pass, "set"),
            mk(
                "redis.cache",
                Status::Warn,
                "PING took 150ms (warn above 100ms)",
            ),
            fail,
            mk(
                "database.main.extensions",
                Status::Skip,
                "skipped: database main is not reachable",
            ),
            mk(
                "http.api",
                Status::Error,
                "did not finish before the overall deadline",
            ),
        ];
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        Report::new(
            "preflight",
            t,
            t + Duration::from_millis(1500),
            false,
            results,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_exit_code() {
        let report = sample::report();
        assert_eq!(report.summary.failed, 1);
        assert_eq!(report.summary.errors, 1);
        assert_eq!(report.summary.status, RunStatus::Fail);
        assert_eq!(report.exit_code(), 1);
        // An errored check alone fails the run; skipped ones do not.
        let t = SystemTime::now();
        let only = |status: Status| {
            let mut r = report.results[0].clone();
            r.status = status;
            Report::new("verify", t, t, false, vec![r])
        };
        assert_eq!(only(Status::Error).summary.status, RunStatus::Fail);
        assert_eq!(only(Status::Error).exit_code(), crate::exit::FAILED);
        assert_eq!(only(Status::Skip).summary.status, RunStatus::Pass);
        assert_eq!(only(Status::Skip).exit_code(), crate::exit::PASSED);
        let warn_only: Vec<_> = report
            .results
            .iter()
            .filter(|r| r.status <= Status::Warn)
            .cloned()
            .collect();
        let t = SystemTime::now();
        assert_eq!(
            Report::new("preflight", t, t, false, warn_only.clone()).exit_code(),
            0
        );
        assert_eq!(
            Report::new("preflight", t, t, true, warn_only).exit_code(),
            1
        );
    }

    #[test]
    fn problems_worst_first() {
        let report = sample::report();
        let ids: Vec<_> = report.problems().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["http.api", "database.main.tables", "redis.cache"]);
    }
}
