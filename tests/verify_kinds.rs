//! `shipgate verify` check kinds beyond HTTP, end to end through the real binary: Redis keys on
//! the real Redis, Prometheus metrics (an axum endpoint and a real `prometheus-node-exporter`),
//! log tails, the one-line `--sql` flags on a real PostgreSQL, and `needs` on metrics and sql.

mod common;

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use common::process::{block, wait_until};
use common::{TestDb, TestServer, Workdir, json_report, redis_url, result, stderr, stdout};
use serde_json::Value;

// ------------------------------------------------------------------------------- helpers --

fn run(w: &Workdir, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = w.cmd();
    cmd.args(["verify", "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A run that produced a report: its exit code, the report, and stdout + stderr.
fn verify(w: &Workdir, args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let out = run(w, args, vars);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.code(), json_report(&out), all)
}

/// A run refused as wrong input: exit 2, nothing ran; returns stderr.
fn input_error(w: &Workdir, args: &[&str], vars: &[(&str, &str)]) -> String {
    let out = run(w, args, vars);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(&out)
    );
    assert!(
        stdout(&out).trim().is_empty(),
        "no report when nothing ran: {}",
        stdout(&out)
    );
    err
}

fn message(r: &Value) -> &str {
    r["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {r:#}"))
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

// --------------------------------------------------------------------------- redis keys --

/// Keys on the real test Redis, all under a prefix unique to one test, deleted when it ends.
struct RedisKeys {
    prefix: String,
    conn: redis::Connection,
    set: Vec<String>,
}

impl RedisKeys {
    fn new() -> RedisKeys {
        let client = redis::Client::open(redis_url()).expect("redis URL");
        let conn = client.get_connection().unwrap_or_else(|e| {
            panic!(
                "cannot reach the test Redis at {}: {e} (run scripts/test)",
                redis_url()
            )
        });
        RedisKeys {
            prefix: unique("shipgate-test"),
            conn,
            set: Vec::new(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn set(&mut self, name: &str, value: &str) {
        let key = self.key(name);
        redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .query::<()>(&mut self.conn)
            .expect("SET");
        self.set.push(key);
    }

    /// `[[verify.redis]]` on the test Redis with the key rules a deployment leaves behind:
    /// maintenance mode off, config loaded, release v2. Latency limits are generous: these
    /// tests are about keys, on a busy 2-core machine.
    fn config(&self) -> String {
        format!(
            r#"[[verify.redis]]
url = "${{REDIS_URL}}"
latency_warn = "5s"
latency_fail = "10s"
keys_absent = ["{p}:maintenance_mode"]
keys_present = ["{p}:config"]
key_equals = {{ "{p}:release" = "v2" }}
"#,
            p = self.prefix
        )
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        if !self.set.is_empty() {
            let _ = redis::cmd("DEL")
                .arg(&self.set)
                .query::<i64>(&mut self.conn);
        }
    }
}

fn redis_verify(w: &Workdir) -> (Option<i32>, Value, String) {
    verify(w, &[], &[("REDIS_URL", &redis_url())])
}

#[test]
fn redis_keys_pass_when_the_deployment_left_them_right() {
    let mut keys = RedisKeys::new();
    keys.set("config", "{}");
    keys.set("release", "v2");
    let w = Workdir::new();
    w.write("shipgate.toml", &keys.config());
    let (code, report, all) = redis_verify(&w);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(
        result(&report, "redis.cache")["status"],
        "pass",
        "{report:#}"
    );
    let r = result(&report, "redis.cache.keys");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["kind"], "redis");
    assert_eq!(message(r), "3 keys as expected");
}

#[test]
fn a_key_both_present_and_absent_is_wrong_input() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.redis]]\nurl = \"${REDIS_URL}\"\nkeys_present = [\"flag\"]\nkeys_absent = [\"flag\"]\n",
    );
    let err = input_error(&w, &[], &[("REDIS_URL", &redis_url())]);
    assert!(
        err.contains("key `flag` is in both keys_present and keys_absent"),
        "{err}"
    );
}

