//! A Slack-compatible message (incoming webhooks; Mattermost and others read its `text`): the
//! verdict and counts, then what did not pass, worst first, each with its message. `text`
//! carries the whole summary for clients that ignore `blocks`; `blocks` lay it out in Slack.
//!
//! Bounded to Slack's limits: a `section` holds at most 3,000 characters, a message at most
//! 50 blocks, and a payload whose blocks grow past about 13,000 characters is refused
//! (`msg_blocks_too_long`), so messages are cut, at most [`LISTED_MAX`] checks are listed and
//! the payload is kept under [`PAYLOAD_LIMIT`] bytes; what is left out is counted. Text is
//! escaped as Slack requires (`&`, `<`, `>`), so a message cannot open a link or a mention.

use serde_json::{Value, json};

use super::{CheckResult, Report, RunStatus, Status};

/// The most checks listed, each in a block of its own (with the head, the "more" line and the
/// footer, well under Slack's 50 blocks).
pub const LISTED_MAX: usize = 20;
/// The longest message of one check, in characters, before escaping.
pub const MESSAGE_CHARS: usize = 400;
/// The largest payload, serialised, in bytes.
pub const PAYLOAD_LIMIT: usize = 12_000;
/// The longest command line shown, in characters.
const INVOCATION_CHARS: usize = 300;

/// What the message may link to besides the report.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The CI run that produced the report (a GitHub Actions run page).
    pub run_url: Option<String>,
}

/// The payload to POST: `{"text": …, "blocks": [...]}`.
pub fn render(report: &Report, options: &Options) -> Value {
    let problems = report.problems();
    let mut listed = problems.len().min(LISTED_MAX);
    loop {
        let payload = payload(report, options, &problems, listed);
        if listed == 0 || payload.to_string().len() <= PAYLOAD_LIMIT {
            return payload;
        }
        listed -= 1;
    }
}

fn payload(report: &Report, options: &Options, problems: &[&CheckResult], listed: usize) -> Value {
    let head = head(report);
    let lines: Vec<String> = problems[..listed].iter().map(|r| line(r)).collect();
    let left_out = problems.len() - listed;
    let more = (left_out > 0).then(|| {
        format!(
            "…and {left_out} more {} that did not pass: see the report",
            if left_out == 1 { "check" } else { "checks" }
        )
    });

    let mut text = head.clone();
    for l in lines.iter().chain(more.iter()) {
        text.push('\n');
        text.push_str(l);
    }

    let mut blocks = vec![section(&head)];
    blocks.extend(lines.iter().map(|l| section(l)));
    if let Some(more) = &more {
        blocks.push(section(more));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": footer(report, options)}]
    }));
    json!({ "text": text, "blocks": blocks })
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// `:x: *shipgate verify failed*: 1 failed, 2 passed (3 checks) in 1.5s`
fn head(report: &Report) -> String {
    let verdict = match report.summary.status {
        RunStatus::Pass => "passed",
        RunStatus::Warn => "passed with warnings",
        RunStatus::Fail => "failed",
    };
    format!(
        "{} *shipgate {} {verdict}*: {} in {}",
        emoji(report.summary.status.as_status()),
        escape(&report.command),
        escape(&super::human::counts_sentence(report)),
        seconds(report.duration_ms)
    )
}

/// `:x: *`http.api`* fail: GET … answered 503 (shipgate.toml:7)`
fn line(r: &CheckResult) -> String {
    let mut out = format!(
        "{} *`{}`* {}: {}",
        emoji(r.status),
        escape(&cut(&r.id, 200)),
        r.status.as_str(),
        escape(&cut(&r.message, MESSAGE_CHARS))
    );
    if let Some(loc) = &r.location {
        out.push_str(&format!(
            " _({}:{})_",
            escape(&cut(&loc.file, 200)),
            loc.line
        ));
    }
    out
}

fn footer(report: &Report, options: &Options) -> String {
    let mut parts = vec![format!(
        "{} {}",
        escape(&report.tool.name),
        escape(&report.tool.version)
    )];
    if let Some(invocation) = &report.invocation {
        parts.push(format!("`{}`", escape(&cut(invocation, INVOCATION_CHARS))));
    }
    if let Some(url) = &options.run_url {
        parts.push(format!("<{}|CI run>", escape(url)));
    }
    parts.join(" · ")
}

fn emoji(status: Status) -> &'static str {
    match status {
        Status::Pass => ":white_check_mark:",
        Status::Skip => ":fast_forward:",
        Status::Warn => ":warning:",
        Status::Fail => ":x:",
        Status::Error => ":boom:",
    }
}

