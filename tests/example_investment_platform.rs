//! examples/investment-platform: the Investment Management Platform's production deployment
//! guide (shared/seeds/002) as shipgate commands, run as shipped against real servers on
//! loopback: a throwaway PostgreSQL database holding the schema `npm run db:push` would have
//! made, the app's HTTP API as an axum server answering as the guide describes (and writing to
//! that database), and `npm` as a stand-in script for the guide's validation suite.
//!
//! Unix only: the stand-in is a shell script, and PATH is joined with `:`.
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{TestDb, json_report, result, shipgate, stderr, stdout};
use serde_json::{Value, json};
use sqlx::Connection;

const CONFIG: &str = "examples/investment-platform/shipgate.toml";
const SESSION_SECRET: &str = "inv-session-SENTINEL-7f3e9a1c5b";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap_or_default()
}

/// The guide's "Required Environment Variables" with its values, and a real session secret.
fn guide_env(db_url: &str) -> Vec<(&'static str, String)> {
    [
        ("DATABASE_URL", db_url),
        ("DB_POOL_SIZE", "20"),
        ("DB_IDLE_TIMEOUT", "30000"),
        ("DB_MAX_RETRIES", "3"),
        ("SESSION_SECRET", SESSION_SECRET),
        ("ENABLE_RATE_LIMITING", "true"),
        ("MAX_REQUESTS_PER_MINUTE", "100"),
        ("MAX_ALLOCATION_PER_FUND", "50000000"),
        ("MAX_ALLOCATION_PER_DEAL", "10000000"),
        ("MIN_ALLOCATION_AMOUNT", "1000"),
        ("MAX_FUND_UTILIZATION", "95"),
        ("AUDIT_RETENTION_DAYS", "365"),
        ("ENABLE_FINANCIAL_AUDIT", "true"),
        ("ENABLE_SECURITY_AUDIT", "true"),
        ("CACHE_DEFAULT_TTL", "300"),
        ("BATCH_SIZE", "100"),
        ("ENABLE_QUERY_OPTIMIZATION", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

fn with(
    env: &[(&'static str, String)],
    changes: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    for (k, v) in changes {
        match env.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => env.push((k, v.to_string())),
        }
    }
    env
}

fn run(command: &str, config: &Path, env: &[(&str, String)], path: Option<&str>) -> Output {
    let mut cmd = shipgate(repo());
    cmd.args([command, "--format", "json", "--config"])
        .arg(config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().unwrap()
}

// ---------------------------------------------------------------------------- preflight --

#[test]
fn preflight_checks_the_guides_environment_and_database() {
    let db = TestDb::postgres();
    let env = guide_env(&db.url);
    let out = run("preflight", Path::new(CONFIG), &env, None);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !text.contains(SESSION_SECRET),
        "the session secret leaked:\n{text}"
    );
    let report = json_report(&out);
    for (name, _) in &env {
        let id = format!("env.{name}");
        assert_eq!(result(&report, &id)["status"], "pass", "{id}: {report:#}");
    }
    assert_eq!(
        message(result(&report, "env.SESSION_SECRET")),
        "SESSION_SECRET is set (value hidden)"
    );
    assert_eq!(result(&report, "database.main")["status"], "pass");
    assert_eq!(
        result(&report, "database.main.connections")["status"],
        "pass"
    );

    // The block copied as the guide prints it, with the business rules edited by hand: the
    // template secret, a utilization over 100 %, a per-deal limit above the per-fund one, the
    // financial audit switched off, and a pool size that is no number.
    let edited = with(
        &env,
        &[
            ("SESSION_SECRET", "your-secure-session-secret"),
            ("MAX_FUND_UTILIZATION", "120"),
            ("MAX_ALLOCATION_PER_DEAL", "75000000"),
            ("ENABLE_FINANCIAL_AUDIT", "false"),
            ("DB_POOL_SIZE", "twenty"),
        ],
    );
    let out = run("preflight", Path::new(CONFIG), &edited, None);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("your-secure-session-secret"), "{text}");
    let report = json_report(&out);
    let failed: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "env.SESSION_SECRET",
            "env.DB_POOL_SIZE",
            "env.MAX_ALLOCATION_PER_DEAL",
            "env.MAX_FUND_UTILIZATION",
            "env.ENABLE_FINANCIAL_AUDIT",
        ],
        "{report:#}"
    );
    let says = |id: &str, words: &[&str]| {
        let m = message(result(&report, id));
        for w in words {
            assert!(m.contains(w), "{id}: {m:?} does not say {w:?}");
        }
    };
    says("env.SESSION_SECRET", &["placeholder", "(value hidden)"]);
    says("env.MAX_FUND_UTILIZATION", &["120", "100"]);
    says("env.MAX_ALLOCATION_PER_DEAL", &["75000000", "50000000"]);
    says("env.ENABLE_FINANCIAL_AUDIT", &["false", "not one of true"]);
    says("env.DB_POOL_SIZE", &["twenty", "integer"]);
    assert_eq!(
        result(&report, "env.MAX_FUND_UTILIZATION")["location"]["file"],
        CONFIG
    );
}

// ------------------------------------------------------------------------------- verify --

/// The tables `npm run db:push` makes from the app's drizzle schema, as this example reads the
/// guide's services, with a fund, two deals, their allocations (weights adding up to 100 %),
/// capital calls, an audit trail and a session.
const SCHEMA: &str = r#"
CREATE TABLE funds (id serial PRIMARY KEY, name text NOT NULL, committed_capital numeric(18,2) NOT NULL);
CREATE TABLE deals (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE fund_allocations (
  id serial PRIMARY KEY,
  fund_id integer NOT NULL REFERENCES funds,
  deal_id integer NOT NULL REFERENCES deals,
  amount numeric(18,2) NOT NULL,
  security_type text NOT NULL,
  portfolio_weight numeric(9,4) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fund_allocations_fund_idx ON fund_allocations (fund_id);
CREATE TABLE capital_calls (
  id serial PRIMARY KEY,
  allocation_id integer NOT NULL REFERENCES fund_allocations,
  call_amount numeric(18,2) NOT NULL,
  paid_amount numeric(18,2) NOT NULL DEFAULT 0,
  outstanding_amount numeric(18,2) NOT NULL
);
CREATE TABLE audit_logs (
  id serial PRIMARY KEY,
  entity_type text NOT NULL,
  entity_id integer,
  action text NOT NULL,
  category text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at);
CREATE TABLE session (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL);
INSERT INTO funds (name, committed_capital) VALUES ('Growth Fund I', 250000000);
INSERT INTO deals (name) VALUES ('Series B: Acme Robotics'), ('Series A: Northwind Bio');
INSERT INTO fund_allocations (fund_id, deal_id, amount, security_type, portfolio_weight, created_at)
VALUES (1, 1, 600000, 'equity', 60, now() - interval '3 days'),
       (1, 2, 400000, 'preferred', 40, now() - interval '2 days');
INSERT INTO audit_logs (entity_type, entity_id, action, category, created_at)
VALUES ('allocation', 1, 'CREATE', 'financial', now() - interval '3 days'),
       ('allocation', 2, 'CREATE', 'financial', now() - interval '2 days');
INSERT INTO capital_calls (allocation_id, call_amount, paid_amount, outstanding_amount)
VALUES (1, 300000, 300000, 0), (2, 200000, 50000, 150000);
INSERT INTO session VALUES ('s1', '{"cookie":{}}', now() + interval '1 day');
"#;

/// What the test can change in the running app.
struct App {
    db_url: String,
    /// cacheManager.getStats().hitRate, a percentage.
    hit_rate: Mutex<f64>,
    /// ENABLE_FINANCIAL_AUDIT as the running process read it.
    audit: AtomicBool,
    requests: AtomicU64,
    limiter: Limiter,
}

/// express-rate-limit's fixed window (100 per 60 s) with draft-7 headers, keyed on the
/// connection's address, or, with `trust proxy` set to true, on the left-most X-Forwarded-For.
struct Limiter {
    trust_proxy: bool,
    hits: Mutex<HashMap<String, (Instant, u32)>>,
}

const LIMIT: u32 = 100;
const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    /// The headers to send, and whether the request is over the limit.
    fn check(&self, peer: SocketAddr, headers: &HeaderMap) -> (HeaderMap, bool) {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string());
        let key = match forwarded {
            Some(ip) if self.trust_proxy => ip,
            _ => peer.ip().to_string(),
        };
        let mut hits = self.hits.lock().unwrap();
        let now = Instant::now();
        let slot = hits.entry(key).or_insert((now, 0));
        if now.duration_since(slot.0) >= WINDOW {
            *slot = (now, 0);
        }
        slot.1 += 1;
        let reset = WINDOW
            .saturating_sub(now.duration_since(slot.0))
            .as_secs()
            .max(1);
        let mut out = HeaderMap::new();
        out.insert(
            "ratelimit-policy",
            HeaderValue::from_str(&format!("{LIMIT};w={}", WINDOW.as_secs())).unwrap(),
        );
        let remaining = LIMIT.saturating_sub(slot.1);
        out.insert(
            "ratelimit",
            HeaderValue::from_str(&format!(
                "limit={LIMIT}, remaining={remaining}, reset={reset}"
            ))
            .unwrap(),
        );
        let limited = slot.1 > LIMIT;
        if limited {
            out.insert(
                "retry-after",
                HeaderValue::from_str(&reset.to_string()).unwrap(),
            );
        }
        (out, limited)
    }
}

async fn connect(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url)
        .await
        .expect("app database")
}

