//! The shipped examples work as the README says.
//!
//! Unix only: a shell script stands in for node, and PATH is joined with `:`.
#![cfg(unix)]

mod common;

use std::path::Path;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
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
    let bin = tempfile::tempdir().unwrap();
    let node = bin.path().join("node");
    std::fs::write(&node, "#!/bin/sh\necho v20.11.1\n").unwrap();
    std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
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
}

const LP_TOKEN: &str = "lp-test-token-SENTINEL-5521";

/// The LP Reporting API as the runbook describes it: health with three components, the
/// profile, capital-account and report endpoints behind a token and `X-LP-ID`, and metrics.
fn lp_api() -> TestServer {
    fn authorized(headers: &HeaderMap) -> bool {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        get("authorization") == Some(&format!("Bearer {LP_TOKEN}")) && get("x-lp-id") == Some("1")
    }
    let router = Router::new()
        .route(
            "/api/lp/health",
            get(|| async {
                axum::Json(serde_json::json!({
                    "status": "healthy",
                    "checks": {
                        "database": {"status": "healthy", "latencyMs": 3},
                        "redis": {"status": "healthy", "latencyMs": 1},
                        "reportStorage": {"status": "healthy", "freeBytes": 1_000_000_000u64}
                    }
                }))
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
        .route(
            "/metrics",
            get(|| async {
                "# HELP lp_health Health of an LP component (1 = healthy).\n# TYPE lp_health gauge\n\
                 lp_health{component=\"database\"} 1\nlp_health{component=\"redis\"} 1\n\
                 lp_health{component=\"reportStorage\"} 1\n"
            }),
        );
    TestServer::start(router)
}

#[test]
fn lp_reporting_example_verifies_a_deployment() {
    let db = TestDb::postgres();
    db.execute("CREATE TABLE funds (id serial PRIMARY KEY, name text)");
    let api = lp_api();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("api.log");
    let info: String = (0..300)
        .map(|i| format!("2026-11-22T10:00:{:02}Z INFO request {i} served\n", i % 60))
        .collect();
    std::fs::write(&log, &info).unwrap();
    let run = |command: &str| {
        shipgate(repo())
            .args([
                command,
                "--config",
                "examples/lp-reporting/shipgate.toml",
                "--format",
                "json",
            ])
            .env("DATABASE_URL", &db.url)
            .env("LP_API_URL", api.url(""))
            .env("TEST_TOKEN", LP_TOKEN)
            .env("LP_API_LOG", &log)
            .output()
            .unwrap()
    };
    let migrated = run("migrate");
    assert_eq!(migrated.status.code(), Some(0), "{}", stderr(&migrated));

    let out = run("verify");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains(LP_TOKEN), "the token leaked:\n{all}");
    let report = json_report(&out);
    assert_eq!(report["summary"]["passed"], 11, "{report:#}");
    for id in [
        "http.lp-health",
        "http.lp-profile",
        "http.lp-capital-account",
        "http.lp-report-generate",
        "http.lp-profile-latency",
        "sql.lp-migrations",
        "sql.lp-tables",
        "sql.lp-indexes",
        "sql.lp-unique-email",
        "metrics.lp-health",
        "log.api",
    ] {
        assert_eq!(result(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert_eq!(result(&report, "http.lp-health")["details"]["attempts"], 3);

    // An error in the last 100 lines of the log fails the run, showing the line.
    std::fs::write(
        &log,
        format!("{info}2026-11-22T10:05:00Z ERROR relation \"lp_reports\" does not exist\n"),
    )
    .unwrap();
    let out = run("verify");
    assert_eq!(out.status.code(), Some(1));
    let report = json_report(&out);
    let log_check = result(&report, "log.api");
    assert_eq!(log_check["status"], "fail");
    assert!(
        log_check["message"]
            .as_str()
            .unwrap()
            .contains("relation \"lp_reports\" does not exist"),
        "{log_check:#}"
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
