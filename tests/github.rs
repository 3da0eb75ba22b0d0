//! GitHub Actions mode: annotations, masks, the step summary and step outputs, as the runner
//! reads them. The expected bytes are built here from GitHub's documented escaping rules, not
//! with shipgate's own functions.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use common::{TestServer, Workdir, json_report, parse_github_output, postgres_url, stderr, stdout};
use serde_json::Value;

/// The runner's 1 MiB limit on a step summary.
const SUMMARY_LIMIT: usize = 1024 * 1024;

/// A run with 5 passing checks, 2 failures, 2 skipped and a warning.
const MIXED: &str = r#"[preflight.env]
required = ["MISSING_VAR"]

[[preflight.path]]
name = "here"
path = "."

[[preflight.path]]
name = "gone"
path = "does-not-exist"

[[preflight.path]]
name = "full"
path = "."
usage_warn_percent = 0
usage_fail_percent = 100
"#;

/// `%` first, then CR and LF: what `escapeData` of @actions/core does.
fn escape_data(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// `escapeProperty`: the data escapes plus `:` and `,`.
fn escape_property(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' => out.push_str("%3A"),
            ',' => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

/// The GitHub files of one step, inside the workdir.
struct Github {
    summary: PathBuf,
    output: PathBuf,
    temp: PathBuf,
}

impl Github {
    fn new(w: &Workdir) -> Github {
        let temp = w.path().join("runner-temp");
        std::fs::create_dir_all(&temp).unwrap();
        Github {
            summary: w.path().join("step-summary.md"),
            output: w.path().join("github-output.txt"),
            temp,
        }
    }

    /// The step's files, without `GITHUB_ACTIONS` (pair with `--github`).
    fn files(&self, cmd: &mut Command) {
        cmd.env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_OUTPUT", &self.output)
            .env("RUNNER_TEMP", &self.temp);
    }

    /// Inside GitHub Actions.
    fn cmd(&self, w: &Workdir) -> Command {
        let mut cmd = w.cmd();
        cmd.env("GITHUB_ACTIONS", "true");
        self.files(&mut cmd);
        cmd
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(&self.summary).unwrap_or_default()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }
}

fn workdir(config: &str) -> Workdir {
    let w = Workdir::new();
    w.write("shipgate.toml", config);
    w
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Lines exactly as written: split on LF only, so a stray CR would stay visible.
fn raw_lines(text: &str) -> Vec<&str> {
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .collect()
}

fn command_lines<'a>(text: &'a str, command: &str) -> Vec<&'a str> {
    let prefix = format!("::{command}");
    raw_lines(text)
        .into_iter()
        .filter(|l| l.starts_with(&prefix))
        .collect()
}

// ------------------------------------------------------------------------------ annotations --

#[test]
fn annotation_is_escaped_byte_for_byte() {
    let w = Workdir::new();
    // The missing directory's name holds `%`, `,`, `:` and CR LF; the config file's name `,`
    // and `:`; the check's name `:` (after "path …").
    let config = "ship,gate:1.toml";
    w.write(
        config,
        r#"[[preflight.path]]
name = "a:b,c"
path = "50%,done:\r\nx"
"#,
    );

    // The raw values, from the JSON report of the same config.
    let out = w
        .cmd()
        .args(["preflight", "--config", config, "--format", "json"])
        .output()
        .unwrap();
    let report = json_report(&out);
    let failing: Vec<&Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert_eq!(failing.len(), 1, "{report:#}");
    let r = failing[0];
    let (id, name, message) = (
        r["id"].as_str().unwrap(),
        r["name"].as_str().unwrap(),
        r["message"].as_str().unwrap(),
    );
    let reproduce = r["reproduce"].as_str().unwrap();
    let loc = &r["location"];
    assert!(
        message.contains("50%,done:\r\nx"),
        "the message quotes the path: {message:?}"
    );
    assert_eq!(loc["file"], config);
    assert!(name.contains(':'), "{name}");

    let expected = format!(
        "::error file={},line={},col={},title={}::{}",
        escape_property(config),
        loc["line"],
        loc["column"],
        escape_property(name),
        escape_data(&format!("{id}: {message}\nreproduce: {reproduce}")),
    );
    assert!(expected.starts_with("::error file=ship%2Cgate%3A1.toml,line="));
    assert!(expected.contains("50%25,done:%0D%0Ax"));

    let gh = Github::new(&w);
    let out = gh
        .cmd(&w)
        .args(["preflight", "--config", config])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout(&out);
    let errors = command_lines(&text, "error");
    assert_eq!(errors, [expected.as_str()], "{text}");

    // Read back as the runner reads it, the annotation is the report's result again.
    let (command, props, data) = runner_decode(errors[0]).expect("a workflow command");
    assert_eq!(command, "error");
    assert_eq!(props["file"], config);
    assert_eq!(props["title"], name);
    assert_eq!(props["line"], loc["line"].to_string());
    assert_eq!(props["col"], loc["column"].to_string());
    assert_eq!(data, format!("{id}: {message}\nreproduce: {reproduce}"));
}

/// actions/runner `ActionCommand.TryParseV2` and its unescaping (research/github-ci.md §1.2,
/// §1.3): the command info ends at the first `::` after the leading one; properties split on
/// `,`, each on its first `=`, empty values dropped; `%25` is decoded last.
fn runner_decode(line: &str) -> Option<(String, HashMap<String, String>, String)> {
    fn unescape(s: &str, mappings: &[(&str, &str)]) -> String {
        mappings
            .iter()
            .fold(s.to_string(), |acc, (token, replacement)| {
                acc.replace(replacement, token)
            })
    }
    const DATA: &[(&str, &str)] = &[("\r", "%0D"), ("\n", "%0A"), ("%", "%25")];
    const PROPERTY: &[(&str, &str)] = &[
        ("\r", "%0D"),
        ("\n", "%0A"),
        (":", "%3A"),
        (",", "%2C"),
        ("%", "%25"),
    ];
    let rest = line.trim_start().strip_prefix("::")?;
    let end = rest.find("::")?;
    let (info, data) = (&rest[..end], &rest[end + 2..]);
    let (command, properties) = info.split_once(' ').unwrap_or((info, ""));
    let mut props = HashMap::new();
    for entry in properties.trim().split(',').filter(|e| !e.is_empty()) {
        if let Some((k, v)) = entry.split_once('=')
            && !v.is_empty()
        {
            props.insert(k.to_string(), unescape(v, PROPERTY));
        }
    }
    Some((command.to_string(), props, unescape(data, DATA)))
}

#[test]
fn warnings_are_annotated_too() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    let text = stdout(&out);
    let warnings = command_lines(&text, "warning");
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("title=path full%3A free space::path.full.space: "),
        "{}",
        warnings[0]
    );
    let errors = command_lines(&text, "error");
    assert_eq!(errors.len(), 2, "{text}");
    // Annotations come before the table.
    let first_table_line = raw_lines(&text)
        .iter()
        .position(|l| l.contains("STATUS"))
        .unwrap();
    let last_command = raw_lines(&text)
        .iter()
        .rposition(|l| l.starts_with("::"))
        .unwrap();
    assert!(last_command < first_table_line, "{text}");
}

