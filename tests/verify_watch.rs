//! `shipgate verify --watch DURATION --every DURATION` against loopback servers: the rounds run
//! on schedule, the first failing round ends the watch (and no later round sends anything),
//! one line per round on stderr, one report with every round, flag errors, dry run, rerun.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use common::{TestServer, Workdir, json_report, stderr, stdout};

/// A server whose `/health` passes for the first `pass_first` requests and then answers 503;
/// `/other` always passes. Both count their requests.
struct Server {
    server: TestServer,
    health: Arc<AtomicU32>,
    other: Arc<AtomicU32>,
}

impl Server {
    fn start(pass_first: u32) -> Server {
        let health = Arc::new(AtomicU32::new(0));
        let other = Arc::new(AtomicU32::new(0));
        let (h, o) = (Arc::clone(&health), Arc::clone(&other));
        let router = Router::new()
            .route(
                "/health",
                get(move || {
                    let h = Arc::clone(&h);
                    async move {
                        if h.fetch_add(1, Ordering::SeqCst) < pass_first {
                            (StatusCode::OK, r#"{"status":"healthy"}"#).into_response()
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"down"}"#)
                                .into_response()
                        }
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "{}"
                }),
            )
            .route(
                "/other",
                get(move || {
                    let o = Arc::clone(&o);
                    async move {
                        o.fetch_add(1, Ordering::SeqCst);
                        "{}"
                    }
                }),
            );
        Server {
            server: TestServer::start(router),
            health,
            other,
        }
    }

    fn health_requests(&self) -> u32 {
        self.health.load(Ordering::SeqCst)
    }

    fn other_requests(&self) -> u32 {
        self.other.load(Ordering::SeqCst)
    }

    /// A config with the two checks, `http.health` and `http.other`, plus `extra` in [verify].
    fn config(&self, w: &Workdir, extra: &str) {
        w.write(
            "shipgate.toml",
            &format!(
                "[verify]\n{extra}\n[[verify.http]]\nname = \"health\"\nurl = \"{}\"\n\n[[verify.http]]\nname = \"other\"\nurl = \"{}\"\n",
                self.server.url("/health"),
                self.server.url("/other")
            ),
        );
    }
}

/// The report matches the checked-in schema, `watch` object included.
fn assert_schema_valid(report: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}\n{report:#}", errors.join("\n"));
}

/// The round lines of stderr (`round 3/4 at 12:05:00: …`).
fn round_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("round ")).collect()
}

fn rounds_of(report: &serde_json::Value) -> Vec<u64> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["details"]["round"].as_u64().expect("a round in details"))
        .collect()
}

