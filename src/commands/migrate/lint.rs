//! `migrate`'s lint rows: the migrations to lint (pending, or every file with `--lint-all`),
//! the database asked about their tables, one row per finding and one summary row.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::json;

use super::resolve::{LintPlan, Settings};
use super::result;
use crate::commands::target::timed;
use crate::commands::with_details;
use crate::db::Backend;
use crate::migrate::lint::{self, Finding, Lintee, ScanAhead, Severity, Suppressed, SuppressedBy};
use crate::migrate::{Plan, Session, Source};
use crate::report::{CheckResult, Location, Status};

/// A rewrite longer than this is cut in the message (the whole of it is in the details).
const REWRITE_SHOWN: usize = 240;

/// The lint rows of a run that lints (nothing otherwise). `ahead`: the scan started when the
/// files were read (see [`ScanAhead`]).
pub(super) async fn lint_rows(
    settings: &Settings,
    ahead: Option<ScanAhead>,
    source: &Source,
    plan: &Plan,
    session: &mut Session,
    results: &mut Vec<CheckResult>,
) {
    let Some(lint_plan) = &settings.lint else {
        return;
    };
    let t = Instant::now();
    let backend = settings.target.backend;
    if backend != Backend::Postgres {
        let name = match backend {
            Backend::MySql => "MySQL and MariaDB",
            _ => "SQLite",
        };
        results.push(result(
            "migrate.lint",
            "lint",
            Status::Skip,
            format!(
                "not run: the lint applies to PostgreSQL only (Squawk's rules are PostgreSQL's \
                 locks and rewrites); {name} migrations are not linted"
            ),
        ));
        return;
    }
    let pending: HashSet<usize> = plan.to_apply.iter().map(|&i| plan.items[i].index).collect();
    let indices: Vec<usize> = (0..source.migrations.len())
        .filter(|i| lint_plan.all || pending.contains(i))
        .collect();
    let lintees: Vec<Lintee<'_>> = indices
        .iter()
        .map(|&i| Lintee {
            migration: &source.migrations[i],
            pending: pending.contains(&i),
        })
        .collect();
    if lintees.is_empty() {
        results.push(result(
            "migrate.lint",
            "lint",
            Status::Pass,
            "nothing to lint: no migration is pending (--lint-all lints every file)",
        ));
        return;
    }
    let conn = session.conn();
    let weighed = async {
        let version = lint::server_version(conn).await?;
        let pg_version = lint::pg_version(&version);
        let scan = match ahead {
            Some(ahead) => lint::assemble(lintees, ahead.finish(&indices, pg_version)),
            None => lint::scan(lintees, &lint_plan.settings, pg_version),
        };
        let facts = lint::read_facts(conn, &scan.tables()).await?;
        Ok::<_, crate::db::Error>((version, lint::weigh(scan, &facts, &lint_plan.settings)))
    }
    .await;
    let (version, linted) = match weighed {
        Ok(done) => done,
        Err(e) => {
            results.push(timed(
                result(
                    "migrate.lint",
                    "lint",
                    Status::Error,
                    format!("the lint could not ask the database about the tables: {e}"),
                ),
                t,
            ));
            return;
        }
    };
    push_rows(&linted, lint_plan.all, Some(&version), t, results);
}

/// `--lint` with no database given: every file up to the one at index `last`, as Squawk alone
/// judges it (no table to weigh a finding against, no history to tell the pending files).
pub(super) fn lint_rows_without_database(
    lint_plan: &LintPlan,
    source: &Source,
    last: usize,
    results: &mut Vec<CheckResult>,
) {
    let t = Instant::now();
    let lintees = source
        .migrations
        .iter()
        .take(last + 1)
        .map(|migration| Lintee {
            migration,
            pending: false,
        })
        .collect();
    let scan = lint::scan(lintees, &lint_plan.settings, None);
    let linted = lint::weigh(scan, &lint::Facts::default(), &lint_plan.settings);
    push_rows(&linted, true, None, t, results);
}

/// One row per finding (`lint.<version>.<rule>`, `.2` for a second of the same), then the
/// summary `migrate.lint`.
fn push_rows(
    linted: &lint::Linted,
    all: bool,
    version: Option<&str>,
    t: Instant,
    results: &mut Vec<CheckResult>,
) {
    let mut seen: Vec<String> = Vec::new();
    for f in &linted.findings {
        let base = format!("lint.{}.{}", f.version, f.rule);
        let repeat = seen.iter().filter(|s| **s == base).count();
        seen.push(base.clone());
        let id = match repeat {
            0 => base,
            n => format!("{base}.{}", n + 1),
        };
        results.push(finding_row(id, f));
    }
    results.push(timed(summary_row(linted, all, version), t));
}