fn seconds(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// Slack's escaping of message text: `&`, `<` and `>` are control characters there.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters of `text` (cut at a character boundary, before escaping so an
/// entity is never split), `…` marking a cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    fn texts(payload: &Value) -> Vec<String> {
        payload["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                b["text"]["text"]
                    .as_str()
                    .or(b["elements"][0]["text"].as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn verdict_first_then_problems_worst_first() {
        let payload = render(&sample::report(), &Options::default());
        let blocks = texts(&payload);
        assert!(
            blocks[0].starts_with(":x: *shipgate preflight failed*: 1 failed, 1 error, 1 warning"),
            "{}",
            blocks[0]
        );
        assert!(blocks[0].ends_with("in 1.5s"), "{}", blocks[0]);
        // The errored and failed checks before the warning; passing and skipped not listed.
        assert!(blocks[1].starts_with(":boom: *`http.api`* error: did not finish"));
        assert!(blocks[2].starts_with(":x: *`database.main.tables`* fail: missing table funds"));
        assert!(blocks[2].ends_with("_(shipgate.toml:7)_"), "{}", blocks[2]);
        assert!(blocks[3].starts_with(":warning: *`redis.cache`* warn"));
        assert_eq!(blocks.len(), 5, "{blocks:#?}");
        assert!(blocks[4].starts_with("shipgate "), "{}", blocks[4]);
        // `text` says the same for clients that show no blocks.
        let text = payload["text"].as_str().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, blocks[..4].to_vec());
    }

    #[test]
    fn a_passing_run_lists_nothing() {
        let mut report = sample::report();
        report.results.retain(|r| r.status == Status::Pass);
        report.summary = crate::report::Summary::of(&report.results, false);
        report.invocation = Some("shipgate verify --config ci.toml".into());
        let options = Options {
            run_url: Some("https://github.com/acme/shop/actions/runs/7".into()),
        };
        let payload = render(&report, &options);
        let blocks = texts(&payload);
        assert_eq!(
            blocks[0],
            ":white_check_mark: *shipgate preflight passed*: 1 passed (1 check) in 1.5s"
        );
        assert_eq!(
            blocks[1],
            format!(
                "shipgate {} · `shipgate verify --config ci.toml` · <https://github.com/acme/shop/actions/runs/7|CI run>",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(payload["text"], blocks[0]);
    }

    #[test]
    fn escapes_what_slack_reads_as_markup() {
        let mut report = sample::report();
        report.results[2].message = "expected <b> & got <!channel> > 3".into();
        report.invocation = Some("shipgate verify --header 'X: a<b'".into());
        let payload = render(&report, &Options::default());
        let all = payload.to_string();
        assert!(
            all.contains("expected &lt;b&gt; &amp; got &lt;!channel&gt; &gt; 3"),
            "{all}"
        );
        assert!(all.contains("a&lt;b"), "{all}");
        for raw in ["<b>", "<!channel>", " & ", "a<b"] {
            assert!(!all.contains(raw), "{raw} left unescaped in {all}");
        }
        assert_eq!(escape("a&lt;"), "a&amp;lt;");
    }

    #[test]
    fn capped_in_size_and_says_what_was_left_out() {
        let mut report = sample::report();
        let template = report.results[2].clone();
        report.results = (0..120)
            .map(|i| {
                let mut r = template.clone();
                r.id = format!("http.check-{i:03}");
                // Escaping triples `&`: the cut is made before escaping, never inside `&amp;`.
                r.message = format!("{i}: {}", "x&y<z ".repeat(400));
                r
            })
            .collect();
        report.summary = crate::report::Summary::of(&report.results, false);
        let payload = render(&report, &Options::default());
        let serialised = payload.to_string();
        assert!(serialised.len() <= PAYLOAD_LIMIT, "{}", serialised.len());
        let blocks = texts(&payload);
        assert!(blocks.len() <= 50);
        for b in &blocks {
            assert!(b.chars().count() <= 3000, "{}", b.len());
        }
        let listed = blocks.iter().filter(|b| b.contains("`http.check-")).count();
        assert!((1..=LISTED_MAX).contains(&listed), "{listed}");
        // Listed in report order, each message cut at a character boundary.
        assert!(blocks[1].contains("`http.check-000`"), "{}", blocks[1]);
        assert!(blocks[1].contains("… _(shipgate.toml:7)_"), "{}", blocks[1]);
        assert!(!blocks[1].contains("&am…") && !blocks[1].contains("&l…"));
        let more = &blocks[listed + 1];
        assert_eq!(
            more,
            &format!(
                "…and {} more checks that did not pass: see the report",
                120 - listed
            )
        );
        assert!(payload["text"].as_str().unwrap().ends_with(more.as_str()));
    }

    #[test]
    fn cut_counts_characters() {
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("héllo", 5), "héllo");
    }
}
