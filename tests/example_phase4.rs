//! examples/phase4 (the Phase 4 performance & monitoring checklist, seed 001) end to end, as
//! shipped: preflight, the Prisma migration with its backup, verify against a deployment on
//! loopback (the portal's API and Prometheus exporter, a real Prometheus scraping it, the real
//! PostgreSQL, Sentry's and UptimeRobot's APIs and a Slack webhook answering as they document),
//! the canary watch, and the immediate rollback. npm and kubectl are stand-in scripts first on
//! PATH; node, git and psql are the real ones.
//!
//! Unix only: the stand-ins are shell scripts, PATH is joined with `:`.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::prometheus::Prometheus;
use common::{TestDb, TestServer, json_report, result, shipgate, stderr, stdout};
use serde_json::{Value, json};

const SENTRY_TOKEN: &str = "sntrys-phase4-token-SENTINEL-8841";
const DSN_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const UPTIME_KEY: &str = "u1234567-phase4-uptime-SENTINEL";
const GRAFANA_TOKEN: &str = "glsa_phase4_grafana_SENTINEL";
const SLACK_PATH: &str = "/services/T0PHASE4/B0PHASE4/slackwebhookSENTINEL";
const EVENT_ID: &str = "9fa7c0b5e3d94a0c8e1f2a3b4c5d6e7f";
const INDEXES: [&str; 4] = [
    "AuditLog_userId_createdAt_idx",
    "Member_status_createdAt_idx",
    "Member_userId_idx",
    "Payment_memberId_createdAt_idx",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example(path: &str) -> String {
    std::fs::read_to_string(repo().join("examples/phase4").join(path)).unwrap()
}

fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// The example's config with only its waits shortened (a 5 s retry interval is right for a real
/// deployment, too slow for a test), written to `dir`.
fn fast_config(dir: &Path) -> PathBuf {
    let text = example("shipgate.toml");
    let replacements = [
        (
            r#"retry = { timeout = "2m", interval = "5s" }"#,
            r#"retry = { timeout = "20s", interval = "100ms" }"#,
            2,
        ),
        (
            r#"retry = { timeout = "1m", interval = "5s" }"#,
            r#"retry = { timeout = "3s", interval = "200ms" }"#,
            1,
        ),
    ];
    let mut fast = text.clone();
    for (from, to, count) in replacements {
        assert_eq!(
            fast.matches(from).count(),
            count,
            "the example changed: {from}"
        );
        fast = fast.replace(from, to);
    }
    let path = dir.join("shipgate.toml");
    std::fs::write(&path, fast).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// The database as `prisma migrate deploy` left it before Phase 4.

/// Prisma's own history table, as its schema engine creates it on PostgreSQL.
const PRISMA_MIGRATIONS_DDL: &str = "CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);";

/// The portal's database before Phase 4: the init migration applied by Prisma and recorded in
/// `_prisma_migrations`, with some members.
fn portal_database() -> TestDb {
    let db = TestDb::postgres();
    db.execute(&example("prisma/migrations/20251201_init/migration.sql"));
    db.execute(PRISMA_MIGRATIONS_DDL);
    db.execute(
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) \
         VALUES ('2b7c9a31-0000-4000-8000-000000000001', repeat('a', 64), now() - interval '40 days', '20251201_init', now() - interval '40 days', 1)",
    );
    db.execute(
        "INSERT INTO \"User\" (email, name) SELECT 'member' || g || '@example.com', 'Member ' || g FROM generate_series(1, 200) g;
         INSERT INTO \"Member\" (\"userId\", tier, status) SELECT g, 'gold', CASE WHEN g % 5 = 0 THEN 'lapsed' ELSE 'active' END FROM generate_series(1, 200) g;
         INSERT INTO \"Payment\" (\"memberId\", amount, status) SELECT 1 + g % 200, 25.00, 'paid' FROM generate_series(1, 1000) g;
         INSERT INTO \"AuditLog\" (\"userId\", action) SELECT 1 + g % 200, 'login' FROM generate_series(1, 1000) g;",
    );
    db
}

fn pg_strings(db: &TestDb, sql: &str) -> Vec<String> {
    let out = StdCommand::new("psql")
        .args([
            &db.url,
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--command",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{sql}: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

fn performance_indexes(db: &TestDb) -> Vec<String> {
    pg_strings(
        db,
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE '%\\_idx' ORDER BY indexname",
    )
}

// ---------------------------------------------------------------------------------------------
// The portal: its API as the runbook describes it, and its Prometheus exporter.

#[derive(Default)]
struct Portal {
    health_calls: AtomicU32,
    advanced_calls: AtomicU32,
    /// After this many answers of /api/health/advanced the heap climbs to 95 % (0: never).
    heap_climbs_after: AtomicU32,
    heap_high: AtomicBool,
    users_warm: AtomicBool,
    scrapes: AtomicU64,
}

impl Portal {
    fn exposition(&self) -> String {
        let n = self.scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        // Per scrape: 1000 requests of /api/users, none failing, 82 % cache hits.
        let (requests, hits, misses) = (1000 * n, 820 * n, 180 * n);
        let buckets = [
            ("0.05", 600),
            ("0.1", 900),
            ("0.25", 980),
            ("0.5", 995),
            ("1", 1000),
            ("+Inf", 1000),
        ];
        let mut text = String::from(
            "# HELP http_requests_total Requests handled by the API middleware.\n\
             # TYPE http_requests_total counter\n",
        );
        text.push_str(&format!(
            "http_requests_total{{route=\"/api/users\",method=\"GET\",status=\"200\"}} {requests}\n\
             http_requests_total{{route=\"/api/users\",method=\"GET\",status=\"500\"}} 0\n\
             # HELP http_request_duration_seconds Request duration.\n\
             # TYPE http_request_duration_seconds histogram\n"
        ));
        for (le, per) in buckets {
            text.push_str(&format!(
                "http_request_duration_seconds_bucket{{le=\"{le}\"}} {}\n",
                per * n
            ));
        }
        let used: u64 = if self.heap_high.load(Ordering::SeqCst) {
            380_000_000
        } else {
            150_000_000
        };
        text.push_str(&format!(
            "http_request_duration_seconds_sum {}\n\
             http_request_duration_seconds_count {requests}\n\
             # TYPE portal_cache_hits_total counter\nportal_cache_hits_total {hits}\n\
             # TYPE portal_cache_misses_total counter\nportal_cache_misses_total {misses}\n\
             # TYPE portal_cache_size_bytes gauge\nportal_cache_size_bytes 125829120\n\
             # TYPE nodejs_heap_size_total_bytes gauge\nnodejs_heap_size_total_bytes 400000000\n\
             # TYPE nodejs_heap_size_used_bytes gauge\nnodejs_heap_size_used_bytes {used}\n",
            90 * n
        ));
        text
    }
}

fn portal() -> (TestServer, Arc<Portal>) {
    let state = Arc::new(Portal::default());
    let router = Router::new()
        .route(
            "/api/health",
            get(|State(p): State<Arc<Portal>>| async move {
                // The new version is still starting for its first answer.
                if p.health_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
                } else {
                    axum::Json(json!({"status": "ok", "uptime": 12, "version": "0.1.0"}))
                        .into_response()
                }
            }),
        )
        .route(
            "/api/health/advanced",
            get(|State(p): State<Arc<Portal>>| async move {
                let n = p.advanced_calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n == p.heap_climbs_after.load(Ordering::SeqCst) {
                    p.heap_high.store(true, Ordering::SeqCst);
                }
                axum::Json(json!({
                    "status": "healthy",
                    "timestamp": "2026-01-14T02:05:00.000Z",
                    "checks": {"database": {"status": "ok", "latencyMs": 4},
                               "cache": {"status": "ok"}, "sentry": {"status": "ok"}},
                    "metrics": {"cacheHitRate": 0.82, "memoryUsagePercent": 41, "p95Ms": 180}
                }))
            }),
        )
        .route(
            "/api/test/error",
            post(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"error": "Sentry test error", "eventId": EVENT_ID})),
                )
            }),
        )
        .route(
            "/api/users",
            get(|State(p): State<Arc<Portal>>| async move {
                let hit = p.users_warm.swap(true, Ordering::SeqCst);
                (
                    [("x-cache", if hit { "HIT" } else { "MISS" })],
                    axum::Json(json!({"users": [{"id": 1}], "total": 200})),
                )
            }),
        )
        .route(
            "/api/cache/stats",
            get(|| async {
                axum::Json(json!({"hits": 8200, "misses": 1800, "keys": 412,
                                  "ksize": 13184, "vsize": 125816000, "hitRate": 0.82}))
            }),
        )
        .route(
            "/metrics",
            get(|State(p): State<Arc<Portal>>| async move { p.exposition() }),
        )
        .with_state(Arc::clone(&state));
    (TestServer::start(router), state)
}

