//! examples/valuecanvas: the ValueCanvas deployment checklist (LLM infrastructure) run as
//! shipgate commands against real servers on loopback: PostgreSQL (a throwaway database with
//! Supabase's `auth` schema), a private Redis with a password, AOF and an LRU policy, a real
//! Prometheus scraping the API's /metrics, promtool, pg_dump/pg_restore, redis-cli, and axum
//! servers answering as the API, Supabase Auth, Together.ai, OpenAI, Sentry, Jaeger and Grafana
//! do. kubectl, aws, k6, npm, node and docker are stand-in scripts printing what the real tools
//! print.
//!
//! Unix only: stand-in shell scripts, PATH joined with `:`.
#![cfg(unix)]

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use common::prometheus::Prometheus;
use common::{TestDb, TestServer, json_report, result, shipgate, stderr, stdout};
use serde_json::{Value, json};

const CONFIG: &str = "examples/valuecanvas/shipgate.toml";
const RESTORE: &str = "examples/valuecanvas/restore.toml";

const TOKEN: &str = "vc-smoke-token-SENTINEL-3141";
const ADMIN_TOKEN: &str = "vc-admin-token-SENTINEL-2718";
const USER_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.vc-user-SENTINEL-1618";
const ANON_KEY: &str = "vc-anon-key-SENTINEL-1414";
const TEST_USER_PASSWORD: &str = "vc-user-password-SENTINEL-1732";
const TOGETHER_KEY: &str = "tgp_v1_together-SENTINEL-5772";
const OPENAI_KEY: &str = "sk-openai-SENTINEL-6931";
const SENTRY_TOKEN: &str = "sntrys_vc-SENTINEL-4669";
const GRAFANA_TOKEN: &str = "glsa_vc-SENTINEL-8862";
const REDIS_PASSWORD: &str = "vc-redis-pass-SENTINEL-2236";
const SENTINELS: [&str; 10] = [
    TOKEN,
    ADMIN_TOKEN,
    USER_JWT,
    ANON_KEY,
    TEST_USER_PASSWORD,
    TOGETHER_KEY,
    OPENAI_KEY,
    SENTRY_TOKEN,
    GRAFANA_TOKEN,
    REDIS_PASSWORD,
];
const APP_ORIGIN: &str = "https://app.valuecanvas.com";
const SENTRY_EVENT: &str = "7c1e2f4a9b8d4e6f8a0b1c2d3e4f5a6b";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn assert_no_secret(out: &Output) {
    let text = all(out);
    for s in SENTINELS {
        assert!(!text.contains(s), "{s} leaked:\n{text}");
    }
}

fn message(report: &Value, id: &str) -> String {
    result(report, id)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_status(report: &Value, id: &str, status: &str) {
    let r = result(report, id);
    assert_eq!(r["status"], status, "{id}: {r:#}");
}

/// The results that did not pass, as `id: message` lines (for assertion messages).
fn not_passing(report: &Value) -> String {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| format!("{} {}: {}", r["status"], r["id"], r["message"]))
        .collect::<Vec<_>>()
        .join("\n")
}

// ------------------------------------------------------------------------------------------
// Stand-in tools

/// A directory of stand-in programs put first on PATH, with a state directory: a file there
/// (`crashloop`, `no-rollout-history`, `k6-thresholds`) switches a stand-in to its failure,
/// and `calls` records every kubectl/aws invocation.
struct Tools {
    bin: tempfile::TempDir,
    state: tempfile::TempDir,
}

impl Tools {
    fn new() -> Tools {
        let tools = Tools {
            bin: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
        };
        let state = tools.state.path().display().to_string();
        tools.script("node", "echo v20.11.1\n");
        tools.script("docker", "echo 'Docker version 27.3.1, build ce12230'\n");
        tools.script("docker-compose", "echo 'Docker Compose version v2.29.7'\n");
        tools.script(
            "npm",
            r#"case "$*" in
  test) printf '> valuecanvas@1.4.0 test\n> vitest run\n\n Test Files  48 passed (48)\n      Tests  412 passed (412)\n' ;;
  "run test:e2e") printf '> valuecanvas@1.4.0 test:e2e\n> playwright test\n\n  27 passed (1.2m)\n' ;;
  "run security:scan") printf '> valuecanvas@1.4.0 security:scan\n> npm audit --audit-level=high\n\nfound 0 vulnerabilities\n' ;;
  *) echo "npm ERR! Missing script: \"$*\"" >&2; exit 1 ;;
esac
"#,
        );
        tools.script(
            "k6",
            &format!(
                r#"case "$*" in
  version) echo 'k6 v0.54.0 (go1.23.1, linux/amd64)' ;;
  "run test/load/llm-load-test.js")
    if [ -f '{state}/k6-thresholds' ]; then rate='41.907/s'; p95='7.12s'; else rate='152.384/s'; p95='2.31s'; fi
    printf '\n          /\\      |‾‾| /‾‾/   /‾‾/\n     /\\  /  \\     |  |/  /   /  /\n\n     execution: local\n        script: test/load/llm-load-test.js\n\n'
    printf '     ✓ http_req_duration..............: avg=812.4ms min=95.1ms med=640.2ms max=9.8s p(90)=1.9s p(95)=%s\n' "$p95"
    printf '     ✓ http_req_failed................: 1.21%%  ✓ 553       ✗ 45181\n'
    printf '     ✓ llm_cache_hit_rate.............: 41.37%% ✓ 18920     ✗ 26814\n'
    printf '       http_reqs......................: 45734  %s\n' "$rate"
    if [ -f '{state}/k6-thresholds' ]; then
      echo "time=\"2026-12-02T18:40:00Z\" level=error msg=\"thresholds on metrics 'http_req_duration' have been crossed\"" >&2
      exit 99
    fi ;;
  *) echo "unknown command \"$*\" for \"k6\"" >&2; exit 255 ;;