#[test]
fn redis_maintenance_mode_still_set_fails_naming_the_key() {
    let mut keys = RedisKeys::new();
    keys.set("config", "{}");
    keys.set("release", "v2");
    keys.set("maintenance_mode", "1");
    let w = Workdir::new();
    w.write("shipgate.toml", &keys.config());
    let (code, report, all) = redis_verify(&w);
    assert_eq!(code, Some(1), "{all}");
    // Redis itself is fine; only the keys are wrong.
    assert_eq!(
        result(&report, "redis.cache")["status"],
        "pass",
        "{report:#}"
    );
    let r = result(&report, "redis.cache.keys");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert_eq!(
        message(r),
        format!(
            "key `{}` is still set (it should be gone)",
            keys.key("maintenance_mode")
        )
    );
    assert_eq!(r["details"]["failures"].as_array().unwrap().len(), 1);
}

#[test]
fn redis_missing_key_and_wrong_value_fail_showing_got_and_expected() {
    let mut keys = RedisKeys::new();
    // config never loaded, release still the old one.
    keys.set("release", "v1");
    let w = Workdir::new();
    w.write("shipgate.toml", &keys.config());
    let (code, report, all) = redis_verify(&w);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "redis.cache.keys");
    assert_eq!(r["status"], "fail", "{r:#}");
    let failures: Vec<&str> = r["details"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        failures,
        [
            format!("key `{}` is missing", keys.key("config")),
            format!("key `{}` is `v1`, expected `v2`", keys.key("release")),
        ],
        "{r:#}"
    );
    for failure in &failures {
        assert!(message(r).contains(failure), "{r:#}");
    }

    // A key_equals key that is not there at all says so, with what was expected.
    let w = Workdir::new();
    let mut keys = RedisKeys::new();
    keys.set("config", "{}");
    w.write("shipgate.toml", &keys.config());
    let (code, report, all) = redis_verify(&w);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(
        message(result(&report, "redis.cache.keys")),
        format!("key `{}` is missing, expected `v2`", keys.key("release"))
    );
}

// ------------------------------------------------------------------------------- metrics --

/// A Prometheus text exposition as an application serves it: HELP/TYPE lines, a gauge per
/// component, a counter with a timestamp, a histogram.
const EXPOSITION: &str = r#"# HELP lp_health Health of an LP component (1 healthy, 0 not).
# TYPE lp_health gauge
lp_health{component="database"} 1
lp_health{component="redis"} 1
lp_health{component="reportStorage"} 0
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027 1395066363000
http_requests_total{method="post",code="500"} 3 1395066363000
# HELP request_seconds Request latency.
# TYPE request_seconds histogram
request_seconds_bucket{le="0.1"} 3
request_seconds_bucket{le="0.5"} 4
request_seconds_bucket{le="+Inf"} 4
request_seconds_sum 0.5
request_seconds_count 4
# HELP up Whether the app is up.
# TYPE up gauge
up 1
"#;

