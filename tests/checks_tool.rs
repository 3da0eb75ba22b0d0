//! `[[preflight.tool]]` and `--require-tool` with executables the tests write themselves and put
//! on PATH, so the results do not depend on what the machine has installed.
//!
//! Unix only: the tools are shell scripts made executable with mode bits.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Workdir, json_report, result, stdout};
use serde_json::Value;

/// Writes an executable shell script `bin/<name>` running `body`.
fn script(w: &Workdir, name: &str, body: &str) {
    let path = w.write(&format!("bin/{name}"), &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A workdir with `bin/fake-tool` printing `fake-tool version 2.3.1`.
fn with_fake_tool() -> Workdir {
    let w = Workdir::new();
    script(&w, "fake-tool", "echo 'fake-tool version 2.3.1'");
    w
}

/// Runs with the workdir's `bin` first on PATH.
fn run(w: &Workdir, args: &[&str]) -> (Output, Value) {
    let path = format!(
        "{}:{}",
        w.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = w
        .cmd()
        .env("PATH", path)
        .args(["preflight", "--format", "json"])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

#[test]
fn tool_on_path_with_its_version() {
    let w = with_fake_tool();
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"fake-tool\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "tool.fake-tool");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["details"]["version"], "2.3.1");
    assert_eq!(r["details"]["command"], "fake-tool --version");
}

#[test]
fn min_version_pass_and_fail() {
    let w = with_fake_tool();
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"fake-tool\"\nmin_version = \"2.0\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "tool.fake-tool");
    assert_eq!(r["status"], "pass");
    assert!(
        message(r).contains("fake-tool 2.3.1 is at least 2.0"),
        "{r:#}"
    );

    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"fake-tool\"\nmin_version = \"3.0\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tool.fake-tool");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("fake-tool 2.3.1 is older than the required 3.0"),
        "{r:#}"
    );
}

#[test]
fn require_tool_flag() {
    let w = with_fake_tool();
    script(&w, "other-tool", "echo 'other-tool v18.19.0'");
    let (out, report) = run(
        &w,
        &[
            "--require-tool",
            "fake-tool>=2.3.1",
            "--require-tool",
            "other-tool",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "tool.fake-tool")["status"], "pass");
    assert_eq!(
        result(&report, "tool.other-tool")["details"]["version"],
        "18.19.0"
    );
    let (out, report) = run(&w, &["--require-tool", "fake-tool>=2.10"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "2.3.1 < 2.10 compares by number, not text"
    );
    assert_eq!(result(&report, "tool.fake-tool")["status"], "fail");
}

#[test]
fn pattern_capture_group_picks_the_version() {
    let w = Workdir::new();
    // Without a pattern the first number (the build, 7.0) would be taken.
    script(
        &w,
        "fake-tool",
        "echo 'fake-tool build 7.0 (version 2.3.1)'",
    );
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"fake-tool\"\npattern = 'version (\\d+\\.\\d+\\.\\d+)'\nmin_version = \"3.0\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tool.fake-tool");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert_eq!(r["details"]["version"], "2.3.1");

    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"fake-tool\"\nmin_version = \"3.0\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        result(&report, "tool.fake-tool")["details"]["version"],
        "7.0"
    );
}

#[test]
fn custom_command_and_version_on_stderr() {
    let w = Workdir::new();
    script(
        &w,
        "javaish",
        "if [ \"$1\" = \"-version\" ]; then echo 'javaish 17.0.2' >&2; else exit 9; fi",
    );
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"javaish\"\ncommand = \"javaish -version\"\nmin_version = \"17\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "tool.javaish");
    assert_eq!(r["details"]["version"], "17.0.2", "{r:#}");
}

#[test]
fn missing_tool_is_not_installed() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"no-such-tool-31337\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tool.no-such-tool-31337");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("`no-such-tool-31337` is not installed"),
        "{r:#}"
    );
}

#[test]
fn hanging_command_fails_at_the_timeout() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"sleepy\"\ncommand = \"sleep 30\"\ntimeout = \"1s\"\n",
    );
    let started = Instant::now();
    let (out, report) = run(&w, &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tool.sleepy");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("`sleep 30` did not finish within 1.0s"),
        "{r:#}"
    );
    assert!(
        took < Duration::from_secs(5),
        "waited {took:?} for a 1s timeout"
    );
}

#[test]
fn non_zero_exit_fails() {
    let w = Workdir::new();
    script(
        &w,
        "broken-tool",
        "echo 'broken-tool: cannot load libfoo.so' >&2\nexit 3",
    );
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"broken-tool\"\nmin_version = \"1\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tool.broken-tool");
    assert_eq!(r["status"], "fail");
    let m = message(r);
    assert!(m.contains("exited with") && m.contains('3'), "{r:#}");
    assert!(
        m.contains("cannot load libfoo.so"),
        "shows what the tool said: {r:#}"
    );
}

#[test]
fn output_without_a_version_fails() {
    let w = Workdir::new();
    script(&w, "mute-tool", "echo 'no numbers here'");
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"mute-tool\"\nmin_version = \"1\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(message(result(&report, "tool.mute-tool")).contains("no version number"));
}

#[test]
fn without_a_minimum_finding_the_tool_is_enough() {
    // dash and ssh reject `--version`; a check that only asks for the tool must still pass.
    let w = Workdir::new();
    script(
        &w,
        "no-version-flag",
        "echo 'illegal option --version' >&2\nexit 2",
    );
    w.write(
        "shipgate.toml",
        "[[preflight.tool]]\nname = \"no-version-flag\"\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let r = result(&report, "tool.no-version-flag");
    assert_eq!(r["status"], "pass");
    assert!(message(r).contains("found at"), "{r:#}");
    assert!(
        r["details"]["path"]
            .as_str()
            .unwrap()
            .ends_with("/no-version-flag")
    );
}
