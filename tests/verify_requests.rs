//! `shipgate verify` HTTP requests beyond a GET: query, JSON and file bodies, redirects, TLS
//! options, latency samples, cache checks, and values captured from one response for the
//! checks that need them; against servers on loopback.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get, post};
use common::tls::{HttpsServer, TestCa};
use common::{TestServer, Workdir, json_report, result, silent_server, stderr, stdout};

const TOKEN: &str = "TOKEN-SENTINEL-77c1";

/// Counts the calls of a route.
fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

fn server() -> TestServer {
    let (cached, cdn, uncached, errors) = (counter(), counter(), counter(), counter());
    let (warm, sometimes) = (counter(), counter());
    let router = Router::new()
        .route(
            "/echo",
            any(
                |Query(query): Query<HashMap<String, String>>,
                 headers: HeaderMap,
                 body: String| async move {
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    axum::Json(serde_json::json!({
                        "query": query,
                        "content_type": header("content-type"),
                        "body": body,
                        "json": serde_json::from_str::<serde_json::Value>(&body).ok(),
                    }))
                },
            ),
        )
        .route(
            "/login",
            post(|body: String| async move {
                if body.contains("\"email\":\"ops@example.com\"") {
                    axum::Json(serde_json::json!({
                        "access_token": TOKEN,
                        "lp": {"id": "lp-42"},
                        "odd": "a\"b/c&d e\nf"
                    }))
                        .into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        )
        .route(
            "/api/lp/{id}/profile",
            get(
                |axum::extract::Path(id): axum::extract::Path<String>, headers: HeaderMap| async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    let lp = headers.get("x-lp-id").and_then(|v| v.to_str().ok());
                    if auth == Some(&format!("Bearer {TOKEN}")) && lp == Some(id.as_str()) {
                        axum::Json(serde_json::json!({"id": id, "status": "active"})).into_response()
                    } else {
                        StatusCode::UNAUTHORIZED.into_response()
                    }
                },
            ),
        )
        .route("/redirect", get(|| async { Redirect::temporary("/target") }))
        .route("/target", get(|| async { r#"{"ok":true}"# }))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/cached",
            get(move || {
                let n = cached.fetch_add(1, Ordering::SeqCst);
                async move {
                    // The first request fills the cache; the next ones are served from it.
                    if n == 0 {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    "{}"
                }
            }),
        )
        .route(
            "/cdn",
            get(move || {
                let n = cdn.fetch_add(1, Ordering::SeqCst);
                async move { ([("x-cache", if n == 0 { "MISS" } else { "HIT from edge" })], "{}") }
            }),
        )
        .route(
            "/uncached",
            get(move || {
                let n = uncached.fetch_add(1, Ordering::SeqCst);
                async move {
                    // Each request slower than the one before: no cache in sight.
                    tokio::time::sleep(Duration::from_millis(50 + 100 * u64::from(n))).await;
                    ([("x-cache", "MISS")], "{}")
                }
            }),
        )
        .route(
            "/warm",
            get(move || {
                let n = warm.fetch_add(1, Ordering::SeqCst);
                async move {
                    // Already cached before the check came: every answer a hit, the second
                    // one even slower.
                    if n == 1 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    ([("x-cache", "HIT")], "{}")
                }
            }),
        )
        .route(
            "/sometimes-slow",
            get(move || {
                let n = sometimes.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n % 4 == 3 {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    "{}"
                }
            }),
        )
        .route("/steady", get(|| async { r#"{"status":"healthy"}"# }))
        .route(
            "/errors",
            get(move || {
                let n = errors.fetch_add(1, Ordering::SeqCst);
                async move {
                    // Every fourth request fails: a 25 % error rate.
                    if n % 4 == 3 {
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    } else {
                        "{}".into_response()
                    }
                }
            }),
        )
        .route(
            "/slowish",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(120)).await;
                "{}"
            }),
        );
    TestServer::start(router)
}

/// The login check the capture tests start with: POST an email, capture from the answer.
fn login(s: &TestServer, email: &str, capture: &str) -> String {
    format!(
        "[[verify.http]]\nname = \"login\"\nurl = \"{}\"\nmethod = \"POST\"\njson = {{ email = \"{email}\" }}\ncapture = {{ {capture} }}\n\n",
        s.url("/login")
    )
}

fn verify(w: &Workdir, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = w
        .cmd()
        .args(["verify", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    // An input error (exit 2) prints no report.
    let report = if out.status.code() == Some(2) {
        serde_json::Value::Null
    } else {
        json_report(&out)
    };
    (out.status.code(), report, all)
}

fn message(report: &serde_json::Value, id: &str) -> String {
    result(report, id)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn query_json_and_file_bodies_are_sent_as_written() {
    let s = server();
    let w = Workdir::new();
    w.write("body.txt", "from a file");
    w.write(
        "shipgate.toml",
        &format!(
            r#"[[verify.http]]
name = "query"
url = "{echo}"
query = {{ fund = "${{FUND}}", page = "2" }}
expect_json = ['$.query.fund == "lp-fund-1"', '$.query.page == "2"']

[[verify.http]]
name = "json"
url = "{echo}"
method = "post"
json = {{ email = "${{EMAIL}}", tags = ["a", "b"], count = 2 }}
expect_json = ['$.content_type == "application/json"', '$.body matches "\"email\":\"ops@example.com\""']

[[verify.http]]
name = "file"
url = "{echo}"
method = "PUT"
body_file = "body.txt"
expect_json = ['$.body == "from a file"']
"#,
            echo = s.url("/echo")
        ),
    );
    let mut cmd = w.cmd();
    cmd.args(["verify", "--format", "json"])
        .env("FUND", "lp-fund-1")
        .env("EMAIL", "ops@example.com");
    let out = cmd.output().unwrap();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["summary"]["passed"], 3);
}

#[test]
fn two_bodies_and_a_missing_body_file_are_input_errors() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.http]]\nurl = \"http://127.0.0.1:9/\"\nbody = \"x\"\njson = { a = 1 }\n",
    );
    let (code, _, all) = verify(&w, &[]);
    assert_eq!(code, Some(2));
    assert!(all.contains("one body"), "{all}");
    assert!(all.contains("shipgate.toml:1"), "{all}");

    w.write(
        "shipgate.toml",
        "[[verify.http]]\nurl = \"http://127.0.0.1:9/\"\nbody_file = \"nope.json\"\n",
    );
    let (code, _, all) = verify(&w, &[]);
    assert_eq!(code, Some(2));
    assert!(all.contains("cannot read the body file nope.json"), "{all}");
}

#[test]
fn redirects_are_answers_unless_followed_and_a_loop_is_reported() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"not-followed\"\nurl = \"{r}\"\n\n\
             [[verify.http]]\nname = \"followed\"\nurl = \"{r}\"\nredirects = 3\nexpect_json = ['$.ok == true']\n\n\
             [[verify.http]]\nname = \"loop\"\nurl = \"{l}\"\nredirects = 5\n",
            r = s.url("/redirect"),
            l = s.url("/loop")
        ),
    );
    let (code, report, _) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    let not_followed = result(&report, "http.not-followed");
    assert_eq!(not_followed["status"], "fail");
    assert!(message(&report, "http.not-followed").contains("answered 307, expected 2xx"));
    assert_eq!(not_followed["details"]["location"], "/target");
    assert_eq!(result(&report, "http.followed")["status"], "pass");
    let looped = message(&report, "http.loop");
    assert!(looped.contains("too many redirects"), "{looped}");
}