#[test]
fn with_json_format_commands_go_to_stderr() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    for format in ["json", "junit"] {
        let out = gh
            .cmd(&w)
            .args(["preflight", "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let text = stdout(&out);
        assert!(
            !raw_lines(&text).iter().any(|l| l.starts_with("::")),
            "workflow commands on stdout with --format {format}:\n{text}"
        );
        let err = stderr(&out);
        assert_eq!(command_lines(&err, "error").len(), 2, "{err}");
        assert_eq!(command_lines(&err, "warning").len(), 1, "{err}");
        if format == "json" {
            let report = json_report(&out);
            assert_eq!(report["summary"]["failed"], 2);
        }
    }
}

#[test]
fn at_most_ten_error_annotations_and_the_last_counts_the_rest() {
    let config: String = (0..14)
        .map(|i| format!("[[preflight.path]]\nname = \"d{i}\"\npath = \"missing-{i}\"\n\n"))
        .collect();
    let w = workdir(&config);
    let gh = Github::new(&w);
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout(&out);
    let errors = command_lines(&text, "error");
    assert_eq!(errors.len(), 10, "{text}");
    for (i, line) in errors[..9].iter().enumerate() {
        assert!(line.contains(&format!("::path.d{i}: ")), "{line}");
    }
    let last = errors[9];
    assert!(last.contains("5 more"), "{last}");
    assert!(!last.contains("missing-9"), "{last}");
    assert!(command_lines(&text, "warning").is_empty(), "{text}");
}

#[test]
fn no_github_output_outside_github_without_the_flag() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    let mut cmd = w.cmd();
    gh.files(&mut cmd);
    let out = cmd.arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!stdout(&out).contains("::error"), "{}", show(&out));
    assert!(!gh.summary.exists());
    assert!(!gh.output.exists());

    // `--github` forces it.
    let mut cmd = w.cmd();
    gh.files(&mut cmd);
    let out = cmd.args(["preflight", "--github"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(command_lines(&stdout(&out), "error").len(), 2);
    assert!(gh.summary().contains("`path.gone`"), "{}", gh.summary());
    let (values, _) = parse_github_output(&gh.output());
    assert_eq!(values["status"], "fail");
}

// ------------------------------------------------------------------------------------ masks --

const SENTINEL_PASSWORD: &str = "sentinelpw-XYZ";

fn database_url_with_password() -> String {
    let mut url = url::Url::parse(&postgres_url()).unwrap();
    url.set_password(Some(SENTINEL_PASSWORD)).unwrap();
    url.to_string()
}

#[test]
fn masks_come_first_and_cover_the_secret() {
    let w = workdir(
        r#"[[preflight.database]]
url = "${DATABASE_URL}"

[[preflight.path]]
name = "gone"
path = "does-not-exist"
"#,
    );
    let gh = Github::new(&w);
    for format in ["human", "json", "markdown"] {
        let out = gh
            .cmd(&w)
            .env("DATABASE_URL", database_url_with_password())
            .args(["preflight", "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        // Machine-readable formats keep stdout clean; either way the masks lead their stream.
        let commands = if format == "json" || !stdout(&out).contains("::add-mask::") {
            stderr(&out)
        } else {
            stdout(&out)
        };
        let lines = raw_lines(&commands);
        let mask = format!("::add-mask::{SENTINEL_PASSWORD}");
        assert_eq!(lines[0], mask, "--format {format}:\n{commands}");
        let last_mask = lines
            .iter()
            .rposition(|l| l.starts_with("::add-mask::"))
            .unwrap();
        assert!(
            lines[..=last_mask]
                .iter()
                .all(|l| l.starts_with("::add-mask::")),
            "--format {format}: a line before the last mask:\n{commands}"
        );
        for (stream, text) in [("stdout", stdout(&out)), ("stderr", stderr(&out))] {
            for line in raw_lines(&text) {
                assert!(
                    line.starts_with("::add-mask::") || !line.contains(SENTINEL_PASSWORD),
                    "--format {format}: the password on {stream}: {line}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------------------ step summary --

#[test]
fn step_summary_is_appended() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    std::fs::write(&gh.summary, "## Earlier step\n\nkept\n").unwrap();
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let summary = gh.summary();
    assert!(
        summary.starts_with("## Earlier step\n\nkept\n"),
        "{summary}"
    );
    let ours = &summary["## Earlier step\n\nkept\n".len()..];
    assert!(ours.contains("### "), "{summary}");
    let markdown = stdout(
        &w.cmd()
            .args(["preflight", "--format", "markdown"])
            .output()
            .unwrap(),
    );
    // Same shape as `--format markdown` (times may differ).
    let shape = |md: &str| -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with('|') || l.starts_with('#'))
            .map(|l| match l.strip_prefix('|') {
                // A row: its status and check columns.
                Some(row) => row.split('|').take(2).collect::<Vec<_>>().join("|"),
                None => l.to_string(),
            })
            .collect()
    };
    assert_eq!(shape(ours), shape(&markdown), "{summary}");
    assert!(shape(ours).len() > 10);

    // A second step appends again.
    gh.cmd(&w).arg("preflight").output().unwrap();
    let headings = gh
        .summary()
        .lines()
        .filter(|l| l.starts_with("### "))
        .count();
    assert_eq!(headings, 2);
}

fn assert_summary_cut(summary: &str, prefix_len: usize) {
    assert!(
        summary.len() < SUMMARY_LIMIT,
        "the step summary is {} bytes, GitHub refuses more than {SUMMARY_LIMIT}",
        summary.len()
    );
    let ours = &summary[prefix_len..];
    let tail: String = ours
        .chars()
        .rev()
        .take(400)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(
        ours.to_lowercase().contains("cut") || ours.to_lowercase().contains("truncat"),
        "no note that the summary was cut; it ends with:\n{tail}"
    );
}

#[test]
fn step_summary_of_a_huge_report_is_cut_below_one_mib() {
    // 6000 unset variables: a Markdown report of well over 1 MiB.
    let names: Vec<String> = (0..6000)
        .map(|i| format!("\"MISSING_VARIABLE_NUMBER_{i:05}\""))
        .collect();
    let w = workdir(&format!(
        "[preflight.env]\nrequired = [{}]\n",
        names.join(", ")
    ));
    let gh = Github::new(&w);
    let out = gh
        .cmd(&w)
        .args([
            "preflight",
            "--output",
            "markdown=full.md",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let full = w.read("full.md");
    assert!(full.len() > SUMMARY_LIMIT, "the test needs a bigger report");
    let summary = gh.summary();
    assert_summary_cut(&summary, 0);
    assert!(full.starts_with(&summary[..1000]));
    // Cut at a line boundary: no half row before the note.
    let before_note = summary[..summary.rfind("\n\n>").unwrap_or(summary.len())].to_string();
    let last_row = before_note.lines().last().unwrap();
    assert!(
        full.lines().any(|l| l == last_row),
        "half a line: {last_row}"
    );
}

#[test]
fn step_summary_near_the_limit_is_cut_and_keeps_what_was_there() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    // 500 bytes left: room for the note and a few lines, not the whole report.
    let prefix = format!("{}\n", "p".repeat(SUMMARY_LIMIT - 501));
    std::fs::write(&gh.summary, &prefix).unwrap();
    let markdown = stdout(
        &w.cmd()
            .args(["preflight", "--format", "markdown"])
            .output()
            .unwrap(),
    );
    assert!(markdown.len() > 1000, "the test needs a longer report");
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let summary = gh.summary();
    assert!(summary.starts_with(&prefix));
    assert_summary_cut(&summary, prefix.len());
}

#[test]
fn step_summary_with_less_room_than_the_note_stays_below_one_mib() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    // 40 bytes left: not even the note about the cut fits.
    let prefix = format!("{}\n", "p".repeat(SUMMARY_LIMIT - 41));
    std::fs::write(&gh.summary, &prefix).unwrap();
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    let summary = gh.summary();
    assert!(summary.starts_with(&prefix), "{}", show(&out));
    assert!(
        summary.len() < SUMMARY_LIMIT,
        "the step summary grew to {} bytes (limit {SUMMARY_LIMIT}); appended:\n{}",
        summary.len(),
        &summary[prefix.len()..]
    );
}

// ------------------------------------------------------------------------------ step outputs --

#[test]
fn step_outputs_use_heredocs_with_random_delimiters() {
    let w = workdir(MIXED);
    let gh = Github::new(&w);
    std::fs::write(&gh.output, "earlier=kept\n").unwrap();
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let first = gh.output();
    assert!(first.starts_with("earlier=kept\n"), "{first}");
    let (values, delimiters) = parse_github_output(&first);
    assert_eq!(values["earlier"], "kept");
    assert_eq!(values["status"], "fail", "{first}");
    assert_eq!(values["passed"], "5", "{first}");
    assert_eq!(values["failed"], "2", "{first}");
    assert_eq!(values["warnings"], "1", "{first}");
    // Every shipgate entry is a heredoc.
    for name in ["status", "passed", "failed", "warnings", "report"] {
        assert!(
            first.contains(&format!("\n{name}<<")),
            "{name} is not in the heredoc form:\n{first}"
        );
    }
    assert_eq!(delimiters.len(), 5);
    assert!(delimiters.iter().all(|d| d == &delimiters[0]));
    assert!(
        delimiters[0].len() >= 16,
        "guessable delimiter {:?}",
        delimiters[0]
    );

    let report_path = PathBuf::from(&values["report"]);
    let report_path = if report_path.is_absolute() {
        report_path
    } else {
        w.path().join(report_path)
    };
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&report_path)
            .unwrap_or_else(|e| panic!("report {}: {e}", report_path.display())),
    )
    .expect("the report output names a JSON file");
    assert_eq!(report["schema"], "shipgate.report/v1");
    assert_eq!(report["summary"]["failed"], 2);
    assert!(
        report_path.starts_with(&gh.temp),
        "{}",
        report_path.display()
    );

    // A second run picks another delimiter.
    std::fs::write(&gh.output, "").unwrap();
    gh.cmd(&w).arg("preflight").output().unwrap();
    let (again, delimiters_again) = parse_github_output(&gh.output());
    assert_eq!(again["status"], "fail");
    assert_ne!(
        delimiters_again[0], delimiters[0],
        "the delimiter is not random"
    );
}

#[test]
fn step_outputs_of_a_passing_run_and_an_explicit_json_report() {
    let w = workdir("[[preflight.path]]\nname = \"here\"\npath = \".\"\n");
    let gh = Github::new(&w);
    let out = gh
        .cmd(&w)
        .args(["preflight", "--output", "json=report.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (values, _) = parse_github_output(&gh.output());
    assert_eq!(values["status"], "pass");
    assert_eq!(values["passed"], "3");
    assert_eq!(values["failed"], "0");
    assert_eq!(values["warnings"], "0");
    let path = PathBuf::from(&values["report"]);
    let path = if path.is_absolute() {
        path
    } else {
        w.path().join(path)
    };
    assert_eq!(
        std::fs::canonicalize(&path).unwrap(),
        std::fs::canonicalize(w.path().join("report.json")).unwrap(),
        "the report output names the --output json file"
    );
    // No error annotations for a passing run.
    assert!(command_lines(&stdout(&out), "error").is_empty());
}

#[test]
fn error_status_counts_as_failed_in_outputs() {
    let server = TestServer::start(axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            "late"
        }),
    ));
    let w = workdir(&format!(
        "[[preflight.http]]\nname = \"slow\"\nurl = \"{}\"\n",
        server.url("/slow")
    ));
    let gh = Github::new(&w);
    let out = gh
        .cmd(&w)
        .args(["preflight", "--timeout", "500ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let (values, _) = parse_github_output(&gh.output());
    assert_eq!(values["status"], "fail");
    assert_eq!(values["failed"], "1");
    let text = stdout(&out);
    let errors = command_lines(&text, "error");
    assert_eq!(errors.len(), 1, "{}", show(&out));
    assert!(errors[0].contains("overall deadline"), "{}", errors[0]);
}

// ----------------------------------------------------------------------------- input errors --

const BAD_CONFIG: &str = "[[preflight.path]]\npath = \"made\"\ncreate = true\n\n[[preflight.database]]\nurl = \"postgres://localhost/app\"\nwait = \"50%, soon\"\n";

#[test]
fn input_error_is_annotated_on_its_config_line() {
    let w = workdir(BAD_CONFIG);
    let gh = Github::new(&w);
    let out = gh.cmd(&w).arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(!w.path().join("made").exists());
    let err = stderr(&out);
    let message = err
        .strip_prefix("error: ")
        .and_then(|m| m.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(message.starts_with("shipgate.toml:7:"), "{message}");
    let text = format!("{}{}", stdout(&out), err);
    let errors = command_lines(&text, "error");
    assert_eq!(errors.len(), 1, "{}", show(&out));
    let line = errors[0];
    assert!(
        line.starts_with("::error file=shipgate.toml,line=7,col="),
        "{line}"
    );
    let data = line.split_once("::").unwrap().1.split_once("::").unwrap().1;
    assert_eq!(data, escape_data(message), "{line}");
}

#[test]
fn input_error_annotation_keeps_json_stdout_clean() {
    let w = workdir(BAD_CONFIG);
    let gh = Github::new(&w);
    for format in ["json", "junit"] {
        let out = gh
            .cmd(&w)
            .args(["preflight", "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(
            !stdout(&out).contains("::error"),
            "a workflow command on stdout with --format {format}:\n{}",
            show(&out)
        );
    }
}