/// An application on loopback: /metrics (scrapes counted), /down (503), /dashboard (HTML),
/// /health (503: a failed health check), /ready (200).
fn app() -> (TestServer, Arc<AtomicU32>) {
    let scrapes = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&scrapes);
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        EXPOSITION,
                    )
                }
            }),
        )
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "maintenance") }),
        )
        .route(
            "/dashboard",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    "<!doctype html>\n<html>\n<head><title>Grafana</title></head>\n<body><h1>Login</h1></body>\n</html>\n",
                )
            }),
        )
        .route(
            "/health",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"down"}"#) }),
        )
        .route("/ready", get(|| async { r#"{"status":"ready"}"# }));
    (TestServer::start(router), scrapes)
}

fn metrics_config(name: &str, url: &str, expect: &[&str]) -> String {
    let expect: Vec<String> = expect.iter().map(|e| format!("'{e}'")).collect();
    format!(
        "[[verify.metrics]]\nname = \"{name}\"\nurl = \"{url}\"\nexpect = [{}]\n\n",
        expect.join(", ")
    )
}

#[test]
fn metrics_assertions_that_hold_pass() {
    let (s, scrapes) = app();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &metrics_config(
            "app",
            &s.url("/metrics"),
            &[
                r#"lp_health{component="database"} == 1"#,
                r#"lp_health{component="redis"} >= 1"#,
                // A counter written with a timestamp.
                r#"http_requests_total{code="200"} == 1027"#,
                "http_requests_total > 0",
                // A histogram, through its count.
                "request_seconds_count == 4",
                "up exists",
                "errors_total absent",
            ],
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "metrics.app");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["kind"], "metrics");
    assert!(
        message(r).starts_with(&format!("7 assertions of {} hold (", s.url("/metrics"))),
        "{r:#}"
    );
    assert_eq!(r["details"]["assertions"].as_array().unwrap().len(), 7);
    assert!(r["details"]["samples"].as_u64().unwrap() >= 7, "{r:#}");
    assert_eq!(scrapes.load(Ordering::SeqCst), 1, "scraped once");
}

#[test]
fn metrics_failures_name_the_series_and_its_value() {
    let (s, _) = app();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &metrics_config(
            "app",
            &s.url("/metrics"),
            &[
                // Every component healthy: reportStorage is not.
                "lp_health == 1",
                r#"lp_health{component="queue"} == 1"#,
                "request_seconds > 1",
                "up absent",
                r#"lp_health{component="database"} == 1"#,
            ],
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "metrics.app");
    assert_eq!(r["status"], "fail", "{r:#}");
    let failures: Vec<&str> = r["details"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        failures.len(),
        4,
        "the one that holds is not a failure: {r:#}"
    );
    assert_eq!(
        failures[0],
        r#"lp_health{component="reportStorage"} is 0 (expected == 1)"#
    );
    assert!(
        failures[1].starts_with(r#"lp_health{component="queue"} is not in the scrape (found: "#),
        "{failures:?}"
    );
    // The series that are there, to compare the labels with.
    assert!(
        failures[1].contains(r#"lp_health{component="reportStorage"}"#),
        "{failures:?}"
    );
    assert!(failures[2].contains("histogram or summary"), "{failures:?}");
    assert!(
        failures[3].contains("up should be absent but is there (up 1)"),
        "{failures:?}"
    );
    let m = message(r);
    assert!(
        m.starts_with(&format!("metrics {}: ", s.url("/metrics"))),
        "{m}"
    );
    assert!(m.contains("reportStorage") && m.contains("is 0"), "{m}");
}

#[test]
fn metrics_endpoint_down_or_not_prometheus_fails() {
    let (s, _) = app();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "{}{}{}",
            metrics_config("down", &s.url("/down"), &["up == 1"]),
            metrics_config("html", &s.url("/dashboard"), &["up == 1"]),
            metrics_config("closed", "http://127.0.0.1:1/metrics", &["up == 1"]),
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let down = result(&report, "metrics.down");
    assert_eq!(down["status"], "fail", "{down:#}");
    assert!(
        message(down).contains("answered 503, expected 2xx"),
        "{down:#}"
    );
    let html = result(&report, "metrics.html");
    assert_eq!(html["status"], "fail", "{html:#}");
    assert!(message(html).contains("no Prometheus samples"), "{html:#}");
    let closed = result(&report, "metrics.closed");
    assert_eq!(closed["status"], "fail", "{closed:#}");
    assert!(message(closed).contains("request failed"), "{closed:#}");
}

#[test]
fn metrics_invalid_assertion_is_wrong_input_naming_the_line() {
    let (s, scrapes) = app();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &metrics_config("app", &s.url("/metrics"), &["up exists", "lp_health is 1"]),
    );
    let err = input_error(&w, &[], &[]);
    // `expect` is on line 4 of the file.
    assert!(err.contains("shipgate.toml:4:"), "{err}");
    assert!(
        err.contains("`lp_health is 1` is not a metric assertion"),
        "{err}"
    );
    assert_eq!(scrapes.load(Ordering::SeqCst), 0, "nothing ran");

    // A label value without quotes, and a metrics check without any assertion.
    w.write(
        "shipgate.toml",
        &metrics_config(
            "app",
            &s.url("/metrics"),
            &["lp_health{component=database} == 1"],
        ),
    );
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("double quotes"), "{err}");
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.metrics]]\nurl = \"{}\"\nexpect = []\n",
            s.url("/metrics")
        ),
    );
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("at least one `expect`"), "{err}");
}

