//! The command line itself: version, completions, usage errors.

mod common;

use common::{Workdir, stderr, stdout};

#[test]
fn version_and_completions() {
    let w = Workdir::new();
    let out = w.cmd().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("shipgate {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = w.cmd().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("preflight"));
}

#[test]
fn every_subcommand_is_listed() {
    let out = Workdir::new().cmd().arg("--help").output().unwrap();
    let help = stdout(&out);
    for command in [
        "preflight",
        "migrate",
        "rollback",
        "verify",
        "rate-limit-test",
    ] {
        assert!(help.contains(command), "{command} is missing:\n{help}");
    }
}

#[test]
fn nothing_to_check_is_an_input_error() {
    let out = Workdir::new().cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to check"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_only_id_is_an_input_error_with_a_suggestion() {
    let w = Workdir::new();
    let out = w
        .cmd()
        .args(["preflight", "--writable-dir", ".", "--only", "path.tmpp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no check has the id `path.tmpp`"),
        "{}",
        stderr(&out)
    );
}