#[test]
fn a_server_that_never_answers_fails_at_the_request_timeout() {
    let (_listener, port) = silent_server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!("[[verify.http]]\nname = \"silent\"\nurl = \"http://127.0.0.1:{port}/health\"\ntimeout = \"1s\"\n"),
    );
    let started = Instant::now();
    let (code, report, _) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        message(&report, "http.silent").contains("did not answer within 1.0s"),
        "{report:#}"
    );
}

#[test]
fn samples_judge_percentiles_and_the_error_rate() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"[[verify.http]]
name = "steady"
url = "{steady}"
samples = 20
latency = {{ p50 = "500ms", p95 = "1s", p99 = "2s" }}
max_error_rate = "0%"

[[verify.http]]
name = "errors"
url = "{errors}"
samples = 8
max_error_rate = "10%"

[[verify.http]]
name = "slowish"
url = "{slowish}"
samples = 3
latency = {{ p95 = "50ms" }}
"#,
            steady = s.url("/steady"),
            errors = s.url("/errors"),
            slowish = s.url("/slowish")
        ),
    );
    let (code, report, _) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    let steady = result(&report, "http.steady");
    assert_eq!(steady["status"], "pass", "{steady:#}");
    assert_eq!(steady["details"]["samples"], 20);
    assert_eq!(steady["details"]["errors"], 0);
    assert!(steady["details"]["p95_ms"].as_f64().unwrap() < 1000.0);

    let errors = result(&report, "http.errors");
    assert_eq!(errors["status"], "fail");
    assert_eq!(errors["details"]["errors"], 2, "{errors:#}");
    assert_eq!(errors["details"]["error_rate"], 0.25);
    let m = message(&report, "http.errors");
    assert!(
        m.contains("2 of 8 requests failed (25%, expected at most 10%)"),
        "{m}"
    );
    assert!(m.contains("status 500"), "{m}");

    let slow = message(&report, "http.slowish");
    assert!(slow.contains("(expected at most 50ms)"), "{slow}");
    assert!(slow.contains("p95 1"), "{slow}");
}

