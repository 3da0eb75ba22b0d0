//! JUnit XML in the shape the Jenkins xunit `junit-10.xsd` accepts and GitLab's
//! `artifacts:reports:junit` reads: one `<testcase>` per result, `classname` = subcommand.

use std::fmt::Write;

use super::{CheckResult, Report, Status};

pub fn render(report: &Report) -> String {
    let s = &report.summary;
    // A warning is a failure only under --strict; otherwise the test case passes and says so.
    let failures = s.failed + if report.strict { s.warnings } else { 0 };
    let time = seconds(report.duration_ms);
    let suite_name = format!("shipgate {}", report.command);

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" time=\"{time}\">",
        attr(&suite_name),
        s.total,
        s.errors,
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"{}\" time=\"{time}\" timestamp=\"{}\">",
        attr(&suite_name),
        s.total,
        s.errors,
        s.skipped,
        attr(&report.started_at),
    );
    for result in &report.results {
        testcase(&mut out, report, result);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn testcase(out: &mut String, report: &Report, r: &CheckResult) {
    let _ = writeln!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
        attr(&report.command),
        attr(&r.name),
        seconds(r.duration_ms),
    );
    let element = match r.status {
        Status::Fail => Some("failure"),
        Status::Warn if report.strict => Some("failure"),
        Status::Error => Some("error"),
        Status::Skip => Some("skipped"),
        Status::Pass | Status::Warn => None,
    };
    if let Some(element) = element {
        let body = if r.status == Status::Skip {
            String::new()
        } else {
            text(&failure_body(r))
        };
        let _ = writeln!(
            out,
            "      <{element} type=\"{}\" message=\"{}\">{body}</{element}>",
            r.status.as_str(),
            attr(&r.message),
        );
    }
    let _ = writeln!(
        out,
        "      <system-out>{}</system-out>",
        text(&system_out(r))
    );
    out.push_str("    </testcase>\n");
}

/// What Jenkins shows as the stack trace: the message and where to look.
fn failure_body(r: &CheckResult) -> String {
    let mut body = r.message.clone();
    if let Some(loc) = &r.location {
        let _ = write!(body, "\nat {}:{}:{}", loc.file, loc.line, loc.column);
    }
    if let Some(cmd) = &r.reproduce {
        let _ = write!(body, "\nreproduce: {cmd}");
    }
    body
}

fn system_out(r: &CheckResult) -> String {
    let mut out = format!("[{}] {}: {}", r.status.as_str(), r.id, r.message);
    for (key, value) in &r.details {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(out, "\n{key}: {value}");
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escapes element text, dropping the characters XML 1.0 cannot carry at all.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escapes an attribute value; line breaks become character references so parsers keep them.
fn attr(s: &str) -> String {
    text(s)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_testcase_per_result_with_status_elements() {
        let xml = render(&super::super::sample::report());
        assert_eq!(xml.matches("<testcase ").count(), 5);
        assert!(xml.contains("tests=\"5\" failures=\"1\" errors=\"1\" skipped=\"1\""));
        assert!(xml.contains("<failure type=\"fail\" message=\"missing table funds\">"));
        assert!(xml.contains("at shipgate.toml:7:1"));
        assert!(xml.contains("<error type=\"error\""));
        assert!(xml.contains("<skipped type=\"skip\""));
        assert!(xml.contains("classname=\"preflight\""));
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(text("a<b>&c\u{1}"), "a&lt;b&gt;&amp;c\u{FFFD}");
        assert_eq!(attr("say \"hi\"\nbye"), "say &quot;hi&quot;&#10;bye");
    }
}
