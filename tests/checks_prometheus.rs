//! `[[verify.prometheus]]` end to end against a real Prometheus (Debian's `prometheus`, which
//! scripts/test installs): started on a free loopback port for one test, scraping itself every
//! second, with one alerting rule that always fires; then `shipgate verify` queries it.

mod common;

use std::net::TcpListener;
use std::process::Output;
use std::time::Duration;

use common::prometheus::{PASSWORD, Prometheus};
use common::{Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

/// One `[[verify.prometheus]]` table; `keys` are further lines (`expect = [...]`, `for = …`).
fn check(name: &str, url: &str, query: &str, keys: &str) -> String {
    format!(
        "[[verify.prometheus]]\nname = \"{name}\"\nurl = \"{url}\"\nquery = '{query}'\n{keys}\n\n"
    )
}

fn run(w: &Workdir, args: &[&str]) -> Output {
    w.cmd()
        .args(["verify", "--format", "json"])
        .args(args)
        .output()
        .unwrap()
}

fn verify(w: &Workdir, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = run(w, args);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.code(), json_report(&out), all)
}

fn message(r: &Value) -> &str {
    r["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {r:#}"))
}

/// The result `prometheus.<name>`, asserted to have `status`, and its message.
fn judged<'a>(report: &'a Value, name: &str, status: &str) -> &'a str {
    let r = result(report, &format!("prometheus.{name}"));
    assert_eq!(r["status"], status, "{r:#}");
    assert_eq!(r["kind"], "prometheus", "{r:#}");
    message(r)
}

