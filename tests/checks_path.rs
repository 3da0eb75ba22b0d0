//! `[[preflight.path]]`, `--writable-dir` and `--create-dir`: directories exist (or are created
//! with the right mode), are writable and have room.
//!
//! Unix only: the tests read and set mode bits (Windows has none; README "Windows").
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::{Workdir, json_report, result, stdout};
use serde_json::Value;

/// Usage thresholds no real disk crosses, so only the aspect under test decides.
const ANY_USAGE: &str = "usage_warn_percent = 100\nusage_fail_percent = 100";

fn run(w: &Workdir, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args(["preflight", "--format", "json"])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

/// A config with one `[[preflight.path]]` named `data` at `path`, plus `extra` lines.
fn config(w: &Workdir, path: &str, extra: &str) {
    w.write(
        "shipgate.toml",
        &format!("[[preflight.path]]\nname = \"data\"\npath = \"{path}\"\n{extra}\n"),
    );
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn existing_writable_directory_passes() {
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("data")).unwrap();
    config(&w, "data", ANY_USAGE);
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    for id in ["path.data", "path.data.writable", "path.data.space"] {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert!(message(result(&report, "path.data.writable")).contains("is writable"));
    assert!(
        result(&report, "path.data.space")["details"]["free_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The write test cleans up after itself.
    assert_eq!(
        std::fs::read_dir(w.path().join("data")).unwrap().count(),
        0,
        "left a file behind"
    );
}

#[test]
fn writable_dir_flag_uses_the_last_component_as_name() {
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("uploads")).unwrap();
    let (out, report) = run(&w, &["--writable-dir", "uploads"]);
    assert_ne!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(result(&report, "path.uploads")["status"], "pass");
    assert_eq!(result(&report, "path.uploads.writable")["status"], "pass");
}

#[test]
fn missing_directory_without_create_fails() {
    let w = Workdir::new();
    config(&w, "data", ANY_USAGE);
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "path.data");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("data does not exist"), "{r:#}");
    assert!(
        message(r).contains("create = true"),
        "the message says how to fix it: {r:#}"
    );
    for id in ["path.data.writable", "path.data.space"] {
        assert_eq!(result(&report, id)["status"], "skip", "{id}");
    }
    assert!(!w.path().join("data").exists());
}

#[test]
fn create_makes_the_directory_with_exactly_the_mode() {
    // 770 also proves the umask (usually 022, which would drop g+w) does not narrow the mode.
    for (mode, expected) in [("750", 0o750), ("770", 0o770), ("0o700", 0o700)] {
        let w = Workdir::new();
        config(
            &w,
            "var/data",
            &format!("create = true\nmode = \"{mode}\"\n{ANY_USAGE}"),
        );
        let (out, report) = run(&w, &[]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stdout(&out));
        let r = result(&report, "path.data");
        assert_eq!(r["status"], "pass", "{r:#}");
        assert_eq!(r["details"]["created"], true, "{r:#}");
        let dir = w.path().join("var/data");
        assert!(dir.is_dir());
        assert_eq!(
            mode_of(&dir),
            expected,
            "mode {mode}: got {:o}",
            mode_of(&dir)
        );
        assert_eq!(result(&report, "path.data.writable")["status"], "pass");
        // A second run finds it and reports its mode.
        let (out, report) = run(&w, &[]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            result(&report, "path.data")["details"]["mode"],
            format!("{expected:o}")
        );
    }
}

#[test]
fn bad_mode_is_an_input_error() {
    let w = Workdir::new();
    config(&w, "data", "create = true\nmode = \"rwx\"");
    let out = w.cmd().args(["preflight"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!w.path().join("data").exists());
}

#[test]
fn create_dir_flag_creates_with_mode_755() {
    let w = Workdir::new();
    let (out, report) = run(&w, &["--create-dir", "cache/thumbs"]);
    assert_ne!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(result(&report, "path.thumbs")["status"], "pass");
    assert_eq!(mode_of(&w.path().join("cache/thumbs")), 0o755);
}

#[test]
fn dry_run_does_not_create() {
    let w = Workdir::new();
    config(
        &w,
        "data",
        &format!("create = true\nmode = \"750\"\n{ANY_USAGE}"),
    );
    let (out, report) = run(&w, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "path.data");
    assert_eq!(r["status"], "skip", "{r:#}");
    assert!(
        message(r).contains("would create it with mode 750"),
        "{r:#}"
    );
    assert!(
        !w.path().join("data").exists(),
        "--dry-run created the directory"
    );
    assert_eq!(result(&report, "path.data.writable")["status"], "skip");
}

#[test]
fn dry_run_writes_no_test_file() {
    // A created-and-removed test file would still change the directory's modification time.
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("data")).unwrap();
    let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::open(w.path().join("data"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    config(&w, "data", ANY_USAGE);
    let (out, report) = run(&w, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "path.data.writable");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains("no test file written"), "{r:#}");
    let mtime = std::fs::metadata(w.path().join("data"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime, past, "the dry run wrote into the directory");
}

#[test]
fn not_writable_fails_naming_the_path() {
    // Tests may run as root, who can write almost anywhere; not into /proc/self.
    let w = Workdir::new();
    config(
        &w,
        "/proc/self",
        "usage_warn_percent = 100\nusage_fail_percent = 100",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "path.data")["status"], "pass");
    let r = result(&report, "path.data.writable");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(message(r).contains("/proc/self is not writable"), "{r:#}");
}

#[test]
fn writable_false_skips_the_write_test() {
    let w = Workdir::new();
    config(
        &w,
        "/proc/self",
        "writable = false\nusage_warn_percent = 100\nusage_fail_percent = 100",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let ids: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["path.data", "path.data.space"]);
}

#[test]
fn min_free_above_the_disk_fails() {
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("data")).unwrap();
    config(&w, "data", &format!("min_free = \"1000TiB\"\n{ANY_USAGE}"));
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "path.data.space");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(message(r).contains("less than the required 1000"), "{r:#}");
    assert_eq!(r["details"]["min_free_bytes"], 1000u64 << 40);
    // A small requirement passes.
    config(&w, "data", &format!("min_free = \"1KiB\"\n{ANY_USAGE}"));
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "path.data.space")["status"], "pass");
}