fn fail(status: StatusCode, error: &str) -> Response {
    (
        status,
        axum::Json(json!({"success": false, "error": error})),
    )
        .into_response()
}

/// POST /api/allocations: ProductionAllocationService — validate, insert, recompute the
/// fund's portfolio weights, audit (when ENABLE_FINANCIAL_AUDIT is on), in one transaction.
async fn create_allocation(app: &App, body: &str) -> Response {
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return fail(StatusCode::BAD_REQUEST, "invalid JSON");
    };
    let (Some(fund), Some(deal), Some(amount), Some(kind)) = (
        req["fundId"].as_i64(),
        req["dealId"].as_i64(),
        req["amount"].as_f64(),
        req["securityType"].as_str(),
    ) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "fundId, dealId, amount and securityType are required",
        );
    };
    if !(1000.0..=10_000_000.0).contains(&amount) {
        return fail(
            StatusCode::BAD_REQUEST,
            "amount must be between MIN_ALLOCATION_AMOUNT and MAX_ALLOCATION_PER_DEAL",
        );
    }
    let mut conn = connect(&app.db_url).await;
    let mut tx = conn.begin().await.unwrap();
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO fund_allocations (fund_id, deal_id, amount, security_type) \
         VALUES ($1, $2, $3::float8::numeric, $4) RETURNING id",
    )
    .bind(fund as i32)
    .bind(deal as i32)
    .bind(amount)
    .bind(kind)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE fund_allocations f SET portfolio_weight = round(f.amount * 100 / t.total, 4) \
         FROM (SELECT sum(amount) AS total FROM fund_allocations WHERE fund_id = $1) t \
         WHERE f.fund_id = $1",
    )
    .bind(fund as i32)
    .execute(&mut *tx)
    .await
    .unwrap();
    if app.audit.load(Ordering::SeqCst) {
        sqlx::query(
            "INSERT INTO audit_logs (entity_type, entity_id, action, category) \
             VALUES ('allocation', $1, 'CREATE', 'financial')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let data =
        json!({"id": id, "fundId": fund, "dealId": deal, "amount": amount, "securityType": kind});
    (
        StatusCode::CREATED,
        axum::Json(json!({"success": true, "data": data})),
    )
        .into_response()
}

fn app_router(app: Arc<App>) -> Router {
    async fn allocations(
        State(app): State<Arc<App>>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        method: axum::http::Method,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
        body: String,
    ) -> Response {
        app.requests.fetch_add(1, Ordering::SeqCst);
        let (limits, limited) = app.limiter.check(peer, &headers);
        if limited {
            let body = "Too many requests, please try again later.";
            return (StatusCode::TOO_MANY_REQUESTS, limits, body).into_response();
        }
        let answer = if method == axum::http::Method::POST {
            create_allocation(&app, &body).await
        } else {
            let fund: i32 = query
                .get("fundId")
                .and_then(|f| f.parse().ok())
                .unwrap_or(1);
            let mut conn = connect(&app.db_url).await;
            let rows: Vec<(i32, String)> = sqlx::query_as(
                "SELECT id, amount::text FROM fund_allocations WHERE fund_id = $1 ORDER BY id",
            )
            .bind(fund)
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let items: Vec<Value> = rows
                .into_iter()
                .map(|(id, amount)| json!({"id": id, "amount": amount}))
                .collect();
            axum::Json(json!({"success": true, "data": items})).into_response()
        };
        (limits, answer).into_response()
    }
    Router::new()
        .route(
            "/api/system/health",
            get(|State(app): State<Arc<App>>| async move {
                let started = Instant::now();
                let mut conn = connect(&app.db_url).await;
                let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.unwrap();
                axum::Json(json!({
                    "status": "healthy",
                    "database": {"status": if one == 1 {"connected"} else {"error"},
                                 "latencyMs": started.elapsed().as_millis() as u64},
                    "services": {"allocations": "healthy", "capitalCalls": "healthy",
                                 "cache": "healthy", "audit": "healthy"},
                    "performance": {"avgResponseMs": 38, "p95ResponseMs": 240},
                    "errors": {"ratePercent": 0.02}
                }))
            }),
        )
        .route(
            "/api/allocations",
            get(allocations).post(allocations),
        )
        .route(
            "/api/audit/recent",
            get(|State(app): State<Arc<App>>| async move {
                let mut conn = connect(&app.db_url).await;
                let rows: Vec<(i32, String, Option<i32>, String)> = sqlx::query_as(
                    "SELECT id, entity_type, entity_id, action FROM audit_logs \
                     ORDER BY created_at DESC, id DESC LIMIT 50",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let entries: Vec<Value> = rows
                    .into_iter()
                    .map(|(id, t, e, a)| json!({"id": id, "entityType": t, "entityId": e, "action": a}))
                    .collect();
                axum::Json(json!({"entries": entries}))
            }),
        )
        .route(
            "/api/system/metrics",
            get(|State(app): State<Arc<App>>| async move {
                let rate = *app.hit_rate.lock().unwrap();
                axum::Json(json!({
                    "cache": {"hits": (rate * 100.0) as u64, "misses": ((100.0 - rate) * 100.0) as u64,
                              "hitRate": rate},
                    "queries": {"count": 5230, "avgMs": 38, "p95Ms": 240},
                    "requests": {"total": 48211 + app.requests.load(Ordering::SeqCst),
                                 "errors": 9, "errorRate": 0.019}
                }))
            }),
        )
        .with_state(app)
}

/// The app on a loopback port, with the connection's address available to the limiter.
struct AppServer {
    addr: SocketAddr,
    app: Arc<App>,
    _runtime: tokio::runtime::Runtime,
}

impl AppServer {
    fn start(db_url: &str, trust_proxy: bool) -> AppServer {
        let app = Arc::new(App {
            db_url: db_url.to_string(),
            hit_rate: Mutex::new(87.5),
            audit: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            limiter: Limiter {
                trust_proxy,
                hits: Mutex::new(HashMap::new()),
            },
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app_router(Arc::clone(&app));
        runtime.spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        AppServer {
            addr,
            app,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `npm` for `npm run tsx scripts/production-deployment-validation.ts`: npm's banner, then the
/// guide's summary lines. It checks what the real suite checks first (outstanding amounts) with
/// psql against DATABASE_URL, and exits 1 when a check failed.
const NPM: &str = r#"#!/bin/sh
if [ "$1" != run ] || [ "$2" != tsx ] || [ "$3" != scripts/production-deployment-validation.ts ]; then
  echo "npm error Missing script: \"$2\"" >&2
  exit 1
fi
echo
echo "> rest-express@1.0.0 tsx"
echo "> tsx scripts/production-deployment-validation.ts"
echo
echo "🔍 Running production deployment validation..."
bad=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM capital_calls WHERE outstanding_amount <> call_amount - paid_amount") || exit 1
if [ "$bad" = 0 ]; then
  echo "✅ Passed: 15"
  echo "⚠️  Warnings: 0  "
  echo "❌ Failed: 0"
  echo
  echo "🎉 System is ready for production deployment!"
  exit 0
fi
echo "❌ Outstanding amount consistency: $bad capital call(s) where outstanding != called - paid"
echo "✅ Passed: 14"
echo "⚠️  Warnings: 0  "
echo "❌ Failed: 1"
echo
echo "🚫 System is NOT ready for production deployment. Fix the failures above."
echo "npm error Lifecycle script \`tsx\` failed with error:" >&2
echo "npm error code 1" >&2
exit 1
"#;

fn stand_in_path(bin: &Path) -> String {
    let npm = bin.join("npm");
    std::fs::write(&npm, NPM).unwrap();
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The example as shipped, with only the health wait's retry interval shortened.
fn fast_copy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join(CONFIG)).unwrap();
    let fast = text.replace(
        "retry = { timeout = \"90s\", interval = \"2s\", backoff = 1.5 }",
        "retry = { timeout = \"90s\", interval = \"100ms\", backoff = 1.5 }",
    );
    assert_ne!(fast, text, "the retry line moved: update the test");
    let copy = dir.join("shipgate.toml");
    std::fs::write(&copy, fast).unwrap();
    copy
}

const VERIFY_IDS: [&str; 16] = [
    "command.validation-suite",
    "http.system-health",
    "http.allocation-create",
    "http.allocation-validation",
    "http.audit-recent",
    "http.system-metrics",
    "http.health-latency",
    "http.allocations-latency",
    "database.main",
    "database.main.tables",
    "sql.schema-consistent",
    "sql.outstanding-amounts",
    "sql.portfolio-weights",
    "sql.allocation-limits",
    "sql.audit-active",
    "sql.audit-coverage",
];

#[test]
fn verify_judges_the_deployment_as_the_guide_describes() {
    let db = TestDb::postgres();
    db.execute(SCHEMA);
    let server = AppServer::start(&db.url, false);
    let bin = tempfile::tempdir().unwrap();
    let path = stand_in_path(bin.path());
    let config = fast_copy(bin.path());
    let mut env = guide_env(&db.url);
    env.push(("APP_URL", server.url()));

    let out = run("verify", &config, &env, Some(&path));
    let text = all(&out);
    assert!(
        !text.contains(SESSION_SECRET),
        "the session secret leaked:\n{text}"
    );
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    for id in VERIFY_IDS {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    assert_eq!(
        result(&report, "http.system-health")["details"]["attempts"],
        3
    );
    assert_eq!(
        result(&report, "http.allocations-latency")["details"]["samples"],
        20
    );
    // The smoke test's allocation landed, audited, with the fund's weights still adding up.
    assert_eq!(
        message(result(&report, "sql.audit-active")),
        "got `1` as expected"
    );

    // The next deployment goes wrong four ways at once: a capital call's outstanding amount
    // no longer adds up, the push turned a money column into a float, the cache is cold, and
    // the new build stopped writing the financial audit trail.
    db.execute("UPDATE capital_calls SET outstanding_amount = 500000 WHERE id = 2");
    db.execute("ALTER TABLE capital_calls ALTER COLUMN paid_amount TYPE double precision");
    *server.app.hit_rate.lock().unwrap() = 72.4;
    server.app.audit.store(false, Ordering::SeqCst);

    let out = run("verify", &config, &env, Some(&path));
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let failed: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "command.validation-suite",
            "http.system-metrics",
            "sql.schema-consistent",
            "sql.outstanding-amounts",
            "sql.audit-coverage",
        ],
        "{report:#}"
    );
    let says = |id: &str, words: &[&str]| {
        let r = result(&report, id);
        assert_eq!(r["status"], "fail", "{id}: {r:#}");
        let m = message(r);
        for w in words {
            assert!(m.contains(w), "{id}: {m:?} does not say {w:?}");
        }
    };
    says(
        "command.validation-suite",
        &["exited with 1 (expected 0)", "does not match `Failed: 0"],
    );
    let tail = result(&report, "command.validation-suite")["details"].to_string();
    assert!(tail.contains("Failed: 1"), "{tail}");
    says("http.system-metrics", &["$.cache.hitRate > 80", "72.4"]);
    says(
        "sql.schema-consistent",
        &["capital_calls.paid_amount is double precision, not numeric"],
    );
    says(
        "sql.outstanding-amounts",
        &["capital call 2: outstanding 500000.00, but called 200000.00 - paid 50000"],
    );
    let coverage = message(result(&report, "sql.audit-coverage"));
    assert!(
        regex::Regex::new(r"allocation \d+ has no audit entry")
            .unwrap()
            .is_match(coverage),
        "{coverage}"
    );
}

// ---------------------------------------------------------------------- rate-limit-test --

#[test]
fn rate_limit_test_proves_max_requests_per_minute_on_the_allocations_route() {
    let db = TestDb::postgres();
    db.execute(SCHEMA);
    let mut env = guide_env(&db.url);

    let server = AppServer::start(&db.url, false);
    env.push(("APP_URL", server.url()));
    let out = run("rate-limit-test", Path::new(CONFIG), &env, None);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let limit = result(&report, "rate-limit.allocations");
    assert_eq!(limit["details"]["observed_limit"], 100, "{limit:#}");
    assert_eq!(limit["details"]["first_limited_index"], 101, "{limit:#}");
    assert_eq!(
        result(&report, "rate-limit.allocations.headers")["status"],
        "pass"
    );
    assert_eq!(
        result(&report, "rate-limit.allocations.bypass")["status"],
        "pass"
    );

    // The same app with Express's `trust proxy` set to true: the limiter keys on the
    // left-most X-Forwarded-For, which any client writes.
    let leaky = AppServer::start(&db.url, true);
    let env = with(&env, &[("APP_URL", &leaky.url())]);
    let out = run("rate-limit-test", Path::new(CONFIG), &env, None);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(result(&report, "rate-limit.allocations")["status"], "pass");
    let bypass = result(&report, "rate-limit.allocations.bypass");
    assert_eq!(bypass["status"], "fail", "{bypass:#}");
    assert!(message(bypass).contains("can be dodged"), "{bypass:#}");
}