#[test]
fn samples_refuse_to_mix_with_retry() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.http]]\nurl = \"http://127.0.0.1:9/\"\nsamples = 5\nretry = { timeout = \"5s\" }\n",
    );
    let (code, _, all) = verify(&w, &[]);
    assert_eq!(code, Some(2));
    assert!(all.contains("does not mix"), "{all}");
    assert!(all.contains("needs"), "{all}");
}

#[test]
fn cache_checks_pass_on_a_faster_second_answer_or_a_hit_header_and_fail_otherwise() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"faster\"\nurl = \"{}\"\nexpect_cached = \"faster\"\n\n\
             [[verify.http]]\nname = \"header\"\nurl = \"{}\"\nexpect_cached = \"header\"\n\n\
             [[verify.http]]\nname = \"uncached\"\nurl = \"{}\"\nexpect_cached = \"either\"\n",
            s.url("/cached"),
            s.url("/cdn"),
            s.url("/uncached")
        ),
    );
    let (code, report, _) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    let faster = result(&report, "http.faster");
    assert_eq!(faster["status"], "pass", "{faster:#}");
    assert!(
        faster["details"]["first_latency_ms"].as_f64().unwrap()
            > faster["details"]["second_latency_ms"].as_f64().unwrap()
    );
    assert!(message(&report, "http.faster").contains("cached (second request"));
    assert_eq!(result(&report, "http.header")["status"], "pass");
    assert!(message(&report, "http.header").contains("x-cache: HIT from edge"));
    let uncached = message(&report, "http.uncached");
    assert_eq!(result(&report, "http.uncached")["status"], "fail");
    assert!(
        uncached.contains("not cached: the second request took"),
        "{uncached}"
    );
    assert!(uncached.contains("no cache header says hit"), "{uncached}");
}

#[test]
fn captured_values_feed_the_checks_that_need_them_and_stay_secret() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"{login}[[verify.http]]
name = "profile"
needs = ["login"]
url = "{base}/api/lp/${{captured.lp_id}}/profile"
headers = {{ Authorization = "Bearer ${{captured.token}}", X-LP-ID = "${{captured.lp_id}}" }}
expect_json = ['$.status == "active"']
"#,
            login = login(
                &s,
                "ops@example.com",
                r#"token = "$.access_token", lp_id = "$.lp.id""#
            ),
            base = s.url("")
        ),
    );
    for format in ["json", "human", "markdown", "junit"] {
        let out = w
            .cmd()
            .args(["verify", "--format", format])
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(
            !all.contains(TOKEN),
            "the captured token leaked in {format}:\n{all}"
        );
    }
    let (_, report, _) = verify(&w, &[]);
    assert_eq!(
        result(&report, "http.login")["details"]["captured"],
        serde_json::json!(["token", "lp_id"])
    );
    // The URL is shown as written, not with the captured value in it.
    assert!(message(&report, "http.profile").contains("${captured.lp_id}"));

    // Only the profile check selected: the login it needs runs too, and is reported.
    let (code, report, all) = verify(&w, &["--only", "http.profile"]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(report["results"].as_array().unwrap().len(), 2);
}