// ---------------------------------------------------------------------------------------------
// Sentry's and UptimeRobot's APIs and the Slack webhook, as they document their answers.

struct Saas {
    portal_url: String,
    /// Lookups of the test event answered 404 before Sentry has it; u32::MAX: never.
    event_after: AtomicU32,
    event_lookups: AtomicU32,
    slack: Mutex<Vec<Value>>,
}

fn sentry_authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SENTRY_TOKEN}"))
}

fn unauthorized() -> axum::response::Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"detail": "Invalid token"})),
    )
        .into_response()
}

fn saas(portal_url: String) -> (TestServer, Arc<Saas>) {
    let state = Arc::new(Saas {
        portal_url,
        event_after: AtomicU32::new(2),
        event_lookups: AtomicU32::new(0),
        slack: Mutex::new(Vec::new()),
    });
    let router = Router::new()
        .route(
            "/api/0/organizations/{org}/releases/{version}/",
            get(
                |UrlPath((org, version)): UrlPath<(String, String)>, headers: HeaderMap| async move {
                    if !sentry_authorized(&headers) {
                        return unauthorized();
                    }
                    if org != "sentry-org" || version != "0.1.0" {
                        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "The requested resource does not exist"}))).into_response();
                    }
                    axum::Json(json!({"version": "0.1.0", "shortVersion": "0.1.0",
                        "dateCreated": "2026-01-13T18:00:00Z", "commitCount": 14,
                        "lastCommit": {"id": "4c1d0e9", "message": "Phase 4: performance indexes"},
                        "projects": [{"slug": "member-portal"}]}))
                    .into_response()
                },
            ),
        )
        .route(
            "/api/0/projects/{org}/{project}/events/{id}/",
            get(
                |State(s): State<Arc<Saas>>, UrlPath((_, _, id)): UrlPath<(String, String, String)>, headers: HeaderMap| async move {
                    if !sentry_authorized(&headers) {
                        return unauthorized();
                    }
                    let n = s.event_lookups.fetch_add(1, Ordering::SeqCst);
                    if id != EVENT_ID || n < s.event_after.load(Ordering::SeqCst) {
                        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Event not found"}))).into_response();
                    }
                    axum::Json(json!({"id": id, "eventID": id, "title": "Error: Sentry test error",
                        "tags": [{"key": "environment", "value": "staging"},
                                 {"key": "release", "value": "0.1.0"}]}))
                    .into_response()
                },
            ),
        )
        .route(
            "/api/0/projects/{org}/{project}/stats/",
            get(|headers: HeaderMap| async move {
                if !sentry_authorized(&headers) {
                    return unauthorized();
                }
                axum::Json(json!([[1768352400, 3], [1768356000, 1]])).into_response()
            }),
        )
        .route(
            "/api/dashboards/uid/{uid}",
            get(|UrlPath(uid): UrlPath<String>, headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    != Some(&format!("Bearer {GRAFANA_TOKEN}"))
                {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Unauthorized"}))).into_response();
                }
                if uid != "phase4-performance" {
                    return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Dashboard not found"}))).into_response();
                }
                axum::Json(json!({
                    "dashboard": {"uid": uid, "title": "Phase 4 performance", "panels": [
                        {"id": 1, "title": "Error rate"}, {"id": 2, "title": "p95"},
                        {"id": 3, "title": "Cache hit rate"}, {"id": 4, "title": "Heap"}]},
                    "meta": {"slug": "phase-4-performance", "url": "/d/phase4-performance/phase-4-performance"}
                }))
                .into_response()
            }),
        )
        .route(
            "/v2/getMonitors",
            post(|State(s): State<Arc<Saas>>, body: String| async move {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                if form.get("api_key").map(String::as_str) != Some(UPTIME_KEY) {
                    return axum::Json(json!({"stat": "fail", "error": {"type": "invalid_parameter",
                        "parameter_name": "api_key", "message": "api_key is invalid."}}));
                }
                axum::Json(json!({"stat": "ok",
                    "pagination": {"offset": 0, "limit": 50, "total": 1},
                    "monitors": [{"id": 777712827, "friendly_name": "member-portal",
                        "url": format!("{}/api/health", s.portal_url), "type": 1,
                        "interval": 300, "status": 2,
                        "alert_contacts": [{"id": "0993765", "value": "ops@example.com",
                                            "type": 2, "threshold": 0, "recurrence": 0}]}]}))
            }),
        )
        .route(
            "/services/{a}/{b}/{c}",
            post(|State(s): State<Arc<Saas>>, body: String| async move {
                s.slack
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                "ok"
            }),
        )
        .with_state(Arc::clone(&state));
    (TestServer::start(router), state)
}