/// Debian's prometheus-node-exporter (scripts/test installs it), on a free loopback port for one
/// test; killed when the test ends, panicking or not.
struct NodeExporter {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl NodeExporter {
    fn binary() -> PathBuf {
        let debian = PathBuf::from("/usr/bin/prometheus-node-exporter");
        if debian.is_file() {
            return debian;
        }
        which::which("prometheus-node-exporter")
            .or_else(|_| which::which("node_exporter"))
            .unwrap_or_else(|_| {
                panic!(
                    "prometheus-node-exporter is not installed (expected at {}): run scripts/test, \
                     which installs it, or `apt-get install prometheus-node-exporter`",
                    debian.display()
                )
            })
    }

    fn start(w: &Workdir) -> NodeExporter {
        let binary = Self::binary();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free loopback port")
            .port();
        let log = w.path().join("node-exporter.log");
        let log_file = File::create(&log).expect("exporter log");
        // Only a few collectors: the defaults read every mount and device, which in a sandbox
        // can be slow or noisy; the exporter's own process and build metrics are always there.
        let child = StdCommand::new(&binary)
            .args([
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--collector.disable-defaults",
                "--collector.time",
                "--collector.loadavg",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut exporter = NodeExporter { child, port, log };
        wait_until("node exporter to listen", Duration::from_secs(10), || {
            if let Some(status) = exporter.child.try_wait().expect("try_wait") {
                panic!(
                    "node exporter exited ({status}) before listening:\n{}",
                    std::fs::read_to_string(&exporter.log).unwrap_or_default()
                );
            }
            TcpStream::connect_timeout(
                &([127, 0, 0, 1], exporter.port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
        });
        exporter
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.port)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn metrics_from_a_real_node_exporter() {
    let w = Workdir::new();
    let exporter = NodeExporter::start(&w);
    w.write(
        "shipgate.toml",
        &format!(
            "[verify]\ncheck_timeout = \"20s\"\n\n{}{}",
            metrics_config(
                "node",
                &exporter.url(),
                &[
                    "node_exporter_build_info exists",
                    "process_start_time_seconds > 0",
                    "node_time_seconds > 1000000000",
                    "node_load1 >= 0",
                    r#"node_scrape_collector_success{collector="loadavg"} == 1"#,
                ],
            ),
            metrics_config("impossible", &exporter.url(), &["node_load1 < 0"]),
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let node = result(&report, "metrics.node");
    assert_eq!(node["status"], "pass", "{node:#}");
    assert!(
        message(node).starts_with(&format!("5 assertions of {} hold", exporter.url())),
        "{node:#}"
    );
    assert!(
        node["details"]["samples"].as_u64().unwrap() > 10,
        "{node:#}"
    );
    // A value read from the exporter, not made up: the real load average, shown as found.
    let impossible = result(&report, "metrics.impossible");
    assert_eq!(impossible["status"], "fail", "{impossible:#}");
    assert!(
        message(impossible).contains("node_load1 is ")
            && message(impossible).contains("(expected < 0)"),
        "{impossible:#}"
    );
}

// ----------------------------------------------------------------------------------- log --

fn log_config(path: &str, extra: &str) -> String {
    format!("[[verify.log]]\npath = \"{path}\"\npattern = \"(?i)error\"\n{extra}\n")
}

#[test]
fn log_error_far_from_the_end_passes_and_counts_when_in_range() {
    let w = Workdir::new();
    let text: String = (1..=10_000)
        .map(|i| {
            if i == 500 {
                "2024-05-01T10:00:00Z ERROR database timeout after 30s\n".to_string()
            } else {
                format!("2024-05-01T10:00:00Z INFO request {i} served\n")
            }
        })
        .collect();
    w.write("api.log", &text);
    w.write("shipgate.toml", &log_config("api.log", "lines = 100"));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "log.api");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["kind"], "log");
    assert_eq!(
        message(r),
        "no line matches `(?i)error` in the last 100 lines of api.log"
    );
    assert_eq!(r["details"]["lines_read"], 100);

    // The same file read far enough back: the error at line 500 is found.
    w.write("shipgate.toml", &log_config("api.log", "lines = 9600"));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "log.api");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(
        message(r).starts_with("1 of the last 9600 lines of api.log matches `(?i)error`"),
        "{r:#}"
    );
    assert_eq!(
        r["details"]["first_matches"][0],
        "9501 from the end: 2024-05-01T10:00:00Z ERROR database timeout after 30s"
    );
}

#[test]
fn log_errors_in_the_tail_fail_counting_them_and_showing_the_first() {
    let w = Workdir::new();
    let mut lines: Vec<String> = (1..=300)
        .map(|i| format!("INFO request {i} served"))
        .collect();
    lines[259] = "ERROR payment gateway refused: 502".into();
    lines[289] = "error: retry budget exhausted".into();
    w.write("api.log", &(lines.join("\n") + "\n"));
    // Default: the last 100 lines.
    w.write("shipgate.toml", &log_config("api.log", ""));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "log.api");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert_eq!(
        message(r),
        "2 of the last 100 lines of api.log match `(?i)error`; first: ERROR payment gateway refused: 502"
    );
    assert_eq!(r["details"]["matches"], 2);
    assert_eq!(
        r["details"]["first_matches"],
        serde_json::json!([
            "41 from the end: ERROR payment gateway refused: 502",
            "11 from the end: error: retry budget exhausted"
        ])
    );
}

#[test]
fn log_ignore_excludes_lines_that_only_look_like_errors() {
    let w = Workdir::new();
    let batch: String = (1..=50)
        .map(|i| format!("batch {i} processed: 0 errors\n"))
        .collect();
    w.write("worker.log", &batch);
    w.write(
        "shipgate.toml",
        &log_config("worker.log", "ignore = \"(?i)0 errors\""),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "log.worker")["status"], "pass");

    // Without `ignore` every one of them counts.
    w.write("shipgate.toml", &log_config("worker.log", ""));
    let (code, report, _) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1));
    assert!(
        message(result(&report, "log.worker")).starts_with("50 of the last 50 lines"),
        "{report:#}"
    );