#[test]
fn a_check_whose_need_failed_is_skipped_with_the_reason() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"{login}[[verify.http]]
name = "profile"
needs = ["http.login"]
url = "{base}/api/lp/lp-42/profile"
headers = {{ Authorization = "Bearer ${{captured.token}}" }}
"#,
            login = login(&s, "intruder@example.com", r#"token = "$.access_token""#),
            base = s.url("")
        ),
    );
    let (code, report, _) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(result(&report, "http.login")["status"], "fail");
    let profile = result(&report, "http.profile");
    assert_eq!(profile["status"], "skip");
    assert_eq!(
        profile["message"],
        "skipped: needs http.login, which did not pass"
    );
}

#[test]
fn a_capture_that_matches_nothing_fails_its_check() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"login\"\nurl = \"{}\"\nmethod = \"POST\"\njson = {{ email = \"ops@example.com\" }}\ncapture = {{ refresh = \"$.refresh_token\" }}\n",
            s.url("/login")
        ),
    );
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    assert!(
        message(&report, "http.login")
            .contains("capture `refresh`: $.refresh_token matched nothing"),
        "{report:#}"
    );
    // The login's answer holds an access token nobody captured: it stays out of the report.
    assert!(!all.contains(TOKEN), "{all}");
    assert!(
        result(&report, "http.login")["details"]["body_excerpt"]
            .as_str()
            .unwrap()
            .starts_with("(not shown")
    );
}

#[test]
fn captured_references_without_needs_or_outside_requests_are_input_errors() {
    let w = Workdir::new();
    let cases = [
        (
            "[[verify.http]]\nname = \"login\"\nurl = \"http://127.0.0.1:9/\"\ncapture = { token = \"$.t\" }\n\n\
             [[verify.http]]\nname = \"p\"\nurl = \"http://127.0.0.1:9/${captured.token}\"\n",
            "comes from http.login, which this check does not need",
        ),
        (
            "[[verify.http]]\nname = \"p\"\nurl = \"http://127.0.0.1:9/${captured.token}\"\n",
            "no earlier check captures `token`",
        ),
        (
            "[[verify.sql]]\nname = \"q\"\nurl = \"sqlite://x.db\"\nquery = \"SELECT '${captured.token}'\"\nexpect = 1\n",
            "cannot be used here",
        ),
        (
            "[[verify.http]]\nname = \"p\"\nurl = \"http://127.0.0.1:9/\"\nneeds = [\"logn\"]\n",
            "needs `logn`",
        ),
        (
            "[[verify.http]]\nname = \"p\"\nurl = \"http://127.0.0.1:9/\"\nconsecutive = 0\n",
            "consecutive = 0: give 1 to 1000",
        ),
    ];
    for (config, expected) in cases {
        w.write("shipgate.toml", config);
        let (code, _, all) = verify(&w, &[]);
        assert_eq!(code, Some(2), "{config}\n{all}");
        assert!(all.contains(expected), "{config}\n{all}");
    }
}

