//! `shipgate verify` HTTP checks against real servers on loopback: healthy, degraded, flapping,
//! slow, oversized, not JSON; config and one-line flags.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{TestServer, Workdir, json_report, result, stderr, stdout};

fn server() -> TestServer {
    let flaps = Arc::new(AtomicU32::new(0));
    let router = Router::new()
        .route(
            "/api/lp/health",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "max-age=60")],
                    r#"{"status":"healthy","checks":{"database":{"status":"healthy"},"redis":{"status":"healthy"},"reportStorage":{"status":"healthy"}},"items":[]}"#,
                )
            }),
        )
        .route(
            "/degraded",
            get(|| async { r#"{"status":"degraded","checks":{"redis":{"status":"degraded"}}}"# }),
        )
        .route(
            "/flapping",
            get(move || {
                let flaps = Arc::clone(&flaps);
                async move {
                    // Fails the first three times: a service still starting.
                    if flaps.fetch_add(1, Ordering::SeqCst) < 3 {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
                    } else {
                        r#"{"status":"healthy"}"#.into_response()
                    }
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "{}"
            }),
        )
        .route("/huge", get(|| async { "x".repeat(2 * 1024 * 1024) }))
        .route("/html", get(|| async { "<html>oops</html>" }))
        .route(
            "/unhealthy",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"unhealthy","checks":{"database":{"status":"unhealthy","error":"connection refused"}}}"#,
                )
            }),
        )
        .route(
            "/auth",
            get(|headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer VERIFY-SENTINEL-9") {
                    (StatusCode::OK, "{}").into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        );
    TestServer::start(router)
}

fn verify(
    w: &Workdir,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = w.cmd();
    cmd.args(["verify", "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.code(), json_report(&out), all)
}

#[test]
fn json_assertions_on_a_healthy_endpoint_pass_and_a_degraded_one_fails_saying_why() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"[[verify.http]]
name = "lp-health"
url = "{}"
expect_status = ["2xx"]
expect_json = ['$.status == "healthy"', '$.checks.database.status == "healthy"', '$.items length >= 0']
expect_headers = {{ "cache-control" = "~max-age" }}
max_latency = "2s"

[[verify.http]]
name = "degraded"
url = "{}"
expect_json = ['$.status == "healthy"']
"#,
            s.url("/api/lp/health"),
            s.url("/degraded")
        ),
    );
    let (code, report, _) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["command"], "verify");
    assert_eq!(
        result(&report, "http.lp-health")["status"],
        "pass",
        "{report:#}"
    );
    let degraded = result(&report, "http.degraded");
    assert_eq!(degraded["status"], "fail");
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.contains(r#"expected $.status == "healthy" but found "degraded""#),
        "{message}"
    );
    assert!(
        degraded["details"]["body_excerpt"]
            .as_str()
            .unwrap()
            .contains("degraded")
    );
}

#[test]
fn retry_waits_for_health_and_counts_attempts() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"flapping\"\nurl = \"{}\"\nretry = {{ timeout = \"20s\", interval = \"100ms\" }}\nconsecutive = 2\n",
            s.url("/flapping")
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "http.flapping");
    // Three failures, then two passes in a row.
    assert_eq!(r["details"]["attempts"], 5, "{r:#}");
    assert!(r["message"].as_str().unwrap().contains("5 attempts"));
}

#[test]
fn a_retry_window_that_closes_before_enough_healthy_answers_says_so() {
    // Every answer is healthy, but only two fit in the 1 s window (the first, and one as it closes) and three
    // in a row are wanted: the failure says why, not "answered 200, but" and nothing.
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"health\"\nurl = \"{}\"\nretry = {{ timeout = \"1s\", interval = \"2s\" }}\nconsecutive = 3\n",
            s.url("/api/lp/health")
        ),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "http.health");
    assert_eq!(r["status"], "fail", "{r:#}");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("answered 200 in ")
            && message.contains(
                ", but the retry window closed before 3 answers in a row passed (2 attempts over "
            ),
        "{message}"
    );
}

