//! Reproducing a CI failure on a laptop: `reproduce` lines that run as written, and
//! `shipgate rerun REPORT.json`, which re-runs what failed in a report.

mod common;

use std::process::Command;

use common::{Workdir, json_report, postgres_url, result, stderr, stdout};

fn both(out: &std::process::Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// The test server's URL with a password (trust auth ignores it): a secret in the URL.
fn url_with_password() -> String {
    let url = url::Url::parse(&postgres_url()).unwrap();
    let mut with = url.clone();
    with.set_password(Some("hunter2-sentinel")).unwrap();
    if with.username().is_empty() {
        with.set_username("postgres").unwrap();
    }
    with.to_string()
}

#[test]
fn a_reproduce_line_names_the_variable_a_secret_came_from_and_runs_as_written() {
    let w = Workdir::new();
    let url = url_with_password();
    // As the shell expanded `--database-url "$DATABASE_URL"`.
    let out = w
        .cmd()
        .env("DATABASE_URL", &url)
        .args(["preflight", "--format", "json", "--database-url", &url])
        .args(["--require-table", "no_such_table_here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let report = json_report(&out);
    let line = result(&report, "database.main.tables")["reproduce"]
        .as_str()
        .expect("reproduce")
        .to_string();
    assert!(
        line.contains("--database-url \"${DATABASE_URL}\""),
        "{line}"
    );
    assert!(!stdout(&out).contains("hunter2-sentinel"));
    assert_eq!(
        report["invocation"],
        "shipgate preflight --database-url \"${DATABASE_URL}\" --require-table no_such_table_here"
    );

    // The line as a person pastes it into a shell where DATABASE_URL is set.
    let bin = assert_cmd::cargo::cargo_bin("shipgate");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", &line])
        .current_dir(w.path())
        .env_clear()
        .env("PATH", path)
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("no_such_table_here"),
        "{}",
        both(&out)
    );
    assert!(
        stdout(&out).contains("database.main.tables"),
        "{}",
        both(&out)
    );
}

const CONFIG: &str = r#"[preflight.env]
required = ["PRESENT", "ABSENT"]

[[preflight.path]]
name = "reports"
path = "reports"
"#;

#[test]
fn rerun_runs_again_only_what_failed_in_a_report() {
    let w = Workdir::new();
    w.write("shipgate.toml", CONFIG);
    let out = w
        .cmd()
        .env("PRESENT", "yes")
        .args(["preflight", "--output", "json=ci-report.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));

    // On the laptop: the variable is set now, the directory still missing.
    let out = w
        .cmd()
        .env("ABSENT", "now-set")
        .args(["rerun", "ci-report.json", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("re-running 2 failed checks of the preflight run in ci-report.json (and what they need): env.ABSENT, path.reports"),
        "{}",
        both(&out)
    );
    let report = json_report(&out);
    let ran: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!ran.contains(&"env.PRESENT"), "{ran:?}");
    assert_eq!(result(&report, "env.ABSENT")["status"], "pass");
    assert_eq!(result(&report, "path.reports")["status"], "fail");

    // Once it is fixed, the fresh report has nothing left to re-run.
    std::fs::create_dir(w.path().join("reports")).unwrap();
    let out = w
        .cmd()
        .env("ABSENT", "now-set")
        .args(["rerun", "ci-report.json", "--output", "json=laptop.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let out = w.cmd().args(["rerun", "laptop.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("nothing to re-run"), "{}", both(&out));
}

#[test]
fn rerun_refuses_what_is_not_a_report() {
    let w = Workdir::new();
    w.write("junk.json", "[1, 2]");
    let out = w.cmd().args(["rerun", "junk.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stderr(&out).contains("not a shipgate report"),
        "{}",
        both(&out)
    );
    let out = w.cmd().args(["rerun", "missing.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stderr(&out).contains("cannot read the report missing.json"),
        "{}",
        both(&out)
    );
}