fn finding_row(id: String, f: &Finding) -> CheckResult {
    let status = match f.severity {
        Severity::Pass => Status::Pass,
        Severity::Warn => Status::Warn,
        Severity::Fail => Status::Fail,
    };
    let mut message = sentence(&f.message);
    if let Some(help) = f.help.as_deref().filter(|_| f.severity != Severity::Pass) {
        message = format!("{message} {}", sentence(help));
    }
    if let Some(rewrite) = f
        .rewrite
        .as_deref()
        .filter(|_| f.severity != Severity::Pass)
    {
        message = format!("{message} Safe: `{}`", one_line(rewrite, REWRITE_SHOWN));
    }
    let mut details = json!({
            "migration": f.version,
            "rule": f.rule,
            "help": f.help,
            "rewrite": f.rewrite,
            "table": f.table,
            "table_rows": f.facts.as_ref().map(|t| t.rows),
            "table_bytes": f.facts.as_ref().map(|t| t.bytes),
            "rows_estimated": f.facts.as_ref().map(|t| t.estimated),
    });
    if let Some(map) = details.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let mut r = with_details(
        result(&id, &format!("{} {}", f.version, f.rule), status, message),
        details,
    );
    r.kind = "lint".into();
    r.location = Some(Location {
        file: f.path.display().to_string(),
        line: f.line,
        column: f.column,
    });
    r
}

fn summary_row(linted: &lint::Linted, all: bool, version: Option<&str>) -> CheckResult {
    let count = |s: Severity| linted.findings.iter().filter(|f| f.severity == s).count();
    let (fail, warn, pass) = (
        count(Severity::Fail),
        count(Severity::Warn),
        count(Severity::Pass),
    );
    let which = if all { "" } else { "pending " };
    let n = linted.migrations;
    let against = match version {
        Some(v) => format!("against PostgreSQL {v}"),
        None => "without a database (every file; give one to weigh the findings against its \
                 tables and lint only the pending migrations)"
            .to_string(),
    };
    let mut message = format!("linted {n} {which}migration{} {against}: ", plural(n));
    if linted.findings.is_empty() {
        message.push_str("no finding");
    } else {
        let mut parts = Vec::new();
        for (k, what) in [(fail, "fail"), (warn, "warn"), (pass, "pass")] {
            if k > 0 {
                parts.push(format!("{k} {what}"));
            }
        }
        message.push_str(&format!(
            "{} finding{} ({})",
            linted.findings.len(),
            plural(linted.findings.len()),
            parts.join(", ")
        ));
    }
    let by = |b: SuppressedBy| linted.suppressed.iter().filter(|s| s.by == b).count();
    let (comments, config) = (by(SuppressedBy::Comment), by(SuppressedBy::Config));
    if comments + config > 0 {
        let mut parts = Vec::new();
        if comments > 0 {
            parts.push(format!("{comments} by -- squawk-ignore"));
        }
        if config > 0 {
            parts.push(format!("{config} by [migrate.lint] ignore"));
        }
        message.push_str(&format!(
            "; {} suppressed ({})",
            comments + config,
            parts.join(", ")
        ));
    }
    with_details(
        result("migrate.lint", "lint", Status::Pass, message),
        json!({
            "migrations": n,
            "all_files": all,
            "server_version": version,
            "findings": {"fail": fail, "warn": warn, "pass": pass},
            "suppressed": linted.suppressed.iter().map(suppressed_detail).collect::<Vec<_>>(),
        }),
    )
}

fn suppressed_detail(s: &Suppressed) -> serde_json::Value {
    json!({
        "migration": s.version,
        "rule": s.rule,
        "file": s.path.display().to_string(),
        "line": s.line,
        "by": match s.by {
            SuppressedBy::Comment => "comment",
            SuppressedBy::Config => "config",
        },
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Squawk's help as a sentence: a capital and a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut s: String = text
        .chars()
        .next()
        .map(|c| c.to_uppercase().chain(text.chars().skip(1)).collect())
        .unwrap_or_default();
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// A statement on one line (runs of whitespace become one space), cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}