// ---------------------------------------------------------------------------------------------
// The portal's checkout (a git repository, package.json, node_modules/node-cache) and the
// stand-ins for npm and kubectl.

struct Tools {
    dir: tempfile::TempDir,
}

impl Tools {
    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }
    fn state(&self, name: &str) -> PathBuf {
        self.dir.path().join("state").join(name)
    }
    fn portal_dir(&self) -> PathBuf {
        self.dir.path().join("portal")
    }
    fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }
    fn set(&self, flag: &str) {
        std::fs::write(self.state(flag), "").unwrap();
    }
    fn append(&self, name: &str, line: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.state(name))
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
    fn kubectl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state("kubectl.calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
    fn git(&self, args: &[&str]) {
        let out = StdCommand::new("git")
            .current_dir(self.portal_dir())
            .args([
                "-c",
                "user.name=Deployer",
                "-c",
                "user.email=deploy@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    }
}

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn tools() -> Tools {
    let t = Tools {
        dir: tempfile::tempdir().unwrap(),
    };
    for d in [
        t.bin(),
        t.dir.path().join("state"),
        t.portal_dir(),
        t.backups(),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    let state = t.dir.path().join("state");
    let state = state.display();
    // npm as `npm ls --json` and `npm run` print, the scripts' outcomes set by flag files.
    write_script(
        &t.bin().join("npm"),
        &format!(
            r#"#!/bin/sh
state="{state}"
case "$1 $2" in
  "ls node-cache")
    if [ -d node_modules/node-cache ]; then
      printf '{{\n  "version": "0.1.0",\n  "name": "portal",\n  "dependencies": {{\n    "node-cache": {{\n      "version": "5.1.2",\n      "overridden": false\n    }}\n  }}\n}}\n'
    else
      printf '{{\n  "version": "0.1.0",\n  "name": "portal"\n}}\n'
      exit 1
    fi ;;
  "run test:cache")
    printf '\n> portal@0.1.0 test:cache\n> node scripts/cache-stress.js\n\n'
    if [ -e "$state/cache-slow" ]; then sleep 8; fi
    echo "100000 set/get in 1.9s, hit rate 0.99" ;;
  "run test:smoke")
    printf '\n> portal@0.1.0 test:smoke\n> jest --selectProjects smoke\n\n'
    if [ -e "$state/smoke-fails" ]; then
      echo "  x GET /api/members answers 200 (received 502)"
      echo "Tests:       1 failed, 11 passed, 12 total"
      exit 1
    fi
    echo "Tests:       12 passed, 12 total" ;;
  "run test:performance")
    printf '\n> portal@0.1.0 test:performance\n> lhci autorun\n\n'
    echo "FCP 1.1 s (target 1.5 s), LCP 1.7 s (target 2.0 s)"
    echo "Done running Lighthouse!" ;;
  *) echo "npm stand-in: unexpected arguments: $*" >&2; exit 2 ;;
esac
"#
        ),
    );
    // kubectl as its documented output; every call recorded.
    write_script(
        &t.bin().join("kubectl"),
        &format!(
            r#"#!/bin/sh
state="{state}"
echo "$*" >> "$state/kubectl.calls"
case "$1" in
  set)
    echo "Flag --record has been deprecated, --record will be removed in the future" >&2
    echo "deployment.apps/member-portal image updated" ;;
  rollout)
    if [ -e "$state/rollout-fails" ]; then
      echo 'Waiting for deployment "member-portal" rollout to finish: 1 of 3 updated replicas are available...'
      echo 'error: deployment "member-portal" exceeded its progress deadline' >&2
      exit 1
    fi
    echo 'deployment "member-portal" successfully rolled out' ;;
  logs) cat "$state/portal.log" ;;
  *) echo "kubectl stand-in: unexpected arguments: $*" >&2; exit 2 ;;
