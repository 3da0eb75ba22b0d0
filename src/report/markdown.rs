//! GitHub-flavoured Markdown for job summaries, PR comments and check runs: what did not pass
//! first (a table, then a section for each failure), and every other row folded into a
//! `<details>` block, so a 100-check run shows its 2 failures on top.

use std::fmt::Write;

use super::{CheckResult, Report, Status};

pub fn render(report: &Report) -> String {
    let parts = Parts::of(report);
    let mut out = parts.head;
    out.push_str(&parts.problems);
    for section in &parts.sections {
        out.push_str(section);
    }
    out.push_str(&parts.rest);
    out
}

/// The Markdown in at most `limit` bytes (GitHub caps a comment at 65,536 characters and a
/// check run's summary at 65,535): when the whole does not fit, the folded rows go first, then
/// failure sections from the last, each replaced by a line saying what was left out and where
/// it is. The head and the table of problems are kept (cut row by row only if they alone are
/// too long).
pub fn render_within(report: &Report, limit: usize) -> String {
    let whole = render(report);
    if whole.len() <= limit {
        return whole;
    }
    let parts = Parts::of(report);
    let note = |what: String| {
        format!(
            "\n> **Cut to fit GitHub's size limit:** {what} are in the job summary and the JSON report.\n"
        )
    };
    let rest_note = if parts.rest.is_empty() {
        String::new()
    } else {
        note(format!("{} other rows", parts.rest_rows))
    };
    let mut kept = parts.sections.len();
    loop {
        let dropped = parts.sections.len() - kept;
        let sections_note = if dropped == 0 {
            String::new()
        } else {
            note(format!("the details of {dropped} more failures"))
        };
        let mut out = format!("{}{}", parts.head, parts.problems);
        for section in &parts.sections[..kept] {
            out.push_str(section);
        }
        out.push_str(&sections_note);
        out.push_str(&rest_note);
        if out.len() <= limit {
            return out;
        }
        if kept == 0 {
            return cut_lines(&out, limit);
        }
        kept -= 1;
    }
}

/// Whole lines of `text` up to `limit` bytes, and a last line saying it was cut.
fn cut_lines(text: &str, limit: usize) -> String {
    const NOTE: &str = "\n> **Cut to fit GitHub's size limit:** the rest is in the job summary and the JSON report.\n";
    let budget = limit.saturating_sub(NOTE.len());
    let mut end = 0;
    for (i, _) in text.match_indices('\n') {
        if i + 1 > budget {
            break;
        }
        end = i + 1;
    }
    format!("{}{NOTE}", &text[..end])
}

/// The report's Markdown in the pieces `render_within` may drop.
struct Parts {
    head: String,
    /// The table of what did not pass (empty when everything passed).
    problems: String,
    /// One section per result that fails the run.
    sections: Vec<String>,
    /// The other rows in a `<details>` block (open when nothing failed: then it is the report).
    rest: String,
    rest_rows: usize,
}

impl Parts {
    fn of(report: &Report) -> Parts {
        let head = format!(
            "### {} shipgate {}: {}\n\n",
            icon(report.summary.status.as_status()),
            report.command,
            super::human::counts_sentence(report)
        );
        let head = match &report.watch {
            // Under `verify --watch`: which round failed and when, or that all passed.
            Some(watch) => format!("{head}{}\n\n", inline(&watch.sentence())),
            None => head,
        };
        let problems: Vec<&CheckResult> = report.problems();
        let mut table = String::new();
        if !problems.is_empty() {
            table.push_str(TABLE_HEAD);
            for r in &problems {
                row(&mut table, r);
            }
        }
        let sections = report
            .results
            .iter()
            .filter(|r| r.status.fails_run(report.strict))
            .map(|r| {
                let mut s = String::new();
                section(&mut s, r);
                s
            })
            .collect();
        let others: Vec<&CheckResult> = report
            .results
            .iter()
            .filter(|r| matches!(r.status, Status::Pass | Status::Skip))
            .collect();
        let mut rest = String::new();
        if !others.is_empty() {
            let passed = others.iter().filter(|r| r.status == Status::Pass).count();
            let skipped = others.len() - passed;
            let mut label = vec![format!("{passed} passed")];
            if skipped > 0 {
                label.push(format!("{skipped} skipped"));
            }
            let open = if problems.is_empty() { " open" } else { "" };
            let _ = write!(
                rest,
                "\n<details{open}><summary>{}</summary>\n\n{TABLE_HEAD}",
                label.join(", ")
            );
            for r in &others {
                row(&mut rest, r);
            }
            rest.push_str("\n</details>\n");
        }
        Parts {
            head,
            problems: table,
            sections,
            rest,
            rest_rows: others.len(),
        }
    }
}

const TABLE_HEAD: &str = "| Status | Check | Time | Message |\n|---|---|---:|---|\n";

