//! GitHub-flavoured Markdown for job summaries and PR comments: a table of every result and a
//! section for each one that failed.

use std::fmt::Write;

use super::{CheckResult, Report, Status};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {} shipgate {}: {}\n",
        icon(report.summary.status.as_status()),
        report.command,
        super::human::counts_sentence(report)
    );
    out.push_str("| Status | Check | Time | Message |\n|---|---|---:|---|\n");
    for r in &report.results {
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
    for r in report
        .results
        .iter()
        .filter(|r| r.status.fails_run(report.strict))
    {
        section(&mut out, r);
    }
    out
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
    fn table_and_failure_sections() {
        let md = render(&super::super::sample::report());
        assert!(md.starts_with("### ❌ shipgate preflight: "));
        assert_eq!(md.matches("\n| ").count(), 6, "header + 5 rows:\n{md}");
        assert!(md.contains("#### ❌ `database.main.tables`"));
        assert!(md.contains("#### 💥 `http.api`"));
        assert!(
            !md.contains("#### ⚠️"),
            "warnings get no section unless strict"
        );
        assert!(md.contains("- **where**: `shipgate.toml:7:1`"));
        assert!(md.contains("```sh\nshipgate preflight --only database.main.tables\n```"));
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc <script>"), "a\\|b c &lt;script&gt;");
    }
}