esac
"#
        ),
    );
    // The portal's checkout: node-cache as its npm package is laid out (a CommonJS module
    // exporting the class), deployed from a commit that is on origin/main.
    let portal = t.portal_dir();
    std::fs::write(
        portal.join("package.json"),
        r#"{"name": "portal", "version": "0.1.0", "dependencies": {"node-cache": "^5.1.2"}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(portal.join("node_modules/node-cache")).unwrap();
    std::fs::write(
        portal.join("node_modules/node-cache/package.json"),
        r#"{"name": "node-cache", "version": "5.1.2", "main": "./index"}"#,
    )
    .unwrap();
    std::fs::write(
        portal.join("node_modules/node-cache/index.js"),
        "class NodeCache {\n  constructor() { this.data = new Map(); }\n  \
         set(key, value, ttl) { this.data.set(key, { value, until: Date.now() + ttl * 1000 }); return true; }\n  \
         get(key) { const e = this.data.get(key); return e && e.until > Date.now() ? e.value : undefined; }\n}\n\
         module.exports = NodeCache;\nmodule.exports.version = '5.1.2';\n",
    )
    .unwrap();
    std::fs::write(portal.join(".gitignore"), "node_modules/\n").unwrap();
    t.git(&["init", "-q", "-b", "main"]);
    t.git(&["add", "-A"]);
    t.git(&["commit", "-q", "-m", "Phase 4: performance & monitoring"]);
    t.git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
    // The portal's logs: requests, and the Sentry test error the verify run triggers.
    t.append(
        "portal.log",
        "2026-01-14T02:00:01.204Z info  [api/health] GET /api/health 200 3ms",
    );
    t.append(
        "portal.log",
        "2026-01-14T02:00:05.001Z error [api/test/error] Sentry test error (eventId 9fa7c0b5e3d94a0c8e1f2a3b4c5d6e7f)",
    );
    t.append(
        "portal.log",
        "2026-01-14T02:00:06.870Z info  [api/users] GET /api/users 200 41ms cache=HIT",
    );
    t.append(
        "postgres.log",
        "2026-01-14 02:00:00.002 UTC [311] LOG:  checkpoint complete: wrote 12 buffers (0.1%)",
    );
    t
}

/// A deployment of the portal: its API, the SaaS APIs, the tools, the database.
struct Deployment {
    portal: TestServer,
    portal_state: Arc<Portal>,
    saas: TestServer,
    saas_state: Arc<Saas>,
    tools: Tools,
    db: TestDb,
    config: PathBuf,
    _config_dir: tempfile::TempDir,
}

