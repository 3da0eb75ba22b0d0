//! What a user sees of a report: stdout in every format, `--output` files, exit codes, check
//! selection and the overall deadline. Every run is the real binary in a temporary directory.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::process::run_in_terminal;
use common::{TestServer, Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

/// A config whose run has every status but `error`: 5 pass, 2 fail, 2 skip, 1 warn.
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

const MIXED_IDS: [&str; 10] = [
    "env.MISSING_VAR",
    "path.here",
    "path.here.writable",
    "path.here.space",
    "path.gone",
    "path.gone.writable",
    "path.gone.space",
    "path.full",
    "path.full.writable",
    "path.full.space",
];

/// Only passing checks.
const PASSING: &str = r#"[[preflight.path]]
name = "here"
path = "."
"#;

/// Passing checks and one warning.
const WARN_ONLY: &str = r#"[[preflight.path]]
name = "full"
path = "."
usage_warn_percent = 0
usage_fail_percent = 100
"#;

fn workdir(config: &str) -> Workdir {
    let w = Workdir::new();
    w.write("shipgate.toml", config);
    w
}

fn run(w: &Workdir, args: &[&str]) -> Output {
    w.cmd().args(args).output().expect("run shipgate")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn ids(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// 1-based (line, column) of the first occurrence of `needle` in `text`.
fn position(text: &str, needle: &str) -> (u64, u64) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        line as u64,
        (text[line_start..offset].chars().count() + 1) as u64,
    )
}

fn manifest_path(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn report_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(manifest_path("schemas/report.schema.json"))
        .expect("schemas/report.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_schema_valid(report: &Value) {
    let validator = report_validator();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match schemas/report.schema.json:\n{}\n{report:#}",
        errors.join("\n")
    );
}

/// Runs `xmllint` on a file: `--noout --schema fixtures/junit-10.xsd`.
fn xmllint_valid(file: &Path) {
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(manifest_path("fixtures/junit-10.xsd"))
        .arg(file)
        .output()
        .expect("xmllint is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{} is not valid JUnit:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// Evaluates an XPath expression with `xmllint --xpath`.
fn xpath(file: &Path, expr: &str) -> String {
    let out = std::process::Command::new("xmllint")
        .arg("--xpath")
        .arg(expr)
        .arg(file)
        .output()
        .expect("xmllint is installed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn count(file: &Path, expr: &str) -> usize {
    let text = xpath(file, &format!("count({expr})"));
    text.parse()
        .unwrap_or_else(|_| panic!("count({expr}) gave {text:?}"))
}

/// An HTTP server whose `/slow` answers after 5 s.
fn slow_server() -> TestServer {
    TestServer::start(axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    ))
}

// ------------------------------------------------------------------------------------ json --

#[test]
fn json_report_matches_the_schema_and_counts() {
    let w = workdir(MIXED);
    let out = run(&w, &["preflight", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = json_report(&out);
    assert_schema_valid(&report);

    assert_eq!(report["schema"], "shipgate.report/v1");
    assert_eq!(report["command"], "preflight");
    assert_eq!(report["strict"], false);
    let s = &report["summary"];
    assert_eq!(
        (
            &s["total"],
            &s["passed"],
            &s["failed"],
            &s["warnings"],
            &s["skipped"],
            &s["errors"],
            &s["status"]
        ),
        (
            &Value::from(10),
            &Value::from(5),
            &Value::from(2),
            &Value::from(1),
            &Value::from(2),
            &Value::from(0),
            &Value::from("fail")
        ),
        "{report:#}"
    );
    assert_eq!(ids(&report), MIXED_IDS, "results in config order");

    for r in report["results"].as_array().unwrap() {
        for key in [
            "id",
            "name",
            "kind",
            "status",
            "duration_ms",
            "message",
            "details",
            "location",
            "reproduce",
        ] {
            assert!(r.get(key).is_some(), "result lacks `{key}`: {r:#}");
        }
        assert!(r["details"].is_object(), "{r:#}");
        assert!(!r["message"].as_str().unwrap().is_empty(), "{r:#}");
        let id = r["id"].as_str().unwrap();
        let reproduce = r["reproduce"].as_str().expect("reproduce is a string");
        assert!(
            reproduce.ends_with(&format!("--only {id}")),
            "reproduce of {id}: {reproduce}"
        );
    }
    let status = |id: &str| result(&report, id)["status"].as_str().unwrap().to_string();
    assert_eq!(status("env.MISSING_VAR"), "fail");
    assert_eq!(status("path.here"), "pass");
    assert_eq!(status("path.gone"), "fail");
    assert_eq!(status("path.gone.writable"), "skip");
    assert_eq!(status("path.full.space"), "warn");
    assert_eq!(result(&report, "path.here")["kind"], "path");
    assert_eq!(result(&report, "env.MISSING_VAR")["kind"], "env");
}

#[test]
fn json_location_points_into_the_config() {
    let w = workdir(MIXED);
    let report = json_report(&run(&w, &["preflight", "--format", "json"]));

    let env = &result(&report, "env.MISSING_VAR")["location"];
    let (line, column) = position(MIXED, "\"MISSING_VAR\"");
    assert_eq!(env["file"], "shipgate.toml", "{env}");
    assert_eq!(env["line"], line, "{env}");
    assert_eq!(env["column"], column, "{env}");

    // The `gone` entry spans from its `[[preflight.path]]` header to its `path` line.
    let header = position(MIXED, "[[preflight.path]]\nname = \"gone\"").0;
    let path_line = position(MIXED, "path = \"does-not-exist\"").0;
    for id in ["path.gone", "path.gone.writable", "path.gone.space"] {
        let loc = &result(&report, id)["location"];
        assert_eq!(loc["file"], "shipgate.toml", "{id}: {loc}");
        let line = loc["line"].as_u64().unwrap();
        assert!(
            (header..=path_line).contains(&line),
            "{id} at line {line}, the entry is lines {header}-{path_line}"
        );
    }
}

#[test]
fn json_location_names_the_config_given_with_flag() {
    let w = Workdir::new();
    w.write("conf/ci.toml", MIXED);
    let out = run(
        &w,
        &["preflight", "--config", "conf/ci.toml", "--format", "json"],
    );
    let report = json_report(&out);
    let loc = &result(&report, "env.MISSING_VAR")["location"];
    assert_eq!(loc["file"], "conf/ci.toml", "{loc}");
    let reproduce = result(&report, "env.MISSING_VAR")["reproduce"]
        .as_str()
        .unwrap();
    assert!(
        reproduce.contains("--config conf/ci.toml"),
        "reproduce must keep --config: {reproduce}"
    );
}

#[test]
fn reproduce_command_reruns_just_that_check() {
    let w = workdir(MIXED);
    let report = json_report(&run(&w, &["preflight", "--format", "json"]));
    for id in ["env.MISSING_VAR", "path.here.space", "path.full.space"] {
        let reproduce = result(&report, id)["reproduce"].as_str().unwrap();
        let words = shlex::split(reproduce).expect("reproduce splits like a shell line");
        assert_eq!(words[0], "shipgate", "{reproduce}");
        assert!(
            words.windows(2).any(|p| p[0] == "--only" && p[1] == id),
            "{reproduce}"
        );
        let out = w
            .cmd()
            .args(&words[1..])
            .args(["--format", "json"])
            .output()
            .unwrap();
        let again = json_report(&out);
        assert_eq!(ids(&again), [id], "`{reproduce}` ran:\n{}", show(&out));
        assert_eq!(
            result(&again, id)["status"],
            result(&report, id)["status"],
            "{reproduce}"
        );
    }
}

// ----------------------------------------------------------------------------------- junit --

#[test]
fn junit_on_stdout_and_in_a_file_is_valid_with_one_testcase_per_result() {
    let w = workdir(MIXED);
    let out = run(
        &w,
        &[
            "preflight",
            "--format",
            "junit",
            "--output",
            "junit=out.xml",
            "--output",
            "json=r.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout_xml = w.write("stdout.xml", &stdout(&out));
    let file_xml = w.path().join("out.xml");
    let report: Value = serde_json::from_str(&w.read("r.json")).unwrap();
    let results = report["results"].as_array().unwrap();

    for file in [&stdout_xml, &file_xml] {
        xmllint_valid(file);
        assert_eq!(
            count(file, "//testcase"),
            results.len(),
            "{}",
            file.display()
        );
        assert_eq!(
            count(file, "//testcase[@classname='preflight']"),
            results.len()
        );
        for r in results {
            let name = r["name"].as_str().unwrap();
            let case = format!("//testcase[@name='{name}']");
            assert_eq!(count(file, &case), 1, "{case} in {}", file.display());
            let (failure, skipped, error) = match r["status"].as_str().unwrap() {
                "fail" => (1, 0, 0),
                "skip" => (0, 1, 0),
                "error" => (0, 0, 1),
                _ => (0, 0, 0),
            };
            assert_eq!(count(file, &format!("{case}/failure")), failure, "{case}");
            assert_eq!(count(file, &format!("{case}/skipped")), skipped, "{case}");
            assert_eq!(count(file, &format!("{case}/error")), error, "{case}");
        }
        assert_eq!(xpath(file, "string(/testsuites/@tests)"), "10");
        assert_eq!(xpath(file, "string(/testsuites/@failures)"), "2");
        assert_eq!(xpath(file, "string(//testsuite/@skipped)"), "2");
    }
}

#[test]
fn junit_stays_well_formed_with_markup_in_messages() {
    let w = workdir(
        r#"[[preflight.path]]
name = "odd"
path = 'a<b&"c'
"#,
    );
    let out = run(&w, &["preflight", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let file = w.write("stdout.xml", &stdout(&out));
    xmllint_valid(&file);
    let message = xpath(&file, "string(//testcase[failure]/failure/@message)");
    assert!(
        message.contains(r#"a<b&"c"#),
        "failure message: {message:?}"
    );
    let body = xpath(&file, "string(//testcase[failure]/failure)");
    assert!(body.contains(r#"a<b&"c"#), "failure body: {body:?}");
    assert_eq!(count(&file, "//testcase[skipped]"), 2);
}

#[test]
fn junit_strict_makes_warnings_failures() {
    let w = workdir(WARN_ONLY);
    let lenient = run(&w, &["preflight", "--format", "junit"]);
    let lenient_file = w.write("lenient.xml", &stdout(&lenient));
    xmllint_valid(&lenient_file);
    assert_eq!(count(&lenient_file, "//failure"), 0);

    let strict = run(&w, &["preflight", "--format", "junit", "--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{}", show(&strict));
    let strict_file = w.write("strict.xml", &stdout(&strict));
    xmllint_valid(&strict_file);
    assert_eq!(
        count(
            &strict_file,
            "//testcase[@name='path full: free space']/failure"
        ),
        1,
        "{}",
        stdout(&strict)
    );
}

// -------------------------------------------------------------------------------- markdown --

#[test]
fn markdown_has_a_row_per_result_and_a_section_per_failure() {
    let w = workdir(MIXED);
    let out = run(&w, &["preflight", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let md = stdout(&out);
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| Status"))
        .collect();
    assert_eq!(rows.len(), MIXED_IDS.len(), "{md}");
    for id in MIXED_IDS {
        let with_id = rows
            .iter()
            .filter(|r| r.contains(&format!("`{id}`")))
            .count();
        assert_eq!(with_id, 1, "one row for {id}:\n{md}");
    }
    // What did not pass comes first; passing and skipped rows are folded below it.
    let folded = md.find("<details>").expect("a <details> block");
    for row in &rows {
        let failing = row.contains("| ❌ fail |") || row.contains("| ⚠️ warn |");
        assert_eq!(
            md.find(row.trim()).unwrap() < folded,
            failing,
            "{row}\n{md}"
        );
    }
    let sections: Vec<&str> = md.lines().filter(|l| l.starts_with("#### ")).collect();
    assert_eq!(sections.len(), 2, "one section per failing check:\n{md}");
    assert!(sections[0].contains("`env.MISSING_VAR`"), "{md}");
    assert!(sections[1].contains("`path.gone`"), "{md}");
    assert!(
        md.contains("shipgate preflight --only path.gone"),
        "sections carry the reproduce command:\n{md}"
    );
}

// ----------------------------------------------------------------------------------- human --

fn closing_line(text: &str) -> String {
    text.lines().last().unwrap_or("").to_string()
}

#[test]
fn human_closing_line_and_no_escapes_when_piped() {
    let w = workdir(MIXED);
    let out = run(&w, &["preflight"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout(&out);
    assert!(!text.contains('\x1b'), "ANSI escapes on a pipe:\n{text:?}");
    let last = closing_line(&text);
    assert!(
        last.starts_with("preflight: ") && last.contains(" (10 checks) in "),
        "closing line: {last:?}"
    );
    assert!(
        last.contains("2 failed")
            && last.contains("1 warning")
            && last.contains("2 skipped")
            && last.contains("5 passed"),
        "closing line: {last:?}"
    );
    for id in MIXED_IDS {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(id)),
            "row for {id}:\n{text}"
        );
    }
    // Failing rows explain themselves; passing rows do not by default.
    assert!(
        text.contains("reproduce: shipgate preflight --only path.gone"),
        "{text}"
    );
    assert!(
        !text.contains("reproduce: shipgate preflight --only path.here"),
        "{text}"
    );
}

#[test]
fn human_quiet_hides_passing_rows() {
    let w = workdir(MIXED);
    let out = run(&w, &["preflight", "-q"]);
    let text = stdout(&out);
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("PASS")),
        "{text}"
    );
    for id in ["path.here", "path.here.writable", "path.full"] {
        assert!(
            !text
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(id)),
            "passing {id} shown with -q:\n{text}"
        );
    }
    for id in ["env.MISSING_VAR", "path.gone", "path.full.space"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(id)),
            "{id} hidden with -q:\n{text}"
        );
    }
    assert!(closing_line(&text).contains("(10 checks)"), "{text}");

    let w = workdir(PASSING);
    let out = run(&w, &["preflight", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "only the closing line:\n{text}");
    assert!(
        text.starts_with("preflight: 3 passed (3 checks) in "),
        "{text}"
    );
}

#[test]
fn human_verbose_shows_details_of_passing_rows() {
    let w = workdir(PASSING);
    let normal = stdout(&run(&w, &["preflight"]));
    let verbose = stdout(&run(&w, &["preflight", "-v"]));
    for text in [&normal, &verbose] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("PASS") && l.contains("path.here")),
            "{text}"
        );
    }
    assert!(!normal.contains("reproduce:"), "{normal}");
    assert!(!normal.contains("at shipgate.toml:"), "{normal}");
    assert!(
        verbose.contains("reproduce: shipgate preflight --only path.here.space"),
        "{verbose}"
    );
    assert!(verbose.contains("at shipgate.toml:1:1"), "{verbose}");
    assert!(
        verbose.contains("mode: "),
        "details of path.here:\n{verbose}"
    );
    assert!(verbose.lines().count() > normal.lines().count());
}

#[test]
fn human_colour_on_a_terminal_and_no_color() {
    let w = workdir(MIXED);
    let coloured = run_in_terminal(&w, &["preflight"], &[]);
    assert!(
        coloured.contains("\x1b[31mFAIL\x1b[0m"),
        "a terminal gets a red FAIL:\n{coloured:?}"
    );
    let plain = run_in_terminal(&w, &["preflight", "--no-color"], &[]);
    assert!(plain.contains("FAIL"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "--no-color:\n{plain:?}");
    let plain = run_in_terminal(&w, &["preflight"], &[("NO_COLOR", "1")]);
    assert!(plain.contains("FAIL"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1:\n{plain:?}");
}

// --------------------------------------------------------------------------------- outputs --

#[test]
fn several_outputs_are_written_in_one_run() {
    let w = workdir(MIXED);
    std::fs::create_dir(w.path().join("reports")).unwrap();
    let out = run(
        &w,
        &[
            "preflight",
            "--output",
            "json=r.json",
            "--output",
            "junit=reports/j.xml",
            "--output",
            "markdown=s.md",
            "--output",
            "human=h.txt",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    // stdout keeps the default human view.
    assert!(closing_line(&stdout(&out)).contains("(10 checks)"));

    let report: Value = serde_json::from_str(&w.read("r.json")).expect("r.json is JSON");
    assert_schema_valid(&report);
    assert_eq!(ids(&report), MIXED_IDS);

    let junit = w.path().join("reports/j.xml");
    xmllint_valid(&junit);
    assert_eq!(count(&junit, "//testcase"), 10);

    let md = w.read("s.md");
    assert!(md.starts_with("### "), "{md}");
    assert!(md.contains("`path.full.space`"), "{md}");

    let human = w.read("h.txt");
    assert!(!human.contains('\x1b'), "{human:?}");
    assert!(closing_line(&human).contains("(10 checks)"), "{human}");

    // All four describe the same run.
    let started = report["started_at"].as_str().unwrap();
    assert!(
        std::fs::read_to_string(&junit).unwrap().contains(started),
        "junit and json come from one run"
    );
}

#[test]
fn output_into_a_missing_folder_fails_before_anything_runs() {
    let w = workdir(
        r#"[[preflight.path]]
path = "made"
create = true
"#,
    );
    let out = run(&w, &["preflight", "--output", "junit=no/such/dir/j.xml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("no/such/dir"), "{}", show(&out));
    assert!(stdout(&out).is_empty(), "{}", show(&out));
    assert!(
        !w.path().join("made").exists(),
        "a check ran although the output folder does not exist"
    );
    // The same config without the bad output does create it: the assertion above can fail.
    let out = run(&w, &["preflight"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(w.path().join("made").is_dir());
}

// ------------------------------------------------------------------------------ exit codes --

#[test]
fn exit_code_all_pass_is_0() {
    let w = workdir(PASSING);
    let out = run(&w, &["preflight", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(json_report(&out)["summary"]["status"], "pass");
    let out = run(&w, &["preflight", "--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn exit_code_warning_is_0_unless_strict() {
    let w = workdir(WARN_ONLY);
    let out = run(&w, &["preflight", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let report = json_report(&out);
    assert_eq!(report["summary"]["status"], "warn", "{report:#}");
    assert_eq!(report["summary"]["warnings"], 1);
    assert_eq!(report["strict"], false);

    let out = run(&w, &["preflight", "--format", "json", "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = json_report(&out);
    assert_eq!(report["summary"]["status"], "fail", "{report:#}");
    assert_eq!(report["strict"], true);
    assert_schema_valid(&report);

    // --strict after the subcommand or before it: a global option.
    let out = w.cmd().args(["--strict", "preflight"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn exit_code_failure_is_1() {
    let w = workdir(MIXED);
    let out = run(&w, &["preflight"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    // Flags alone, without a config.
    let w = Workdir::new();
    let out = run(&w, &["preflight", "--writable-dir", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn exit_code_bad_input_is_2() {
    let w = workdir(MIXED);
    for args in [
        &["preflight", "--timeout", "soon"][..],
        &["preflight", "--no-such-flag"][..],
        &["preflight", "--format", "yaml"][..],
        &["preflight", "--only", "path.nope"][..],
        &["preflight", "--config", "missing.toml"][..],
    ] {
        let out = run(&w, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", show(&out));
    }
    let w = workdir("[preflight\n");
    let out = run(&w, &["preflight"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

// ------------------------------------------------------------------------ only, skip, timeout --

const SELECT: &str = r#"[preflight.env]
required = ["MISSING_VAR"]

[[preflight.path]]
name = "here"
path = "."

[[preflight.path]]
name = "here-too"
path = "."
"#;

fn selected(w: &Workdir, args: &[&str]) -> Vec<String> {
    let mut all = vec!["preflight", "--format", "json"];
    all.extend_from_slice(args);
    let out = run(w, &all);
    ids(&json_report(&out))
}

#[test]
fn only_and_skip_select_by_id_and_prefix() {
    let w = workdir(SELECT);
    assert_eq!(
        selected(&w, &["--only", "path.here"]),
        ["path.here", "path.here.writable", "path.here.space"],
        "a prefix selects what is below it, not `path.here-too`"
    );
    assert_eq!(
        selected(&w, &["--only", "path.here.space"]),
        ["path.here.space"]
    );
    assert_eq!(selected(&w, &["--only", "env"]), ["env.MISSING_VAR"]);
    assert_eq!(
        selected(
            &w,
            &["--only", "env.MISSING_VAR", "--only", "path.here-too.space"]
        ),
        ["env.MISSING_VAR", "path.here-too.space"]
    );
    assert_eq!(selected(&w, &["--skip", "path"]), ["env.MISSING_VAR"]);
    assert_eq!(
        selected(&w, &["--skip", "path.here", "--skip", "env"]),
        [
            "path.here-too",
            "path.here-too.writable",
            "path.here-too.space"
        ]
    );
    assert_eq!(
        selected(&w, &["--only", "path", "--skip", "path.here-too.writable"]),
        [
            "path.here",
            "path.here.writable",
            "path.here.space",
            "path.here-too",
            "path.here-too.space"
        ]
    );
    // Selection decides the exit code: the failing env check left out, the run passes.
    let out = run(&w, &["preflight", "--skip", "env"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(&w, &["preflight", "--only", "env"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn overall_timeout_ends_the_run_with_an_error_for_the_slow_check() {
    let server = slow_server();
    let w = workdir(&format!(
        r#"[[preflight.path]]
name = "here"
path = "."

[[preflight.http]]
name = "slow"
url = "{}"
timeout = "10s"
"#,
        server.url("/slow")
    ));
    let started = Instant::now();
    let out = run(
        &w,
        &[
            "preflight",
            "--timeout",
            "1s",
            "--format",
            "json",
            "--output",
            "junit=j.xml",
        ],
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(4500),
        "the run took {elapsed:?}, the deadline is 1s\n{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = json_report(&out);
    assert_schema_valid(&report);
    let slow = result(&report, "http.slow");
    assert_eq!(slow["status"], "error", "{slow:#}");
    let message = slow["message"].as_str().unwrap();
    assert!(message.contains("overall deadline"), "{message}");
    assert!(
        message.contains("1.0s") || message.contains("1s"),
        "{message}"
    );
    assert_eq!(result(&report, "path.here")["status"], "pass");
    assert_eq!(result(&report, "path.here.space")["status"], "pass");
    assert_eq!(report["summary"]["errors"], 1);
    assert_eq!(report["summary"]["status"], "fail");

    let junit = w.path().join("j.xml");
    xmllint_valid(&junit);
    assert_eq!(count(&junit, "//testcase[error]"), 1);
    assert_eq!(xpath(&junit, "string(/testsuites/@errors)"), "1");
}

/// Under `--strict` a warning fails the run, so it is shown like a failure: its details under
/// its row in the human view and in a section of the Markdown summary. Without `--strict` the
/// same warning stays one line.
#[test]
fn strict_shows_a_warnings_details_like_a_failures() {
    // Any disk is more than 1 % used: the free-space aspect warns.
    let w = workdir(
        "[[preflight.path]]\nname = \"here\"\npath = \".\"\nusage_warn_percent = 1\nusage_fail_percent = 100\n",
    );
    let plain = run(&w, &["preflight", "--no-color"]);
    assert_eq!(plain.status.code(), Some(0), "{}", show(&plain));
    assert!(
        !stdout(&plain).contains("used_percent:"),
        "{}",
        show(&plain)
    );

    let strict = run(&w, &["preflight", "--no-color", "--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{}", show(&strict));
    let text = stdout(&strict);
    let row = text.find("path.here.space").expect("the warning's row");
    let details = text.find("used_percent:").expect("the warning's details");
    assert!(details > row, "{text}");
    assert!(text.contains("reproduce: shipgate preflight"), "{text}");

    let md = run(&w, &["preflight", "--strict", "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(1));
    let md = stdout(&md);
    assert!(md.starts_with("### ❌"), "{md}");
    assert!(md.contains("#### ⚠️ `path.here.space`"), "{md}");
    assert!(md.contains("- **used_percent**:"), "{md}");
    let plain_md = stdout(&run(&w, &["preflight", "--format", "markdown"]));
    assert!(!plain_md.contains("#### "), "{plain_md}");
}