    // A real error among them is still found, and only it.
    w.write(
        "worker.log",
        &format!("{batch}batch 51 processed: 3 errors\n{batch}"),
    );
    w.write(
        "shipgate.toml",
        &log_config("worker.log", "ignore = \"(?i)0 errors\"\nlines = 200"),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "log.worker");
    assert_eq!(r["details"]["matches"], 1, "{r:#}");
    assert!(
        message(r).ends_with("; first: batch 51 processed: 3 errors"),
        "{r:#}"
    );
}

#[test]
fn log_missing_file_fails_or_warns_when_optional() {
    let w = Workdir::new();
    w.write("shipgate.toml", &log_config("missing.log", ""));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "log.missing");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(message(r).starts_with("cannot read missing.log"), "{r:#}");

    w.write(
        "shipgate.toml",
        &log_config("missing.log", "optional = true"),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "log.missing");
    assert_eq!(r["status"], "warn", "{r:#}");
    assert!(message(r).starts_with("cannot read missing.log"), "{r:#}");
    assert_eq!(report["summary"]["warnings"], 1);

    let (code, report, all) = verify(&w, &["--strict"], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(result(&report, "log.missing")["status"], "warn");
    assert_eq!(report["strict"], true);
    assert_eq!(report["summary"]["status"], "fail");
}

#[test]
fn log_bad_regex_or_line_count_is_wrong_input() {
    let w = Workdir::new();
    w.write("api.log", "ok\n");
    w.write(
        "shipgate.toml",
        "[[verify.log]]\npath = \"api.log\"\npattern = \"(?i)err[or\"\n",
    );
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("shipgate.toml:3:"), "{err}");
    assert!(err.contains("invalid regular expression"), "{err}");
    w.write(
        "shipgate.toml",
        "[[verify.log]]\npath = \"api.log\"\npattern = \"error\"\nignore = \"(\"\n",
    );
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("shipgate.toml:4:"), "{err}");
    w.write("shipgate.toml", &log_config("api.log", "lines = 0"));
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("lines = 0"), "{err}");
}