impl Deployment {
    fn start() -> Deployment {
        let (portal, portal_state) = portal();
        let (saas, saas_state) = saas(portal.url(""));
        let config_dir = tempfile::tempdir().unwrap();
        Deployment {
            config: fast_config(config_dir.path()),
            _config_dir: config_dir,
            portal,
            portal_state,
            saas,
            saas_state,
            tools: tools(),
            db: portal_database(),
        }
    }

    /// `shipgate <args> --format json --config <the example>` with the deployment's variables.
    fn run(&self, prometheus: Option<&Prometheus>, args: &[&str]) -> (Output, Value) {
        self.run_env(prometheus, args, &[])
    }

    /// As `run`, with some variables set otherwise.
    fn run_env(
        &self,
        prometheus: Option<&Prometheus>,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> (Output, Value) {
        let mut cmd = shipgate(repo());
        cmd.timeout(Duration::from_secs(180))
            .args(args)
            .args(["--format", "json", "--config"])
            .arg(&self.config)
            .env("PATH", self.tools.path())
            .env("DATABASE_URL", &self.db.url)
            .env("PHASE4_URL", self.portal.url(""))
            .env(
                "SENTRY_DSN",
                format!("https://{DSN_KEY}@o4504.ingest.sentry.io/4504123"),
            )
            .env("SENTRY_RELEASE", "0.1.0")
            .env("SENTRY_ENABLED", "true")
            .env("SENTRY_AUTH_TOKEN", SENTRY_TOKEN)
            .env("SENTRY_API_URL", self.saas.url(""))
            .env("UPTIMEROBOT_API_URL", self.saas.url(""))
            .env("UPTIMEROBOT_API_KEY", UPTIME_KEY)
            .env("SLACK_WEBHOOK_URL", self.saas.url(SLACK_PATH))
            .env("GRAFANA_URL", self.saas.url(""))
            .env("GRAFANA_TOKEN", GRAFANA_TOKEN)
            .env("PORTAL_DIR", self.tools.portal_dir())
            .env("BACKUP_DIR", self.tools.backups())
            .env("POSTGRES_SLOW_LOG", self.tools.state("postgres.log"));
        if let Some(p) = prometheus {
            cmd.env("PROMETHEUS_URL", p.url())
                .env("PORTAL_JOB", "exporter");
        }
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        let text = all(&out);
        for secret in [
            SENTRY_TOKEN,
            DSN_KEY,
            UPTIME_KEY,
            GRAFANA_TOKEN,
            "slackwebhookSENTINEL",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        let report = json_report(&out);
        (out, report)
    }

    fn slack_texts(&self) -> Vec<String> {
        self.saas_state
            .slack
            .lock()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn prometheus(&self) -> Prometheus {
        Prometheus::start_scraping(&[&self.portal.addr.to_string()])
    }
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["status"].as_str().unwrap()
}

fn message<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["message"].as_str().unwrap()
}

fn assert_pass(report: &Value, ids: &[&str]) {
    for id in ids {
        assert_eq!(status(report, id), "pass", "{id}: {:#}", result(report, id));
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn preflight_checks_the_pre_deployment_tasks_and_announces_the_start() {
    let d = Deployment::start();
    let (out, report) = d.run(None, &["preflight"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_pass(
        &report,
        &[
            "env.DATABASE_URL",
            "env.SENTRY_AUTH_TOKEN",
            "env.SENTRY_DSN",
            "env.SENTRY_RELEASE",
            "env.SENTRY_ENABLED",
            "command.merged-to-main",
            "command.node-cache-installed",
            "command.node-cache-smoke",
            "command.test-cache",
            "command.index-build-size",
            "database.main",
            "database.main.tables",
            "database.main.migrations",
            "http.sentry-release",
            "http.grafana-dashboard",
        ],
    );
    // Prisma's history counts here as `migrate` will adopt it: the init migration Prisma
    // applied is applied, only the Phase 4 one is pending.
    let migrations = result(&report, "database.main.migrations");
    assert_eq!(migrations["details"]["applied"], 1, "{migrations:#}");
    assert_eq!(migrations["details"]["pending"], 1, "{migrations:#}");
    assert_eq!(migrations["details"]["drifted"], 0, "{migrations:#}");
    let said = migrations["message"].as_str().unwrap();
    assert!(
        said.contains("adopted 1 applied migrations from _prisma_migrations"),
        "{said}"
    );
    // "Team notified": the passing preflight is announced in the channel.
    let texts = d.slack_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("*shipgate preflight passed*"),
        "{texts:?}"
    );

    // What goes wrong before a deploy: the release variable left at the old version, node-cache
    // not installed, a commit not merged, a cache stress test that takes 8 s, a Sentry release
    // without its commits.
    std::fs::remove_dir_all(d.tools.portal_dir().join("node_modules/node-cache")).unwrap();
    std::fs::write(d.tools.portal_dir().join("hotfix.txt"), "unreviewed\n").unwrap();
    d.tools.git(&["add", "hotfix.txt"]);
    d.tools.git(&["commit", "-q", "-m", "hotfix, not merged"]);
    d.tools.set("cache-slow");
    // The release variable left at the previous version: Sentry has no such release either.
    let (out, report) = d.run_env(None, &["preflight"], &[("SENTRY_RELEASE", "0.0.9")]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "env.SENTRY_RELEASE"), "fail");
    assert!(
        message(&report, "env.SENTRY_RELEASE").contains("0.1.0"),
        "{:#}",
        result(&report, "env.SENTRY_RELEASE")
    );
    assert_eq!(status(&report, "command.node-cache-installed"), "fail");
    assert_eq!(status(&report, "command.node-cache-smoke"), "fail");
    // The message ends with node's last line (its version); the error is in the details.
    let smoke = result(&report, "command.node-cache-smoke");
    assert!(
        smoke["details"]["stderr"]
            .as_str()
            .unwrap()
            .contains("Error: Cannot find module 'node-cache'"),
        "{smoke:#}"
    );
    assert_eq!(status(&report, "command.merged-to-main"), "fail");
    // "Should complete in < 5 seconds".
    assert_eq!(status(&report, "command.test-cache"), "fail");
    assert!(
        message(&report, "command.test-cache")
            .contains("did not finish within 5.0s and was killed"),
        "{:#}",
        result(&report, "command.test-cache")
    );
    assert_eq!(status(&report, "http.sentry-release"), "fail");
    assert!(
        message(&report, "http.sentry-release").contains("404"),
        "{:#}",
        result(&report, "http.sentry-release")
    );
    let texts = d.slack_texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[1].contains("*shipgate preflight failed*"),
        "{texts:?}"
    );
    assert!(texts[1].contains("env.SENTRY_RELEASE"), "{texts:?}");
}

#[test]
fn migrate_adopts_prisma_history_backs_up_and_builds_the_indexes_and_rollback_is_a_new_migration() {
    let d = Deployment::start();
    let backups = d.tools.backups();
    let backups = backups.to_str().unwrap();
    // "Plan backup", "npm run db:migrate:deploy": the backup is taken and proved to restore
    // before the migration runs; what Prisma applied is adopted, not run again.
    let (out, report) = d.run(None, &["migrate", "--backup", backups, "--verify-backup"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(
        message(&report, "migrate.adopt")
            .contains("adopted 1 applied migrations from _prisma_migrations"),
        "{:#}",
        result(&report, "migrate.adopt")
    );
    assert_pass(
        &report,
        &[
            "migrate.backup",
            "migrate.backup-verify",
            "migration.20260112",
        ],
    );
    assert_eq!(
        result(&report, "migration.20260112")["name"],
        "20260112 (add performance indexes)"
    );
    let dumps: Vec<_> = std::fs::read_dir(backups)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "dump"))
        .collect();
    assert_eq!(dumps.len(), 1, "one pg_dump in {backups}");
    assert_eq!(performance_indexes(&d.db), INDEXES);
    // The migration announced in the channel.
    assert!(
        d.slack_texts()
            .iter()
            .any(|t| t.contains("*shipgate migrate passed*")),
        "{:?}",
        d.slack_texts()
    );

    // "Database Rollback": Prisma wrote no down script, and shipgate says so instead of
    // pretending (`prisma migrate resolve --rolled-back` would drop nothing either).
    let (out, report) = d.run(None, &["rollback", "--steps", "1"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "rollback.20260112"), "fail");
    assert!(
        message(&report, "rollback.20260112").contains("Prisma writes no down script"),
        "{:#}",
        result(&report, "rollback.20260112")
    );
    assert_eq!(performance_indexes(&d.db), INDEXES, "nothing was dropped");
    // The rollback hooks (kubectl) did not run: the rollback stopped before them.
    assert!(
        d.tools.kubectl_calls().is_empty(),
        "{:?}",
        d.tools.kubectl_calls()
    );

    // The reverse migration shipped with the example, copied into the project's migrations as
    // README.md says, is applied like any migration ...
    let project = tempfile::tempdir().unwrap();
    let migrations = project.path().join("examples/phase4/prisma/migrations");
    for folder in ["20251201_init", "20260112_add_performance_indexes"] {
        std::fs::create_dir_all(migrations.join(folder)).unwrap();
        std::fs::write(
            migrations.join(folder).join("migration.sql"),
            example(&format!("prisma/migrations/{folder}/migration.sql")),
        )
        .unwrap();
    }
    let revert = "20260113_revert_performance_indexes";
    std::fs::create_dir_all(migrations.join(revert)).unwrap();
    std::fs::write(
        migrations.join(revert).join("migration.sql"),
        example(&format!("prisma/revert/{revert}/migration.sql")),
    )
    .unwrap();
    let out = shipgate(project.path())
        .args(["migrate", "--format", "json", "--config"])
        .arg(&d.config)
        .env("DATABASE_URL", &d.db.url)
        .output()
        .unwrap();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_pass(&report, &["migration.20260113"]);
    assert!(performance_indexes(&d.db).is_empty());
    // ... and "Verify indexes removed" is one line.
    let indexes_gone = |db: &TestDb| {
        shipgate(repo())
            .args(["verify", "--format", "json", "--database-url", &db.url, "--sql"])
            .arg(format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname IN ('{}')",
                INDEXES.join("', '")
            ))
            .args(["--expect", "0"])
            .output()
            .unwrap()
    };
    let out = indexes_gone(&d.db);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));

