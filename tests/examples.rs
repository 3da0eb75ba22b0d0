//! The shipped examples work as the README says.
//!
//! Unix only: a shell script stands in for node, and PATH is joined with `:`.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use common::prometheus::Prometheus;
use common::{TestDb, TestServer, json_report, result, shipgate, stderr, stdout};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn quickstart_passes_with_no_server() {
    let out = shipgate(repo())
        .args([
            "preflight",
            "--config",
            "examples/quickstart/shipgate.toml",
            "--env-file",
            "examples/quickstart/.env",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("database.main.tables"), "{text}");
    assert!(text.contains("(value hidden)"), "{text}");
    assert!(
        !text.contains("quickstart-only-not-a-real-secret"),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("preflight: 12 passed (12 checks)"),
        "{text}"
    );
}

#[test]
fn lp_reporting_example_runs_the_runbook_checks() {
    let db = TestDb::postgres();
    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().join("lp-reports");
    // The example asks for node >= 18; the test must not depend on this machine's Node.
    let bin = StandIns::new();
    let path = bin.path_var();
    let run = |db_url: &str| {
        shipgate(repo())
            .env("PATH", &path)
            .args([
                "preflight",
                "--config",
                "examples/lp-reporting/shipgate.toml",
                "--format",
                "json",
            ])
            .env("DATABASE_URL", db_url)
            .env("SESSION_SECRET", "lp-session-secret-value")
            .env("LP_REPORT_STORAGE_PATH", &storage_path)
            .env("LP_REPORT_MAX_SIZE_MB", "50")
            .env("LP_CACHE_TTL_SECONDS", "300")
            .env("LP_RATE_LIMIT_MAX", "100")
            .env("LP_RATE_LIMIT_WINDOW_MS", "60000")
            .env("REQUIRE_AUTH", "1")
            .output()
            .unwrap()
    };
    // Before the core migrations: the funds table is missing, as the runbook warns.
    let out = run(&db.url);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_report(&out);
    let tables = result(&report, "database.main.tables");
    assert_eq!(tables["status"], "fail");
    assert!(tables["message"].as_str().unwrap().contains("funds"));
    assert_eq!(
        tables["location"]["file"],
        "examples/lp-reporting/shipgate.toml"
    );
    // Redis is optional and REDIS_URL unset: a warning, not a failure.
    assert_eq!(result(&report, "redis.cache")["status"], "warn");
    // The application's own connectivity test waits for the database check, which failed.
    let app_db = result(&report, "command.app-db");
    assert_eq!(app_db["status"], "skip", "{app_db:#}");

    db.execute("CREATE TABLE funds (id serial PRIMARY KEY, name text)");
    let out = run(&db.url);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json_report(&out);
    assert_eq!(result(&report, "path.lp-reports")["status"], "pass");
    let migrations = result(&report, "database.main.migrations");
    assert_eq!(migrations["status"], "pass", "{migrations:#}");
    assert_eq!(migrations["details"]["pending"], 3, "{migrations:#}");
    assert!(
        storage_path.is_dir(),
        "the report storage directory was created"
    );
    for id in [
        "env.example",
        "env.REQUIRE_AUTH",
        "command.app-db",
        "tool.node",
    ] {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert!(
        !stdout(&out).contains("lp-session-secret-value"),
        "the session secret leaked"
    );
}

const LP_TOKEN: &str = "lp-test-token-SENTINEL-5521";
const ADMIN_TOKEN: &str = "lp-admin-token-SENTINEL-7730";
/// The secret part of the Slack webhook URL: never printed.
const SLACK_SECRET: &str = "XoXbSlackSecret4417";

/// Scripts put first on PATH for the tools the runbook calls that cannot run here, printing
/// what the real ones print: `node` (its version; `-e` connects with `psql` as the app's db
/// module would), `systemctl status app-api` (systemd's status; `failed` after
/// [`StandIns::fail_service`]) and Loki's `logcli query` (the lines of `loki.log` holding the
/// query's `|= "…"` text, in logcli's default output).
struct StandIns {
    dir: tempfile::TempDir,
}

impl StandIns {
    fn new() -> StandIns {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let scripts = [
            (
                "node",
                "#!/bin/sh\n\
                 if [ \"$1\" = --version ]; then echo v20.11.1; exit 0; fi\n\
                 if [ \"$1\" = -e ]; then\n\
                 \x20 if out=$(psql -X -tAq \"$DATABASE_URL\" -c 'SELECT 1' 2>&1); then echo 'db ok'; exit 0; fi\n\
                 \x20 echo \"$out\" >&2; exit 1\n\
                 fi\n\
                 echo \"node stand-in: unexpected $*\" >&2; exit 9\n"
                    .to_string(),
            ),
            (
                "systemctl",
                format!(
                    "#!/bin/sh\n\
                     [ \"$1 $2\" = 'status app-api' ] || {{ echo \"systemctl stand-in: unexpected $*\" >&2; exit 9; }}\n\
                     echo '● app-api.service - LP Reporting API'\n\
                     echo '     Loaded: loaded (/etc/systemd/system/app-api.service; enabled; preset: enabled)'\n\
                     if [ -e {d}/app-api.failed ]; then\n\
                     \x20 echo '     Active: failed (Result: exit-code) since Wed 2026-12-02 18:04:11 UTC; 2min ago'\n\
                     \x20 echo '    Process: 4242 ExecStart=/usr/bin/node server/index.js (code=exited, status=1/FAILURE)'\n\
                     \x20 exit 3\n\
                     fi\n\
                     echo '     Active: active (running) since Wed 2026-12-02 18:00:02 UTC; 6min ago'\n\
                     echo '   Main PID: 4242 (node)'\n"
                ),
            ),
            (
                "logcli",
                format!(
                    "#!/bin/sh\n\
                     [ \"$1\" = query ] || {{ echo \"logcli stand-in: unexpected $*\" >&2; exit 9; }}\n\
                     for a; do q=$a; done\n\
                     want=$(printf '%s' \"$q\" | sed -n 's/.*|= \"\\(.*\\)\".*/\\1/p')\n\
                     [ -e {d}/loki.log ] || exit 0\n\
                     grep -F -- \"$want\" {d}/loki.log | sed 's/^/2026-12-02T18:02:11Z {{app=\"lp-api\"}} /'\n"
                ),
            ),
        ];
        for (name, script) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        StandIns { dir }
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn fail_service(&self) {
        std::fs::write(self.dir.path().join("app-api.failed"), "").unwrap();
    }

    /// Lines the log aggregation system ingested.
    fn ingest(&self, lines: &str) {
        std::fs::write(self.dir.path().join("loki.log"), lines).unwrap();
    }
}

/// What the LP API stand-in holds: the feature flag, whether the flag service refuses
/// changes, whether the LP code is gone (rolled back), and its request counters.
#[derive(Default)]
struct LpState {
    flag_enabled: AtomicBool,
    refuse_flags: AtomicBool,
    lp_gone: AtomicBool,
    /// Healthy answers left before Redis shows as degraded (None: healthy for good).
    healthy_left: Mutex<Option<u32>>,
    requests: Mutex<std::collections::BTreeMap<(String, u16), u64>>,
}

/// The LP Reporting API as the runbook describes it: health with three components, the
/// profile, capital-account, summary (cached in Redis) and report endpoints behind a token and
/// `X-LP-ID`, the feature flags behind the admin token, the core funds endpoint, and metrics
/// (`lp_health`, and `http_requests_total` by route and code, counted as requests are served).
fn lp_api(state: Arc<LpState>, redis_url: Option<String>) -> TestServer {
    fn authorized(headers: &HeaderMap) -> bool {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        get("authorization") == Some(&format!("Bearer {LP_TOKEN}")) && get("x-lp-id") == Some("1")
    }
    let cache_prefix = format!("lp-test-{}", uuid::Uuid::new_v4().simple());
    let flags = Arc::clone(&state);
    let metrics = Arc::clone(&state);
    let counted = Arc::clone(&state);
    let health = Arc::clone(&state);
    let router = Router::new()
        .route(
            "/api/lp/health",
            get(move || {
                let healthy = match health.healthy_left.lock().unwrap().as_mut() {
                    None => true,
                    Some(0) => false,
                    Some(n) => {
                        *n -= 1;
                        true
                    }
                };
                let (status, redis) = if healthy {
                    ("healthy", serde_json::json!({"status": "healthy", "latencyMs": 1}))
                } else {
                    ("degraded", serde_json::json!({"status": "degraded", "latencyMs": 240}))
                };
                async move {
                    axum::Json(serde_json::json!({
                        "status": status,
                        "checks": {
                            "database": {"status": "healthy", "latencyMs": 3},
                            "redis": redis,
                            "reportStorage": {"status": "healthy", "freeBytes": 1_000_000_000u64}
                        }
                    }))
                }
            }),
        )
        .route(
            "/api/lp/profile",
            get(|headers: HeaderMap| async move {
                if authorized(&headers) {
                    axum::Json(serde_json::json!({"id": 1, "name": "Test LP"})).into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        )
        .route(
            "/api/lp/capital-account",
            get(
                |headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    if !authorized(&headers) {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    if q.get("limit").map(String::as_str) != Some("10") {
                        return StatusCode::BAD_REQUEST.into_response();
                    }
                    axum::Json(serde_json::json!({"items": [], "total": 0})).into_response()
                },
            ),
        )
        .route(
            "/api/lp/summary",
            get(move |headers: HeaderMap| {
                let redis_url = redis_url.clone();
                let key = format!("{cache_prefix}:summary:1");
                async move {
                    if !authorized(&headers) {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    // Read through the Redis cache; a miss computes for 400 ms and stores it.
                    let mut conn = redis_url.map(|u| {
                        redis::Client::open(u.as_str())
                            .unwrap()
                            .get_connection()
                            .unwrap()
                    });
                    if let Some(conn) = conn.as_mut() {
                        let hit: Option<String> = redis::cmd("GET").arg(&key).query(conn).unwrap();
                        if let Some(hit) = hit {
                            let headers = [("content-type", "application/json"), ("x-cache", "HIT")];
                            return (headers, hit).into_response();
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    let body = r#"{"lpId":1,"committedUsd":2500000,"calledUsd":1000000}"#;
                    if let Some(conn) = conn.as_mut() {
                        let _: () = redis::cmd("SET")
                            .arg(&key)
                            .arg(body)
                            .arg("EX")
                            .arg(300)
                            .query(conn)
                            .unwrap();
                    }
                    let headers = [("content-type", "application/json"), ("x-cache", "MISS")];
                    (headers, body).into_response()
                }
            }),
        )
        .route(
            "/api/lp/reports/generate",
            post(|headers: HeaderMap, body: String| async move {
                let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if !authorized(&headers) {
                    StatusCode::UNAUTHORIZED.into_response()
                } else if json["reportType"] != "quarterly" {
                    StatusCode::BAD_REQUEST.into_response()
                } else {
                    (StatusCode::CREATED, axum::Json(serde_json::json!({"reportId": 7}))).into_response()
                }
            }),
        )
        // A download whose storage is broken: the 5xx a test sends to raise the error rate.
        .route(
            "/api/lp/reports/7/download",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "ENOENT: report file missing") }),
        )
        .route(
            "/api/funds",
            get(|| async { axum::Json(serde_json::json!([{"id": 1, "name": "Fund I"}])) }),
        )
        .route(
            "/api/flags/LP_DASHBOARD_ENABLED",
            put(move |headers: HeaderMap, body: String| {
                let state = Arc::clone(&flags);
                async move {
                    let admin = headers.get("authorization").and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {ADMIN_TOKEN}"));
                    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    if !admin {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    if state.refuse_flags.load(Ordering::SeqCst) {
                        return (StatusCode::FORBIDDEN, "flag store is read-only").into_response();
                    }
                    let Some(enabled) = json["enabled"].as_bool() else {
                        return StatusCode::BAD_REQUEST.into_response();
                    };
                    state.flag_enabled.store(enabled, Ordering::SeqCst);
                    axum::Json(serde_json::json!({"flag": "LP_DASHBOARD_ENABLED", "enabled": enabled}))
                        .into_response()
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let state = Arc::clone(&metrics);
                async move {
                    let mut text = String::from(
                        "# HELP lp_health Health of an LP component (1 = healthy).\n# TYPE lp_health gauge\n\
                         lp_health{component=\"database\"} 1\nlp_health{component=\"redis\"} 1\n\
                         lp_health{component=\"reportStorage\"} 1\n\
                         # HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n",
                    );
                    for ((route, code), n) in state.requests.lock().unwrap().iter() {
                        text.push_str(&format!(
                            "http_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}\n"
                        ));
                    }
                    text
                }
            }),
        )
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let state = Arc::clone(&counted);
            async move {
                let route = req.uri().path().to_string();
                // The LP code rolled back: its routes are gone.
                if state.lp_gone.load(Ordering::SeqCst) && route.starts_with("/api/lp/") {
                    return StatusCode::NOT_FOUND.into_response();
                }
                let response = next.run(req).await;
                if route != "/metrics" {
                    *state
                        .requests
                        .lock()
                        .unwrap()
                        .entry((route, response.status().as_u16()))
                        .or_default() += 1;
                }
                response
            }
        }));
    TestServer::start(router)
}

/// A loopback server standing for Slack's incoming webhook: it records every message's text.
struct Slack {
    server: TestServer,
    texts: Arc<Mutex<Vec<String>>>,
    /// How long Slack takes to answer, in milliseconds.
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Slack {
    fn start() -> Slack {
        let texts: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&texts);
        let delay_ms: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let delay = Arc::clone(&delay_ms);
        let router = Router::new().route(
            "/services/T0LP/B0DEPLOY/{secret}",
            post(
                move |axum::extract::Path(secret): axum::extract::Path<String>, body: String| {
                    let seen = Arc::clone(&seen);
                    let delay = delay.load(Ordering::SeqCst);
                    async move {
                        if secret != SLACK_SECRET {
                            return (StatusCode::NOT_FOUND, "no_service").into_response();
                        }
                        let json: serde_json::Value =
                            serde_json::from_str(&body).unwrap_or_default();
                        seen.lock()
                            .unwrap()
                            .push(json["text"].as_str().unwrap_or_default().to_string());
                        // Received (and recorded) at once, answered after the delay.
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        "ok".into_response()
                    }
                },
            ),
        );
        Slack {
            server: TestServer::start(router),
            texts,
            delay_ms,
        }
    }

    fn url(&self) -> String {
        self.server
            .url(&format!("/services/T0LP/B0DEPLOY/{SLACK_SECRET}"))
    }

    fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }
}

/// A throwaway `redis-server` on a free loopback port, its statistics its own.
struct FreshRedis {
    child: std::process::Child,
    url: String,
}

impl FreshRedis {
    fn start() -> FreshRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let mut server = FreshRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        // Bounded wait for the port: 50 x 100 ms.
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = server.child.kill();
        panic!("redis-server did not open its port {port}");
    }
}

impl Drop for FreshRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` plain GETs of `path` on `server`, spread over about two seconds (two scrapes), as
/// users' traffic would be.
fn traffic(server: &TestServer, path: &str, n: u32) {
    use std::io::{Read, Write};
    for i in 0..n {
        let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {LP_TOKEN}\r\nX-LP-ID: 1\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        if i + 1 < n {
            std::thread::sleep(Duration::from_millis(2200 / u64::from(n)));
        }
    }
}

/// Waits (at most 60 s) until Prometheus answers `query` with a series.
fn wait_for(prometheus: &Prometheus, query: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !prometheus.has_result(query) {
        assert!(
            Instant::now() < deadline,
            "prometheus had no result for {query} after 60 s:\n{}",
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every message of a run's stdout and stderr, with the secrets that must not be in it.
fn assert_no_secret(out: &std::process::Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for secret in [LP_TOKEN, ADMIN_TOKEN, SLACK_SECRET] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
}

fn position(report: &serde_json::Value, id: &str) -> usize {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

/// The whole LP deployment on loopback: the database, the API, Slack, a fresh Redis, the
/// stand-in tools, the log file and the report storage and backup directories.
struct Deployment {
    db: TestDb,
    state: Arc<LpState>,
    api: TestServer,
    slack: Slack,
    redis: FreshRedis,
    bin: StandIns,
    dir: tempfile::TempDir,
}

impl Deployment {
    fn new() -> Deployment {
        let db = TestDb::postgres();
        db.execute("CREATE TABLE funds (id serial PRIMARY KEY, name text)");
        let state = Arc::new(LpState::default());
        let redis = FreshRedis::start();
        let api = lp_api(Arc::clone(&state), Some(redis.url.clone()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lp-reports")).unwrap();
        let info: String = (0..300)
            .map(|i| format!("2026-11-22T10:00:{:02}Z INFO request {i} served\n", i % 60))
            .collect();
        std::fs::write(dir.path().join("api.log"), info).unwrap();
        Deployment {
            db,
            state,
            api,
            slack: Slack::start(),
            redis,
            bin: StandIns::new(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `shipgate <args> --format json`, in the repository, with the deployment's variables.
    fn run(&self, args: &[&str], prometheus: Option<&Prometheus>) -> std::process::Output {
        let mut cmd = shipgate(repo());
        cmd.args(args)
            .args(["--format", "json"])
            .env("PATH", self.bin.path_var())
            .env("DATABASE_URL", &self.db.url)
            .env("LP_API_URL", self.api.url(""))
            .env("TEST_TOKEN", LP_TOKEN)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SLACK_WEBHOOK", self.slack.url())
            .env("REDIS_URL", &self.redis.url)
            .env("LP_API_LOG", self.path("api.log"))
            .env("LP_REPORT_STORAGE_PATH", self.path("lp-reports"))
            .env("LP_BACKUP_DIR", self.path("backups"))
            .env("LP_DIAGNOSTICS_DIR", self.path("diagnostics"));
        if let Some(p) = prometheus {
            cmd.env("PROMETHEUS_URL", p.url());
        }
        cmd.output().unwrap()
    }

    /// The LP alert rules of the example, loaded by a real Prometheus scraping the API.
    fn prometheus(&self) -> Prometheus {
        let rules =
            std::fs::read_to_string(repo().join("examples/lp-reporting/prometheus/lp-alerts.yml"))
                .unwrap();
        let target = self.api.addr.to_string();
        Prometheus::start_scraping_with_rules(&[target.as_str()], &[("lp.rules.yml", &rules)])
    }
}

#[test]
fn lp_reporting_example_verifies_a_deployment() {
    let d = Deployment::new();

    // "Run LP migrations", with the backup first and proven to restore, Slack told before the
    // first migration and the feature flag turned on after the last.
    let backups = d.path("backups");
    let out = d.run(
        &[
            "migrate",
            "--config",
            "examples/lp-reporting/shipgate.toml",
            "--backup",
            backups.to_str().unwrap(),
            "--verify-backup",
        ],
        None,
    );
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    for id in [
        "migrate.backup",
        "migrate.backup-verify",
        "hook.announce-deployment",
        "migration.001-lp-base",
        "migration.003-lp-reports",
        "hook.enable-lp-dashboard",
    ] {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert!(
        position(&report, "hook.announce-deployment") < position(&report, "migration.001-lp-base")
    );
    assert!(
        position(&report, "migration.003-lp-reports")
            < position(&report, "hook.enable-lp-dashboard")
    );
    assert_eq!(d.slack.texts(), ["Starting LP Reporting deployment"]);
    assert!(
        d.state.flag_enabled.load(Ordering::SeqCst),
        "the LP flag is on"
    );
    // The deploy job's output reaches the log aggregation system.
    d.bin.ingest(&stdout(&out));

    // "Run migration twice - should be safe on second run": nothing to apply, no hook runs
    // again (no second Slack message, no second flag change).
    let again = d.run(
        &["migrate", "--config", "examples/lp-reporting/shipgate.toml"],
        None,
    );
    let report = json_report(&again);
    assert_eq!(again.status.code(), Some(0), "{report:#}");
    assert_eq!(
        result(&report, "migrate.applied")["details"]["count"],
        3,
        "{report:#}"
    );
    assert_eq!(d.slack.texts().len(), 1, "{:?}", d.slack.texts());

    // Users' traffic, seen by a Prometheus that also loaded the example's alert rules.
    let prometheus = d.prometheus();
    traffic(&d.api, "/api/lp/profile", 8);
    wait_for(
        &prometheus,
        r#"sum(rate(http_requests_total{route=~"/api/lp/.*"}[5m])) > 0"#,
    );

    let verify = ["verify", "--config", "examples/lp-reporting/shipgate.toml"];
    let out = d.run(&verify, Some(&prometheus));
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let ids = [
        "http.lp-health",
        "http.lp-profile",
        "http.lp-auth-required",
        "http.lp-capital-account",
        "http.lp-report-generate",
        "http.lp-profile-latency",
        "http.lp-summary-cached",
        "redis.cache",
        "redis.cache.info",
        "command.app-api-status",
        "sql.lp-migrations",
        "sql.lp-tables",
        "sql.lp-row-counts",
        "sql.lp-report-failures",
        "sql.lp-indexes",
        "sql.lp-unique-email",
        "metrics.lp-health",
        "prometheus.lp-error-rate",
        "http.lp-alert-rules",
        "log.api",
        "log.ingested",
        "command.lp-reports-usage",
        "path.db-backups",
        "path.db-backups.newest",
    ];
    for id in ids {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert_eq!(
        report["summary"]["passed"], report["summary"]["total"],
        "{report:#}"
    );
    assert_eq!(result(&report, "http.lp-health")["details"]["attempts"], 3);
    // Nothing failed: the channel hears nothing more.
    assert_eq!(d.slack.texts().len(), 1, "{:?}", d.slack.texts());

    // Then things go wrong: an error in the log, a burst of 5xx on an LP route, the service
    // down. Each is named by its check, and the channel is told.
    let log = d.path("api.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("2026-11-22T10:05:00Z ERROR relation \"lp_reports\" does not exist\n");
    std::fs::write(&log, text).unwrap();
    traffic(&d.api, "/api/lp/reports/7/download", 10);
    wait_for(
        &prometheus,
        r#"sum(rate(http_requests_total{route=~"/api/lp/.*",code=~"5.."}[5m])) > 0"#,
    );
    d.bin.fail_service();
    d.db.execute(
        "INSERT INTO limited_partners (name, email, entity_type) VALUES ('LP One', 'one@example.com', 'individual');
         INSERT INTO lp_reports (limited_partner_id, report_type, format, status)
         SELECT id, 'quarterly', 'pdf', s FROM limited_partners, unnest(ARRAY['done', 'failed', 'failed']) s",
    );
    let out = d.run(&verify, Some(&prometheus));
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let message = |id: &str| {
        let r = result(&report, id);
        assert_eq!(r["status"], "fail", "{id}: {r:#}");
        r["message"].as_str().unwrap().to_string()
    };
    assert!(
        message("log.api").contains("relation \"lp_reports\" does not exist"),
        "{report:#}"
    );
    let rate = message("prometheus.lp-error-rate");
    assert!(rate.contains("(expected < 0.001)"), "{rate}");
    let service = message("command.app-api-status");
    assert!(service.contains("exited with 3"), "{service}");
    assert!(service.contains("status=1/FAILURE"), "{service}");
    // Two of the three reports of the day failed: above the 25 % threshold, the row says so.
    assert_eq!(
        message("sql.lp-report-failures"),
        "expected no rows, got 1 row, the first: `2 | 3`"
    );
    assert_eq!(
        result(&report, "sql.lp-report-failures")["details"]["rows"],
        serde_json::json!([["2", "3"]])
    );
    assert_eq!(result(&report, "http.lp-profile")["status"], "pass");
    let texts = d.slack.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    for id in [
        "log.api",
        "prometheus.lp-error-rate",
        "command.app-api-status",
        "sql.lp-report-failures",
    ] {
        assert!(
            texts[1].contains(id),
            "{id} not in the Slack message: {}",
            texts[1]
        );
    }
}

#[test]
fn lp_reporting_example_rolls_back_and_recovers() {
    let d = Deployment::new();
    let config = ["--config", "examples/lp-reporting/shipgate.toml"];
    let out = d.run(&[&["migrate"][..], &config].concat(), None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(d.state.flag_enabled.load(Ordering::SeqCst));
    let rollback = [&["rollback", "--all"][..], &config].concat();

    // "Execute rollback with dry-run first": the plan and the hooks it would run, nothing done.
    let dry = [&rollback[..], &["--dry-run"][..]].concat();
    let out = d.run(&dry, None);
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let hook = result(&report, "hook.disable-lp-dashboard");
    assert_eq!(hook["status"], "skip", "{hook:#}");
    assert!(
        hook["message"].as_str().unwrap().contains("dry run"),
        "{hook:#}"
    );
    assert!(
        d.state.flag_enabled.load(Ordering::SeqCst),
        "the dry run changed the flag"
    );
    assert_eq!(d.slack.texts().len(), 1, "{:?}", d.slack.texts());
    d.db.execute("SELECT count(*) FROM lp_reports");

    // The flag service refuses: LP keeps serving, so the tables must not go. The rollback
    // stops before the database changes, and the channel hears of the failure.
    d.state.refuse_flags.store(true, Ordering::SeqCst);
    let out = d.run(&rollback, None);
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let hook = result(&report, "hook.disable-lp-dashboard");
    assert_eq!(hook["status"], "fail", "{hook:#}");
    assert!(
        hook["message"].as_str().unwrap().contains("403"),
        "{hook:#}"
    );
    assert_eq!(result(&report, "hook.announce-rollback")["status"], "skip");
    d.db.execute("SELECT count(*) FROM lp_reports");
    let texts = d.slack.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[1].contains("shipgate rollback failed"),
        "{}",
        texts[1]
    );
    assert!(
        texts[1].contains("hook.disable-lp-dashboard"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("answered 403"), "{}", texts[1]);

    // With the flag service back: flag off, Slack told, diagnostics kept, tables dropped.
    d.state.refuse_flags.store(false, Ordering::SeqCst);
    let out = d.run(&rollback, None);
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(
        !d.state.flag_enabled.load(Ordering::SeqCst),
        "the LP flag is off"
    );
    for id in [
        "hook.disable-lp-dashboard",
        "hook.announce-rollback",
        "hook.gather-diagnostics",
        "rollback.verify",
    ] {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert!(
        position(&report, "hook.gather-diagnostics") < position(&report, "rollback.003-lp-reports")
    );
    let diagnostics = d.path("diagnostics");
    let status = std::fs::read_to_string(diagnostics.join("migration-status.log")).unwrap();
    assert!(status.contains("003-lp-reports"), "{status}");
    let health = std::fs::read_to_string(diagnostics.join("health-status.json")).unwrap();
    assert!(health.contains("\"healthy\""), "{health}");
    let logs = std::fs::read_to_string(diagnostics.join("api-logs.log")).unwrap();
    assert_eq!(logs.lines().count(), 300);
    let texts = d.slack.texts();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert_eq!(
        texts[2],
        "LP Reporting rollback initiated - pausing services"
    );
    assert!(
        texts[3].contains("shipgate rollback passed"),
        "{}",
        texts[3]
    );

    // Step 5, once the old code is back: LP gone, funds served, error rate at baseline.
    d.state.lp_gone.store(true, Ordering::SeqCst);
    let prometheus = d.prometheus();
    traffic(&d.api, "/api/funds", 8);
    wait_for(&prometheus, "sum(rate(http_requests_total[1m])) > 0");
    let after = [
        "verify",
        "--config",
        "examples/lp-reporting/after-rollback.toml",
    ];
    let out = d.run(&after, Some(&prometheus));
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    for id in [
        "sql.lp-tables-dropped",
        "sql.lp-migrations-cleaned",
        "command.app-api-status",
        "log.api",
        "command.lp-reports-clean",
        "http.lp-profile-gone",
        "http.funds",
        "prometheus.error-rate",
    ] {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }

    // A report the failed deployment wrote is still in the storage: named, not deleted.
    let leftover = d.path("lp-reports").join("q3-2026-lp1.pdf");
    std::fs::write(&leftover, "%PDF-1.7").unwrap();
    let out = d.run(&after, Some(&prometheus));
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let clean = result(&report, "command.lp-reports-clean");
    assert_eq!(clean["status"], "fail", "{clean:#}");
    assert!(
        clean["message"]
            .as_str()
            .unwrap()
            .contains("q3-2026-lp1.pdf"),
        "{clean:#}"
    );
    assert!(leftover.exists());
}

#[test]
fn lp_reporting_example_watches_the_first_hour() {
    // "Complete these checks within 1 hour of deployment" / the rollback trigger "Health check
    // endpoint returns unhealthy status": `verify --watch` re-runs the checks and stops at the
    // first round that fails. Health turns degraded after round 1 (three healthy answers); the
    // copy waits 2 s for health instead of 60 s (every 100 ms instead of 2 s), and leaves out
    // the Prometheus checks.
    let d = Deployment::new();
    let out = d.run(
        &["migrate", "--config", "examples/lp-reporting/shipgate.toml"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let config = std::fs::read_to_string(repo().join("examples/lp-reporting/shipgate.toml"))
        .unwrap()
        .replace(
            "retry = { timeout = \"60s\", interval = \"2s\"",
            "retry = { timeout = \"2s\", interval = \"100ms\"",
        );
    let copy = d.path("shipgate.toml");
    std::fs::write(&copy, config).unwrap();
    *d.state.healthy_left.lock().unwrap() = Some(3);
    d.bin.ingest("migration.001-lp-base applied\n");
    // The skipped Prometheus checks still need their (required) URL.
    let env_file = d.path("watch.env");
    std::fs::write(&env_file, "PROMETHEUS_URL=http://127.0.0.1:9\n").unwrap();
    let out = d.run(
        &[
            "verify",
            "--config",
            copy.to_str().unwrap(),
            "--env-file",
            env_file.to_str().unwrap(),
            "--watch",
            "4s",
            "--every",
            "1s",
            "--skip",
            "prometheus.lp-error-rate",
            "--skip",
            "http.lp-alert-rules",
            "--skip",
            "path.db-backups",
        ],
        None,
    );
    assert_no_secret(&out);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["watch"]["failed_round"], 2, "{report:#}");
    let failed: Vec<&serde_json::Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["id"], "http.lp-health");
    assert_eq!(failed[0]["details"]["round"], 2);
    let message = failed[0]["message"].as_str().unwrap();
    assert!(message.contains("degraded"), "{message}");
    assert!(stderr(&out).contains("round 2/5"), "{}", stderr(&out));
    // The channel is told which check failed in which round.
    let texts = d.slack.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].contains("http.lp-health"), "{}", texts[1]);
}

#[test]
fn lp_reporting_example_stops_a_conflicting_deployment() {
    // "Verify no conflicting deployments in progress": a first deployment holds the migration
    // lock while Slack takes 4 s to hear of it; a second one started meanwhile gives up after
    // its lock timeout, naming the holder, and changes nothing.
    let d = Deployment::new();
    d.slack.delay_ms.store(4000, Ordering::SeqCst);
    let migrate = ["migrate", "--config", "examples/lp-reporting/shipgate.toml"];
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| d.run(&migrate, None));
        // Bounded: the first deployment's announcement reaches Slack within 30 s.
        let deadline = Instant::now() + Duration::from_secs(30);
        while d.slack.texts.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let second = d.run(
            &[&migrate[..], &["--lock-timeout", "1s"][..]].concat(),
            None,
        );
        (first.join().unwrap(), second)
    });
    let report = json_report(&first);
    assert_eq!(first.status.code(), Some(0), "{report:#}");
    assert_no_secret(&second);
    let report = json_report(&second);
    assert_eq!(second.status.code(), Some(1), "{report:#}");
    let lock = result(&report, "migrate.lock");
    assert_eq!(lock["status"], "fail", "{lock:#}");
    let message = lock["message"].as_str().unwrap();
    assert!(
        message.contains("another migration holds the PostgreSQL advisory lock"),
        "{message}"
    );
    assert!(
        message.contains("application `shipgate migrate`"),
        "{message}"
    );
    // Only the first deployment announced itself and migrated; the channel hears of the
    // second one's failure.
    let texts = d.slack.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[0], "Starting LP Reporting deployment");
    assert!(texts[1].contains("shipgate migrate failed"), "{}", texts[1]);
    assert!(texts[1].contains("migrate.lock"), "{}", texts[1]);
    assert!(
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["id"].as_str().unwrap().starts_with("migration.") || r["status"] != "pass")
    );
}

#[test]
fn lp_reporting_example_proves_its_rate_limit() {
    // The runbook's limiter for real: express-rate-limit, 100 per 60 s, draft-7 headers with
    // Retry-After, keyed on the connection (trust proxy off), so X-Forwarded-For dodges nothing.
    let w = common::Workdir::new();
    let express = common::express::Express::start(&w, &["no-trust-proxy"]);
    let out = shipgate(repo())
        .args([
            "rate-limit-test",
            "--config",
            "examples/lp-reporting/shipgate.toml",
            "--format",
            "json",
        ])
        .env("LP_API_URL", express.base("no-trust-proxy"))
        .env("TEST_TOKEN", LP_TOKEN)
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains(LP_TOKEN), "the token leaked:\n{all}");
    let report = json_report(&out);
    let limit = result(&report, "rate-limit.lp-health");
    assert_eq!(limit["details"]["advertised_limit"], 100, "{limit:#}");
    assert_eq!(limit["details"]["first_limited_index"], 101, "{limit:#}");
    assert_eq!(limit["details"]["observed_limit"], 100, "{limit:#}");
    assert_eq!(
        result(&report, "rate-limit.lp-health.headers")["status"],
        "pass"
    );
    assert_eq!(
        result(&report, "rate-limit.lp-health.bypass")["status"],
        "pass"
    );
    assert_eq!(
        limit["location"]["file"],
        "examples/lp-reporting/shipgate.toml"
    );
}