esac
"#
            ),
        );
        tools.script(
            "kubectl",
            &format!(
                r#"echo "kubectl $*" >> '{state}/calls'
case "$*" in
  "rollout status deployment/api-server --timeout=300s")
    echo 'Waiting for deployment "api-server" rollout to finish: 2 of 3 updated replicas are available...'
    echo 'deployment "api-server" successfully rolled out' ;;
  "get pods -l app=api-server")
    echo 'NAME                          READY   STATUS             RESTARTS      AGE'
    echo 'api-server-7d9f8b6c5d-4xkzq   1/1     Running            0             3m12s'
    echo 'api-server-7d9f8b6c5d-9pwrt   1/1     Running            0             2m58s'
    if [ -f '{state}/crashloop' ]; then
      echo 'api-server-7d9f8b6c5d-x2mfn   0/1     CrashLoopBackOff   4 (31s ago)   2m40s'
    else
      echo 'api-server-7d9f8b6c5d-x2mfn   1/1     Running            0             2m40s'
    fi ;;
  "logs -l app=api-server --tail=100")
    echo '{{"level":"info","time":"2026-12-02T18:31:02Z","msg":"Server listening on :3000"}}'
    echo '{{"level":"info","time":"2026-12-02T18:31:05Z","msg":"GET /health/ready 200 4ms"}}'
    echo '{{"level":"info","time":"2026-12-02T18:31:09Z","msg":"POST /api/llm/chat 200 812ms provider=together cached=false"}}' ;;
  "get pods -l app=llm-worker -o json")
    printf '{{"apiVersion":"v1","kind":"List","items":[%s,%s,%s]}}\n' \
      '{{"metadata":{{"name":"llm-worker-5f7c9d8b4-abcde"}},"status":{{"phase":"Running"}}}}' \
      '{{"metadata":{{"name":"llm-worker-5f7c9d8b4-fghij"}},"status":{{"phase":"Running"}}}}' \
      '{{"metadata":{{"name":"llm-worker-5f7c9d8b4-klmno"}},"status":{{"phase":"Running"}}}}' ;;
  "logs -l app=llm-worker --tail=100")
    echo '{{"level":"info","msg":"worker ready, concurrency 5, queue llm-jobs"}}'
    echo '{{"level":"info","msg":"job job-42 completed in 1.8s"}}' ;;
  "get cronjob valuecanvas-db-backup -o json")
    echo '{{"apiVersion":"batch/v1","kind":"CronJob","metadata":{{"name":"valuecanvas-db-backup"}},"spec":{{"schedule":"0 3 * * *","suspend":false}}}}' ;;
  "rollout undo deployment/api-server")
    if [ -f '{state}/no-rollout-history' ]; then
      echo 'error: no rollout history found for deployment "api-server"' >&2; exit 1
    fi
    echo 'deployment.apps/api-server rolled back' ;;
  *) echo "error: unknown command \"$*\" for \"kubectl\" (stand-in)" >&2; exit 1 ;;
esac
"#
            ),
        );
        tools.script(
            "aws",
            &format!(
                r#"echo "aws $*" >> '{state}/calls'
case "$*" in
  "sts get-caller-identity --output json")
    echo '{{"UserId":"AROAXAMPLEID:ci","Account":"123456789012","Arn":"arn:aws:sts::123456789012:assumed-role/valuecanvas-deploy/ci"}}' ;;
  "secretsmanager describe-secret --secret-id valuecanvas/production --output json")
    echo '{{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:valuecanvas/production-AbCdEf","Name":"valuecanvas/production","LastChangedDate":"2026-11-30T10:00:00Z"}}' ;;
  "logs describe-log-groups --log-group-name-prefix /valuecanvas/production/ --output json")
    echo '{{"logGroups":[{{"logGroupName":"/valuecanvas/production/api","retentionInDays":30}},{{"logGroupName":"/valuecanvas/production/llm-worker","retentionInDays":30}}]}}' ;;
  "s3api head-bucket --bucket valuecanvas-backups")
    echo '{{"BucketRegion":"us-east-1","AccessPointAlias":false}}' ;;
  "s3api get-bucket-lifecycle-configuration --bucket valuecanvas-backups --output json")
    echo '{{"Rules":[{{"ID":"expire-old-backups","Filter":{{"Prefix":"backups/"}},"Status":"Enabled","Expiration":{{"Days":30}}}}]}}' ;;
  "iam get-role --role-name valuecanvas-api --output json")
    echo '{{"Role":{{"RoleName":"valuecanvas-api","Arn":"arn:aws:iam::123456789012:role/valuecanvas-api"}}}}' ;;
  "s3 ls s3://valuecanvas-backups/backups/")
    if [ -f '{state}/no-s3-backups' ]; then exit 1; fi
    echo '2026-12-01 03:00:12   48213377 valuecanvas-20261201T030000.dump'
    echo '2026-12-02 03:00:09   48377002 valuecanvas-20261202T030000.dump' ;;
  "logs tail /valuecanvas/production/api --since 10m")
    echo '2026-12-02T18:31:05.120000+00:00 api-server-7d9f8b6c5d-4xkzq GET /health/ready 200 4ms'
    echo '2026-12-02T18:31:09.480000+00:00 api-server-7d9f8b6c5d-9pwrt POST /api/llm/chat 200 812ms' ;;
  *) echo "aws: error: argument operation: Invalid choice (stand-in): $*" >&2; exit 252 ;;
esac
"#
            ),
        );
        tools
    }

    fn script(&self, name: &str, body: &str) {
        let path = self.bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn set(&self, switch: &str, on: bool) {
        let file = self.state.path().join(switch);
        if on {
            std::fs::write(file, "").unwrap();
        } else {
            let _ = std::fs::remove_file(file);
        }
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.state.path().join("calls")).unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------------------
// A private Redis: password, AOF, a memory limit with an LRU policy (the shared one is never
// reconfigured).

struct PrivateRedis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start() -> PrivateRedis {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = StdCommand::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .args(["--requirepass", REDIS_PASSWORD])
            .args(["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let redis = PrivateRedis {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while redis.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "the private redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = StdCommand::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--no-auth-warning"])
            .args(["-a", REDIS_PASSWORD])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------------------------------
// The ValueCanvas API (and Supabase Auth), as the checklist describes it.

#[derive(Default)]
struct Api {
    started: Option<Instant>,
    /// 5xx answers at 20 % in /metrics (a bad release).
    degraded: AtomicBool,
    /// The limiter keys on X-Forwarded-For (trust proxy with no proxy in front).
    trust_proxy: bool,
    chat_cache: Mutex<HashSet<String>>,
    flags: Mutex<HashMap<String, bool>>,
    /// Requests per client in the current 60 s window, and when it started.
    window: Mutex<(Option<Instant>, HashMap<String, u32>)>,
    stats_calls: AtomicU32,
}

const RATE_LIMIT: u32 = 100;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn is_user(headers: &HeaderMap) -> bool {
    matches!(bearer(headers), Some(t) if t == TOKEN || t == USER_JWT || t == ADMIN_TOKEN)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "missing or invalid token"})),
    )
        .into_response()
}