// ----------------------------------------------------------------------------- sql flags --

/// Runs SQL on the test PostgreSQL server as its admin.
fn pg_admin(sql: &str) {
    use sqlx::Connection;
    block(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&common::postgres_url())
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// A login role with a password, dropped when the test ends. Declare it before the `TestDb` it
/// has grants in, so that the database is dropped first.
struct PgRole {
    name: String,
    password: String,
}

impl PgRole {
    fn create() -> PgRole {
        let role = PgRole {
            name: format!("shipgate_role_{}", uuid::Uuid::new_v4().simple()),
            password: format!("SQLPW{}", uuid::Uuid::new_v4().simple()),
        };
        pg_admin(&format!(
            "CREATE ROLE {} LOGIN PASSWORD '{}'",
            role.name, role.password
        ));
        role
    }

    /// `db_url` logged in as this role.
    fn url(&self, db_url: &str) -> String {
        let mut url = url::Url::parse(db_url).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some(&self.password)).unwrap();
        url.to_string()
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        pg_admin(&format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

#[test]
fn sql_flags_compare_the_first_value() {
    let db = TestDb::postgres();
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3);");
    let w = Workdir::new();
    let query = "SELECT count(*) FROM t";
    let (code, report, all) = verify(
        &w,
        &["--database-url", &db.url, "--sql", query, "--expect", "3"],
        &[],
    );
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "sql.query");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(message(r), "got `3` as expected");
    assert_eq!(r["details"]["query"], query);

    let (code, report, all) = verify(
        &w,
        &["--database-url", &db.url, "--sql", query, "--expect", "4"],
        &[],
    );
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "sql.query");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert_eq!(message(r), "expected `4`, got `3`");

    // Two queries, each with its --expect in the same position.
    let (code, report, all) = verify(
        &w,
        &[
            "--database-url",
            &db.url,
            "--sql",
            query,
            "--expect",
            "3",
            "--sql",
            "SELECT max(id) FROM t",
            "--expect",
            "3",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "sql.query-1")["status"], "pass");
    assert_eq!(result(&report, "sql.query-2")["status"], "pass");
}

#[test]
fn sql_flags_that_do_not_fit_together_are_wrong_input() {
    let w = Workdir::new();
    let url = "postgres://nobody@127.0.0.1:1/none";
    let err = input_error(
        &w,
        &[
            "--database-url",
            url,
            "--sql",
            "SELECT 1",
            "--sql",
            "SELECT 2",
            "--expect",
            "1",
        ],
        &[],
    );
    assert!(err.contains("--expect"), "{err}");
    assert!(err.contains("2 --sql but 1 --expect"), "{err}");

    let err = input_error(&w, &["--sql", "SELECT 1", "--expect", "1"], &[]);
    assert!(err.contains("--sql needs --database-url"), "{err}");

    let err = input_error(&w, &["--database-url", url, "--expect", "1"], &[]);
    assert!(err.contains("--expect"), "{err}");

    // A database without a query would be silently unchecked.
    let err = input_error(
        &w,
        &["--database-url", url, "--http", "http://127.0.0.1:1/"],
        &[],
    );
    assert!(
        err.contains("--database-url is the database of --sql"),
        "{err}"
    );
}

