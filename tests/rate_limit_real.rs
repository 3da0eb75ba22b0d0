//! `shipgate rate-limit-test` against real rate limiters nobody here wrote: express-rate-limit
//! (tests/ratelimit-node/server.js under node) and nginx's `limit_req`, each started by the test
//! on loopback with fresh state and killed when the test ends. scripts/test installs nginx, node
//! and the npm packages (`npm ci` from the committed package-lock.json).
//!
//! What is asserted is what a user reads in the report: the verdict, the message, and the
//! numbers in `details`.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::express::Express;
use common::process::wait_until;
use common::{Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

// ------------------------------------------------------------------------------- helpers --

/// One `shipgate rate-limit-test` run with a JSON report: exit code, report, stdout + stderr.
fn rate_limit_test(w: &Workdir, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = w
        .cmd()
        .arg("rate-limit-test")
        .args(args)
        // Bounded even if a limiter hangs: shipgate's own overall deadline.
        .args(["--format", "json", "--timeout", "60s"])
        .output()
        .unwrap();
    let all = format!("stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    (out.status.code(), json_report(&out), all)
}

fn message(r: &Value) -> &str {
    r["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {r:#}"))
}

fn by_status(r: &Value) -> HashMap<String, u64> {
    r["details"]["by_status"]
        .as_object()
        .unwrap_or_else(|| panic!("no by_status in {r:#}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

fn statuses(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The id of a target named after the URL's host.
const ID: &str = "rate-limit.127-0-0-1";

/// A program from Debian's packages: on PATH, or where Debian puts it (/usr/sbin is not on
/// every user's PATH).
fn program(name: &str, debian: &str, package: &str) -> PathBuf {
    which::which(name).unwrap_or_else(|_| {
        let path = PathBuf::from(debian);
        assert!(
            path.is_file(),
            "{name} is not installed (not on PATH, not at {debian}): run scripts/test, which \
             installs it, or `apt-get install {package}`"
        );
        path
    })
}

/// The runbook's limiter (100 per 60 s) in one header syntax: the limit is found exactly, the
/// headers advertise it in that syntax, and every 429 says when to come back.
fn express_headers(variant: &str, syntaxes: &[&str], window: Option<u64>, wording: &str) {
    let w = Workdir::new();
    let express = Express::start(&w, &[variant]);
    let url = express.url(variant);
    let (code, report, all) =
        rate_limit_test(&w, &[&url, "--expect-limit", "100", "--requests", "110"]);
    assert_eq!(code, Some(0), "{all}");

    let limit = result(&report, ID);
    assert_eq!(limit["status"], "pass", "{limit:#}");
    assert!(
        message(limit).starts_with(
            "limited after 100 requests, expected 100 (first 429 at request 101 after "
        ),
        "{limit:#}"
    );
    let d = &limit["details"];
    assert_eq!(d["observed_limit"], 100, "{limit:#}");
    assert_eq!(d["first_limited_index"], 101, "{limit:#}");
    assert_eq!(d["leaks"], 0, "{limit:#}");
    assert_eq!(by_status(limit), statuses(&[("200", 100), ("429", 10)]));
    assert_eq!(d["transport_errors"], 0, "{limit:#}");
    assert!(
        d["requests_per_second"].as_f64().unwrap() > 0.0,
        "{limit:#}"
    );
    assert!(d["p50_ms"].as_f64().unwrap() > 0.0, "{limit:#}");
    // The window comes from the policy's `w` where the syntax has one.
    match window {
        Some(s) => assert_eq!(d["window_s"].as_f64(), Some(s as f64), "{limit:#}"),
        None => assert!(d["window_s"].is_null(), "{limit:#}"),
    }

    let headers = result(&report, &format!("{ID}.headers"));
    assert_eq!(headers["status"], "pass", "{headers:#}");
    let d = &headers["details"];
    assert_eq!(d["syntaxes"], serde_json::json!(syntaxes), "{headers:#}");
    assert_eq!(d["advertised_limit"], 100, "{headers:#}");
    assert_eq!(d["advertised_window_s"].as_u64(), window, "{headers:#}");
    // Retry-After on every one of the 10 limited responses.
    assert_eq!(d["limited_without_retry_after"], 0, "{headers:#}");
    assert!(message(headers).starts_with(wording), "{headers:#}");
    assert!(
        message(headers).ends_with(
            "remaining counts down to 0 at the limit, every limited response says when to retry"
        ),
        "{headers:#}"
    );
}

#[test]
fn express_draft6_headers() {
    express_headers(
        "draft-6",
        &["draft-6"],
        Some(60),
        "RateLimit-* (IETF draft 6), limit 100 per 60s: ",
    );
}

#[test]
fn express_draft7_headers() {
    express_headers(
        "draft-7",
        &["draft-7"],
        Some(60),
        "RateLimit (IETF draft 7), limit 100 per 60s: ",
    );
}

#[test]
fn express_draft8_headers() {
    // express-rate-limit 8 sends `RateLimit-Policy: "100-in-1min"; q=100; w=60; pk=:…:`.
    express_headers(
        "draft-8",
        &["draft-8"],
        Some(60),
        "RateLimit (IETF draft 8+), limit 100 per 60s: ",
    );
}

#[test]
fn express_legacy_headers_only() {
    // X-RateLimit-* has no window: only the limit is advertised.
    express_headers(
        "legacy",
        &["legacy"],
        None,
        "X-RateLimit-* (legacy), limit 100: ",
    );
}

#[test]
fn express_legacy_and_draft7_headers_together() {
    // Both syntaxes are named; the newer one is the one whose policy counts.
    express_headers(
        "draft-7+legacy",
        &["legacy", "draft-7"],
        Some(60),
        "X-RateLimit-* (legacy), RateLimit (IETF draft 7), limit 100 per 60s: ",
    );
}

#[test]
fn express_without_any_headers() {
    // standardHeaders: false, legacyHeaders: false: express-rate-limit then sends no
    // Retry-After either. The limit is still found exactly; the headers are a warning.
    let w = Workdir::new();
    let express = Express::start(&w, &["none"]);
    let url = express.url("none");
    let (code, report, all) =
        rate_limit_test(&w, &[&url, "--expect-limit", "100", "--requests", "110"]);
    assert_eq!(
        code,
        Some(0),
        "warnings do not fail without --strict: {all}"
    );
    assert_eq!(report["summary"]["warnings"], 1, "{all}");

    let limit = result(&report, ID);
    assert_eq!(limit["status"], "pass", "{limit:#}");
    assert_eq!(limit["details"]["observed_limit"], 100, "{limit:#}");
    assert_eq!(limit["details"]["first_limited_index"], 101, "{limit:#}");
    assert_eq!(by_status(limit), statuses(&[("200", 100), ("429", 10)]));
    assert!(limit["details"]["window_s"].is_null(), "{limit:#}");

    let headers = result(&report, &format!("{ID}.headers"));
    assert_eq!(headers["status"], "warn", "{headers:#}");
    assert_eq!(
        message(headers),
        "no response carried rate-limit headers: clients cannot pace themselves; \
         10 of 10 limited responses had no Retry-After",
        "{headers:#}"
    );
    assert_eq!(headers["details"]["syntaxes"], serde_json::json!([]));
    assert!(headers["details"]["advertised_limit"].is_null());
    assert_eq!(headers["details"]["limited_without_retry_after"], 10);

    // --strict: the same warning fails the run.
    let (code, report, all) = rate_limit_test(
        &w,
        &[&url, "--expect-limit", "100", "--requests", "5", "--strict"],
    );
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(result(&report, &format!("{ID}.headers"))["status"], "warn");
}

#[test]
fn express_limit_lower_than_expected() {
    let w = Workdir::new();
    let express = Express::start(&w, &["draft-7"]);
    let url = express.url("draft-7");
    let (code, report, all) =
        rate_limit_test(&w, &[&url, "--expect-limit", "140", "--requests", "110"]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(report["summary"]["status"], "fail", "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "fail", "{limit:#}");
    assert!(
        message(limit)
            .starts_with("limited after 100 requests, expected 140 (first 429 at request 101"),
        "{limit:#}"
    );
    assert_eq!(limit["details"]["observed_limit"], 100);
    assert_eq!(limit["details"]["expected_limit"], 140);
    // The headers tell the truth about this limiter (100), whatever the runbook expected.
    let headers = result(&report, &format!("{ID}.headers"));
    assert_eq!(headers["status"], "pass", "{headers:#}");
    assert_eq!(headers["details"]["advertised_limit"], 100);
}

#[test]
fn express_trust_proxy_can_be_dodged_with_x_forwarded_for() {
    // The seed's curl loop sends `X-Forwarded-For: 192.168.1.1` (a header value only: every
    // request goes to 127.0.0.1). Two targets in one config file, one per express app.
    let w = Workdir::new();
    let express = Express::start(&w, &["trust-proxy", "no-trust-proxy"]);
    let target = |name: &str, variant: &str| {
        format!(
            "[[rate_limit.target]]\n\
             name = \"{name}\"\n\
             url = \"{}\"\n\
             requests = 110\n\
             expect_limit = 100\n\
             probe_bypass = true\n\
             headers = {{ \"X-Forwarded-For\" = \"192.168.1.1\" }}\n\n",
            express.url(variant)
        )
    };
    w.write(
        "shipgate.toml",
        &format!(
            "{}{}",
            target("trusting", "trust-proxy"),
            target("direct", "no-trust-proxy")
        ),
    );
    let (code, report, all) = rate_limit_test(&w, &[]);
    assert_eq!(code, Some(1), "{all}");

    // Both limiters engage at exactly 100 (the trusting one keyed on 192.168.1.1).
    for name in ["trusting", "direct"] {
        let limit = result(&report, &format!("rate-limit.{name}"));
        assert_eq!(limit["status"], "pass", "{limit:#}");
        assert_eq!(limit["details"]["observed_limit"], 100, "{limit:#}");
        assert!(
            limit["location"].to_string().contains("shipgate.toml"),
            "results point at their target in the config: {limit:#}"
        );
    }

    // trust proxy = true: every changed X-Forwarded-For, and dropping the header (the socket
    // address, 127.0.0.1, is then the key), gets through while unchanged requests get 429.
    let bypass = result(&report, "rate-limit.trusting.bypass");
    assert_eq!(bypass["status"], "fail", "{bypass:#}");
    assert!(
        message(bypass).starts_with("the limiter can be dodged: 6 of 6 passed after the limit"),
        "{bypass:#}"
    );
    assert!(
        message(bypass).contains("X-Forwarded-For: 192.0.2.10"),
        "{bypass:#}"
    );
    assert!(
        message(bypass).contains("without X-Forwarded-For"),
        "{bypass:#}"
    );
    assert!(message(bypass).contains("`trust proxy`"), "{bypass:#}");
    assert_eq!(bypass["details"]["probes"], 6);
    assert_eq!(bypass["details"]["controls_passed"], 0);
    assert_eq!(bypass["details"]["dodged"].as_array().unwrap().len(), 6);

    // trust proxy not set: keyed on the connection's address, the header changes nothing.
    let bypass = result(&report, "rate-limit.direct.bypass");
    assert_eq!(bypass["status"], "pass", "{bypass:#}");
    assert_eq!(
        message(bypass),
        "4 requests with rotated X-Forwarded-For values and 2 without the header stayed \
         limited, like the unchanged ones"
    );
    assert_eq!(bypass["details"]["dodged"], serde_json::json!([]));

    // The limiter itself noticed: express-rate-limit logs its validation errors.
    wait_until(
        "express-rate-limit's warnings",
        Duration::from_secs(5),
        || {
            let log = express.log_text();
            log.contains("ERR_ERL_PERMISSIVE_TRUST_PROXY")
                && log.contains("ERR_ERL_UNEXPECTED_X_FORWARDED_FOR")
        },
    );
}

#[test]
fn express_trust_proxy_dodged_without_a_header_of_ours() {
    // No X-Forwarded-For in the burst: the rotated values alone get through.
    let w = Workdir::new();
    let express = Express::start(&w, &["trust-proxy"]);
    let url = express.url("trust-proxy");
    let (code, report, all) = rate_limit_test(&w, &[&url, "--requests", "110", "--probe-bypass"]);
    assert_eq!(code, Some(1), "{all}");
    let bypass = result(&report, &format!("{ID}.bypass"));
    assert_eq!(bypass["status"], "fail", "{bypass:#}");
    assert!(
        message(bypass).starts_with("the limiter can be dodged: 4 of 4 passed after the limit"),
        "{bypass:#}"
    );
    assert!(
        !message(bypass).contains("without X-Forwarded-For"),
        "{bypass:#}"
    );
}

#[test]
fn express_short_window_recovers_after_retry_after() {
    // 5 per 2 s: the 429s say `Retry-After: 2` (or 1), and a request after that wait passes.
    let w = Workdir::new();
    let express = Express::start(&w, &["short-window"]);
    let url = express.url("short-window");
    let started = Instant::now();
    let (code, report, all) = rate_limit_test(
        &w,
        &[
            &url,
            "--expect-limit",
            "5",
            "--requests",
            "8",
            "--verify-recovery",
            "--max-wait",
            "10s",
        ],
    );
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "pass", "{limit:#}");
    assert_eq!(limit["details"]["observed_limit"], 5);
    assert_eq!(limit["details"]["window_s"].as_f64(), Some(2.0));
    assert_eq!(by_status(limit), statuses(&[("200", 5), ("429", 3)]));
    let headers = result(&report, &format!("{ID}.headers"));
    assert_eq!(headers["status"], "pass", "{headers:#}");
    assert_eq!(headers["details"]["advertised_limit"], 5);
    assert_eq!(headers["details"]["advertised_window_s"], 2);

    let recovery = result(&report, &format!("{ID}.recovery"));
    assert_eq!(recovery["status"], "pass", "{recovery:#}");
    assert!(
        message(recovery).starts_with("answered 200 after waiting ")
            && message(recovery).ends_with(" (Retry-After)"),
        "{recovery:#}"
    );
    assert_eq!(recovery["details"]["status"], 200);
    let wait_ms = recovery["details"]["wait_ms"].as_u64().unwrap();
    assert!((1000..=2000).contains(&wait_ms), "{recovery:#}");
    // It really waited, and not much longer than asked.
    assert!(
        took >= Duration::from_millis(wait_ms) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

// ---------------------------------------------------------------------- nginx limit_req --

/// The first line of every generated config: one request per minute, so within a test the
/// bucket does not refill and the counts are exact (1 + burst).
const ZONE: &str = "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/m;";

/// Debian's nginx run by the test itself: its own config, prefix, pid file and error log in a
/// temporary directory, one process (`master_process off`, so killing it leaves no workers
/// behind), on a free loopback port. Never the system service. Killed on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx whose `location /` serves a static file through `directives`.
    ///
    /// Not `return 200 "ok";` there as one might write: `return` answers in nginx's rewrite
    /// phase, before `limit_req` (preaccess phase) ever runs; see
    /// `nginx_return_answers_before_limit_req`. A file is served in the content phase.
    fn start(directives: &str) -> Nginx {
        Self::start_with(&format!(
            "location / {{\n            {directives}\n        }}"
        ))
    }

    fn start_with(locations: &str) -> Nginx {
        let binary = program("nginx", "/usr/sbin/nginx", "nginx");
        // A token only this nginx answers with: a stranger on a reused port is not taken for it.
        let token = uuid::Uuid::new_v4().simple().to_string();
        // Bounded retries: another process may take the port between our probe and nginx's bind.
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("nginx dir");
            std::fs::create_dir(dir.path().join("www")).unwrap();
            std::fs::write(dir.path().join("www/health"), "ok\n").unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free loopback port")
                .port();
            let p = dir.path().display();
            let config = format!(
                "daemon off;\n\
                 master_process off;\n\
                 worker_processes 1;\n\
                 pid {p}/nginx.pid;\n\
                 error_log {p}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n    \
                     access_log off;\n    \
                     default_type text/plain;\n    \
                     client_body_temp_path {p}/body;\n    \
                     proxy_temp_path {p}/proxy;\n    \
                     fastcgi_temp_path {p}/fastcgi;\n    \
                     uwsgi_temp_path {p}/uwsgi;\n    \
                     scgi_temp_path {p}/scgi;\n    \
                     {ZONE}\n    \
                     server {{\n        \
                         listen 127.0.0.1:{port};\n        \
                         root {p}/www;\n        \
                         location = /ready {{ return 200 \"{token}\"; }}\n        \
                         {locations}\n    \
                     }}\n\
                 }}\n"
            );
            std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
            let log = File::create(dir.path().join("stderr.log")).unwrap();
            let child = StdCommand::new(&binary)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                // Startup errors too, before the config's error_log is open.
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut nginx = Nginx { child, port, dir };
            let mut exited = None;
            wait_until("nginx to answer", Duration::from_secs(10), || {
                if let Some(status) = nginx.child.try_wait().expect("try_wait") {
                    exited = Some(status);
                    return true;
                }
                nginx.get("/ready").is_some_and(|r| r.ends_with(&token))
            });
            let Some(status) = exited else {
                return nginx;
            };
            let errors = nginx.errors();
            if !errors.contains("Address already in use") {
                panic!("nginx exited ({status}) before answering:\n{errors}");
            }
            // The port was taken meanwhile: another port, another directory.
        }
        panic!("nginx found no free port in 5 tries");
    }

    /// A plain HTTP/1.0 GET (for readiness only: it bypasses shipgate), bounded by timeouts.
    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(200),
        )
        .ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }

    fn errors(&self) -> String {
        ["error.log", "stderr.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_default_503_is_not_taken_for_a_limiter_without_limited_status() {
    let nginx = Nginx::start("limit_req zone=z burst=4 nodelay;");
    let w = Workdir::new();
    let (code, report, all) = rate_limit_test(&w, &[&nginx.url(), "--requests", "8"]);
    assert_eq!(code, Some(1), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "fail", "{limit:#}");
    assert_eq!(
        message(limit),
        "no 429 after 8 requests: limiter not engaged; but 3 answered 503 (nginx's limit_req \
         answers 503 unless limit_req_status is set): pass --limited-status 503 if that is the \
         limiter",
        "{limit:#}"
    );
    assert_eq!(by_status(limit), statuses(&[("200", 5), ("503", 3)]));
    assert!(limit["details"]["observed_limit"].is_null());
}

#[test]
fn nginx_default_503_with_limited_status() {
    let nginx = Nginx::start("limit_req zone=z burst=4 nodelay;");
    let w = Workdir::new();
    let (code, report, all) = rate_limit_test(
        &w,
        &[
            &nginx.url(),
            "--requests",
            "8",
            "--limited-status",
            "503",
            "--expect-limit",
            "5",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "pass", "{limit:#}");
    assert!(
        message(limit)
            .starts_with("limited after 5 requests, expected 5 (first 503 at request 6 after "),
        "{limit:#}"
    );
    assert_eq!(limit["details"]["observed_limit"], 5);
    assert_eq!(limit["details"]["limited_status"], 503);
    assert_eq!(limit["details"]["leaks"], 0);
    assert_eq!(by_status(limit), statuses(&[("200", 5), ("503", 3)]));
    // nginx advertises nothing and sends no Retry-After: a warning, not a failure.
    let headers = result(&report, &format!("{ID}.headers"));
    assert_eq!(headers["status"], "warn", "{headers:#}");
    assert_eq!(headers["details"]["limited_without_retry_after"], 3);
    assert_eq!(headers["details"]["syntaxes"], serde_json::json!([]));
    // nginx really limited (its own log says so).
    assert!(
        nginx.errors().contains("limiting requests"),
        "{}",
        nginx.errors()
    );
}

#[test]
fn nginx_limit_req_status_429() {
    let nginx =
        Nginx::start("limit_req zone=z burst=4 nodelay;\n            limit_req_status 429;");
    let w = Workdir::new();
    let (code, report, all) = rate_limit_test(
        &w,
        &[
            &nginx.url(),
            "--requests",
            "8",
            "--expect-limit",
            "5",
            "--probe-bypass",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "pass", "{limit:#}");
    assert_eq!(limit["details"]["observed_limit"], 5);
    assert_eq!(limit["details"]["first_limited_index"], 6);
    assert_eq!(by_status(limit), statuses(&[("200", 5), ("429", 3)]));
    // $binary_remote_addr is the connection's address: X-Forwarded-For changes nothing.
    let bypass = result(&report, &format!("{ID}.bypass"));
    assert_eq!(bypass["status"], "pass", "{bypass:#}");
    assert_eq!(bypass["details"]["dodged"], serde_json::json!([]));
}

#[test]
fn nginx_burst_without_nodelay_delays_instead_of_rejecting() {
    // `burst=4` without `nodelay`: nginx passes the first request, QUEUES the next 4 (released
    // one per refill: at 1r/m the 4th would wait 4 minutes) and rejects the rest at once with
    // 503. With `--concurrency 10` and 10 requests all are in flight together:
    //   1 → 200 at once; 4 → no answer within --request-timeout (nginx still holds them);
    //   5 → 503 at once.
    // shipgate counts in the order nginx answered (not the racing send order), so the lone
    // 200 comes first and nothing leaks; the held requests are named in the verdict, which is
    // a warning rather than a pass: a limiter that delays is not one that rejects.
    let nginx = Nginx::start("limit_req zone=z burst=4;\n            limit_req_status 503;");
    let w = Workdir::new();
    let started = Instant::now();
    let (code, report, all) = rate_limit_test(
        &w,
        &[
            &nginx.url(),
            "--requests",
            "10",
            "--concurrency",
            "10",
            "--request-timeout",
            "2s",
            "--limited-status",
            "503",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the request timeout"
    );
    assert_eq!(code, Some(0), "{all}");
    let limit = result(&report, ID);
    let d = &limit["details"];
    assert_eq!(limit["status"], "warn", "{limit:#}");
    assert_eq!(by_status(limit), statuses(&[("200", 1), ("503", 5)]));
    assert_eq!(d["observed_limit"], 1, "{limit:#}");
    assert_eq!(d["leaks"], 0, "{limit:#}");
    // Ten connections race: the 200 may come back before or after the first 503; either way
    // it was sent before any 503 arrived, so it counts before the limit, not as a leak.
    let first = d["first_limited_index"].as_u64().unwrap();
    assert!(first == 1 || first == 2, "{limit:#}");
    assert_eq!(d["transport_errors"], 4, "{limit:#}");
    assert_eq!(d["statuses"], "1× 200, 5× 503, 4× no response", "{limit:#}");
    assert!(
        message(limit).starts_with("limited after 1 request (first 503 at answer "),
        "{limit:#}"
    );
    assert!(
        message(limit).ends_with("; 4 of 10 requests got no response (no answer within 2.0s)"),
        "{limit:#}"
    );
    assert!(d["max_ms"].as_f64().unwrap() >= 2000.0, "{limit:#}");
    // The immediate answers stay fast: more than half are well under the timeout.
    assert!(d["p50_ms"].as_f64().unwrap() < 1000.0, "{limit:#}");
}

#[test]
fn nginx_burst_without_nodelay_fails_the_expected_limit() {
    // Same limiter, expecting 1 + burst = 5 as its config reads, open loop 20 ms apart: 1 → 200,
    // 2–5 held (no answer within 1 s), 6–10 → 503. One success, and the verdict says why.
    let nginx = Nginx::start("limit_req zone=z burst=4;\n            limit_req_status 503;");
    let w = Workdir::new();
    let (code, report, all) = rate_limit_test(
        &w,
        &[
            &nginx.url(),
            "--requests",
            "10",
            "--rate",
            "50/s",
            "--request-timeout",
            "1s",
            "--limited-status",
            "503",
            "--expect-limit",
            "5",
        ],
    );
    assert_eq!(code, Some(1), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "fail", "{limit:#}");
    assert!(
        message(limit)
            .starts_with("limited after 1 request, expected 5 (first 503 at answer 2 after "),
        "{limit:#}"
    );
    assert!(
        message(limit).ends_with("; 4 of 10 requests got no response (no answer within 1.0s)"),
        "{limit:#}"
    );
    assert_eq!(limit["details"]["transport_errors"], 4, "{limit:#}");
    assert_eq!(limit["details"]["leaks"], 0, "{limit:#}");
    assert_eq!(by_status(limit), statuses(&[("200", 1), ("503", 5)]));
}

#[test]
fn nginx_return_answers_before_limit_req() {
    // A classic mistake, caught: `return` ends the request in the rewrite phase, so the
    // `limit_req` of the same location never runs and nothing is ever limited.
    let nginx = Nginx::start_with(
        "location / {\n            limit_req zone=z burst=4 nodelay;\n            \
         limit_req_status 429;\n            return 200 \"ok\\n\";\n        }",
    );
    let w = Workdir::new();
    let (code, report, all) = rate_limit_test(
        &w,
        &[&nginx.url(), "--requests", "8", "--expect-limit", "5"],
    );
    assert_eq!(code, Some(1), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "fail", "{limit:#}");
    assert_eq!(
        message(limit),
        "no 429 after 8 requests: limiter not engaged",
        "{limit:#}"
    );
    assert_eq!(by_status(limit), statuses(&[("200", 8)]));
}
