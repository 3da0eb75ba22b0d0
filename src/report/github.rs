//! GitHub Actions workflow commands and environment files, as text. Writing them is the job of
//! `crate::output`; this module only decides the bytes.
//!
//! Escaping follows the runner's decoder (actions/runner `ActionCommand.cs`): it decodes `%25`
//! last, so `%` is escaped first.

use std::fmt::Write;

use super::{CheckResult, Report, Status};

/// GitHub attaches at most this many annotations of one type to a step; the rest are dropped
/// silently.
pub const ANNOTATIONS_PER_TYPE: usize = 10;

/// GitHub refuses a step summary above 1 MiB whole, so what we append must stay below it.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::add-mask::` lines for every secret, so the runner masks them in the whole log.
pub fn add_mask_commands(secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| format!("::add-mask::{}\n", escape_data(s)))
        .collect()
}

/// `::error`/`::warning` annotations for the results that did not pass, the most important
/// first. Past GitHub's limit of ten per type, nine are shown and a tenth says how many more
/// the summary holds.
pub fn annotations(report: &Report) -> String {
    let problems = report.problems();
    let errors: Vec<&CheckResult> = problems
        .iter()
        .copied()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
        .collect();
    let warnings: Vec<&CheckResult> = problems
        .iter()
        .copied()
        .filter(|r| r.status == Status::Warn)
        .collect();
    let mut out = String::new();
    for (command, list, noun) in [
        ("error", errors, "failing"),
        ("warning", warnings, "warning"),
    ] {
        let shown = if list.len() > ANNOTATIONS_PER_TYPE {
            ANNOTATIONS_PER_TYPE - 1
        } else {
            list.len()
        };
        for r in &list[..shown] {
            out.push_str(&annotation(command, r));
        }
        let more = list.len() - shown;
        if more > 0 {
            let _ = writeln!(
                out,
                "::{command} title={}::{}",
                escape_property(&format!(
                    "shipgate {}: {more} more {noun} checks",
                    report.command
                )),
                escape_data(&format!(
                    "{more} more {noun} checks are not annotated here (GitHub shows {ANNOTATIONS_PER_TYPE} per step); \
                     the job summary and the JSON report list them all."
                ))
            );
        }
    }
    out
}

fn annotation(command: &str, r: &CheckResult) -> String {
    let mut props = Vec::new();
    if let Some(loc) = &r.location {
        props.push(format!("file={}", escape_property(&loc.file)));
        props.push(format!("line={}", loc.line));
        props.push(format!("col={}", loc.column));
    }
    props.push(format!("title={}", escape_property(&r.name)));
    let mut message = format!("{}: {}", r.id, r.message);
    if let Some(cmd) = &r.reproduce {
        let _ = write!(message, "\nreproduce: {cmd}");
    }
    format!(
        "::{command} {}::{}\n",
        props.join(","),
        escape_data(&message)
    )
}

/// The annotation for input that stopped the run before any check (exit code 2): the error as
/// displayed, placed on the config line when it has one.
pub fn input_error_annotation(message: &str, location: Option<&super::Location>) -> String {
    let mut props = Vec::new();
    if let Some(loc) = location {
        props.push(format!("file={}", escape_property(&loc.file)));
        props.push(format!("line={}", loc.line));
        props.push(format!("col={}", loc.column));
    }
    props.push(format!(
        "title={}",
        escape_property("shipgate: invalid input")
    ));
    format!("::error {}::{}\n", props.join(","), escape_data(message))
}

/// A `::warning` about the run itself (not a check), e.g. a GitHub API call that failed.
pub fn warning_annotation(title: &str, message: &str) -> String {
    format!(
        "::warning title={}::{}\n",
        escape_property(title),
        escape_data(message)
    )
}