#[test]
fn instant_queries_against_a_real_prometheus() {
    let prom = Prometheus::start();
    let url = prom.url();
    let own = format!(r#"{{instance="127.0.0.1:{}",job="prometheus"}}"#, prom.port);
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let w = Workdir::new();
    let config = [
        "[verify]\ncheck_timeout = \"20s\"\n\n".to_string(),
        check("up", &url, r#"up{job="prometheus"}"#, r#"expect = ["== 1"]"#),
        check("down", &url, "up", r#"expect = ["< 1"]"#),
        check(
            "after-up",
            &url,
            "vector(1)",
            "expect = [\"== 1\"]\nneeds = [\"up\"]",
        ),
        check(
            "after-down",
            &url,
            "vector(1)",
            "expect = [\"== 1\"]\nneeds = [\"prometheus.down\"]",
        ),
        check(
            "by-label",
            &url,
            "up",
            r#"expect = ['{job="prometheus"} == 1', ">= 0"]"#,
        ),
        check("no-such-label", &url, "up", r#"expect = ['{job="api"} == 1']"#),
        check(
            "no-alerts-of-that-name",
            &url,
            r#"ALERTS{alertstate="firing",alertname="NoSuchAlert"}"#,
            "expect_empty = true",
        ),
        check(
            "no-alerts",
            &url,
            r#"ALERTS{alertstate="firing"}"#,
            "expect_empty = true",
        ),
        check("exists", &url, "up", "expect_empty = false"),
        check("syntax", &url, "sum(rate(up[5m])", r#"expect = ["< 1"]"#),
        check("nan-vector", &url, r#"up{job="prometheus"} / 0 * 0"#, r#"expect = ["< 1"]"#),
        check("nan-scalar", &url, "0/0", r#"expect = ["!= 1"]"#),
        check("scalar", &url, r#"scalar(up{job="prometheus"})"#, r#"expect = ["== 1"]"#),
        check("vector", &url, "vector(1)", r#"expect = [">= 1", "< +Inf"]"#),
        check("infinite", &url, r#"up{job="prometheus"} / 0"#, r#"expect = ["< 1e9"]"#),
        check("nothing", &url, r#"up{job="nope"}"#, r#"expect = ["< 1"]"#),
        check(
            "ratio",
            &url,
            r#"sum(rate(prometheus_http_requests_total{code=~"5.."}[1m])) / sum(rate(prometheus_http_requests_total[1m])) or vector(0)"#,
            r#"expect = ["< 0.01"]"#,
        ),
        check(
            "string",
            &url,
            r#""hello""#,
            r#"expect = ["== 1"]"#,
        ),
        check(
            "not-prometheus",
            &format!("{url}/elsewhere"),
            "up",
            r#"expect = ["== 1"]"#,
        ),
        check(
            "unreachable",
            &format!("http://127.0.0.1:{closed}"),
            "up",
            r#"expect = ["== 1"]"#,
        ),
    ]
    .concat();
    w.write("shipgate.toml", &config);
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(1), "{all}");

    assert_eq!(
        judged(&report, "up", "pass"),
        r#"`up{job="prometheus"}`: 1 series holds `== 1` (value 1)"#
    );
    let up = result(&report, "prometheus.up");
    assert_eq!(up["details"]["series"], 1, "{up:#}");
    assert_eq!(
        up["details"]["values"][0],
        format!("up{own} 1"),
        "the value as Prometheus wrote it: {up:#}"
    );
    // The series that failed, by its labels, and the value found.
    assert_eq!(
        judged(&report, "down", "fail"),
        format!("`up`: 1 of 1 series: up{own} is 1 (expected < 1)")
    );
    judged(&report, "after-up", "pass");
    assert_eq!(
        judged(&report, "after-down", "skip"),
        "skipped: needs prometheus.down, which did not pass"
    );
    judged(&report, "by-label", "pass");
    assert!(
        judged(&report, "no-such-label", "fail")
            .contains(&format!(r#"no series has {{job="api"}} (found: up{own})"#)),
        "{all}"
    );
    assert!(
        judged(&report, "no-alerts-of-that-name", "pass").ends_with("no series, as expected"),
        "{all}"
    );
    let firing = judged(&report, "no-alerts", "fail");
    assert!(
        firing.contains("returned 1 series, expected none: ALERTS{")
            && firing.contains(r#"alertname="ShipgateTestAlwaysFiring""#)
            && firing.contains(r#"severity="test""#),
        "{firing}"
    );
    assert!(
        judged(&report, "exists", "pass").ends_with("returned 1 series"),
        "{all}"
    );
    // Prometheus' own words about the syntax error.
    let syntax = judged(&report, "syntax", "fail");
    assert!(
        syntax.starts_with(&format!(
            "Prometheus at {url}: `sum(rate(up[5m])`: answered 400: bad_data: "
        )) && syntax.contains("parse error"),
        "{syntax}"
    );
    assert_eq!(
        result(&report, "prometheus.syntax")["details"]["status"],
        400
    );
    assert_eq!(
        judged(&report, "nan-vector", "fail"),
        format!(
            r#"`up{{job="prometheus"}} / 0 * 0`: 1 of 1 series: {own} is NaN (not a number) (expected < 1)"#
        )
    );
    assert_eq!(
        judged(&report, "nan-scalar", "fail"),
        "`0/0`: scalar is NaN (not a number) (expected != 1)"
    );
    assert!(
        judged(&report, "scalar", "pass").ends_with("the scalar holds `== 1` (value 1)"),
        "{all}"
    );
    assert!(
        judged(&report, "vector", "pass").ends_with("1 series holds `>= 1` and `< +Inf` (value 1)"),
        "{all}"
    );
    // "+Inf" as Prometheus writes it is a number: infinity, which is not below 1e9.
    assert!(
        judged(&report, "infinite", "fail")
            .ends_with(&format!("{own} is +Inf (expected < 1000000000)")),
        "{all}"
    );
    assert!(
        judged(&report, "nothing", "fail").contains("returned no series: nothing to compare"),
        "{all}"
    );
    judged(&report, "ratio", "pass");
    assert!(
        judged(&report, "string", "fail").contains("returned a string"),
        "{all}"
    );
    let elsewhere = judged(&report, "not-prometheus", "fail");
    assert!(
        elsewhere.contains("answered 404") && elsewhere.contains("base URL"),
        "{elsewhere}"
    );
    assert!(
        judged(&report, "unreachable", "fail").contains("request failed"),
        "{all}"
    );
}

#[test]
fn a_value_must_hold_over_a_range() {
    let prom = Prometheus::start();
    let url = prom.url();
    let own = format!(
        r#"up{{instance="127.0.0.1:{}",job="prometheus"}}"#,
        prom.port
    );
    let w = Workdir::new();
    let config = [
        "[verify]\ncheck_timeout = \"20s\"\n\n".to_string(),
        check(
            "held",
            &url,
            r#"up{job="prometheus"}"#,
            "expect = [\"== 1\"]\nfor = \"3s\"",
        ),
        check("broken", &url, "up", "expect = [\"< 1\"]\nfor = \"3s\""),
        check(
            "firing-for",
            &url,
            r#"ALERTS{alertstate="firing"}"#,
            "expect_empty = true\nfor = \"3s\"",
        ),
        // Prometheus has run for seconds: most of a 10-minute window has no data at all.
        check(
            "too-young",
            &url,
            r#"up{job="prometheus"}"#,
            "expect = [\"== 1\"]\nfor = \"10m\"\nstep = \"1m\"",
        ),
    ]
    .concat();
    w.write("shipgate.toml", &config);
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(
        judged(&report, "held", "pass"),
        r#"`up{job="prometheus"}`: 1 series holds `== 1` at every one of 4 points over the window (value 1)"#
    );
    let held = result(&report, "prometheus.held");
    assert_eq!(held["details"]["for"], "3.0s", "{held:#}");
    assert_eq!(held["details"]["step"], "1.0s", "{held:#}");
    let broken = judged(&report, "broken", "fail");
    assert!(
        broken.starts_with(&format!("`up`: 1 of 1 series: {own} was 1 at "))
            && broken.ends_with("(expected < 1; 4 of 4 points)"),
        "{broken}"
    );
    assert!(
        judged(&report, "firing-for", "fail").contains("ShipgateTestAlwaysFiring"),
        "{all}"
    );
    let young = judged(&report, "too-young", "warn");
    assert!(
        young.contains("no value at 10 of the window's 11 points"),
        "{young}"
    );
}

#[test]
fn a_dry_run_says_what_it_would_query_and_sends_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &check(
            "errors",
            &format!("http://127.0.0.1:{port}"),
            r#"sum(rate(http_requests_total{code=~"5.."}[5m]))"#,
            "expect = [\"< 0.01\"]\nfor = \"5m\"\nheaders = { Authorization = \"Bearer ${PROM_TOKEN}\" }",
        ),
    );
    let out = w
        .cmd()
        .args(["verify", "--format", "json", "--dry-run"])
        .env("PROM_TOKEN", "s3cr3t-token-value")
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    let report = json_report(&out);
    let message = judged(&report, "errors", "skip");
    assert_eq!(
        message,
        format!(
            r#"dry run: would query Prometheus at http://127.0.0.1:{port} for `sum(rate(http_requests_total{{code=~"5.."}}[5m]))` over the last 5m (step 5.0s), expecting `< 0.01`"#
        )
    );
    assert!(!all.contains("s3cr3t-token-value"), "{all}");
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the dry run connected to the server"
    );
}

#[test]
fn mistakes_in_a_prometheus_check_are_input_errors_at_their_line() {
    let cases = [
        (
            "expect = [\"< 1\"]\nexpect_empty = true",
            "`expect_empty = true` wants none",
        ),
        ("", "needs `expect` or `expect_empty`"),
        ("expect = [\"up == 1\"]", "the query picks what to compare"),
        ("expect = [\"< lots\"]", "`lots` is not a number"),
        (
            "expect = [\"< 1\"]\nstep = \"10s\"",
            "`step` is the resolution of a `for` window",
        ),
        (
            "expect = [\"< 1\"]\nfor = \"1d\"\nstep = \"1s\"",
            "Prometheus answers at most 11000",
        ),
    ];
    for (keys, said) in cases {
        let w = Workdir::new();
        w.write(
            "shipgate.toml",
            &check("p", "http://127.0.0.1:9", "up", keys),
        );
        let out = run(&w, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{keys}: {err}");
        assert!(err.contains(said), "{keys}: {err}");
        assert!(err.contains("shipgate.toml:"), "placed: {err}");
    }
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &check(
            "p",
            "http://127.0.0.1:9/api/v1/query",
            "up",
            "expect = [\"< 1\"]",
        ),
    );
    let out = run(&w, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("give the Prometheus server's base URL"),
        "{err}"
    );
}

#[test]
fn tls_and_basic_auth_like_the_http_checks() {
    let ca = common::tls::TestCa::new();
    let leaf = ca.leaf(&["127.0.0.1"], Duration::from_secs(30 * 86_400));
    let prom = Prometheus::start_secured(&leaf);
    let url = format!("https://127.0.0.1:{}", prom.port);
    let w = Workdir::new();
    w.write("ca.pem", &ca.cert_pem);
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("shipgate:{PASSWORD}")
        )
    );
    let auth = "headers = { Authorization = \"${PROM_AUTH}\" }";
    let config = [
        "[verify]\ncheck_timeout = \"20s\"\n\n".to_string(),
        check(
            "authorized",
            &url,
            "vector(1)",
            &format!("expect = [\"== 1\"]\nca_file = \"ca.pem\"\n{auth}"),
        ),
        check(
            "no-credentials",
            &url,
            "vector(1)",
            "expect = [\"== 1\"]\nca_file = \"ca.pem\"",
        ),
        check(
            "untrusted",
            &url,
            "vector(1)",
            &format!("expect = [\"== 1\"]\n{auth}"),
        ),
        check(
            "insecure",
            &url,
            "vector(1)",
            &format!("expect = [\"== 1\"]\ninsecure = true\n{auth}"),
        ),
    ]
    .concat();
    w.write("shipgate.toml", &config);
    let out = w
        .cmd()
        .args(["verify", "--format", "json"])
        .env("PROM_AUTH", &basic)
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{all}");
    let report = json_report(&out);
    assert!(
        judged(&report, "authorized", "pass").ends_with("1 series holds `== 1` (value 1)"),
        "{all}"
    );
    let refused = judged(&report, "no-credentials", "fail");
    assert!(
        refused.contains("answered 401") && refused.contains("credentials missing or refused"),
        "{refused}"
    );
    let untrusted = judged(&report, "untrusted", "fail");
    assert!(
        untrusted.contains("request failed") && untrusted.contains("certificate"),
        "{untrusted}"
    );
    assert!(
        judged(&report, "insecure", "warn").contains("INSECURE"),
        "{all}"
    );
    let secret = basic.trim_start_matches("Basic ");
    assert!(!all.contains(secret) && !all.contains(PASSWORD), "{all}");
}

#[test]
fn retry_asks_again_until_the_value_is_back_to_normal() {
    // "The error rate is back to baseline within 5 minutes": a value that comes right after a
    // few seconds (the server's clock passing a mark) passes on a later answer; one that never
    // does fails when the window closes, with the last answer and how many were asked for.
    let prom = Prometheus::start();
    let url = prom.url();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let w = Workdir::new();
    let config = [
        "[verify]\ncheck_timeout = \"5s\"\n\n".to_string(),
        check(
            "recovers",
            &url,
            "time()",
            &format!(
                "expect = [\">= {}\"]\nretry = {{ timeout = \"30s\", interval = \"500ms\" }}",
                now + 3
            ),
        ),
        check(
            "never",
            &url,
            "time()",
            &format!(
                "expect = [\">= {}\"]\nretry = {{ timeout = \"1s\", interval = \"300ms\" }}",
                now + 3600
            ),
        ),
    ]
    .concat();
    w.write("shipgate.toml", &config);
    let (code, report, all) = verify(&w, &["--dry-run"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(
        judged(&report, "recovers", "skip").ends_with("asking again for up to 30.0s"),
        "{all}"
    );
    let started = std::time::Instant::now();
    let (code, report, all) = verify(&w, &[]);
    assert_eq!(code, Some(1), "{all}");
    let recovers = result(&report, "prometheus.recovers");
    assert_eq!(recovers["status"], "pass", "{recovers:#}");
    let attempts = recovers["details"]["attempts"].as_u64().unwrap();
    assert!(attempts >= 2, "{recovers:#}");
    assert!(message(recovers).contains(&format!("({attempts} attempts over ")));
    let never = judged(&report, "never", "fail");
    assert!(never.contains("attempts over 1"), "{never}");
    assert!(started.elapsed() < Duration::from_secs(30), "{all}");
}
