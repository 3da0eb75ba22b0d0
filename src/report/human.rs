//! The terminal view: one row per result, details of failing results under their row, and a
//! closing line with the counts and the wall time.

use std::fmt::Write;

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{CheckResult, Report, RunStatus, Status};
use crate::units::format_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Only results that did not pass, and the closing line.
    Quiet,
    Normal,
    /// Details and the reproduce command of every result.
    Verbose,
}

#[derive(Clone, Copy, Debug)]
pub struct HumanOptions {
    pub color: bool,
    pub verbosity: Verbosity,
}

pub fn render(report: &Report, opts: HumanOptions) -> String {
    let rows: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| opts.verbosity != Verbosity::Quiet || r.status != Status::Pass)
        .collect();
    let mut out = String::new();
    if !rows.is_empty() {
        let mut builder = Builder::default();
        builder.push_record(["STATUS", "CHECK", "TIME", "MESSAGE"]);
        for r in &rows {
            let show_details =
                opts.verbosity == Verbosity::Verbose || r.status.fails_run(report.strict);
            let mut message = r.message.clone();
            if show_details {
                message.push_str(&detail_lines(r));
            }
            // Under `verify --watch` an id comes once per round.
            let check = match r.details.get(super::ROUND_KEY) {
                Some(round) => format!("{} #{round}", r.id),
                None => r.id.clone(),
            };
            builder.push_record([
                status_label(r.status).0.to_string(),
                check,
                format!("{}ms", r.duration_ms),
                message,
            ]);
        }
        let mut table = builder.build();
        table.with(Style::blank());
        // Laid out without colour, then painted: a table that measured escape codes would
        // parse every cell for them (most of the cost of a report of a thousand rows).
        let mut statuses = rows.iter().map(|r| r.status);
        for (i, line) in table.to_string().lines().enumerate() {
            // The message column is last: padding it only adds trailing blanks to every line.
            let line = line.trim_end();
            let starts_row = line
                .strip_prefix(' ')
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with(' '));
            let painted = match (opts.color, i) {
                (false, _) => line.to_string(),
                (true, 0) => paint(line, BOLD, true),
                (true, _) if starts_row => match statuses.next() {
                    Some(status) => paint_status(line, status),
                    None => line.to_string(),
                },
                (true, _) => line.to_string(),
            };
            let _ = writeln!(out, "{painted}");
        }
    }
    if let Some(sentence) = report.watch.as_ref().map(super::Watch::sentence) {
        let _ = writeln!(out, "{sentence}");
    }
    let closing = format!(
        "{}: {} in {}",
        report.command,
        counts_sentence(report),
        format_duration(std::time::Duration::from_millis(report.duration_ms))
    );
    let color = match report.summary.status {
        RunStatus::Pass => GREEN,
        RunStatus::Warn => YELLOW,
        RunStatus::Fail => RED,
    };
    let _ = writeln!(out, "{}", paint(&closing, color, opts.color));
    out
}

/// `1 failed, 2 warnings, 5 passed (8 checks)`: the counts that are not zero, worst first.
pub fn counts_sentence(report: &Report) -> String {
    summary_sentence(&report.summary)
}

/// [`counts_sentence`] of any summary (a round of `verify --watch`, …).
pub fn summary_sentence(s: &super::Summary) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if s.failed > 0 {
        parts.push(format!("{} failed", s.failed));
    }
    if s.errors > 0 {
        parts.push(plural(s.errors, "error", "errors"));
    }
    if s.warnings > 0 {
        parts.push(plural(s.warnings, "warning", "warnings"));
    }
    if s.skipped > 0 {
        parts.push(format!("{} skipped", s.skipped));
    }
    parts.push(format!("{} passed", s.passed));
    format!(
        "{} ({})",
        parts.join(", "),
        plural(s.total, "check", "checks")
    )
}

fn detail_lines(r: &CheckResult) -> String {
    let mut out = String::new();
    for (key, value) in &r.details {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(out, "\n  {key}: {value}");
    }
    if let Some(loc) = &r.location {
        let _ = write!(out, "\n  at {}:{}:{}", loc.file, loc.line, loc.column);
    }
    if let Some(cmd) = &r.reproduce {
        let _ = write!(out, "\n  reproduce: {cmd}");
    }
    out
}

const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RED_BOLD: &str = "\x1b[1;31m";

/// The label of a status and the style it is painted in.
fn status_label(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Pass => ("PASS", GREEN),
        Status::Warn => ("WARN", YELLOW),
        Status::Fail => ("FAIL", RED),
        Status::Error => ("ERROR", RED_BOLD),
        Status::Skip => ("SKIP", DIM),
    }
}

/// A row's first line with its status label painted.
fn paint_status(line: &str, status: Status) -> String {
    let (label, style) = status_label(status);
    let start = line.len() - line.trim_start().len();
    match line[start..].strip_prefix(label) {
        Some(rest) => format!("{}{}{rest}", &line[..start], paint(label, style, true)),
        None => line.to_string(),
    }
}

fn paint(text: &str, style: &str, color: bool) -> String {
    if color {
        format!("{style}{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(color: bool, verbosity: Verbosity) -> HumanOptions {
        HumanOptions { color, verbosity }
    }

    #[test]
    fn rows_details_and_closing_line() {
        let report = super::super::sample::report();
        let text = render(&report, opts(false, Verbosity::Normal));
        assert!(!text.contains('\x1b'), "no colour when asked for none");
        assert_eq!(text.lines().filter(|l| l.contains("PASS")).count(), 1);
        assert!(text.contains("missing: [\"funds\"]"));
        assert!(text.contains("at shipgate.toml:7:1"));
        let last = text.lines().last().unwrap();
        assert_eq!(
            last,
            "preflight: 1 failed, 1 error, 1 warning, 1 skipped, 1 passed (5 checks) in 1.5s"
        );
    }

    /// Colour is painted over the same layout: stripped of its escape codes, a coloured report
    /// is the plain one, and each row's label has its own status's colour.
    #[test]
    fn colour_changes_no_column() {
        let report = super::super::sample::report();
        let escape = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
        for verbosity in [Verbosity::Normal, Verbosity::Verbose] {
            let plain = render(&report, opts(false, verbosity));
            let coloured = render(&report, opts(true, verbosity));
            let stripped = escape.replace_all(&coloured, "");
            assert_eq!(stripped, plain);
            for label in [
                "\x1b[32mPASS\x1b[0m",
                "\x1b[31mFAIL\x1b[0m",
                "\x1b[33mWARN\x1b[0m",
                "\x1b[1;31mERROR\x1b[0m",
                "\x1b[2mSKIP\x1b[0m",
            ] {
                assert_eq!(coloured.matches(label).count(), 1, "{label} in\n{coloured}");
            }
            assert!(coloured.starts_with("\x1b[1m STATUS"), "{coloured}");
        }
    }

    #[test]
    fn quiet_hides_passing_rows_and_colour_marks_status() {
        let report = super::super::sample::report();
        let text = render(&report, opts(true, Verbosity::Quiet));
        assert!(!text.contains("env.DATABASE_URL"));
        assert!(text.contains("\x1b[31mFAIL\x1b[0m"));
    }
}