#[test]
fn retry_gives_up_at_its_timeout_with_the_last_failure() {
    let s = server();
    let w = Workdir::new();
    let started = Instant::now();
    let (code, report, _) = verify(
        &w,
        &[
            "--http",
            &s.url("/degraded"),
            "--expect-json",
            r#"$.status == "healthy""#,
            "--retry-timeout",
            "1s",
        ],
        &[],
    );
    assert_eq!(code, Some(1));
    // It kept trying for its 1 s (one try a second, so two tries), and no longer than that.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let r = result(&report, "http.127-0-0-1");
    assert!(r["details"]["attempts"].as_u64().unwrap() >= 2, "{r:#}");
    assert!(r["message"].as_str().unwrap().contains("degraded"), "{r:#}");
}

#[test]
fn latency_oversized_and_non_json_bodies_are_findings() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"slow\"\nurl = \"{}\"\nmax_latency = \"100ms\"\n\n\
             [[verify.http]]\nname = \"huge\"\nurl = \"{}\"\nbody_contains = [\"x\"]\n\n\
             [[verify.http]]\nname = \"html\"\nurl = \"{}\"\nexpect_json = ['$.status exists']\n",
            s.url("/slow"),
            s.url("/huge"),
            s.url("/html")
        ),
    );
    let (code, report, _) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1));
    assert!(
        result(&report, "http.slow")["message"]
            .as_str()
            .unwrap()
            .contains("expected at most 100ms")
    );
    assert!(
        result(&report, "http.huge")["message"]
            .as_str()
            .unwrap()
            .contains("larger than 1.0 MiB")
    );
    assert!(
        result(&report, "http.html")["message"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
}

#[test]
fn one_line_flags_with_a_secret_header() {
    let s = server();
    let w = Workdir::new();
    let (code, report, all) = verify(
        &w,
        &[
            "--http",
            &s.url("/auth"),
            "--http",
            &s.url("/api/lp/health"),
            "--header",
            "Authorization: Bearer VERIFY-SENTINEL-9",
            "--expect-status",
            "200",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(report["summary"]["passed"], 2);
    assert!(!all.contains("VERIFY-SENTINEL-9"), "{all}");
}

#[test]
fn not_5xx_and_bad_assertions_are_input_errors() {
    let s = server();
    let w = Workdir::new();
    let (code, _, all) = verify(
        &w,
        &["--http", &s.url("/html"), "--expect-status", "!5xx"],
        &[],
    );
    assert_eq!(code, Some(0), "{all}");
    let out = w
        .cmd()
        .args([
            "verify",
            "--http",
            &s.url("/html"),
            "--expect-json",
            "$.status is healthy",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--expect-json"), "{}", stderr(&out));
}

#[test]
fn sql_checks_compare_results_and_constraint_probes_leave_nothing_behind() {
    let db = common::TestDb::postgres();
    db.execute(
        "CREATE TABLE lp_reporting_migrations (id text); INSERT INTO lp_reporting_migrations VALUES ('001'), ('002'), ('003');
         CREATE TABLE limited_partners (name text, email text UNIQUE);
         INSERT INTO limited_partners VALUES ('existing', 'test@example.com');",
    );
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"[[verify.sql]]
name = "three-migrations"
url = "${DATABASE_URL}"
query = "SELECT count(*) FROM lp_reporting_migrations"
expect = 3

[[verify.sql]]
name = "lp-tables"
url = "${DATABASE_URL}"
query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'lp_%'"
expect_rows = 1

[[verify.sql]]
name = "unique-email"
url = "${DATABASE_URL}"
query = "INSERT INTO limited_partners VALUES ('Test 2', 'test@example.com')"
expect_error = "23505"

[[verify.sql]]
name = "read-only"
url = "${DATABASE_URL}"
query = "SELECT count(*) FROM limited_partners WHERE name = 'nobody'"
expect = 1
"#,
    );
    let (code, report, all) = verify(&w, &[], &[("DATABASE_URL", &db.url)]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(
        result(&report, "sql.three-migrations")["status"],
        "pass",
        "{report:#}"
    );
    assert_eq!(
        result(&report, "sql.lp-tables")["status"],
        "pass",
        "{report:#}"
    );
    let probe = result(&report, "sql.unique-email");
    assert_eq!(probe["status"], "pass", "{probe:#}");
    assert!(probe["message"].as_str().unwrap().contains("23505"));
    let wrong = result(&report, "sql.read-only");
    assert_eq!(wrong["status"], "fail");
    assert_eq!(wrong["message"], "expected `1`, got `0`");

    // The probe was rolled back: still exactly one row.
    w.write(
        "shipgate.toml",
        "[[verify.sql]]\nname = \"rows\"\nurl = \"${DATABASE_URL}\"\nquery = \"SELECT count(*) FROM limited_partners\"\nexpect = 1\n",
    );
    let (code, _, all) = verify(&w, &[], &[("DATABASE_URL", &db.url)]);
    assert_eq!(code, Some(0), "{all}");
    // A read-only check cannot write.
    w.write(
        "shipgate.toml",
        "[[verify.sql]]\nname = \"write\"\nurl = \"${DATABASE_URL}\"\nquery = \"DELETE FROM limited_partners\"\nexpect_rows = 0\n",
    );
    let (code, report, _) = verify(&w, &[], &[("DATABASE_URL", &db.url)]);
    assert_eq!(code, Some(1));
    assert!(
        result(&report, "sql.write")["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{report:#}"
    );
}

#[test]
fn an_unhealthy_service_fails_with_its_status_and_the_reason_in_the_body() {
    let s = server();
    let w = Workdir::new();
    let (code, report, _) = verify(
        &w,
        &[
            "--http",
            &s.url("/unhealthy"),
            "--expect-json",
            r#"$.status == "healthy""#,
        ],
        &[],
    );
    assert_eq!(code, Some(1));
    let r = result(&report, "http.127-0-0-1");
    assert_eq!(r["status"], "fail");
    assert_eq!(r["details"]["status"], 503);
    let message = r["message"].as_str().unwrap();
    assert!(message.contains("answered 503"), "{message}");
    assert!(
        message.contains(r#"expected $.status == "healthy" but found "unhealthy""#),
        "{message}"
    );
    assert!(
        r["details"]["body_excerpt"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
}

/// Expected headers and body text may come from variables like everything else the config
/// says; a value that differs fails, proving the variable was used, not the literal `${…}`.
#[test]
fn expected_headers_and_body_text_interpolate_variables() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"[[verify.http]]
name = "health"
url = "{}"
expect_headers = {{ "cache-control" = "${{CACHE_POLICY}}" }}
body_contains = ["${{EXPECTED_STATUS}}"]
body_matches = ['"status":"${{EXPECTED_STATUS}}"']
"#,
            s.url("/api/lp/health")
        ),
    );
    let vars = [
        ("CACHE_POLICY", "max-age=60"),
        ("EXPECTED_STATUS", "healthy"),
    ];
    let (code, report, all) = verify(&w, &[], &vars);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "http.health")["status"], "pass");

    let vars = [
        ("CACHE_POLICY", "no-store"),
        ("EXPECTED_STATUS", "degraded"),
    ];
    let (code, report, _) = verify(&w, &[], &vars);
    assert_eq!(code, Some(1));
    let m = result(&report, "http.health")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains("`no-store`"), "{m}");
    assert!(m.contains("does not contain `degraded`"), "{m}");
}

#[test]
fn an_empty_ca_file_means_none() {
    // `ca_file = "${CA_FILE:-}"`: a CA for the environments that have one, none elsewhere.
    let api = TestServer::start(Router::new().route("/health", get(|| async { "ok" })));
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"health\"\nurl = \"{}\"\nca_file = \"${{CA_FILE:-}}\"\n\n\
             [[verify.tls]]\nname = \"none\"\nhost = \"127.0.0.1\"\nport = 1\nca_file = \"${{CA_FILE:-}}\"\n",
            api.url("/health")
        ),
    );
    let out = w
        .cmd()
        .args(["verify", "--format", "json", "--only", "http.health"])
        .env_remove("CA_FILE")
        .output()
        .unwrap();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}{}", stderr(&out));
    assert_eq!(result(&report, "http.health")["status"], "pass");
}
