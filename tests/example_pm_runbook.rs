//! examples/pm-runbook: the PM Intelligence Platform deployment runbook, run end to end against
//! a throwaway PostgreSQL database, the shared Redis (a key of the test's own), the platform's
//! API, Grafana and a Slack webhook as axum servers on loopback, a TLS server for the public
//! host, and stand-ins for kubectl, npm, aws and crontab first on PATH.
//!
//! Unix only: shell scripts stand in for the tools, and PATH is joined with `:`.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::tls::{TestCa, TlsServer};
use common::{TestDb, TestServer, json_report, result, shipgate, stderr, stdout};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "pm-admin-key-SENTINEL-7730";
const TEST_API_KEY: &str = "pm-test-api-key-SENTINEL-4419";
const GRAFANA_TOKEN: &str = "glsa_pm_grafana_SENTINEL_0925";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example(path: &str) -> PathBuf {
    repo().join("examples/pm-runbook").join(path)
}

/// What the platform's API answers, changed by the tests.
struct Api {
    version: String,
    p95_ms: f64,
    error_rate: f64,
    /// From this many calls of errors/stats on, the error rate climbs to the second value.
    error_rate_climbs: Option<(u32, f64)>,
    error_stats_calls: u32,
    homepage_hits: u32,
    /// Requests to GET /api/signals allowed per minute (None: no limiter).
    limit: Option<u32>,
    limited_window: (Option<Instant>, u32),
    signals_created: u32,
}

type Shared = Arc<Mutex<Api>>;

fn bearer(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {key}").as_str())
}

async fn signals(State(api): State<Shared>, headers: HeaderMap) -> Response {
    if !bearer(&headers, TEST_API_KEY) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut api = api.lock().unwrap();
    if let Some(limit) = api.limit {
        let now = Instant::now();
        let (start, count) = &mut api.limited_window;
        if start.is_none_or(|s| now.duration_since(s) > Duration::from_secs(60)) {
            *start = Some(now);
            *count = 0;
        }
        *count += 1;
        let remaining = limit.saturating_sub(*count);
        let reset = 60 - now.duration_since(start.unwrap()).as_secs();
        let headers = [
            ("ratelimit-limit", limit.to_string()),
            ("ratelimit-remaining", remaining.to_string()),
            ("ratelimit-reset", reset.to_string()),
            ("ratelimit-policy", format!("{limit};w=60")),
        ];
        if *count > limit {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
                .headers_mut()
                .insert("retry-after", reset.to_string().parse().unwrap());
            return response;
        }
        let mut response = axum::Json(json!([{"id": 1, "content": "Churn risk"}])).into_response();
        for (name, value) in headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        return response;
    }
    axum::Json(json!([{"id": 1, "content": "Churn risk", "source": "slack"}])).into_response()
}

async fn create_signal(State(api): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if !bearer(&headers, TEST_API_KEY) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    if body["content"] != "Test signal" || body["source"] != "test" {
        return StatusCode::BAD_REQUEST.into_response();
    }
    api.lock().unwrap().signals_created += 1;
    (StatusCode::CREATED, axum::Json(json!({"id": 2}))).into_response()
}