fn canvas() -> Value {
    json!({"canvas": {
        "valuePropositions": ["Faster LLM-assisted planning"],
        "customerSegments": ["Technology start-ups"],
        "painRelievers": ["Fewer workshops"]
    }})
}

/// Fixed window of 60 s, draft-7 headers, Retry-After when limited.
fn limited(api: &Api, headers: &HeaderMap) -> Result<HeaderMap, Box<Response>> {
    let key = if api.trust_proxy {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("direct")
            .to_string()
    } else {
        "connection".to_string()
    };
    let mut window = api.window.lock().unwrap();
    let now = Instant::now();
    if window
        .0
        .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(60))
    {
        *window = (Some(now), HashMap::new());
    }
    let reset = 60 - now.duration_since(window.0.unwrap()).as_secs().min(59);
    let used = window.1.entry(key).or_insert(0);
    *used += 1;
    let remaining = RATE_LIMIT.saturating_sub(*used);
    let mut out = HeaderMap::new();
    out.insert("ratelimit-policy", "100;w=60".parse().unwrap());
    out.insert(
        "ratelimit",
        format!("limit=100, remaining={remaining}, reset={reset}")
            .parse()
            .unwrap(),
    );
    if *used > RATE_LIMIT {
        out.insert("retry-after", reset.to_string().parse().unwrap());
        return Err(Box::new(
            (
                StatusCode::TOO_MANY_REQUESTS,
                out,
                axum::Json(json!({"error": "Too many requests"})),
            )
                .into_response(),
        ));
    }
    Ok(out)
}

/// Counters that grow with time: 150 requests/s (1 % 5xx, or 20 % degraded), a latency
/// histogram with p95 about 2.3 s and p99 about 4.6 s, 45 % LLM cache hits, a short queue.
fn metrics(api: &Api) -> String {
    let t = api.started.unwrap().elapsed().as_secs_f64();
    let errors = if api.degraded.load(Ordering::SeqCst) {
        // Enough 5xx that the 5-minute ratio crosses 5 % within seconds of the bad release.
        1.5 * t + 5000.0 * t
    } else {
        1.5 * t
    };
    let buckets = [
        ("0.5", 60.0),
        ("1", 120.0),
        ("2.5", 145.0),
        ("5", 149.0),
        ("10", 150.0),
        ("+Inf", 150.0),
    ];
    let mut out = String::new();
    out.push_str("# TYPE http_requests_total counter\n");
    out.push_str(&format!(
        "http_requests_total{{code=\"200\"}} {}\n",
        148.5 * t
    ));
    out.push_str(&format!("http_requests_total{{code=\"500\"}} {errors}\n"));
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    for (le, per_second) in buckets {
        out.push_str(&format!(
            "http_request_duration_seconds_bucket{{le=\"{le}\"}} {}\n",
            per_second * t
        ));
    }
    out.push_str(&format!(
        "http_request_duration_seconds_count {}\nhttp_request_duration_seconds_sum {}\n",
        150.0 * t,
        120.0 * t
    ));
    out.push_str("# TYPE llm_requests_total counter\n");
    out.push_str(&format!(
        "llm_requests_total{{provider=\"together\"}} {}\nllm_requests_total{{provider=\"openai\"}} {}\n",
        20.0 * t,
        0.5 * t
    ));
    out.push_str(&format!(
        "# TYPE llm_cache_hits_total counter\nllm_cache_hits_total {}\n# TYPE llm_cache_misses_total counter\nllm_cache_misses_total {}\n",
        9.0 * t,
        11.0 * t
    ));
    out.push_str(&format!(
        "# TYPE llm_queue_jobs_added_total counter\nllm_queue_jobs_added_total {}\n# TYPE llm_queue_jobs_completed_total counter\nllm_queue_jobs_completed_total {}\n",
        4.0 * t,
        4.0 * t
    ));
    out.push_str("# TYPE llm_queue_waiting_jobs gauge\nllm_queue_waiting_jobs 2\n");
    out
}