    // On a database where the indexes are still there, the same line fails, saying how many.
    let other = portal_database();
    other.execute(&example(
        "prisma/migrations/20260112_add_performance_indexes/migration.sql",
    ));
    let out = indexes_gone(&other);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(stdout(&out).contains('4'), "{}", all(&out));
}

#[test]
fn migrate_refuses_a_prisma_migration_that_never_finished() {
    let d = Deployment::start();
    // A `prisma migrate deploy` of the Phase 4 migration that failed part-way (a lock timeout
    // on Payment): Prisma itself refuses to go on (P3009), and so does shipgate.
    d.db.execute(
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, started_at, applied_steps_count) \
         VALUES ('2b7c9a31-0000-4000-8000-000000000002', repeat('b', 64), NULL, '20260112_add_performance_indexes', \
                 'canceling statement due to lock timeout', now() - interval '10 minutes', 0)",
    );
    d.db.execute("CREATE INDEX \"Member_userId_idx\" ON \"Member\"(\"userId\")");
    let (out, report) = d.run(None, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "migrate.adopt"), "fail");
    let said = message(&report, "migrate.adopt");
    assert!(
        said.contains("_prisma_migrations records 20260112_add_performance_indexes as started but not finished"),
        "{said}"
    );
    assert!(
        said.contains("prisma migrate resolve --applied 20260112_add_performance_indexes"),
        "{said}"
    );
    assert_eq!(
        performance_indexes(&d.db),
        ["Member_userId_idx"],
        "nothing else was built"
    );
    let texts = d.slack_texts();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("*shipgate migrate failed*")),
        "{texts:?}"
    );
}