#[test]
fn sql_flags_never_print_the_database_password() {
    let role = PgRole::create();
    let db = TestDb::postgres();
    db.execute(&format!(
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3); GRANT SELECT ON t TO {};",
        role.name
    ));
    let url = role.url(&db.url);
    let secret = role.password.as_str();
    let w = Workdir::new();
    let query = "SELECT count(*) FROM t";
    for (expect, want_code) in [("3", 0), ("4", 1)] {
        let args = ["--database-url", &url, "--sql", query, "--expect", expect];
        let (code, report, all) = verify(&w, &args, &[]);
        assert_eq!(code, Some(want_code), "{all}");
        assert!(!all.contains(secret), "password printed:\n{all}");
        // The command to reproduce it is there, masked.
        let reproduce = result(&report, "sql.query")["reproduce"].as_str().unwrap();
        assert!(reproduce.contains(":***@"), "{reproduce}");
        // The human output too.
        let out = w.cmd().arg("verify").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(want_code));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(secret), "password printed:\n{all}");
    }
    // Failing to connect: the error does not carry the URL either.
    let mut missing = url::Url::parse(&url).unwrap();
    missing.set_path("/shipgate_no_such_database");
    let mut closed = missing.clone();
    closed.set_port(Some(1)).unwrap();
    for bad in [missing.to_string(), closed.to_string()] {
        let (code, report, all) = verify(
            &w,
            &["--database-url", &bad, "--sql", query, "--expect", "3"],
            &[],
        );
        assert_eq!(code, Some(1), "{all}");
        assert_ne!(result(&report, "sql.query")["status"], "pass");
        assert!(!all.contains(secret), "password printed:\n{all}");
    }
}

// ---------------------------------------------------------------------------------- needs --

#[test]
fn metrics_and_sql_that_need_a_failed_check_are_skipped() {
    let (s, scrapes) = app();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"[[verify.http]]
name = "health"
url = "{health}"

[[verify.http]]
name = "ready"
url = "{ready}"

[[verify.metrics]]
name = "after-health"
url = "{metrics}"
expect = ["up == 1"]
needs = ["health"]

[[verify.sql]]
name = "after-health"
url = "postgres://nobody@127.0.0.1:1/none"
query = "SELECT 1"
expect = 1
needs = ["http.health"]

[[verify.metrics]]
name = "after-ready"
url = "{metrics}"
expect = ["up == 1"]
needs = ["http.ready"]
"#,
            health = s.url("/health"),
            ready = s.url("/ready"),
            metrics = s.url("/metrics"),
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(result(&report, "http.health")["status"], "fail");
    assert_eq!(result(&report, "http.ready")["status"], "pass");
    for id in ["metrics.after-health", "sql.after-health"] {
        let r = result(&report, id);
        assert_eq!(r["status"], "skip", "{r:#}");
        assert!(message(r).contains("needs http.health"), "{r:#}");
    }
    assert_eq!(
        result(&report, "metrics.after-ready")["status"],
        "pass",
        "{report:#}"
    );
    // Only the check whose need passed scraped.
    assert_eq!(scrapes.load(Ordering::SeqCst), 1);
    assert_eq!(report["summary"]["skipped"], 2);
}