#[test]
fn min_free_flag_applies_to_writable_dirs() {
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("data")).unwrap();
    let (out, report) = run(&w, &["--writable-dir", "data", "--min-free", "1000TiB"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "path.data.space")["status"], "fail");
}

#[test]
fn usage_thresholds_warn_and_fail() {
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("data")).unwrap();
    config(
        &w,
        "data",
        "usage_warn_percent = 0\nusage_fail_percent = 100",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "path.data.space");
    assert_eq!(r["status"], "warn", "{r:#}");
    assert!(
        message(r).contains("above the warning level of 0%"),
        "{r:#}"
    );
    let (out, _) = run(&w, &["--strict"]);
    assert_eq!(out.status.code(), Some(1));

    config(&w, "data", "usage_warn_percent = 0\nusage_fail_percent = 0");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "path.data.space");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(
        message(r).contains("above the failure level of 0%"),
        "{r:#}"
    );
}

#[test]
fn a_file_is_not_a_directory() {
    let w = Workdir::new();
    w.write("data", "I am a file");
    config(&w, "data", &format!("create = true\n{ANY_USAGE}"));
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "path.data");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("exists but is not a directory"),
        "{r:#}"
    );
    assert_eq!(w.read("data"), "I am a file", "the file was touched");
}

#[test]
fn path_from_a_variable() {
    let w = Workdir::new();
    let dir = w.path().join("from-env");
    std::fs::create_dir(&dir).unwrap();
    config(&w, "${DATA_DIR}", ANY_USAGE);
    let out = w
        .cmd()
        .args(["preflight", "--format", "json"])
        .env("DATA_DIR", dir.to_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json_report(&out);
    assert_eq!(
        result(&report, "path.data")["details"]["path"],
        dir.to_str().unwrap()
    );
}

/// Sets a file's modification time the way a runbook would (`touch -d`).
fn touch(path: &std::path::Path, when: &str) {
    let status = std::process::Command::new("touch")
        .args(["-d", when])
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
}

#[test]
fn newest_backup_is_young_and_large_enough() {
    let w = Workdir::new();
    let big = "x".repeat(4096);
    w.write("backups/backup_1.dump", &big);
    w.write("backups/backup_2.dump", &big);
    w.write("backups/backup_3.dump.partial", "newer but not a match");
    w.write("backups/notes.txt", "");
    touch(&w.path().join("backups/backup_1.dump"), "3 days ago");
    touch(&w.path().join("backups/backup_2.dump"), "2 hours ago");
    config(
        &w,
        "backups",
        &format!("{ANY_USAGE}\nnewest = \"backup_*.dump\"\nmax_age = \"26h\"\nmin_size = \"2KiB\""),
    );
    let (out, report) = run(&w, &[]);
    let r = result(&report, "path.data.newest");
    assert_eq!(r["status"], "pass", "{}", stdout(&out));
    let text = message(r);
    assert!(
        text.contains("backup_2.dump is the newest of 2 matching backup_*.dump"),
        "{text}"
    );
    assert!(text.contains("(2h old, 4.0 KiB)"), "{text}");
    assert_eq!(r["details"]["bytes"], 4096);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn newest_backup_too_old_too_small_or_missing_fails() {
    let w = Workdir::new();
    w.write("backups/daily/backup_1.dump", "tiny");
    touch(&w.path().join("backups/daily/backup_1.dump"), "2 days ago");
    config(
        &w,
        "backups",
        &format!(
            "{ANY_USAGE}\nnewest = \"daily/backup_*.dump\"\nmax_age = \"26h\"\nmin_size = \"1MiB\""
        ),
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r = result(&report, "path.data.newest");
    assert_eq!(r["status"], "fail");
    let text = message(r);
    assert!(
        text.contains("daily/backup_1.dump is the newest of 1"),
        "{text}"
    );
    assert!(text.contains("older than the allowed 1day 2h"), "{text}");
    assert!(text.contains("smaller than the required 1.0 MiB"), "{text}");

    config(
        &w,
        "backups",
        &format!("{ANY_USAGE}\nnewest = \"backup_*.sql\""),
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = message(result(&report, "path.data.newest")).to_string();
    assert!(
        text.starts_with("no file matches backup_*.sql in ") && text.contains("backups"),
        "{text}"
    );
}

#[test]
fn max_age_without_newest_and_a_wild_folder_are_config_errors() {
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("backups")).unwrap();
    config(&w, "backups", "max_age = \"26h\"");
    let out = w.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("`max_age` applies to the file `newest` names"),
        "{}",
        common::stderr(&out)
    );
    config(&w, "backups", "newest = \"*/backup.dump\"");
    let out = w.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("wildcards go in the file name only"),
        "{}",
        common::stderr(&out)
    );
}