#[test]
fn the_first_failing_round_ends_the_watch_and_the_report_says_which_and_when() {
    let s = Server::start(2);
    let w = Workdir::new();
    s.config(&w, "");
    let out = w
        .cmd()
        .args([
            "verify",
            "--watch",
            "3s",
            "--every",
            "1s",
            "--format",
            "json",
            "--output",
            "junit=junit.xml",
            "--output",
            "human=report.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_report(&out);
    assert_schema_valid(&report);
    let watch = &report["watch"];
    assert_eq!(watch["planned_rounds"], 4, "{report:#}");
    assert_eq!(watch["failed_round"], 3);
    assert_eq!(watch["every_ms"], 1000);
    assert_eq!(watch["watch_ms"], 3000);
    let rounds = watch["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    let statuses: Vec<&str> = rounds
        .iter()
        .map(|r| r["summary"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pass", "pass", "fail"]);
    // When: round 3 started about two seconds after round 1.
    let at = |r: &serde_json::Value| {
        humantime::parse_rfc3339(r["started_at"].as_str().unwrap()).unwrap()
    };
    let gap = at(&rounds[2]).duration_since(at(&rounds[0])).unwrap();
    assert!(
        gap >= Duration::from_millis(1900) && gap < Duration::from_secs(4),
        "{gap:?}"
    );
    // Every round's results, in order, each with its round; only round 3's health failed.
    assert_eq!(rounds_of(&report), [1, 1, 2, 2, 3, 3]);
    let failed: Vec<(&str, u64)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["details"]["round"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(failed, [("http.health", 3)]);
    assert_eq!(report["summary"]["total"], 6);
    assert_eq!(report["summary"]["failed"], 1);
    // No round 4: nothing more reached the server.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.health_requests(), 3);
    assert_eq!(s.other_requests(), 3);
    // One plain line per round on stderr (not a terminal).
    let err = stderr(&out);
    let lines = round_lines(&err);
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].starts_with("round 1/4 at "), "{err}");
    assert!(lines[0].ends_with(": 2 passed (2 checks)"), "{err}");
    assert!(
        lines[2].starts_with("round 3/4 at ") && lines[2].contains("1 failed, 1 passed"),
        "{err}"
    );
    // JUnit: a test case per check and round; the human report names the failing round.
    let junit_valid = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/junit-10.xsd"))
        .arg(w.path().join("junit.xml"))
        .output()
        .expect("xmllint is installed (scripts/test installs it)");
    assert!(junit_valid.status.success(), "{}", stderr(&junit_valid));
    let junit = w.read("junit.xml");
    assert!(junit.contains("(round 3/4)"), "{junit}");
    assert!(junit.contains("(round 1/4)"), "{junit}");
    let human = w.read("report.txt");
    assert!(
        human.contains("watch: failed in round 3, after rounds 1-2 passed (round 3/4 started at "),
        "{human}"
    );
    assert!(human.contains("http.health #3"), "{human}");
}

#[test]
fn a_passing_watch_runs_every_round_on_schedule_and_only_skip_apply_to_each() {
    let s = Server::start(u32::MAX);
    let w = Workdir::new();
    s.config(&w, "");
    let clock = Instant::now();
    let out = w
        .cmd()
        .args([
            "verify",
            "--watch",
            "2s",
            "--every",
            "1s",
            "--skip",
            "http.other",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let took = clock.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // watch / every + 1 rounds, the last about `watch` after the first.
    assert_eq!(s.health_requests(), 3);
    assert_eq!(s.other_requests(), 0, "--skip applies to every round");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let report = json_report(&out);
    assert_eq!(report["watch"]["planned_rounds"], 3);
    assert!(report["watch"].get("failed_round").is_none(), "{report:#}");
    assert_eq!(report["watch"]["rounds"].as_array().unwrap().len(), 3);
    assert_eq!(rounds_of(&report), [1, 2, 3]);
    assert_eq!(report["summary"]["status"], "pass");
    let err = stderr(&out);
    assert_eq!(round_lines(&err).len(), 3, "{err}");
    assert!(round_lines(&err)[2].starts_with("round 3/3 at "), "{err}");
}

#[test]
fn the_config_sets_the_schedule_and_quiet_prints_no_round_lines() {
    let s = Server::start(u32::MAX);
    let w = Workdir::new();
    s.config(&w, "watch = \"1s\"\nevery = \"1s\"\n");
    let out = w
        .cmd()
        .args([
            "verify",
            "-q",
            "--only",
            "http.health",
            "--format",
            "markdown",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.health_requests(), 2);
    assert_eq!(s.other_requests(), 0, "--only applies to every round");
    assert!(round_lines(&stderr(&out)).is_empty(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("watch: 2/2 rounds passed, every 1.0s for 1.0s"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn dry_run_runs_one_round_sends_nothing_and_says_it_would_repeat() {
    let s = Server::start(u32::MAX);
    let w = Workdir::new();
    s.config(&w, "");
    let clock = Instant::now();
    let out = w
        .cmd()
        .args([
            "verify",
            "--dry-run",
            "--watch",
            "3s",
            "--every",
            "1s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(clock.elapsed() < Duration::from_secs(3), "it did not wait");
    assert_eq!(s.health_requests() + s.other_requests(), 0);
    let report = json_report(&out);
    assert_eq!(report["watch"]["dry_run"], true);
    assert_eq!(report["watch"]["rounds"].as_array().unwrap().len(), 1);
    assert_eq!(report["watch"]["planned_rounds"], 4);
    let err = stderr(&out);
    assert_eq!(round_lines(&err).len(), 1, "{err}");
    assert!(
        err.contains("dry run: ran round 1 of 4; would repeat the checks every 1.0s for 3.0s"),
        "{err}"
    );
}

#[test]
fn wrong_schedules_are_refused_with_exit_2_before_anything_is_sent() {
    let s = Server::start(u32::MAX);
    let w = Workdir::new();
    s.config(&w, "");
    let refused = |args: &[&str], says: &str| {
        let out = w.cmd().arg("verify").args(args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(&["--every", "1s"], "--watch");
    refused(&["--watch", "1s", "--every", "2s"], "longer than --watch");
    refused(&["--watch", "1s", "--every", "0s"], "--every is 0");
    refused(&["--watch", "0s"], "--watch is 0");
    refused(&["--watch", "5"], "has no unit");
    refused(&["--watch", "1h", "--every", "1s"], "at most 1000");
    let out = w
        .cmd()
        .args(["preflight", "--watch", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let config = Workdir::new();
    config.write("shipgate.toml", "[preflight]\nwatch = \"1m\"\n");
    let out = config.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`watch` belongs in [verify]"),
        "{}",
        stderr(&out)
    );
    s.config(&w, "every = \"1s\"\n");
    refused(&[], "`every` is set but `watch` is not");
    // From [verify], the same mistake is placed at its line and said in the config's words.
    s.config(&w, "watch = \"1s\"\nevery = \"2s\"\n");
    refused(&[], "shipgate.toml:2:");
    refused(&[], "`every` (2.0s) is longer than `watch` (1.0s)");
    assert_eq!(s.health_requests() + s.other_requests(), 0);
}

#[test]
fn rerun_of_a_failed_watch_selects_the_failed_check_once() {
    let s = Server::start(1);
    let w = Workdir::new();
    s.config(&w, "");
    let out = w
        .cmd()
        .args([
            "verify",
            "--watch",
            "2s",
            "--every",
            "1s",
            "--output",
            "json=r.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(s.health_requests(), 2);
    let other_before = s.other_requests();
    let out = w
        .cmd()
        .args(["rerun", "r.json", "--format", "json"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("re-running 1 failed check"), "{err}");
    assert!(err.contains("until round 2/3"), "{err}");
    // The re-run watches again, only http.health, and stops at its first (failing) round.
    assert_eq!(out.status.code(), Some(1), "{err}");
    let report = json_report(&out);
    assert_eq!(report["watch"]["failed_round"], 1);
    assert_eq!(s.health_requests(), 3);
    assert_eq!(s.other_requests(), other_before);
}

#[test]
fn ctrl_c_stops_the_watch_and_writes_the_report_of_the_rounds_that_finished() {
    let s = Server::start(u32::MAX);
    let w = Workdir::new();
    s.config(&w, "");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(w.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "verify",
            "--watch",
            "60s",
            "--every",
            "1s",
            "--output",
            "json=r.json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waiting = Instant::now();
    while s.health_requests() < 2 && waiting.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Between round 2 and round 3.
    std::thread::sleep(Duration::from_millis(300));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the watch did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let report: serde_json::Value = serde_json::from_str(&w.read("r.json")).unwrap();
    assert_schema_valid(&report);
    assert_eq!(report["watch"]["interrupted"], true, "{report:#}");
    assert_eq!(report["watch"]["planned_rounds"], 61);
    let ran = report["watch"]["rounds"].as_array().unwrap().len() as u32;
    assert!(ran >= 2 && ran <= s.health_requests(), "{report:#}");
    assert_eq!(report["summary"]["status"], "pass");
}

#[test]
fn timeout_bounds_each_round() {
    let s = Server::start(u32::MAX);
    let w = Workdir::new();
    let clock = Instant::now();
    let out = w
        .cmd()
        .args([
            "verify",
            "--http",
            &s.server.url("/slow"),
            "--watch",
            "2s",
            "--every",
            "1s",
            "--timeout",
            "500ms",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        clock.elapsed() < Duration::from_secs(4),
        "{:?}",
        clock.elapsed()
    );
    let report = json_report(&out);
    assert_eq!(report["watch"]["failed_round"], 1, "{report:#}");
    let round = &report["watch"]["rounds"][0];
    assert!(round["duration_ms"].as_u64().unwrap() < 2000, "{round:#}");
    assert_eq!(report["results"][0]["status"], "error", "{report:#}");
}