/// Migrates as the runbook's Stage 1 does, with the backup `path.backups` looks for.
fn migrated(d: &Deployment) {
    let backups = d.tools.backups();
    let (out, report) = d.run(None, &["migrate", "--backup", backups.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
}

const VERIFY_IDS: [&str; 27] = [
    "http.health",
    "http.health-advanced",
    "http.health-latency",
    "http.sentry-test-error",
    "http.sentry-event",
    "http.sentry-stats",
    "http.uptimerobot",
    "http.users-cache",
    "metrics.middleware",
    "http.cache-stats",
    "sql.performance-indexes",
    "sql.slow-queries",
    "database.main",
    "database.main.connections",
    "log.postgres-slow",
    "log.portal",
    "command.rollout",
    "command.test-smoke",
    "command.test-performance",
    "path.backups.newest",
    "prometheus.error-rate",
    "prometheus.p95",
    "prometheus.cache-hit-rate",
    "prometheus.heap",
    "prometheus.cache-memory",
    "prometheus.up",
    "path.backups",
];

#[test]
fn verify_passes_on_a_healthy_deployment_and_names_each_problem_of_a_bad_one() {
    let d = Deployment::start();
    migrated(&d);
    let prometheus = d.prometheus();

    let (out, report) = d.run(Some(&prometheus), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_pass(&report, &VERIFY_IDS);
    // Waited for the deployment (503 first), found the Sentry event once Sentry had it.
    assert_eq!(result(&report, "http.health")["details"]["attempts"], 3);
    assert_eq!(
        result(&report, "http.sentry-event")["details"]["attempts"],
        3
    );
    assert_eq!(
        result(&report, "http.health-latency")["details"]["samples"],
        100
    );
    // "Notify stakeholders - Send completion announcement".
    let texts = d.slack_texts();
    assert!(
        texts.last().unwrap().contains("*shipgate verify passed*"),
        "{texts:?}"
    );

    // A bad deployment: the heap at 95 %, Sentry never gets the test error, a smoke test
    // fails, an index is missing, a query has been running for seconds, an unhandled error in
    // the portal's logs, a slow statement in PostgreSQL's log.
    d.portal_state.heap_high.store(true, Ordering::SeqCst);
    d.saas_state.event_after.store(u32::MAX, Ordering::SeqCst);
    d.tools.set("smoke-fails");
    d.db.execute("DROP INDEX \"AuditLog_userId_createdAt_idx\"");
    d.tools.append(
        "portal.log",
        "2026-01-14T02:10:31.512Z error [api/members] Unhandled rejection: TimeoutError: Connection terminated due to connection timeout",
    );
    d.tools.append(
        "postgres.log",
        "2026-01-14 02:11:04.123 UTC [4242] portal@portal LOG:  duration: 2513.204 ms  statement: SELECT * FROM \"Payment\" WHERE \"memberId\" = 12",
    );
    let mut slow = StdCommand::new("psql")
        .args([&d.db.url, "--no-psqlrc", "--command", "SELECT pg_sleep(12)"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Bounded: the slow query shows in pg_stat_activity and Prometheus scraped the new heap.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(prometheus.has_result("nodejs_heap_size_used_bytes > 300000000")
        && pg_strings(
            &d.db,
            "SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(12)' AND now() - query_start > interval '1500 milliseconds'",
        ) == ["1"])
    {
        assert!(Instant::now() < deadline, "the bad deployment never showed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (out, report) = d.run(Some(&prometheus), &["verify"]);
    let _ = slow.kill();
    let _ = slow.wait();
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let expect_failed = |id: &str, words: &[&str]| {
        assert_eq!(status(&report, id), "fail", "{:#}", result(&report, id));
        let said = message(&report, id);
        for w in words {
            assert!(said.contains(w), "{id}: {w:?} not in {said}");
        }
    };
    expect_failed("prometheus.heap", &["0.95"]);
    expect_failed("http.sentry-event", &["404"]);
    expect_failed("command.test-smoke", &["1 failed"]);
    expect_failed("sql.performance-indexes", &["expected 4 rows, got 3 rows"]);
    expect_failed(
        "sql.slow-queries",
        &[
            "expected no rows, got 1 row, the first: ",
            "SELECT pg_sleep(12)",
        ],
    );
    let slow = result(&report, "sql.slow-queries")["details"]["rows"].to_string();
    assert!(slow.contains("SELECT pg_sleep(12)"), "{slow}");
    expect_failed("log.portal", &["Unhandled rejection"]);
    expect_failed("log.postgres-slow", &["duration: 2513.204 ms"]);
    // The rest still passes: the failures are these, not a broken setup.
    assert_pass(
        &report,
        &[
            "http.health",
            "http.health-advanced",
            "prometheus.error-rate",
            "prometheus.cache-hit-rate",
            "prometheus.p95",
            "command.rollout",
            "http.uptimerobot",
        ],
    );
    let texts = d.slack_texts();
    let last = texts.last().unwrap();
    assert!(last.contains("*shipgate verify failed*"), "{last}");
    assert!(last.contains("prometheus.heap"), "{last}");
}

#[test]
fn the_canary_watch_stops_at_the_first_round_whose_metrics_degrade() {
    let d = Deployment::start();
    let prometheus = d.prometheus();
    // "Check every 5 minutes for 30 minutes", at test speed: a round a second for 6 s; the
    // canary's heap climbs once the advanced health endpoint has answered twice (round 2).
    d.portal_state.heap_climbs_after.store(2, Ordering::SeqCst);
    let (out, report) = d.run(
        Some(&prometheus),
        &[
            "verify",
            "--watch",
            "6s",
            "--every",
            "1s",
            "--only",
            "http.health-advanced",
            "--only",
            "prometheus",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let watch = &report["watch"];
    assert_eq!(watch["planned_rounds"], 7, "{watch:#}");
    let failed = watch["failed_round"].as_u64().unwrap();
    assert!(failed >= 3, "rounds 1 and 2 saw a healthy heap: {watch:#}");
    let rounds = watch["rounds"].as_array().unwrap();
    assert_eq!(
        rounds.len() as u64,
        failed,
        "no round after the failing one"
    );
    let failing: Vec<&Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(failing[0]["id"], "prometheus.heap");
    assert_eq!(failing[0]["details"]["round"], failed);
    assert!(
        failing[0]["message"].as_str().unwrap().contains("0.95"),
        "{:#}",
        failing[0]
    );
    assert!(
        stderr(&out).contains(&format!("round {failed}/7")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn app_only_rollback_restores_the_previous_image_and_checks_it() {
    let d = Deployment::start();
    // "Prepare rollback": the procedure, shown without running it.
    let (out, report) = d.run(None, &["rollback", "--app-only", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(status(&report, "hook.previous-image"), "skip");
    assert!(
        message(&report, "hook.previous-image").contains(
            "would run `kubectl set image deployment/member-portal app=member-portal:previous-stable --record`"
        ),
        "{:#}",
        result(&report, "hook.previous-image")
    );
    assert!(d.tools.kubectl_calls().is_empty(), "a dry run runs nothing");

    let (out, report) = d.run(None, &["rollback", "--app-only"]);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_pass(
        &report,
        &["hook.previous-image", "hook.rollout-status", "hook.health"],
    );
    assert_eq!(
        d.tools.kubectl_calls(),
        [
            "set image deployment/member-portal app=member-portal:previous-stable --record",
            "rollout status deployment/member-portal --timeout=4m",
        ]
    );
    assert!(
        d.slack_texts()
            .last()
            .unwrap()
            .contains("*shipgate rollback passed*")
    );

    // The previous image does not come up: the rollback fails at the rollout and says why.
    d.tools.set("rollout-fails");
    let (out, report) = d.run(None, &["rollback", "--app-only"]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "hook.rollout-status"), "fail");
    assert!(
        message(&report, "hook.rollout-status").contains("exceeded its progress deadline"),
        "{:#}",
        result(&report, "hook.rollout-status")
    );
    let last = d.slack_texts();
    assert!(
        last.last().unwrap().contains("*shipgate rollback failed*"),
        "{last:?}"
    );
}