#[test]
fn https_with_an_extra_ca_passes_and_insecure_is_a_loud_warning() {
    let ca = TestCa::new();
    let router = Router::new().route("/health", get(|| async { r#"{"status":"healthy"}"# }));
    let https = HttpsServer::start(ca.leaf(&["localhost"], Duration::from_secs(86_400)), router);
    let w = Workdir::new();
    w.write("ca.pem", &ca.cert_pem);
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"system-roots\"\nurl = \"{u}\"\n\n\
             [[verify.http]]\nname = \"with-ca\"\nurl = \"{u}\"\nca_file = \"ca.pem\"\nexpect_json = ['$.status == \"healthy\"']\n\n\
             [[verify.http]]\nname = \"insecure\"\nurl = \"{u}\"\ninsecure = true\n",
            u = https.url("/health")
        ),
    );
    let (code, report, _) = verify(&w, &[]);
    assert_eq!(code, Some(1));
    let untrusted = result(&report, "http.system-roots");
    assert_eq!(untrusted["status"], "fail");
    assert!(
        untrusted["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{untrusted:#}"
    );
    assert_eq!(result(&report, "http.with-ca")["status"], "pass");
    let insecure = result(&report, "http.insecure");
    assert_eq!(insecure["status"], "warn");
    assert!(message(&report, "http.insecure").contains("INSECURE"));
    assert_eq!(insecure["details"]["insecure"], true);

    // --strict turns the insecure warning into a failed run on its own.
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"insecure\"\nurl = \"{}\"\ninsecure = true\n",
            https.url("/health")
        ),
    );
    assert_eq!(verify(&w, &[]).0, Some(0));
    assert_eq!(verify(&w, &["--strict"]).0, Some(1));

    w.write("bad.pem", "not a certificate");
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nurl = \"{}\"\nca_file = \"bad.pem\"\n",
            https.url("/health")
        ),
    );
    let (code, _, all) = verify(&w, &[]);
    assert_eq!(code, Some(2));
    assert!(all.contains("bad.pem holds no PEM certificate"), "{all}");
}

#[test]
fn a_query_written_in_a_flag_url_reaches_the_server() {
    let s = server();
    let w = Workdir::new();
    let (code, report, all) = verify(
        &w,
        &[
            "--http",
            &format!("{}?fund=lp-9", s.url("/echo")),
            "--expect-json",
            r#"$.query.fund == "lp-9""#,
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(report["summary"]["passed"], 1);
}

#[test]
fn a_captured_token_echoed_back_in_a_failure_is_masked() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"{login}[[verify.http]]
name = "echo"
needs = ["login"]
url = "{echo}"
query = {{ t = "${{captured.token}}" }}
expect_json = ['$.query.t == "something else"']
"#,
            login = login(&s, "ops@example.com", r#"token = "$.access_token""#),
            echo = s.url("/echo")
        ),
    );
    for format in ["json", "human", "markdown", "junit"] {
        let out = w
            .cmd()
            .args(["verify", "--format", format])
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(!all.contains(TOKEN), "the token leaked in {format}:\n{all}");
        if format == "json" {
            let report = json_report(&out);
            let excerpt = result(&report, "http.echo")["details"]["body_excerpt"]
                .as_str()
                .unwrap()
                .to_string();
            // The server did get the token: the excerpt shows where it was, masked.
            assert!(excerpt.contains(r#""t":"***""#), "{excerpt}");
        }
    }
}

#[test]
fn captured_values_are_encoded_for_where_they_go() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            r#"{login}[[verify.http]]
name = "echo"
needs = ["login"]
url = "{echo}?raw=${{captured.odd}}"
method = "POST"
json = {{ v = "${{captured.odd}}", n = 1 }}
expect_json = ['$.query.raw == "a\"b/c&d e\nf"', '$.json.v == "a\"b/c&d e\nf"', '$.json.n == 1']
"#,
            login = login(&s, "ops@example.com", r#"odd = "$.odd""#),
            echo = s.url("/echo")
        ),
    );
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "http.echo")["status"], "pass");
}

#[test]
fn a_warm_cache_passes_the_faster_check_and_says_so() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"warm\"\nurl = \"{}\"\nexpect_cached = \"faster\"\n",
            s.url("/warm")
        ),
    );
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(
        result(&report, "http.warm")["details"]["already_cached"],
        true
    );
}

#[test]
fn timed_out_samples_count_in_the_percentiles() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.http]]\nname = \"some\"\nurl = \"{}\"\ntimeout = \"300ms\"\nsamples = 4\nmax_error_rate = \"50%\"\n",
            s.url("/sometimes-slow")
        ),
    );
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "http.some");
    assert_eq!(r["details"]["errors"], 1, "{r:#}");
    assert!(r["details"]["max_ms"].as_f64().unwrap() >= 290.0, "{r:#}");
    assert!(
        r["details"]["first_error"]
            .as_str()
            .unwrap()
            .contains("did not answer within 300ms")
    );
}

