//! Behaviour at the edges a deployment meets: odd passwords, redirects, dead servers that
//! accept connections, deadlines, nothing selected, unwritable report files.

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{TestServer, Workdir, json_report, result, silent_server, stderr, stdout};

#[test]
fn password_that_breaks_url_parsing_is_still_masked() {
    // Raw `/`, `#` and `+` (base64) make the URL unparseable: an input error (exit 2) that
    // shows the URL with its password masked (masking must not depend on parsing) and says how
    // to write such a password.
    let secret = "ab/cd#ef+gh-SENTINEL";
    let url = format!("postgres://postgres:{secret}@127.0.0.1:1/postgres");
    let w = Workdir::new();
    for format in ["human", "json", "junit", "markdown"] {
        let out = w
            .cmd()
            .args([
                "preflight",
                "--database-url",
                &url,
                "--format",
                format,
                "-v",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("percent-encoded"), "{format}:\n{all}");
        assert!(
            !all.contains("SENTINEL"),
            "{format} leaked the password:\n{all}"
        );
        assert!(
            all.contains("postgres://postgres:***@127.0.0.1:1/postgres"),
            "{format}:\n{all}"
        );
    }
}

#[test]
fn secret_query_values_of_a_url_are_masked() {
    let server = TestServer::start(Router::new().route("/health", get(|| async { "ok" })));
    let url = server.url("/health?region=eu&api_key=QUERY-SENTINEL-42");
    let out = Workdir::new()
        .cmd()
        .args(["preflight", "--http-url", &url, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("QUERY-SENTINEL-42"), "{text}");
    assert!(text.contains("region=eu&api_key=***"), "{text}");
}

#[test]
fn redirects_are_not_followed() {
    let router = Router::new()
        .route(
            "/health",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/login")]).into_response() }),
        )
        .route("/login", get(|| async { "please log in" }));
    let server = TestServer::start(router);
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"plain\"\nurl = \"{0}\"\n\n[[preflight.http]]\nname = \"redirect-expected\"\nurl = \"{0}\"\nexpect_status = [302]\n",
            server.url("/health")
        ),
    );
    let out = w
        .cmd()
        .args(["preflight", "--format", "json"])
        .output()
        .unwrap();
    let report = json_report(&out);
    let plain = result(&report, "http.plain");
    assert_eq!(plain["status"], "fail", "{plain:#}");
    assert!(
        plain["message"]
            .as_str()
            .unwrap()
            .contains("answered 302, expected 2xx")
    );
    assert_eq!(result(&report, "http.redirect-expected")["status"], "pass");
}

#[test]
fn redis_that_never_answers_fails_at_the_configured_timeout() {
    let (_listener, port) = silent_server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!("[[preflight.redis]]\nurl = \"redis://127.0.0.1:{port}\"\ntimeout = \"2s\"\n"),
    );
    let started = Instant::now();
    let out = w
        .cmd()
        .args(["preflight", "--format", "json"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let report = json_report(&out);
    let ping = result(&report, "redis.cache");
    assert_eq!(ping["status"], "fail", "{ping:#}");
    assert!(
        ping["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 2.0s"),
        "{ping:#}"
    );
    // The redis crate's own 1 s default must not cut the configured 2 s short.
    assert!(
        took >= Duration::from_millis(1900),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn overall_deadline_reports_one_error_per_check_and_skips_the_rest() {
    let (_listener, port) = silent_server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.database]]\nurl = \"postgres://postgres@127.0.0.1:{port}/postgres\"\ntables = [\"funds\"]\ntimeout = \"30s\"\n"
        ),
    );
    let started = Instant::now();
    let out = w
        .cmd()
        .args(["preflight", "--format", "json", "--timeout", "1s"])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(out.status.code(), Some(1));
    let report = json_report(&out);
    assert_eq!(report["summary"]["errors"], 1, "{report:#}");
    let first = result(&report, "database.main");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("overall deadline")
    );
    let tables = result(&report, "database.main.tables");
    assert_eq!(tables["status"], "skip");
    assert!(
        tables["message"]
            .as_str()
            .unwrap()
            .contains("cut off by the overall deadline")
    );
}

#[test]
fn selecting_nothing_is_an_input_error() {
    let w = Workdir::new();
    let out = w
        .cmd()
        .args(["preflight", "--writable-dir", ".", "--skip", "path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("leave no check to run"),
        "{}",
        stderr(&out)
    );

    w.write("shipgate.toml", "[preflight.env]\n");
    let out = w.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nothing to check"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failed_check_outranks_an_unwritable_report_and_outputs_are_still_written() {
    let w = Workdir::new();
    let output = w.path().join("github_output");
    let out = w
        .cmd()
        .args([
            "preflight",
            "--create-dir",
            "missing-parent/x",
            "--writable-dir",
            "does-not-exist",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TEMP", w.path().join("no-such-dir"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("status<<"), "{outputs}");
    assert!(outputs.contains("\nfail\n"), "{outputs}");
    assert!(
        !outputs.contains("report<<"),
        "no report path when none was written: {outputs}"
    );
}

#[test]
fn flag_errors_name_the_flag() {
    let w = Workdir::new();
    let out = w
        .cmd()
        .args([
            "preflight",
            "--database-url",
            "sqlite://x.db",
            "--db-wait",
            "soon",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("'--db-wait <DURATION>'"),
        "{}",
        stderr(&out)
    );
    let out = w
        .cmd()
        .args(["preflight", "--require-tool", "node>=latest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--require-tool"), "{}", stderr(&out));
}