async fn export(
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !bearer(&headers, TEST_API_KEY) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match q.get("format").map(String::as_str) {
        Some("csv") => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            "id,content\n1,Churn risk\n",
        )
            .into_response(),
        Some("json") => axum::Json(json!([{"id": 1, "content": "Churn risk"}])).into_response(),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn admin(headers: &HeaderMap, body: Value) -> Response {
    if bearer(headers, ADMIN_KEY) {
        axum::Json(body).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

/// The PM Intelligence Platform's API as the runbook describes it (backend and public domain).
fn pm_api(api: &Shared) -> TestServer {
    let router = Router::new()
        .route(
            "/health",
            get(|State(api): State<Shared>| async move {
                let version = api.lock().unwrap().version.clone();
                axum::Json(json!({"status": "ok", "version": version}))
            }),
        )
        .route(
            "/api/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route(
            "/",
            get(|State(api): State<Shared>| async move {
                let mut api = api.lock().unwrap();
                api.homepage_hits += 1;
                let cache = if api.homepage_hits == 1 { "MISS" } else { "HIT" };
                (
                    [
                        (header::CONTENT_TYPE, "text/html"),
                        (header::HeaderName::from_static("x-cache"), cache),
                    ],
                    "<!DOCTYPE html><html><title>PM Intelligence</title></html>",
                )
            }),
        )
        .route("/api/signals", get(signals).post(create_signal))
        .route("/api/signals/export", get(export))
        .route(
            "/api/opportunities",
            get(|headers: HeaderMap| async move {
                if bearer(&headers, TEST_API_KEY) {
                    axum::Json(json!([{"id": 9, "title": "Bulk export"}])).into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        )
        .route(
            "/api/admin/observability/health",
            get(|headers: HeaderMap| async move {
                admin(
                    &headers,
                    json!({"status": "healthy", "components": {"database": "healthy", "redis": "healthy", "neo4j": "healthy"}}),
                )
            }),
        )
        .route(
            "/api/admin/observability/performance/stats",
            get(
                |State(api): State<Shared>, headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let p95 = api.lock().unwrap().p95_ms;
                    let hours = q.get("hours").cloned().unwrap_or_default();
                    admin(&headers, json!({"hours": hours, "requests": 48210, "p50ResponseTimeMs": 84, "p95ResponseTimeMs": p95}))
                },
            ),
        )
        .route(
            "/api/admin/observability/errors/stats",
            get(|State(api): State<Shared>, headers: HeaderMap| async move {
                let rate = {
                    let mut api = api.lock().unwrap();
                    api.error_stats_calls += 1;
                    match api.error_rate_climbs {
                        Some((from, rate)) if api.error_stats_calls >= from => rate,
                        _ => api.error_rate,
                    }
                };
                admin(&headers, json!({"errors": 31, "errorRate": rate, "unresolvedGroups": 2}))
            }),
        )
        .route(
            "/api/admin/observability/performance/slow",
            get(|headers: HeaderMap| async move { admin(&headers, json!({"thresholdMs": 2000, "endpoints": []})) }),
        )
        .route(
            "/api/admin/neo4j/dead-letter",
            get(|headers: HeaderMap| async move { admin(&headers, json!({"count": 3, "items": []})) }),
        )
        .route(
            "/api/admin/observability/metrics/prometheus",
            get(|headers: HeaderMap| async move {
                if !bearer(&headers, ADMIN_KEY) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                "# HELP pm_requests_total Requests served.\n# TYPE pm_requests_total counter\n\
                 pm_requests_total{method=\"GET\",status=\"200\"} 48210\n\
                 # HELP pm_request_duration_ms Request duration.\n# TYPE pm_request_duration_ms histogram\n\
                 pm_request_duration_ms_bucket{le=\"500\"} 47000\npm_request_duration_ms_bucket{le=\"2000\"} 48100\n\
                 pm_request_duration_ms_bucket{le=\"+Inf\"} 48210\npm_request_duration_ms_sum 5120000\n\
                 pm_request_duration_ms_count 48210\n\
                 # HELP pm_errors_total Errors.\n# TYPE pm_errors_total counter\npm_errors_total 31\n\
                 # HELP pm_error_rate Error rate.\n# TYPE pm_error_rate gauge\npm_error_rate 0.0006\n\
                 # HELP pm_system_health 1 when healthy.\n# TYPE pm_system_health gauge\n\
                 pm_system_health{component=\"database\"} 1\npm_system_health{component=\"redis\"} 1\n"
                    .into_response()
            }),
        )
        .with_state(Arc::clone(api));
    TestServer::start(router)
}

fn new_api() -> Shared {
    Arc::new(Mutex::new(Api {
        version: "2.0".into(),
        p95_ms: 640.0,
        error_rate: 0.0006,
        error_rate_climbs: None,
        error_stats_calls: 0,
        homepage_hits: 0,
        limit: None,
        limited_window: (None, 0),
        signals_created: 0,
    }))
}

/// Grafana's HTTP API: the four dashboards of Phase 7.3 exist.
fn grafana() -> TestServer {
    let router = Router::new().route(
        "/api/dashboards/uid/{uid}",
        get(
            |UrlPath(uid): UrlPath<String>, headers: HeaderMap| async move {
                if !bearer(&headers, GRAFANA_TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                if [
                    "pm-system-health",
                    "pm-performance",
                    "pm-errors",
                    "pm-user-activity",
                ]
                .contains(&uid.as_str())
                {
                    axum::Json(json!({"dashboard": {"uid": uid}, "meta": {"slug": uid}}))
                        .into_response()
                } else {
                    (
                        StatusCode::NOT_FOUND,
                        axum::Json(json!({"message": "Dashboard not found"})),
                    )
                        .into_response()
                }
            },
        ),
    );
    TestServer::start(router)
}

/// A Slack incoming webhook that keeps every message.
fn slack() -> (TestServer, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    let router = Router::new().route(
        "/services/T000/B000/XXXX",
        post(move |body: String| {
            let kept = Arc::clone(&kept);
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    (TestServer::start(router), seen)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    write(&path, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Everything a run needs: the project tree, stand-in tools, servers, database, Redis key.
struct Deployment {
    project: tempfile::TempDir,
    bin: tempfile::TempDir,
    db: TestDb,
    api: Shared,
    api_server: TestServer,
    grafana: TestServer,
    slack: TestServer,
    messages: Arc<Mutex<Vec<Value>>>,
    tls: TlsServer,
    maintenance_key: String,
    config: PathBuf,
}

impl Deployment {
    fn new() -> Deployment {
        let project = tempfile::tempdir().unwrap();
        let p = project.path();
        // The project as the runbook has it: backend (package.json, build, sources, the
        // migrations of the example), frontend build, logs, monitoring rules, changelog.
        write(
            &p.join("backend/package.json"),
            "{\n  \"name\": \"pm-backend\",\n  \"version\": \"2.0.0\"\n}\n",
        );
        write(
            &p.join("backend/dist/index.js"),
            "\"use strict\";\nrequire('./server').start();\n",
        );
        write(
            &p.join("backend/src/server.ts"),
            "export function start() {\n  logger.info(`Server started on port ${port}`);\n}\n",
        );
        write(&p.join("frontend/chat-ui/.next/BUILD_ID"), "b7Yk2Qm1\n");
        write(
            &p.join("frontend/chat-ui/src/app.tsx"),
            "export default function App() { return null; }\n",
        );
        write(
            &p.join("CHANGELOG.md"),
            "# Changelog\n\n## [2.0.0] - 2026-02-24\n- Observability (Phase 2.3)\n",
        );
        std::fs::create_dir_all(p.join("backend/db/migrations")).unwrap();
        for entry in std::fs::read_dir(example("db/migrations")).unwrap() {
            let entry = entry.unwrap();
            let to = p.join("backend/db/migrations").join(entry.file_name());
            std::fs::copy(entry.path(), to).unwrap();
        }
        write(
            &p.join("monitoring/pm-alerts.yml"),
            &std::fs::read_to_string(example("monitoring/pm-alerts.yml")).unwrap(),
        );
        write(
            &p.join("logs/combined.log"),
            "2026-12-02T10:00:00.120Z info: Connected to PostgreSQL\n\
             2026-12-02T10:00:00.450Z info: Server started on port 3000\n\
             2026-12-02T10:00:03.002Z info: GET /api/health 200 3ms\n",
        );
        write(
            &p.join("logs/error.log"),
            "2026-12-01T22:14:09.000Z error: Neo4j sync retry 1/5 for signal 77 (timeout)\n",
        );

        // Stand-ins, printing what the real tools print. Each logs its arguments.
        let bin = tempfile::tempdir().unwrap();
        let calls = bin.path().join("calls.log");
        let b = bin.path();
        script(
            b,
            "kubectl",
            &format!(
                "echo \"kubectl $*\" >> '{calls}'\n\
                 case \"$1 $2\" in\n\
                 'rollout status') echo \"Waiting for deployment \\\"${{3#deployment/}}\\\" rollout to finish: 2 of 3 updated replicas are available...\"; echo \"deployment \\\"${{3#deployment/}}\\\" successfully rolled out\";;\n\
                 'rollout undo') echo \"deployment.apps/${{3#deployment/}} rolled back\";;\n\
                 *) echo \"error: unknown command \\\"$1\\\" for \\\"kubectl\\\"\" >&2; exit 1;;\n\
                 esac",
                calls = calls.display()
            ),
        );
        script(
            b,
            "npm",
            &format!(
                "echo \"npm $*\" >> '{calls}'\n\
                 case \"$1\" in\n\
                 audit) echo 'found 0 vulnerabilities';;\n\
                 outdated) ;;\n\
                 *) echo \"Unknown command: \\\"$1\\\"\" >&2; exit 1;;\n\
                 esac",
                calls = calls.display()
            ),
        );
        // aws s3 sync DIR s3://BUCKET/PREFIX copies into <bin>/s3/BUCKET/PREFIX.
        script(
            b,
            "aws",
            &format!(
                "echo \"aws $*\" >> '{calls}'\n\
                 [ \"$1 $2\" = 's3 sync' ] || {{ echo 'usage: aws s3 sync SRC DST' >&2; exit 252; }}\n\
                 dest='{s3}/'\"${{4#s3://}}\"\n\
                 mkdir -p \"$dest\" && cp -R \"$3\"/. \"$dest\"",
                calls = calls.display(),
                s3 = b.join("s3").display()
            ),
        );
        script(
            b,
            "crontab",
            "[ \"$1\" = -l ] || exit 1\n\
             echo '0 * * * * psql $DATABASE_URL -c \"SELECT refresh_observability_views();\"'\n\
             echo '0 2 * * * curl -X POST -H \"Authorization: Bearer $ADMIN_KEY\" http://localhost:3000/api/admin/neo4j/backlog/cleanup'",
        );

        // The database before the deployment: V1 … V3_007 applied by Flyway.
        let db = TestDb::postgres();
        db.execute(
            "CREATE TABLE signals (id bigserial PRIMARY KEY, content text NOT NULL, source text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
             CREATE TABLE opportunities (id bigserial PRIMARY KEY, title text NOT NULL);
             INSERT INTO signals (content, source) VALUES ('Churn risk', 'slack'), ('Bulk export', 'zendesk');
             CREATE TABLE flyway_schema_history (
               installed_rank integer PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
               type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer,
               installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
               execution_time integer NOT NULL, success boolean NOT NULL);
             INSERT INTO flyway_schema_history VALUES
               (1, '1', 'init', 'SQL', 'V1__init.sql', 11, 'pm', now(), 40, true),
               (2, '2', 'opportunities', 'SQL', 'V2__opportunities.sql', 12, 'pm', now(), 22, true),
               (3, '3.007', 'signal sources', 'SQL', 'V3_007__signal_sources.sql', 13, 'pm', now(), 9, true);",
        );

        let api = new_api();
        let api_server = pm_api(&api);
        let (slack, messages) = slack();
        let ca = TestCa::new();
        let tls = TlsServer::start(ca.leaf(&["localhost"], Duration::from_secs(90 * 86_400)));
        write(&p.join("ca.pem"), &ca.cert_pem);
        let config = project.path().join("shipgate.toml");
        // The example as shipped, with the waits of a test: health retried every 100 ms for
        // 3 s instead of every 2 s for 2 minutes.
        let text = std::fs::read_to_string(example("shipgate.toml"))
            .unwrap()
            .replace(
                "retry = { timeout = \"2m\", interval = \"2s\"",
                "retry = { timeout = \"3s\", interval = \"100ms\"",
            );
        assert!(text.contains("timeout = \"3s\", interval = \"100ms\""));
        std::fs::write(&config, text).unwrap();
        Deployment {
            project,
            bin,
            db,
            api,
            api_server,
            grafana: grafana(),
            slack,
            messages,
            tls,
            maintenance_key: format!("pm_test:{}:maintenance_mode", uuid::Uuid::new_v4().simple()),
            config,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.project.path().join(rel)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.bin.path().join("calls.log")).unwrap_or_default()
    }

    fn run(&self, args: &[&str]) -> (Output, Value) {
        let out = self.command(args).output().unwrap();
        let report = json_report(&out);
        (out, report)
    }

    fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = shipgate(self.project.path());
        cmd.env("PATH", path)
            .arg(args[0])
            .arg("--config")
            .arg(&self.config)
            .args(["--format", "json"])
            .args(&args[1..])
            .env("DATABASE_URL", &self.db.url)
            .env("REDIS_URL", common::redis_url())
            .env("ADMIN_KEY", ADMIN_KEY)
            .env("TEST_API_KEY", TEST_API_KEY)
            .env("API_KEY_CACHE_TTL_MS", "300000")
            .env("API_KEY_CACHE_MAX_SIZE", "1000")
            .env("NEO4J_BACKLOG_MAX_SIZE", "10000")
            .env("NEO4J_BACKLOG_CLEANUP_DAYS", "7")
            .env("NEO4J_BACKLOG_MAX_RETRIES", "5")
            .env("LOG_LEVEL", "info")
            .env("LOG_LEVEL_OPPORTUNITY", "debug")
            .env("PERF_METRICS_ENABLED", "true")
            .env("ERROR_AGGREGATION_ENABLED", "true")
            .env("PM_API_URL", self.api_server.url(""))
            .env("PM_PUBLIC_URL", self.api_server.url(""))
            .env("PM_TLS_HOST", "localhost")
            .env("PM_TLS_PORT", self.tls.port.to_string())
            .env("PM_TLS_CA_FILE", self.path("ca.pem"))
            .env("PM_BACKUP_MIN_FREE", "10MiB")
            .env("PM_BACKUP_BUCKET", "s3://your-backups")
            .env("PM_MAINTENANCE_FLAG", &self.maintenance_key)
            .env("GRAFANA_URL", self.grafana.url(""))
            .env("GRAFANA_TOKEN", GRAFANA_TOKEN)
            .env(
                "SLACK_WEBHOOK_URL",
                self.slack.url("/services/T000/B000/XXXX"),
            );
        cmd
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(common::redis_url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    fn maintenance_flag(&self) -> Option<String> {
        redis::cmd("GET")
            .arg(&self.maintenance_key)
            .query(&mut self.redis())
            .unwrap()
    }

    fn slack_texts(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn tables(&self) -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
            sqlx::query_scalar::<_, String>(
                "SELECT relname::text FROM pg_class WHERE relkind IN ('r', 'm') AND relnamespace = 'public'::regnamespace ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
        })
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Ok(mut conn) =
            redis::Client::open(common::redis_url()).and_then(|c| c.get_connection())
        {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg(&self.maintenance_key)
                .query(&mut conn);
        }
    }
}

fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn message(report: &Value, id: &str) -> String {
    result(report, id)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_passes(report: &Value, ids: &[&str]) {
    for id in ids {
        assert_eq!(result(report, id)["status"], "pass", "{id}: {report:#}");
    }
}

fn assert_no_secret(out: &Output) {
    let text = all(out);
    for secret in [ADMIN_KEY, TEST_API_KEY, GRAFANA_TOKEN] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
}

#[test]
fn preflight_passes_then_names_a_mistyped_variable_and_a_console_log() {
    let d = Deployment::new();
    let (out, report) = d.run(&["preflight"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", stderr(&out));
    assert_no_secret(&out);
    assert_passes(
        &report,
        &[
            "env.API_KEY_CACHE_TTL_MS",
            "env.NEO4J_BACKLOG_MAX_SIZE",
            "env.LOG_LEVEL",
            "env.PERF_METRICS_ENABLED",
            "database.main",
            "database.main.tables",
            "database.main.connections",
            "database.main.migrations",
            "redis.main",
            "path.backend-dist.newest",
            "path.frontend-next.newest",
            "path.backups",
            "command.version",
            "command.changelog",
            "command.no-debug-code",
            "command.no-secrets-in-code",
            "command.npm-audit",
            "command.npm-outdated",
            "command.alert-rules",
            "tls.public",
            "http.load-balancer",
        ],
    );
    // The six V3_0xx migrations are pending; Flyway's V1 … V3_007 are not ours to run.
    let migrations = result(&report, "database.main.migrations");
    assert_eq!(migrations["details"]["pending"], 6, "{migrations:#}");
    assert!(
        d.calls()
            .contains("npm audit --omit=dev --audit-level=high")
    );
    // "Notify Stakeholders": the passing preflight is announced.
    let texts = d.slack_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("preflight"), "{texts:?}");

    // A TTL written as a duration, a console.log and a live key left in the code: each named.
    write(
        &d.path("frontend/chat-ui/src/analytics.ts"),
        "const apiKey = \"sk_live_PMSECRET0123456789abcdef\";\nexport default apiKey;\n",
    );
    write(
        &d.path("backend/src/opportunity.ts"),
        "export function score(o) {\n  console.log('scoring', o);\n  return 1;\n}\n",
    );
    let out = d
        .command(&["preflight"])
        .env("API_KEY_CACHE_TTL_MS", "5m")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    let report = json_report(&out);
    let ttl = result(&report, "env.API_KEY_CACHE_TTL_MS");
    assert_eq!(ttl["status"], "fail", "{ttl:#}");
    assert!(
        message(&report, "env.API_KEY_CACHE_TTL_MS").contains("integer"),
        "{ttl:#}"
    );
    let debug = result(&report, "command.no-debug-code");
    assert_eq!(debug["status"], "fail", "{debug:#}");
    assert!(
        debug.to_string().contains("backend/src/opportunity.ts:2"),
        "{debug:#}"
    );
    let secrets = result(&report, "command.no-secrets-in-code");
    assert_eq!(secrets["status"], "fail", "{secrets:#}");
    assert!(
        secrets
            .to_string()
            .contains("frontend/chat-ui/src/analytics.ts"),
        "{secrets:#}"
    );
    assert!(
        !all(&out).contains("sk_live_PMSECRET"),
        "the key found was printed"
    );
    assert_eq!(result(&report, "command.version")["status"], "pass");
    let texts = d.slack_texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].contains("command.no-debug-code"), "{}", texts[1]);
}

#[test]
fn migrate_backs_up_adopts_flyway_and_holds_maintenance_mode() {
    let d = Deployment::new();
    // A failed upload of the backup to S3 stops the run before any migration; maintenance
    // mode is switched off again.
    let ok_aws = std::fs::read_to_string(d.bin.path().join("aws")).unwrap();
    script(
        d.bin.path(),
        "aws",
        "echo 'upload failed: backups/x.dump to s3://your-backups/pm-intelligence/x.dump An error occurred (AccessDenied) when calling the PutObject operation: Access Denied' >&2\nexit 1",
    );
    let (out, report) = d.run(&["migrate", "--backup", "backups"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let upload = result(&report, "hook.upload-backup");
    assert_eq!(upload["status"], "fail", "{upload:#}");
    // Flyway's history was read first: V1 … V3_007 are Flyway's, never run by shipgate.
    let adopt = message(&report, "migrate.adopt");
    assert!(
        adopt.contains("from flyway_schema_history")
            && adopt.contains("versions with no file: 1, 2, 3.007"),
        "{adopt}"
    );
    assert!(upload.to_string().contains("AccessDenied"), "{upload:#}");
    assert_eq!(result(&report, "hook.maintenance-on")["status"], "pass");
    assert_eq!(result(&report, "hook.maintenance-off")["status"], "pass");
    assert_eq!(d.maintenance_flag(), None, "maintenance mode left on");
    assert!(!d.tables().contains(&"neo4j_sync_backlog".to_string()));
    let texts = d.slack_texts();
    assert!(
        texts.last().unwrap().contains("hook.upload-backup"),
        "{texts:?}"
    );

    std::fs::write(d.bin.path().join("aws"), ok_aws).unwrap();
    let (out, report) = d.run(&["migrate", "--backup", "backups", "--verify-backup"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", stderr(&out));
    assert_no_secret(&out);
    assert_passes(
        &report,
        &[
            "migrate.backup",
            "migrate.backup-verify",
            "hook.maintenance-on",
            "hook.upload-backup",
            "migration.3-008",
            "migration.3-009",
            "migration.3-010",
            "migration.3-011",
            "migration.3-012",
            "migration.3-013",
            "hook.refresh-performance-metrics-hourly",
            "hook.refresh-error-summary",
            "hook.maintenance-off",
        ],
    );
    // DEL answered 1: the flag was set for the migrations, and is gone now.
    let off = message(&report, "hook.maintenance-off");
    assert!(
        off.contains(&format!("DEL {}", d.maintenance_key)) && off.ends_with(": 1"),
        "{off}"
    );
    assert_eq!(d.maintenance_flag(), None);
    // The backups (of both runs) went to the "bucket".
    let names = |dir: PathBuf| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let backups = names(d.path("backups"));
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert_eq!(
        names(d.bin.path().join("s3/your-backups/pm-intelligence")),
        backups
    );
    let tables = d.tables();
    for t in [
        "feedback_tickets",
        "performance_metrics_hourly",
        "error_summary",
        "neo4j_sync_dead_letter",
    ] {
        assert!(tables.contains(&t.to_string()), "{t} missing: {tables:?}");
    }

    // Rollback: a kubectl that cannot undo stops it before the database changes.
    let ok_kubectl = std::fs::read_to_string(d.bin.path().join("kubectl")).unwrap();
    script(
        d.bin.path(),
        "kubectl",
        "echo 'error: no rollout history found for deployment \"backend\"' >&2\nexit 1",
    );
    let (out, report) = d.run(&["rollback", "--steps", "6"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let undo = result(&report, "hook.undo-backend");
    assert_eq!(undo["status"], "fail", "{undo:#}");
    assert!(
        undo.to_string().contains("no rollout history found"),
        "{undo:#}"
    );
    assert_eq!(d.maintenance_flag(), None, "maintenance mode left on");
    assert!(d.tables().contains(&"feedback_tickets".to_string()));

    std::fs::write(d.bin.path().join("kubectl"), ok_kubectl).unwrap();
    let (out, report) = d.run(&["rollback", "--steps", "6"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_passes(
        &report,
        &[
            "hook.maintenance-on",
            "hook.undo-backend",
            "hook.undo-frontend",
            "hook.maintenance-off",
            "rollback.verify",
        ],
    );
    assert!(
        d.calls()
            .contains("kubectl rollout undo deployment/frontend")
    );
    let tables = d.tables();
    assert!(
        !tables.contains(&"feedback_tickets".to_string()),
        "{tables:?}"
    );
    assert!(
        !tables.contains(&"neo4j_sync_backlog".to_string()),
        "{tables:?}"
    );
    assert!(tables.contains(&"signals".to_string()));
    assert_eq!(d.maintenance_flag(), None);
    assert!(d.slack_texts().last().unwrap().contains("rollback"));

    // The application alone: hooks, no database step.
    let (out, report) = d.run(&["rollback", "--app-only"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_passes(
        &report,
        &[
            "hook.undo-backend",
            "hook.undo-frontend",
            "hook.maintenance-off",
        ],
    );
}

#[test]
fn verify_checks_the_deployment_and_names_what_degraded() {
    let d = Deployment::new();
    let (out, report) = d.run(&["migrate", "--backup", "backups"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");

    // pg_stat_statements is not loaded on this server: the check says so, honestly.
    let (out, report) = d.run(&["verify", "--only", "sql.slow-queries"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let slow = message(&report, "sql.slow-queries");
    assert!(slow.contains("pg_stat_statements"), "{slow}");

    let (out, report) = d.run(&["verify", "--skip", "sql.slow-queries"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", stderr(&out));
    assert_no_secret(&out);
    assert_passes(
        &report,
        &[
            "command.rollout-backend",
            "command.rollout-frontend",
            "http.health",
            "http.api-health",
            "http.observability-health",
            "http.signals-db",
            "log.combined",
            "log.error-log",
            "http.homepage",
            "http.cdn",
            "http.smoke-health",
            "http.smoke-signals",
            "http.smoke-create-signal",
            "http.smoke-opportunities",
            "http.smoke-export-csv",
            "http.smoke-export-json",
            "http.smoke-observability-health",
            "http.performance-stats",
            "http.error-stats",
            "http.dead-letter",
            "http.slow-endpoints",
            "metrics.prometheus-endpoint",
            "http.grafana-system-health",
            "http.grafana-performance",
            "http.grafana-errors",
            "http.grafana-user-activity",
            "database.main",
            "database.main.tables",
            "database.main.connections",
            "sql.migrations-applied",
            "sql.indexes",
            "sql.views-populated",
            "sql.table-sizes",
            "redis.main.keys",
            "command.crontab",
            "path.backups.newest",
        ],
    );
    assert_eq!(d.api.lock().unwrap().signals_created, 1);
    assert!(d.slack_texts().last().unwrap().contains("verify"));

    // "Monitor for 1 Hour", shortened: the error rate climbs after the first round.
    {
        let mut api = d.api.lock().unwrap();
        api.error_stats_calls = 0;
        api.error_rate_climbs = Some((2, 0.034));
    }
    let (out, report) = d.run(&[
        "verify",
        "--skip",
        "sql.slow-queries",
        "--watch",
        "6s",
        "--every",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["watch"]["failed_round"], 2, "{:#}", report["watch"]);
    let failed: Vec<&Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["id"], "http.error-stats");
    assert!(
        failed[0]["message"].as_str().unwrap().contains("errorRate"),
        "{:#}",
        failed[0]
    );

    // P95 over 2000 ms, a maintenance flag left on, a restart that never logged its start.
    {
        let mut api = d.api.lock().unwrap();
        api.error_rate_climbs = None;
        api.p95_ms = 2450.0;
    }
    let _: () = redis::cmd("SET")
        .arg(&d.maintenance_key)
        .arg("true")
        .query(&mut d.redis())
        .unwrap();
    write(
        &d.path("logs/combined.log"),
        "2026-12-02T11:00:00.120Z info: Connected to PostgreSQL\n2026-12-02T11:00:00.300Z error: listen EADDRINUSE: address already in use :::3000\n",
    );
    let (out, report) = d.run(&["verify", "--skip", "sql.slow-queries"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let p95 = message(&report, "http.performance-stats");
    assert!(
        p95.contains("p95ResponseTimeMs") && p95.contains("2450"),
        "{p95}"
    );
    assert_eq!(result(&report, "redis.main.keys")["status"], "fail");
    assert!(message(&report, "redis.main.keys").contains(&d.maintenance_key));
    let log = message(&report, "log.combined");
    assert!(log.contains("Server started on port 3000"), "{log}");
    assert_no_secret(&out);
}

#[test]
fn rollback_verification_expects_the_previous_version() {
    let d = Deployment::new();
    d.api.lock().unwrap().version = "1.0".into();
    let (out, report) = d.run(&["verify", "--only", "http.health"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert!(
        message(&report, "http.health").contains("\"1.0\""),
        "{report:#}"
    );
    let out = d
        .command(&["verify", "--only", "http.health"])
        .env("PM_VERSION", "1.0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
}

#[test]
fn rate_limit_engages_at_the_configured_limit() {
    let d = Deployment::new();
    d.api.lock().unwrap().limit = Some(40);
    let out = d
        .command(&["rate-limit-test"])
        .env("PM_RATE_LIMIT_MAX", "40")
        .output()
        .unwrap();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let limit = result(&report, "rate-limit.signals");
    assert_eq!(limit["details"]["observed_limit"], 40, "{limit:#}");
    assert_no_secret(&out);

    // Configured at 100 in the environment, but the service lets only 40 through.
    d.api.lock().unwrap().limited_window = (None, 0);
    let out = d
        .command(&["rate-limit-test"])
        .env("PM_RATE_LIMIT_MAX", "100")
        .output()
        .unwrap();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let limit = result(&report, "rate-limit.signals");
    assert_eq!(limit["status"], "fail", "{limit:#}");
    let said = message(&report, "rate-limit.signals");
    assert!(said.contains("40") && said.contains("100"), "{said}");
}