/// The `$GITHUB_OUTPUT` entries of a run. Every value is written in the heredoc form with a
/// delimiter the caller makes random, so no value can end it early.
pub fn output_entries(report: &Report, report_path: Option<&str>, delimiter: &str) -> String {
    let s = &report.summary;
    let mut entries = vec![
        ("status", s.status.as_str().to_string()),
        ("passed", s.passed.to_string()),
        ("failed", (s.failed + s.errors).to_string()),
        ("warnings", s.warnings.to_string()),
    ];
    if let Some(path) = report_path {
        entries.push(("report", path.to_string()));
    }
    let mut out = String::new();
    for (name, value) in entries {
        debug_assert!(!value.contains(delimiter));
        let _ = write!(out, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    out
}

/// The Markdown to append to a step summary that already holds `existing` bytes: whole if it
/// fits under GitHub's limit, else cut at a line boundary with a note saying where the rest is.
pub fn step_summary(markdown: &str, existing: usize) -> String {
    const NOTE: &str = "\n\n> **Summary cut:** it would exceed GitHub's 1 MiB step-summary limit. \
                        The full report is in the JSON report (`report` output) and the job log.\n";
    let budget = STEP_SUMMARY_LIMIT.saturating_sub(existing);
    if markdown.len() < budget {
        return markdown.to_string();
    }
    if budget <= NOTE.len() + 1 {
        // Not even the note fits: adding anything would make GitHub drop the whole summary.
        return String::new();
    }
    let keep = budget - NOTE.len() - 1;
    let mut cut = keep.min(markdown.len());
    while !markdown.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = markdown[..cut].rfind('\n').unwrap_or(0);
    format!("{}{NOTE}", &markdown[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Location, sample};

    #[test]
    fn escaping_matches_the_runner() {
        assert_eq!(
            escape_data("100% done\r\nnext: a,b"),
            "100%25 done%0D%0Anext: a,b"
        );
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        // `%` first: a literal "%0A" must survive the round trip as text, not become a newline.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn annotation_carries_location_and_title() {
        let report = sample::report();
        let text = annotations(&report);
        assert!(text.contains(
            "::error file=shipgate.toml,line=7,col=1,title=database main tables::database.main.tables: missing table funds%0Areproduce: shipgate preflight --only database.main.tables\n"
        ), "{text}");
        assert!(text.starts_with("::error title=http api::"));
        assert!(text.contains("::warning title=redis cache::"));
    }

    #[test]
    fn caps_at_ten_per_type_with_a_note() {
        let mut report = sample::report();
        let template = report.results[2].clone();
        report.results = (0..14)
            .map(|i| {
                let mut r = template.clone();
                r.id = format!("path.p{i}");
                r.location = Some(Location {
                    file: "f.toml".into(),
                    line: i + 1,
                    column: 1,
                });
                r
            })
            .collect();
        let text = annotations(&report);
        assert_eq!(text.lines().count(), 10);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .contains("5 more failing checks")
        );
    }

    #[test]
    fn input_errors_are_annotated_on_their_line() {
        let location = Location {
            file: "ship.toml".into(),
            line: 3,
            column: 1,
        };
        assert_eq!(
            input_error_annotation(
                "ship.toml:3:1: unknown key `x`\n  help: did you mean `y`?",
                Some(&location)
            ),
            "::error file=ship.toml,line=3,col=1,title=shipgate%3A invalid input::ship.toml:3:1: unknown key `x`%0A  help: did you mean `y`?\n"
        );
    }

    #[test]
    fn outputs_use_heredoc() {
        let text = output_entries(&sample::report(), Some("/tmp/r.json"), "ghadelimiter_x");
        assert!(text.starts_with("status<<ghadelimiter_x\nfail\nghadelimiter_x\n"));
        assert!(text.contains("failed<<ghadelimiter_x\n2\nghadelimiter_x\n"));
        assert!(text.ends_with("report<<ghadelimiter_x\n/tmp/r.json\nghadelimiter_x\n"));
    }

    #[test]
    fn summary_is_cut_below_the_limit() {
        let line = "| row | with some text |\n";
        let big = line.repeat(STEP_SUMMARY_LIMIT / line.len() + 10);
        let cut = step_summary(&big, 1000);
        assert!(cut.len() + 1000 < STEP_SUMMARY_LIMIT);
        assert!(cut.contains("Summary cut"));
        assert_eq!(step_summary("small\n", 0), "small\n");
        assert_eq!(step_summary(&big, STEP_SUMMARY_LIMIT - 40), "");
    }
}