fn row(out: &mut String, r: &CheckResult) {
    let _ = writeln!(
        out,
        "| {} {} | `{}` | {} ms | {} |",
        icon(r.status),
        r.status.as_str(),
        code_cell(&r.id),
        r.duration_ms,
        cell(&r.message)
    );
}

fn section(out: &mut String, r: &CheckResult) {
    let _ = writeln!(
        out,
        "\n#### {} `{}`: {}\n\n{}\n",
        icon(r.status),
        code_cell(&r.id),
        inline(&r.name),
        inline(&r.message)
    );
    for (key, value) in &r.details {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = writeln!(out, "- **{}**: `{}`", inline(key), code_cell(&value));
    }
    if let Some(loc) = &r.location {
        let _ = writeln!(
            out,
            "- **where**: `{}:{}:{}`",
            code_cell(&loc.file),
            loc.line,
            loc.column
        );
    }
    if let Some(cmd) = &r.reproduce {
        let _ = writeln!(out, "\nReproduce locally:\n\n```sh\n{cmd}\n```");
    }
}

fn icon(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Warn => "⚠️",
        Status::Fail => "❌",
        Status::Error => "💥",
        Status::Skip => "⏭️",
    }
}

/// Text in a table cell: no line breaks, no column separators, no raw HTML.
fn cell(s: &str) -> String {
    inline(s).replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// Text inside backticks in a table: a backtick or pipe would end the span or the cell.
fn code_cell(s: &str) -> String {
    s.replace('`', "'")
        .replace('|', "¦")
        .replace(['\r', '\n'], " ")
}

/// Prose outside tables: GitHub renders raw HTML, so angle brackets and ampersands are escaped.
fn inline(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_first_and_the_rest_folded() {
        let md = render(&super::super::sample::report());
        assert!(md.starts_with("### ❌ shipgate preflight: "));
        let problems_table = md.find("| 💥 error | `http.api`").expect("problem row");
        let details = md
            .find("<details><summary>1 passed, 1 skipped</summary>")
            .expect("folded rest:\n{md}");
        assert!(problems_table < details);
        assert!(md.contains("#### ❌ `database.main.tables`"));
        assert!(md.contains("#### 💥 `http.api`"));
        assert!(
            !md.contains("#### ⚠️"),
            "warnings get no section unless strict"
        );
        assert!(md.contains("- **where**: `shipgate.toml:7:1`"));
        assert!(md.contains("```sh\nshipgate preflight --only database.main.tables\n```"));
        assert!(md.trim_end().ends_with("</details>"));
    }

    #[test]
    fn a_hundred_checks_show_their_two_failures_on_top() {
        let mut report = super::super::sample::report();
        let pass = report
            .results
            .iter()
            .find(|r| r.status == Status::Pass)
            .unwrap()
            .clone();
        let fail = report
            .results
            .iter()
            .find(|r| r.status == Status::Fail)
            .unwrap()
            .clone();
        report.results = (0..100)
            .map(|i| {
                let mut r = if i == 40 || i == 77 {
                    fail.clone()
                } else {
                    pass.clone()
                };
                r.id = format!("check.n{i}");
                r
            })
            .collect();
        report.summary = super::super::Summary::of(&report.results, false);
        let md = render(&report);
        let before_details = &md[..md.find("<details>").unwrap()];
        assert_eq!(
            before_details.matches("| ❌ fail |").count(),
            2,
            "{before_details}"
        );
        assert_eq!(before_details.matches("| ✅ pass |").count(), 0);
        assert!(md.contains("<details><summary>98 passed</summary>"));
    }

    #[test]
    fn everything_passing_is_shown_open() {
        let mut report = super::super::sample::report();
        report.results.retain(|r| r.status == Status::Pass);
        report.summary = super::super::Summary::of(&report.results, false);
        let md = render(&report);
        assert!(
            md.contains("<details open><summary>1 passed</summary>"),
            "{md}"
        );
    }

    #[test]
    fn render_within_drops_the_folded_rows_then_sections_and_says_so() {
        let mut report = super::super::sample::report();
        let template = report.results[2].clone();
        for i in 0..200 {
            let mut r = template.clone();
            r.id = format!("ok.n{i}");
            r.status = Status::Pass;
            report.results.push(r);
        }
        report.summary = super::super::Summary::of(&report.results, false);
        let whole = render(&report);
        assert_eq!(render_within(&report, whole.len()), whole);
        let small = render_within(&report, 2_000);
        assert!(small.len() <= 2_000, "{}", small.len());
        assert!(small.contains("| 💥 error | `http.api`"), "{small}");
        assert!(
            small.contains("other rows are in the job summary"),
            "{small}"
        );
        let tiny = render_within(&report, 700);
        assert!(tiny.len() <= 700, "{}", tiny.len());
        assert!(tiny.contains("Cut to fit GitHub's size limit"), "{tiny}");
        assert!(tiny.starts_with("### ❌ shipgate preflight"));
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc <script>"), "a\\|b c &lt;script&gt;");
    }
}