fn api_router(api: Arc<Api>) -> Router {
    Router::new()
        .route(
            "/health/ready",
            get(|| async {
                (
                    [
                        (
                            "content-security-policy",
                            "default-src 'self'; connect-src 'self' https://*.supabase.co; frame-ancestors 'none'",
                        ),
                        (
                            "strict-transport-security",
                            "max-age=31536000; includeSubDomains",
                        ),
                    ],
                    axum::Json(json!({"status": "ready", "checks": {"database": "ok", "redis": "ok", "queue": "ok"}})),
                )
            }),
        )
        .route(
            "/api/llm/chat",
            post(
                |State(api): State<Arc<Api>>, headers: HeaderMap, body: String| async move {
                    if !is_user(&headers) {
                        return unauthorized();
                    }
                    let hit = !api.chat_cache.lock().unwrap().insert(body);
                    (
                        [("x-cache", if hit { "HIT" } else { "MISS" })],
                        axum::Json(json!({
                            "content": "A value proposition canvas maps what you offer to what customers need.",
                            "model": "meta-llama/Llama-3-70b-chat-hf",
                            "provider": "together",
                            "cached": hit
                        })),
                    )
                        .into_response()
                },
            )
            .options(|headers: HeaderMap| async move {
                let origin = headers.get("origin").and_then(|v| v.to_str().ok());
                if origin == Some(APP_ORIGIN) {
                    (
                        StatusCode::NO_CONTENT,
                        [
                            ("access-control-allow-origin", APP_ORIGIN),
                            ("access-control-allow-methods", "GET,POST,PUT,OPTIONS"),
                            ("access-control-allow-headers", "authorization,content-type"),
                            ("vary", "Origin"),
                        ],
                    )
                        .into_response()
                } else {
                    StatusCode::NO_CONTENT.into_response()
                }
            }),
        )
        .route(
            "/api/canvas/generate",
            post(|headers: HeaderMap, body: String| async move {
                if bearer(&headers).is_none() && headers.contains_key("cookie") {
                    if !headers.contains_key("x-csrf-token") {
                        return (
                            StatusCode::FORBIDDEN,
                            axum::Json(json!({"error": "invalid CSRF token"})),
                        )
                            .into_response();
                    }
                } else if !is_user(&headers) {
                    return unauthorized();
                }
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                if req["businessDescription"].as_str().is_none() {
                    return StatusCode::BAD_REQUEST.into_response();
                }
                axum::Json(canvas()).into_response()
            }),
        )
        .route(
            "/api/queue/llm",
            post(|headers: HeaderMap, body: String| async move {
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                if !is_user(&headers) {
                    unauthorized()
                } else if req["promptKey"] != "canvas.generate" {
                    StatusCode::BAD_REQUEST.into_response()
                } else {
                    (
                        StatusCode::ACCEPTED,
                        axum::Json(json!({"jobId": "job-42", "status": "queued"})),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/api/queue/jobs/{id}",
            get(|UrlPath(id): UrlPath<String>, headers: HeaderMap| async move {
                if !is_user(&headers) {
                    return unauthorized();
                }
                if id != "job-42" {
                    return StatusCode::NOT_FOUND.into_response();
                }
                axum::Json(json!({"jobId": id, "status": "completed", "result": canvas()}))
                    .into_response()
            }),
        )
        .route(
            "/api/llm/stats",
            get(|State(api): State<Arc<Api>>, headers: HeaderMap| async move {
                if !is_user(&headers) {
                    return unauthorized();
                }
                let limit_headers = match limited(&api, &headers) {
                    Ok(h) => h,
                    Err(limited) => return *limited,
                };
                api.stats_calls.fetch_add(1, Ordering::SeqCst);
                (
                    limit_headers,
                    axum::Json(json!({"totalRequests": 45734, "cacheHitRate": 0.45, "errorRate": 0.012, "avgLatencyMs": 812})),
                )
                    .into_response()
            }),
        )
        .route(
            "/api/queue/metrics",
            get(|headers: HeaderMap| async move {
                if !is_user(&headers) {
                    return unauthorized();
                }
                axum::Json(json!({"waiting": 2, "active": 1, "completed": 1523, "failed": 3}))
                    .into_response()
            }),
        )
        .route(
            "/api/llm/health",
            get(|| async {
                axum::Json(json!({"status": "healthy", "providers": {
                    "together": {"circuit": "closed", "failures": 0},
                    "openai": {"circuit": "closed", "failures": 0}
                }}))
            }),
        )
        .route(
            "/auth/v1/token",
            post(|uri: Uri, headers: HeaderMap, body: String| async move {
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                let apikey = headers.get("apikey").and_then(|v| v.to_str().ok());
                if uri.query() != Some("grant_type=password") || apikey != Some(ANON_KEY) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Invalid API key"}))).into_response();
                }
                if req["email"] != "smoke@valuecanvas.test" || req["password"] != TEST_USER_PASSWORD {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": "Invalid login credentials"}))).into_response();
                }
                axum::Json(json!({"access_token": USER_JWT, "token_type": "bearer", "expires_in": 3600}))
                    .into_response()
            }),
        )
        .route(
            "/api/canvases",
            post(|headers: HeaderMap| async move {
                if bearer(&headers) != Some(USER_JWT) {
                    return unauthorized();
                }
                (StatusCode::CREATED, axum::Json(json!({"id": "cv_7f3a", "title": "shipgate smoke test"})))
                    .into_response()
            }),
        )
        .route(
            "/api/canvas/refine",
            post(|headers: HeaderMap, body: String| async move {
                if bearer(&headers) != Some(USER_JWT) {
                    return unauthorized();
                }
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                if req["canvasId"] != "cv_7f3a" {
                    return StatusCode::NOT_FOUND.into_response();
                }
                axum::Json(canvas()).into_response()
            }),
        )
        .route(
            "/api/flags",
            get(|State(api): State<Arc<Api>>, headers: HeaderMap| async move {
                if !is_user(&headers) {
                    return unauthorized();
                }
                let flags: Vec<Value> = api
                    .flags
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| json!({"key": k, "enabled": v}))
                    .collect();
                axum::Json(json!({"flags": flags})).into_response()
            }),
        )
        .route(
            "/api/flags/evaluate",
            post(|State(api): State<Arc<Api>>, headers: HeaderMap, body: String| async move {
                if !is_user(&headers) {
                    return unauthorized();
                }
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                let flag = req["flag"].as_str().unwrap_or_default().to_string();
                let Some(enabled) = api.flags.lock().unwrap().get(&flag).copied() else {
                    return StatusCode::NOT_FOUND.into_response();
                };
                axum::Json(json!({"flag": flag, "enabled": enabled, "reason": "rollout"})).into_response()
            }),
        )
        .route(
            "/api/flags/{key}",
            put(
                |State(api): State<Arc<Api>>, UrlPath(key): UrlPath<String>, headers: HeaderMap, body: String| async move {
                    match bearer(&headers) {
                        None => return unauthorized(),
                        Some(t) if t != ADMIN_TOKEN => {
                            return (StatusCode::FORBIDDEN, axum::Json(json!({"error": "admin only"}))).into_response();
                        }
                        _ => {}
                    }
                    let req: Value = serde_json::from_str(&body).unwrap_or_default();
                    let mut flags = api.flags.lock().unwrap();
                    let Some(current) = flags.get_mut(&key) else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    if let Some(enabled) = req["enabled"].as_bool() {
                        *current = enabled;
                    }
                    axum::Json(json!({"key": key, "enabled": *current})).into_response()
                },
            ),
        )
        .route(
            "/api/debug/sentry",
            get(|headers: HeaderMap| async move {
                if bearer(&headers) != Some(ADMIN_TOKEN) {
                    return unauthorized();
                }
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": "Sentry test error", "sentryEventId": SENTRY_EVENT})))
                    .into_response()
            }),
        )
        .route(
            "/metrics",
            get(|State(api): State<Arc<Api>>| async move { metrics(&api) }),
        )
        .with_state(api)
}

fn start_api(trust_proxy: bool) -> (TestServer, Arc<Api>) {
    let api = Arc::new(Api {
        started: Some(Instant::now()),
        trust_proxy,
        flags: Mutex::new(HashMap::from([
            ("llm-cache".to_string(), true),
            ("llm-openai-fallback".to_string(), true),
            ("new-feature".to_string(), true),
        ])),
        ..Api::default()
    });
    (TestServer::start(api_router(Arc::clone(&api))), api)
}

/// Plain HTTP in front of the API: everything redirects to https.
fn http_origin() -> TestServer {
    TestServer::start(Router::new().fallback(|uri: Uri| async move {
        (
            StatusCode::PERMANENT_REDIRECT,
            [(
                "location",
                format!("https://api.valuecanvas.com{}", uri.path()),
            )],
        )
    }))
}

/// Together.ai, OpenAI, Sentry, Jaeger and Grafana, each under its own prefix.
fn services() -> TestServer {
    fn auth(headers: &HeaderMap, token: &str) -> bool {
        bearer(headers) == Some(token)
    }
    let router = Router::new()
        .route(
            "/together/v1/models",
            get(|headers: HeaderMap| async move {
                if !auth(&headers, TOGETHER_KEY) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"message": "Invalid API key provided"}}))).into_response();
                }
                axum::Json(json!([{"id": "meta-llama/Llama-3-70b-chat-hf", "object": "model", "type": "chat"}])).into_response()
            }),
        )
        .route(
            "/openai/v1/models",
            get(|headers: HeaderMap| async move {
                if !auth(&headers, OPENAI_KEY) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": "invalid_api_key"}}))).into_response();
                }
                axum::Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})).into_response()
            }),
        )
        .route(
            "/sentry/api/0/projects/valuecanvas/api/",
            get(|headers: HeaderMap| async move {
                if !auth(&headers, SENTRY_TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                axum::Json(json!({"slug": "api", "platform": "node-express"})).into_response()
            }),
        )
        .route(
            "/sentry/api/0/projects/valuecanvas/api/issues/",
            get(|headers: HeaderMap, uri: Uri| async move {
                if !auth(&headers, SENTRY_TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                assert!(uri.query().unwrap_or_default().contains("firstSeen"), "{uri}");
                axum::Json(json!([])).into_response()
            }),
        )
        .route(
            "/sentry/api/0/projects/valuecanvas/api/events/{id}/",
            get(|headers: HeaderMap, UrlPath(id): UrlPath<String>| async move {
                if !auth(&headers, SENTRY_TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                if id != SENTRY_EVENT {
                    return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Event not found"}))).into_response();
                }
                axum::Json(json!({"eventID": id, "title": "Error: Sentry test error"})).into_response()
            }),
        )
        .route(
            "/jaeger/",
            get(|| async { axum::response::Html("<!doctype html><html><head><title>Jaeger UI</title></head><body></body></html>") }),
        )
        .route(
            "/jaeger/api/traces",
            get(|uri: Uri| async move {
                let traces = if uri.query().unwrap_or_default().contains("service=valuecanvas-api") {
                    json!([{"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spans": []}])
                } else {
                    json!([])
                };
                axum::Json(json!({"data": traces}))
            }),
        )
        .route(
            "/grafana/api/health",
            get(|| async { axum::Json(json!({"commit": "a1b2c3", "database": "ok", "version": "11.3.0"})) }),
        )
        .route(
            "/grafana/api/search",
            get(|headers: HeaderMap| async move {
                if !auth(&headers, GRAFANA_TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                axum::Json(json!([{"uid": "vc-llm", "title": "ValueCanvas LLM", "type": "dash-db", "tags": ["valuecanvas"]}])).into_response()
            }),
        )
        .route(
            "/grafana/api/ds/query",
            post(|headers: HeaderMap, body: String| async move {
                if !auth(&headers, GRAFANA_TOKEN) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                assert_eq!(req["queries"][0]["refId"], "A", "{req}");
                axum::Json(json!({"results": {"A": {"status": 200, "frames": [{
                    "schema": {"fields": [{"name": "Time"}, {"name": "Value"}]},
                    "data": {"values": [[1764700000000u64, 1764700015000u64], [151.2, 149.8]]}
                }]}}}))
                .into_response()
            }),
        );
    TestServer::start(router)
}

// ------------------------------------------------------------------------------------------
// The database: a throwaway PostgreSQL database with what Supabase provides.

fn supabase_db() -> TestDb {
    let db = TestDb::postgres();
    db.execute(
        "CREATE SCHEMA auth;
         CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
         CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
           $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;",
    );
    db
}

fn query_strings(url: &str, sql: &str) -> Vec<String> {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// `.env.production`, copied from .env.example and filled in.
fn env_production(dir: &Path, db: &TestDb, redis: &PrivateRedis, api: &TestServer) -> PathBuf {
    let path = dir.join(".env.production");
    std::fs::write(
        &path,
        format!(
            "NODE_ENV=production\nDATABASE_URL={}\nSUPABASE_URL={}\nSUPABASE_ANON_KEY={ANON_KEY}\n\
             REDIS_URL={}\nTOGETHER_API_KEY={TOGETHER_KEY}\nOPENAI_API_KEY={OPENAI_KEY}\n\
             LLM_CACHE_ENABLED=true\nLLM_CACHE_TTL=3600\nLLM_RATE_LIMIT_PER_MINUTE=60\n\
             API_RATE_LIMIT_MAX=100\nSENTRY_DSN=https://0123456789abcdef@o4507.ingest.sentry.io/4507\n\
             AWS_REGION=us-east-1\n",
            db.url,
            api.url(""),
            redis.url()
        ),
    )
    .unwrap();
    path
}

/// Everything one deployment's runs share.
struct Deployment {
    db: TestDb,
    redis: PrivateRedis,
    tools: Tools,
    api: TestServer,
    state: Arc<Api>,
    http: TestServer,
    services: TestServer,
    prometheus: Prometheus,
    work: tempfile::TempDir,
    env_file: PathBuf,
}

impl Deployment {
    fn new() -> Deployment {
        let db = supabase_db();
        let redis = PrivateRedis::start();
        let tools = Tools::new();
        let (api, state) = start_api(false);
        let target = api.addr.to_string();
        let prometheus = Prometheus::start_scraping(&[&target]);
        let work = tempfile::tempdir().unwrap();
        let env_file = env_production(work.path(), &db, &redis, &api);
        // The freshly built bundle.
        let assets = work.path().join("dist/assets");
        std::fs::create_dir_all(&assets).unwrap();
        std::fs::write(
            assets.join("index-4f9a2c.js"),
            "export const supabaseUrl=\"https://proj.supabase.co\";".repeat(64),
        )
        .unwrap();
        Deployment {
            db,
            redis,
            tools,
            api,
            state,
            http: http_origin(),
            services: services(),
            prometheus,
            work,
            env_file,
        }
    }

    fn backups(&self) -> PathBuf {
        self.work.path().join("backups")
    }

    fn run(&self, args: &[&str]) -> Output {
        let s = |p: &str| self.services.url(p);
        shipgate(repo())
            .args(args)
            .args(["--format", "json", "--env-file"])
            .arg(&self.env_file)
            .env("PATH", self.tools.path())
            .env("API_URL", self.api.url(""))
            .env("VC_HTTP_URL", self.http.url(""))
            .env("TOKEN", TOKEN)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("TEST_USER_EMAIL", "smoke@valuecanvas.test")
            .env("TEST_USER_PASSWORD", TEST_USER_PASSWORD)
            .env("TOGETHER_API_URL", s("/together"))
            .env("OPENAI_API_URL", s("/openai"))
            .env("SENTRY_API_URL", s("/sentry"))
            .env("SENTRY_ORG", "valuecanvas")
            .env("SENTRY_PROJECT", "api")
            .env("SENTRY_AUTH_TOKEN", SENTRY_TOKEN)
            .env("JAEGER_URL", s("/jaeger"))
            .env("GRAFANA_URL", s("/grafana"))
            .env("GRAFANA_TOKEN", GRAFANA_TOKEN)
            .env("PROMETHEUS_URL", self.prometheus.url())
            .env("VC_WATCHDOG_ALERT", "ShipgateTestAlwaysFiring")
            .env("VC_DIST_DIR", self.work.path().join("dist"))
            .env("VC_BACKUP_DIR", self.backups())
            .output()
            .unwrap()
    }
}

const PREFLIGHT_IDS: [&str; 48] = [
    "env.example",
    "env.DATABASE_URL",
    "env.REDIS_URL",
    "env.TOGETHER_API_KEY",
    "env.OPENAI_API_KEY",
    "env.SENTRY_DSN",
    "env.LLM_CACHE_ENABLED",
    "env.LLM_CACHE_TTL",
    "env.LLM_RATE_LIMIT_PER_MINUTE",
    "env.API_RATE_LIMIT_MAX",
    "env.AWS_REGION",
    "database.main",
    "database.main.version",
    "database.main.tables",
    "database.main.latency",
    "database.main.connections",
    "database.main.migrations",
    "redis.cache",
    "redis.cache.version",
    "redis.cache.maxmemory-policy",
    "redis.cache.persistence",
    "redis.cache.info",
    "command.redis-requires-password",
    "tool.node",
    "tool.docker",
    "tool.docker-compose",
    "tool.k6",
    "command.unit-tests",
    "command.e2e-tests",
    "path.dist",
    "path.dist.space",
    "path.dist.newest",
    "command.aws-credentials",
    "command.aws-secrets",
    "command.aws-log-groups",
    "command.s3-backup-bucket",
    "command.s3-lifecycle",
    "command.iam-role",
    "command.backup-schedule",
    "http.together-api-key",
    "http.openai-api-key",
    "http.sentry-project",
    "http.jaeger-ui",
    "http.prometheus-ready",
    "http.grafana-health",
    "http.grafana-dashboards",
    "http.prometheus-alert-rules",
    "command.alert-rule-tests",
];

const VERIFY_IDS: [&str; 56] = [
    "command.api-rollout",
    "log.api-pods",
    "log.api-logs",
    "command.llm-workers",
    "log.worker-logs",
    "http.health-ready",
    "http.https-redirect",
    "http.llm-chat",
    "http.canvas-generate",
    "http.queue-llm",
    "http.queue-job-completed",
    "http.llm-stats",
    "http.queue-metrics",
    "http.llm-health",
    "http.login",
    "http.create-canvas",
    "http.refine-canvas",
    "http.feature-flags",
    "http.flag-evaluation",
    "http.auth-required",
    "http.admin-only-flags",
    "http.cors",
    "http.csrf",
    "http.no-env-file",
    "command.no-secrets-in-bundle",
    "command.security-scan",
    "http.sentry-new-issues",
    "http.sentry-test-error",
    "http.sentry-event-arrived",
    "http.jaeger-traces",
    "http.grafana-dashboard-data",
    "log.cloudwatch-api",
    "sql.rls-enabled",
    "sql.rls-policies",
    "sql.migrations-applied",
    "sql.feature-flags-loaded",
    "sql.rollout-percentages",
    "sql.prompt-versions",
    "sql.cost-tracking",
    "sql.long-running-queries",
    "redis.cache.info",
    "path.backups",
    "path.backups.space",
    "path.backups.newest",
    "command.s3-backups",
    "command.load-test",
    "prometheus.metrics-present",
    "prometheus.p95-latency",
    "prometheus.p99-latency",
    "prometheus.error-rate",
    "prometheus.cache-hit-rate",
    "prometheus.queue-throughput",
    "prometheus.queue-backlog",
    "prometheus.watchdog-alert",
    "prometheus.no-critical-alerts",
    "redis.cache",
];

#[test]
fn valuecanvas_checklist_preflight_migrate_and_verify() {
    let d = Deployment::new();

    // ---- Pre-deployment: everything in place.
    let out = d.run(&["preflight", "--config", CONFIG]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", not_passing(&report));
    assert_no_secret(&out);
    for id in PREFLIGHT_IDS {
        assert_status(&report, id, "pass");
    }
    assert_eq!(
        report["summary"]["total"],
        PREFLIGHT_IDS.len(),
        "{report:#}"
    );
    assert!(
        message(&report, "database.main.migrations").contains('4'),
        "the four migrations are pending: {}",
        message(&report, "database.main.migrations")
    );
    assert!(
        message(&report, "redis.cache.persistence").contains("aof"),
        "{}",
        message(&report, "redis.cache.persistence")
    );
    assert!(
        d.tools
            .calls()
            .contains("aws sts get-caller-identity --output json"),
        "{}",
        d.tools.calls()
    );

    // ---- Pre-deployment, failing: a key left at its .env.example placeholder, and Redis
    // reconfigured to refuse writes when full instead of evicting.
    let env = std::fs::read_to_string(&d.env_file).unwrap();
    std::fs::write(
        &d.env_file,
        env.replace(TOGETHER_KEY, "your-together-api-key"),
    )
    .unwrap();
    d.redis
        .cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    let out = d.run(&["preflight", "--config", CONFIG]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{}", not_passing(&report));
    assert_no_secret(&out);
    assert_status(&report, "env.TOGETHER_API_KEY", "fail");
    assert!(
        message(&report, "env.TOGETHER_API_KEY").contains("placeholder"),
        "{}",
        message(&report, "env.TOGETHER_API_KEY")
    );
    // The provider now refuses the key.
    assert_status(&report, "http.together-api-key", "fail");
    assert!(message(&report, "http.together-api-key").contains("401"));
    assert_status(&report, "redis.cache.maxmemory-policy", "fail");
    assert!(
        message(&report, "redis.cache.maxmemory-policy").contains("noeviction"),
        "{}",
        message(&report, "redis.cache.maxmemory-policy")
    );
    std::fs::write(&d.env_file, env).unwrap();
    d.redis
        .cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);

    // ---- "Run all migrations", with "Create database backups" and "Test backup restoration".
    let backups = d.backups().display().to_string();
    let out = d.run(&[
        "migrate",
        "--config",
        CONFIG,
        "--backup",
        &backups,
        "--verify-backup",
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", not_passing(&report));
    for id in [
        "migrate.backup",
        "migrate.backup-verify",
        "migration.20241123110000",
        "migration.20241123120000",
        "migration.20241123130000",
        "migration.20241123140000",
    ] {
        assert_status(&report, id, "pass");
    }
    assert_eq!(
        query_strings(
            &d.db.url,
            "SELECT relname::text FROM pg_class WHERE relrowsecurity ORDER BY relname"
        ),
        [
            "feature_flags",
            "llm_job_results",
            "llm_usage",
            "prompt_templates",
            "prompt_versions"
        ]
    );

    // What the first hours of production leave behind: rollout percentages set, a costed LLM
    // call, cache hits in Redis.
    d.db.execute(
        "UPDATE feature_flags SET rollout_percentage = CASE WHEN enabled THEN 100 ELSE 0 END;
         INSERT INTO llm_usage (provider, model, prompt_tokens, completion_tokens, latency_ms, cost_usd)
         VALUES ('together', 'meta-llama/Llama-3-70b-chat-hf', 412, 958, 812, 0.001233);",
    );
    d.redis
        .cli(&["SET", "llm:cache:canvas.generate:abc", "{\"canvas\":{}}"]);
    for _ in 0..4 {
        d.redis.cli(&["GET", "llm:cache:canvas.generate:abc"]);
    }
    d.redis.cli(&["GET", "llm:cache:canvas.generate:missing"]);

    // ---- Verification: smoke tests, validation, monitoring.
    let out = d.run(&["verify", "--config", CONFIG]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", not_passing(&report));
    assert_no_secret(&out);
    for id in VERIFY_IDS {
        assert_status(&report, id, "pass");
    }
    assert_eq!(
        report["summary"]["total"],
        VERIFY_IDS.len(),
        "{}",
        not_passing(&report)
    );
    // The second chat answer came from the cache; the backup just taken is the newest.
    assert!(
        message(&report, "http.llm-chat").contains("cache"),
        "{}",
        message(&report, "http.llm-chat")
    );
    assert!(
        d.tools
            .calls()
            .contains("kubectl get pods -l app=llm-worker -o json")
    );

    // ---- A bad release: 5xx climb, a pod crash-loops, RLS was switched off on a table, and
    // the load test crosses its thresholds.
    d.state.degraded.store(true, Ordering::SeqCst);
    let ratio = r#"sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.prometheus.has_result(ratio) {
        assert!(
            Instant::now() < deadline,
            "prometheus never saw the 5xx:\n{}",
            d.prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    d.tools.set("crashloop", true);
    d.tools.set("k6-thresholds", true);
    d.db.execute("ALTER TABLE llm_job_results DISABLE ROW LEVEL SECURITY");
    let out = d.run(&["verify", "--config", CONFIG]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{}", not_passing(&report));
    assert_no_secret(&out);
    assert_status(&report, "prometheus.error-rate", "fail");
    assert!(
        message(&report, "prometheus.error-rate").contains("< 0.05"),
        "{}",
        message(&report, "prometheus.error-rate")
    );
    assert_status(&report, "log.api-pods", "fail");
    assert!(
        message(&report, "log.api-pods").contains("CrashLoopBackOff"),
        "{}",
        message(&report, "log.api-pods")
    );
    assert_status(&report, "sql.rls-enabled", "fail");
    // The message counts the rows; the rows themselves (the table) are in the details.
    let rls = result(&report, "sql.rls-enabled");
    assert_eq!(
        rls["details"]["rows"],
        json!([["llm_job_results"]]),
        "{rls:#}"
    );
    assert_status(&report, "command.load-test", "fail");
    assert!(
        message(&report, "command.load-test").contains("99"),
        "{}",
        message(&report, "command.load-test")
    );
    // The rest still passes: the failures are where the problems are.
    assert_status(&report, "http.health-ready", "pass");
    assert_status(&report, "prometheus.p95-latency", "pass");
}

#[test]
fn valuecanvas_migrate_refuses_a_database_that_is_not_supabase() {
    // "Create production database": a plain PostgreSQL database without Supabase's auth schema
    // is refused before any migration runs.
    let db = TestDb::postgres();
    let out = shipgate(repo())
        .args(["migrate", "--config", CONFIG, "--format", "json"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_status(&report, "migrate.require-tables", "fail");
    assert!(
        message(&report, "migrate.require-tables").contains("Required table auth.users is missing"),
        "{report:#}"
    );
    assert!(
        message(&report, "migrate.source").contains("4 migrations")
            && message(&report, "migrate.source").contains("sqlx layout"),
        "the Supabase files are read as the sqlx layout: {report:#}"
    );
    assert!(
        query_strings(
            &db.url,
            "SELECT tablename::text FROM pg_tables WHERE tablename = 'llm_usage'"
        )
        .is_empty(),
        "no migration ran"
    );
}

#[test]
fn valuecanvas_rate_limit_holds_at_its_limit_and_cannot_be_dodged() {
    let run = |api: &TestServer| {
        shipgate(repo())
            .args(["rate-limit-test", "--config", CONFIG, "--format", "json"])
            .env("API_URL", api.url(""))
            .env("TOKEN", TOKEN)
            .env("API_RATE_LIMIT_MAX", "100")
            .output()
            .unwrap()
    };
    let (api, state) = start_api(false);
    let out = run(&api);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", not_passing(&report));
    assert_no_secret(&out);
    let limit = result(&report, "rate-limit.api");
    assert_eq!(limit["details"]["observed_limit"], 100, "{limit:#}");
    assert_eq!(limit["details"]["first_limited_index"], 101, "{limit:#}");
    assert_status(&report, "rate-limit.api.headers", "pass");
    assert_status(&report, "rate-limit.api.bypass", "pass");
    assert_eq!(state.stats_calls.load(Ordering::SeqCst), 100);

    // Behind a "trust proxy" limiter, a rotated X-Forwarded-For gets through.
    let (dodgeable, _) = start_api(true);
    let out = run(&dodgeable);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{}", not_passing(&report));
    assert_status(&report, "rate-limit.api.bypass", "fail");
    assert!(
        message(&report, "rate-limit.api.bypass").contains("dodged"),
        "{}",
        message(&report, "rate-limit.api.bypass")
    );
}

#[test]
fn valuecanvas_rollback_app_only_disables_the_flag_and_undoes_the_rollout() {
    let tools = Tools::new();
    let (api, state) = start_api(false);
    let run = || {
        shipgate(repo())
            .args([
                "rollback",
                "--app-only",
                "--config",
                CONFIG,
                "--format",
                "json",
            ])
            .env("PATH", tools.path())
            .env("API_URL", api.url(""))
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let out = run();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", not_passing(&report));
    assert_no_secret(&out);
    for id in [
        "hook.disable-flag",
        "hook.undo-api-server",
        "hook.api-rollout",
        "hook.health-after-rollback",
    ] {
        assert_status(&report, id, "pass");
    }
    assert!(!state.flags.lock().unwrap()["new-feature"]);
    let calls = tools.calls();
    let undo = calls
        .find("kubectl rollout undo deployment/api-server")
        .expect("undo ran");
    let status = calls
        .find("kubectl rollout status deployment/api-server")
        .expect("status ran");
    assert!(undo < status, "{calls}");

    // Nothing to roll back to: the undo fails, the report says why.
    tools.set("no-rollout-history", true);
    let out = run();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{}", not_passing(&report));
    assert_status(&report, "hook.undo-api-server", "fail");
    assert!(
        message(&report, "hook.undo-api-server").contains("no rollout history"),
        "{}",
        message(&report, "hook.undo-api-server")
    );
}

#[test]
fn valuecanvas_database_rollback_restores_the_backup() {
    let db = supabase_db();
    let work = tempfile::tempdir().unwrap();
    let backups = work.path().join("backups");
    let out = shipgate(repo())
        .args([
            "migrate", "--config", CONFIG, "--format", "json", "--backup",
        ])
        .arg(&backups)
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    // The good state, backed up (nothing pending: the backup is still taken).
    let out = shipgate(repo())
        .args([
            "migrate", "--config", CONFIG, "--format", "json", "--backup",
        ])
        .arg(&backups)
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let report = json_report(&out);
    let dump = PathBuf::from(
        result(&report, "migrate.backup")["details"]["path"]
            .as_str()
            .expect("the backup's path"),
    );
    // A bad release wipes the flags and deactivates the prompts.
    db.execute("DELETE FROM feature_flags; UPDATE prompt_versions SET is_active = false;");

    let restore = |from: &Path| {
        shipgate(repo())
            .args([
                "rollback",
                "--app-only",
                "--config",
                RESTORE,
                "--format",
                "json",
            ])
            .env("DATABASE_URL", &db.url)
            .env("VC_RESTORE_FROM", from)
            .output()
            .unwrap()
    };
    let out = restore(&dump);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", not_passing(&report));
    assert_status(&report, "hook.restore-database", "pass");
    assert_status(&report, "hook.database-answers", "pass");
    assert_eq!(
        query_strings(&db.url, "SELECT key FROM feature_flags ORDER BY key"),
        ["llm-cache", "llm-openai-fallback", "new-feature"]
    );
    assert_eq!(
        query_strings(
            &db.url,
            "SELECT version::text FROM prompt_versions WHERE is_active"
        ),
        ["1"]
    );

    // A file that is no backup: pg_restore refuses, the run fails naming why.
    let bogus = work.path().join("not-a-backup.dump");
    std::fs::write(&bogus, "this is not a pg_dump archive\n").unwrap();
    let out = restore(&bogus);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(1), "{}", not_passing(&report));
    assert_status(&report, "hook.restore-database", "fail");
    assert!(
        message(&report, "hook.restore-database").contains("not appear to be a valid archive"),
        "{}",
        message(&report, "hook.restore-database")
    );
}