#[test]
fn skipping_a_needed_check_skips_its_dependents_instead_of_running_it() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "{}[[verify.http]]\nname = \"profile\"\nneeds = [\"login\"]\nurl = \"{}/api/lp/${{captured.lp_id}}/profile\"\nheaders = {{ Authorization = \"Bearer ${{captured.token}}\", X-LP-ID = \"${{captured.lp_id}}\" }}\n",
            login(&s, "ops@example.com", r#"token = "$.access_token", lp_id = "$.lp.id""#),
            s.url("")
        ),
    );
    let (code, report, all) = verify(&w, &["--skip", "http.login"]);
    assert_eq!(code, Some(0), "{all}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{report:#}");
    assert_eq!(results[0]["id"], "http.profile");
    assert_eq!(results[0]["status"], "skip");
    assert_eq!(
        results[0]["message"],
        "skipped: needs http.login, which --skip leaves out"
    );
}

#[test]
fn a_need_passes_only_when_every_aspect_of_it_passed() {
    let s = server();
    let w = Workdir::new();
    std::fs::File::create(w.path().join("app.db")).unwrap();
    w.write(
        "shipgate.toml",
        &format!(
            "[[verify.database]]\nname = \"app\"\nurl = \"sqlite://app.db\"\ntables = [\"funds\"]\n\n\
             [[verify.http]]\nname = \"steady\"\nneeds = [\"database.app\"]\nurl = \"{}\"\n",
            s.url("/steady")
        ),
    );
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(result(&report, "database.app")["status"], "pass");
    assert_eq!(result(&report, "database.app.tables")["status"], "fail");
    assert_eq!(
        result(&report, "http.steady")["message"],
        "skipped: needs database.app, which did not pass"
    );
}

#[test]
fn captures_and_captured_references_only_where_they_make_sense() {
    let w = Workdir::new();
    let cases = [
        (
            "[[verify.http]]\nname = \"login\"\nurl = \"http://127.0.0.1:9/\"\nsamples = 3\ncapture = { token = \"$.t\" }\n",
            "`capture` takes values from one answer",
        ),
        (
            "[[verify.http]]\nname = \"login\"\nurl = \"http://127.0.0.1:9/\"\ncapture = { token = \"$.t\" }\n\n\
             [[verify.http]]\nname = \"p\"\nneeds = [\"login\"]\nurl = \"http://127.0.0.1:9/\"\nexpect_json = ['$.t == \"${captured.token}\"']\n",
            "cannot be used here",
        ),
        (
            "[[verify.http]]\nname = \"api\"\nurl = \"http://127.0.0.1:9/\"\n\n\
             [[verify.sql]]\nname = \"api\"\nurl = \"sqlite://x.db\"\nquery = \"SELECT 1\"\nexpect = 1\n\n\
             [[verify.http]]\nname = \"p\"\nneeds = [\"api\"]\nurl = \"http://127.0.0.1:9/\"\n",
            "name it by its id: http.api or sql.api",
        ),
    ];
    for (config, expected) in cases {
        w.write("shipgate.toml", config);
        let (code, _, all) = verify(&w, &[]);
        assert_eq!(code, Some(2), "{config}\n{all}");
        assert!(all.contains(expected), "{config}\n{all}");
    }
}

#[test]
fn invalid_header_names_and_values_are_input_errors_where_they_are_written() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.http]]\nurl = \"http://127.0.0.1:9/\"\nheaders = { \"X Bad\" = \"1\" }\n",
    );
    let (code, _, all) = verify(&w, &[]);
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("shipgate.toml:3:"), "{all}");
    assert!(
        all.contains("`X Bad` is not a valid HTTP header name"),
        "{all}"
    );

    std::fs::remove_file(w.path().join("shipgate.toml")).unwrap();
    let (code, _, all) = verify(
        &w,
        &[
            "--http",
            "http://127.0.0.1:9/",
            "--header",
            "X-Token: a\u{7f}b",
        ],
    );
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("`--header`"), "{all}");
    assert!(
        all.contains("the value of header X-Token is not valid in HTTP"),
        "{all}"
    );
}