#[test]
fn needs_an_unknown_check_is_wrong_input_with_help() {
    let (s, _) = app();
    let w = Workdir::new();
    let config = |need: &str| {
        format!(
            "[[verify.http]]\nname = \"health\"\nurl = \"{}\"\n\n\
             [[verify.metrics]]\nurl = \"{}\"\nexpect = [\"up == 1\"]\nneeds = [\"{need}\"]\n",
            s.url("/ready"),
            s.url("/metrics")
        )
    };
    w.write("shipgate.toml", &config("nope"));
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("shipgate.toml:8:"), "{err}");
    assert!(
        err.contains("needs `nope`, and no check declared before this one has that name or id"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");

    w.write("shipgate.toml", &config("helth"));
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("did you mean `health`?"), "{err}");

    // A check declared below cannot be needed (it would not have run yet).
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.metrics]]\nname = \"first\"\nurl = \"{url}\"\nexpect = [\"up == 1\"]\nneeds = [\"later\"]\n\n\
             [[verify.metrics]]\nname = \"later\"\nurl = \"{url}\"\nexpect = [\"up == 1\"]\n",
            url = s.url("/metrics")
        ),
    );
    let err = input_error(&w, &[], &[]);
    assert!(err.contains("shipgate.toml:5:"), "{err}");
    assert!(err.contains("needs `later`"), "{err}");
}

/// What a user reads in the config: an http check that needs a sql check declared above it.
/// Today it is refused (exit 2, "no check declared before this one has that name"), because
/// checks are planned kind by kind (http before sql), not in the order the file declares them.
#[test]
fn needs_a_check_of_another_kind_declared_above() {
    let (s, _) = app();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.metrics]]\nname = \"scraped\"\nurl = \"{}\"\nexpect = [\"up == 1\"]\n\n\
             [[verify.http]]\nname = \"ready\"\nurl = \"{}\"\nneeds = [\"scraped\"]\n",
            s.url("/metrics"),
            s.url("/ready")
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(
        result(&report, "http.ready")["status"],
        "pass",
        "{report:#}"
    );
}

#[test]
fn sql_checks_of_an_unreachable_database_fail_together_not_one_timeout_each() {
    let (_listener, port) = common::silent_server();
    let w = Workdir::new();
    let config: String = (1..=8)
        .map(|i| {
            format!(
                "[[verify.sql]]\nname = \"q{i}\"\nurl = \"postgres://app@127.0.0.1:{port}/app\"\nquery = \"SELECT 1\"\nexpect = 1\ntimeout = \"1s\"\n\n"
            )
        })
        .collect();
    w.write("shipgate.toml", &config);
    let started = std::time::Instant::now();
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    // Four connect at once and time out; the four queued behind learn it from them.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let messages: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 8);
    assert!(
        messages
            .iter()
            .all(|m| m.starts_with("cannot connect to postgres://app@127.0.0.1")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("found by an earlier check of this database")),
        "{messages:#?}"
    );
}

#[test]
fn redis_database_and_log_checks_wait_for_what_they_need() {
    let w = Workdir::new();
    w.write("api.log", "all good\n");
    std::fs::File::create(w.path().join("app.db")).unwrap();
    w.write(
        "shipgate.toml",
        "[[verify.http]]\nname = \"health\"\nurl = \"http://127.0.0.1:9/health\"\ntimeout = \"1s\"\n\n\
         [[verify.redis]]\nurl = \"${REDIS_URL}\"\nneeds = [\"health\"]\nkeys_absent = [\"maintenance_mode\"]\n\n\
         [[verify.database]]\nurl = \"sqlite://app.db\"\nneeds = [\"http.health\"]\n\n\
         [[verify.log]]\npath = \"api.log\"\npattern = \"(?i)error\"\nneeds = [\"health\"]\n",
    );
    let (code, report, all) = verify(&w, &[], &[("REDIS_URL", &redis_url())]);
    assert_eq!(code, Some(1), "{all}");
    for id in [
        "redis.cache",
        "redis.cache.keys",
        "database.main",
        "log.api",
    ] {
        let r = result(&report, id);
        assert_eq!(r["status"], "skip", "{id}: {r:#}");
        assert_eq!(
            r["message"], "skipped: needs http.health, which did not pass",
            "{id}"
        );
    }
}

#[test]
fn a_sql_check_whose_url_variable_is_unset_names_it() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.sql]]\nname = \"q\"\nurl = \"${LP_DB_URL}\"\nquery = \"SELECT 1\"\nexpect = 1\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(
        message(result(&report, "sql.q")),
        "the database URL is empty: LP_DB_URL is not set"
    );
}
