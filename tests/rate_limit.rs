//! `shipgate rate-limit-test` against limiters written here for the cases real ones rarely
//! show: no headers, a limiter that never engages, remaining that goes up, 503 instead of 429,
//! leaks, a limit that disagrees with its headers, bypass through `X-Forwarded-For`, recovery.
//! (Real limiters — nginx, express-rate-limit — are in tests/rate_limit_real.rs.)

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{TestServer, Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Headers {
    None,
    Legacy,
    Draft6,
    Draft7,
    Draft8,
}

/// A fixed-window limiter with knobs for every misbehaviour under test.
#[derive(Clone)]
struct Limiter {
    /// Requests allowed per window; `None`: never limits.
    limit: Option<u32>,
    /// The limit the headers advertise (default: `limit`).
    advertised: Option<u32>,
    status: StatusCode,
    headers: Headers,
    retry_after: Option<u64>,
    /// Keyed on `X-Forwarded-For` (a header the client controls) instead of the connection.
    key_by_xff: bool,
    /// After the limit, every n-th request passes anyway.
    leak_every: Option<u32>,
    /// At this request, remaining jumps up by 3.
    remaining_bug_at: Option<u32>,
    window: Duration,
    counts: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl Limiter {
    fn new(limit: u32) -> Limiter {
        Limiter {
            limit: Some(limit),
            advertised: None,
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: Headers::Draft7,
            retry_after: Some(60),
            key_by_xff: false,
            leak_every: None,
            remaining_bug_at: None,
            window: Duration::from_secs(60),
            counts: Arc::default(),
        }
    }

    fn serve(self) -> TestServer {
        TestServer::start(Router::new().route("/api", get(limited)).with_state(self))
    }
}

async fn limited(State(l): State<Limiter>, headers: HeaderMap) -> Response {
    let key = if l.key_by_xff {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("socket")
            .to_string()
    } else {
        "socket".to_string()
    };
    let n = {
        let mut counts = l.counts.lock().unwrap();
        let entry = counts.entry(key).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= l.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        entry.1
    };
    let Some(limit) = l.limit else {
        return "ok".into_response();
    };
    let over = n > limit && l.leak_every.is_none_or(|every| n % every != 0);
    let advertised = l.advertised.unwrap_or(limit);
    let mut remaining = advertised.saturating_sub(n);
    if l.remaining_bug_at == Some(n) {
        remaining += 3;
    }
    let window = l.window.as_secs().max(1);
    let mut response = if over {
        (l.status, "slow down").into_response()
    } else {
        "ok".into_response()
    };
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    };
    match l.headers {
        Headers::None => {}
        Headers::Legacy => {
            set("x-ratelimit-limit", advertised.to_string());
            set("x-ratelimit-remaining", remaining.to_string());
            set("x-ratelimit-reset", window.to_string());
        }
        Headers::Draft6 => {
            set("ratelimit-policy", format!("{advertised};w={window}"));
            set("ratelimit-limit", advertised.to_string());
            set("ratelimit-remaining", remaining.to_string());
            set("ratelimit-reset", window.to_string());
        }
        Headers::Draft7 => {
            set("ratelimit-policy", format!("{advertised};w={window}"));
            set(
                "ratelimit",
                format!("limit={advertised}, remaining={remaining}, reset={window}"),
            );
        }
        Headers::Draft8 => {
            set(
                "ratelimit-policy",
                format!("\"default\";q={advertised};w={window}"),
            );
            set("ratelimit", format!("\"default\";r={remaining};t={window}"));
        }
    }
    if over && let Some(after) = l.retry_after {
        set("retry-after", after.to_string());
    }
    response
}

fn run(w: &Workdir, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = w
        .cmd()
        .args(["rate-limit-test", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    let report = if out.status.code() == Some(2) {
        Value::Null
    } else {
        json_report(&out)
    };
    (out.status.code(), report, all)
}

const ID: &str = "rate-limit.127-0-0-1";

fn message<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["message"].as_str().unwrap()
}

#[test]
fn finds_the_limit_exactly_and_reads_every_header_syntax() {
    for (headers, syntax) in [
        (Headers::Legacy, "legacy"),
        (Headers::Draft6, "draft-6"),
        (Headers::Draft7, "draft-7"),
        (Headers::Draft8, "draft-8"),
    ] {
        let s = Limiter {
            headers,
            ..Limiter::new(20)
        }
        .serve();
        let w = Workdir::new();
        let (code, report, all) = run(
            &w,
            &[&s.url("/api"), "--requests", "30", "--expect-limit", "20"],
        );
        assert_eq!(code, Some(0), "{syntax}: {all}");
        let limit = result(&report, ID);
        assert_eq!(limit["details"]["observed_limit"], 20);
        assert_eq!(limit["details"]["advertised_limit"], 20);
        assert_eq!(limit["details"]["first_limited_index"], 21);
        assert_eq!(limit["details"]["by_status"]["200"], 20);
        assert_eq!(limit["details"]["by_status"]["429"], 10);
        assert_eq!(
            message(&report, ID),
            format!(
                "limited after 20 requests, expected 20 (first 429 at request 21 after {})",
                limit["message"]
                    .as_str()
                    .unwrap()
                    .rsplit("after ")
                    .next()
                    .unwrap()
                    .trim_end_matches(')')
            )
        );
        let headers = result(&report, &format!("{ID}.headers"));
        assert_eq!(headers["status"], "pass", "{syntax}: {headers:#}");
        assert_eq!(headers["details"]["syntaxes"], serde_json::json!([syntax]));
        assert_eq!(headers["details"]["advertised_limit"], 20);
    }
}

#[test]
fn a_limiter_that_never_engages_fails_saying_so() {
    let s = Limiter {
        limit: None,
        ..Limiter::new(1)
    }
    .serve();
    let (code, report, _) = run(&Workdir::new(), &[&s.url("/api"), "--requests", "40"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        message(&report, ID),
        "no 429 after 40 requests: limiter not engaged"
    );
}

#[test]
fn a_503_limiter_is_named_and_accepted_with_limited_status() {
    let s = Limiter {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers: Headers::None,
        retry_after: None,
        ..Limiter::new(5)
    }
    .serve();
    let w = Workdir::new();
    let (code, report, _) = run(&w, &[&s.url("/api"), "--requests", "10"]);
    assert_eq!(code, Some(1));
    let m = message(&report, ID);
    assert!(
        m.starts_with("no 429 after 10 requests: limiter not engaged"),
        "{m}"
    );
    assert!(m.contains("5 answered 503"), "{m}");
    assert!(m.contains("--limited-status 503"), "{m}");

    let s = Limiter {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers: Headers::None,
        retry_after: None,
        ..Limiter::new(5)
    }
    .serve();
    let (code, report, all) = run(
        &w,
        &[
            &s.url("/api"),
            "--requests",
            "10",
            "--limited-status",
            "503",
            "--expect-limit",
            "5",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    // No headers at all: a warning, not a failure; and no Retry-After on the 503s.
    let headers = result(&report, &format!("{ID}.headers"));
    assert_eq!(headers["status"], "warn");
    assert!(
        message(&report, &format!("{ID}.headers"))
            .contains("no response carried rate-limit headers")
    );
    assert_eq!(headers["details"]["limited_without_retry_after"], 5);
}

#[test]
fn a_wrong_limit_a_lying_header_and_rising_remaining_fail() {
    let s = Limiter {
        advertised: Some(100),
        ..Limiter::new(60)
    }
    .serve();
    let w = Workdir::new();
    let (code, report, _) = run(
        &w,
        &[
            &s.url("/api"),
            "--requests",
            "70",
            "--expect-limit",
            "100",
            "--tolerance",
            "5",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        message(&report, ID).starts_with("limited after 60 requests, expected 100 ± 5"),
        "{}",
        message(&report, ID)
    );
    let headers = message(&report, &format!("{ID}.headers"));
    assert!(
        headers.contains("advertises a limit of 100, but the limiter allowed 60"),
        "{headers}"
    );
    assert!(
        headers.contains("the lowest remaining before the limit was 40 (request 60), expected 0"),
        "{headers}"
    );

    let s = Limiter {
        remaining_bug_at: Some(17),
        ..Limiter::new(20)
    }
    .serve();
    let (code, report, _) = run(&w, &[&s.url("/api"), "--requests", "25"]);
    assert_eq!(code, Some(1));
    let headers = message(&report, &format!("{ID}.headers"));
    assert!(
        headers.contains("RateLimit-Remaining rose from 4 to 6 (requests 16 → 17)"),
        "{headers}"
    );
}

#[test]
fn successes_after_the_limit_are_leaks() {
    let s = Limiter {
        leak_every: Some(5),
        ..Limiter::new(10)
    }
    .serve();
    let (code, report, _) = run(&Workdir::new(), &[&s.url("/api"), "--requests", "30"]);
    assert_eq!(code, Some(1));
    let m = message(&report, ID);
    assert!(
        m.contains(
            "4 requests succeeded after the first 429 while it should still hold: the limiter leaks"
        ),
        "{m}"
    );
    assert_eq!(result(&report, ID)["details"]["leaks"], 4);
}

#[test]
fn missing_retry_after_warns_or_fails_as_asked() {
    let limiter = || {
        Limiter {
            retry_after: None,
            ..Limiter::new(3)
        }
        .serve()
    };
    let w = Workdir::new();
    let s = limiter();
    let (code, report, _) = run(&w, &[&s.url("/api"), "--requests", "5"]);
    assert_eq!(code, Some(0));
    assert_eq!(result(&report, &format!("{ID}.headers"))["status"], "warn");
    let s = limiter();
    let (code, report, _) = run(
        &w,
        &[
            &s.url("/api"),
            "--requests",
            "5",
            "--missing-retry-after",
            "fail",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        message(&report, &format!("{ID}.headers"))
            .contains("2 of 2 limited responses had no Retry-After")
    );
}

#[test]
fn a_limiter_keyed_on_x_forwarded_for_is_a_bypass_finding() {
    let w = Workdir::new();
    let xff = "X-Forwarded-For: 192.168.1.1";
    let s = Limiter {
        key_by_xff: true,
        ..Limiter::new(10)
    }
    .serve();
    let (code, report, _) = run(
        &w,
        &[
            &s.url("/api"),
            "--requests",
            "15",
            "--header",
            xff,
            "--probe-bypass",
        ],
    );
    assert_eq!(code, Some(1));
    let bypass = result(&report, &format!("{ID}.bypass"));
    assert_eq!(bypass["status"], "fail");
    let m = message(&report, &format!("{ID}.bypass"));
    assert!(
        m.contains("the limiter can be dodged: 6 of 6 passed"),
        "{m}"
    );
    assert!(m.contains("without X-Forwarded-For"), "{m}");
    assert!(m.contains("a header the client controls"), "{m}");

    let s = Limiter::new(10).serve();
    let (code, report, all) = run(
        &w,
        &[
            &s.url("/api"),
            "--requests",
            "15",
            "--header",
            xff,
            "--probe-bypass",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(
        message(&report, &format!("{ID}.bypass")),
        "4 requests with rotated X-Forwarded-For values and 2 without the header stayed limited, like the unchanged ones"
    );
}

#[test]
fn recovery_waits_for_retry_after_then_must_pass() {
    let w = Workdir::new();
    let s = Limiter {
        retry_after: Some(1),
        window: Duration::from_secs(1),
        ..Limiter::new(5)
    }
    .serve();
    let started = Instant::now();
    let (code, report, all) = run(
        &w,
        &[&s.url("/api"), "--requests", "8", "--verify-recovery"],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        message(&report, &format!("{ID}.recovery"))
            .starts_with("answered 200 after waiting 1.0s (Retry-After)")
    );

    // Says 1 s, holds a minute.
    let s = Limiter {
        retry_after: Some(1),
        ..Limiter::new(5)
    }
    .serve();
    let (code, report, _) = run(
        &w,
        &[&s.url("/api"), "--requests", "8", "--verify-recovery"],
    );
    assert_eq!(code, Some(1));
    assert!(
        message(&report, &format!("{ID}.recovery"))
            .contains("still answered 429 after waiting 1.0s (Retry-After)")
    );

    // Asks for longer than shipgate may wait.
    let s = Limiter {
        retry_after: Some(3600),
        ..Limiter::new(5)
    }
    .serve();
    let (code, report, _) = run(
        &w,
        &[
            &s.url("/api"),
            "--requests",
            "8",
            "--verify-recovery",
            "--max-wait",
            "5s",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        message(&report, &format!("{ID}.recovery"))
            .contains("Retry-After asks for 1h, longer than the --max-wait of 5.0s"),
        "{}",
        message(&report, &format!("{ID}.recovery"))
    );
}

#[test]
fn open_loop_rate_paces_the_requests() {
    let s = Limiter {
        limit: None,
        ..Limiter::new(1)
    }
    .serve();
    let started = Instant::now();
    let (_, report, _) = run(
        &Workdir::new(),
        &[&s.url("/api"), "--requests", "40", "--rate", "100/s"],
    );
    // 40 requests at 100/s take at least 0.39 s: the sender does not burst ahead.
    assert!(started.elapsed() >= Duration::from_millis(390));
    let limit = result(&report, ID);
    assert_eq!(limit["details"]["requests"], 40);
    assert!(limit["details"]["requests_per_second"].as_f64().unwrap() <= 110.0);
}

#[test]
fn requests_are_capped_and_time_bounded() {
    let w = Workdir::new();
    let (code, _, all) = run(&w, &["http://127.0.0.1:9/", "--requests", "20000"]);
    assert_eq!(code, Some(2));
    assert!(
        all.contains("20000 requests is above the cap of 10000"),
        "{all}"
    );
    assert!(all.contains("max_requests"), "{all}");

    let slow = TestServer::start(Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "ok"
        }),
    ));
    w.write(
        "shipgate.toml",
        &format!(
            "[rate_limit]\nmax_requests = 20000\n\n[[rate_limit.target]]\nname = \"slow\"\nurl = \"{}\"\nrequests = 20000\nconcurrency = 4\nmax_duration = \"1s\"\n",
            slow.url("/slow")
        ),
    );
    let started = Instant::now();
    let (code, report, _) = run(&w, &[]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(code, Some(1));
    let r = result(&report, "rate-limit.slow");
    assert!(
        r["details"]["cut_short"]
            .as_str()
            .unwrap()
            .contains("of 20000 requests: the time limit of 1.0s was reached"),
        "{r:#}"
    );
    assert_eq!(r["location"]["line"], 4);
}

#[test]
fn config_targets_run_in_turn_and_secrets_stay_hidden() {
    let a = Limiter::new(3).serve();
    let b = Limiter::new(4).serve();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[rate_limit.target]]\nname = \"health\"\nurl = \"{}\"\nrequests = 5\nexpect_limit = 3\nheaders = {{ Authorization = \"Bearer ${{TOKEN}}\" }}\n\n\
             [[rate_limit.target]]\nname = \"profile\"\nurl = \"{}\"\nrequests = 6\nexpect_limit = 4\n",
            a.url("/api"),
            b.url("/api")
        ),
    );
    for format in ["json", "human", "junit", "markdown"] {
        let out = w
            .cmd()
            .args(["rate-limit-test", "--format", format])
            .env("TOKEN", "RL-SENTINEL-TOKEN-31")
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&out), stderr(&out));
        // The limiters keep counting across runs: only the first run passes.
        assert!(!all.contains("RL-SENTINEL-TOKEN-31"), "{all}");
        if format == "json" {
            assert_eq!(out.status.code(), Some(0), "{all}");
            let report = json_report(&out);
            assert_eq!(report["command"], "rate-limit-test");
            assert_eq!(result(&report, "rate-limit.health")["status"], "pass");
            assert_eq!(result(&report, "rate-limit.profile")["status"], "pass");
        }
    }
    let (code, _, all) = run(&w, &["--only", "rate-limit.nope"]);
    assert_eq!(code, Some(2), "{all}");
}

#[test]
fn dry_run_and_a_mistyped_only_send_nothing() {
    let limiter = Limiter::new(5);
    let counts = Arc::clone(&limiter.counts);
    let s = limiter.serve();
    let w = Workdir::new();
    let (code, report, all) = run(&w, &[&s.url("/api"), "--dry-run", "--probe-bypass"]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, ID)["status"], "skip");
    assert!(
        message(&report, ID).starts_with("would send 150 requests to http://127.0.0.1:"),
        "{report:#}"
    );
    let (code, _, all) = run(
        &w,
        &[&s.url("/api"), "--only", "rate-limit.127-0-0-1.bypas"],
    );
    assert_eq!(code, Some(2));
    assert!(
        all.contains("no check has the id `rate-limit.127-0-0-1.bypas`"),
        "{all}"
    );
    assert!(
        all.contains("did you mean `rate-limit.127-0-0-1`?"),
        "{all}"
    );
    assert!(counts.lock().unwrap().is_empty(), "requests were sent");

    // A probe left out by --skip is not sent: 8 requests, no control or probe requests after.
    let (code, report, all) = run(
        &w,
        &[
            &s.url("/api"),
            "-n",
            "8",
            "--probe-bypass",
            "--skip",
            "rate-limit.127-0-0-1.bypass",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(report["results"].as_array().unwrap().len(), 2);
    assert_eq!(counts.lock().unwrap()["socket"].1, 8);
}

#[test]
fn https_targets_verify_the_certificate_and_accept_an_extra_ca() {
    use common::tls::{HttpsServer, TestCa};
    let ca = TestCa::new();
    let limiter = Limiter::new(5);
    let router = Router::new()
        .route("/api", get(limited))
        .with_state(limiter);
    let https = HttpsServer::start(ca.leaf(&["localhost"], Duration::from_secs(86_400)), router);
    let w = Workdir::new();
    w.write("ca.pem", &ca.cert_pem);
    let url = https.url("/api");

    // Unknown issuer: no response at all, and the reason.
    let (code, report, _) = run(&w, &[&url, "--requests", "3"]);
    assert_eq!(code, Some(1));
    let m = message(&report, "rate-limit.localhost");
    assert!(
        m.starts_with("none of 3 requests got a response: TLS handshake with localhost failed"),
        "{m}"
    );

    let (code, report, all) = run(
        &w,
        &[
            &url,
            "--requests",
            "8",
            "--concurrency",
            "2",
            "--expect-limit",
            "5",
            "--ca-file",
            "ca.pem",
        ],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(
        result(&report, "rate-limit.localhost")["details"]["observed_limit"],
        5
    );
}

#[test]
fn servers_that_close_connections_are_answered_on_new_ones() {
    let limiter = Limiter::new(5);
    let router = Router::new()
        .route(
            "/api",
            get(|state: State<Limiter>, headers: HeaderMap| async move {
                let mut response = limited(state, headers).await;
                response
                    .headers_mut()
                    .insert("connection", HeaderValue::from_static("close"));
                response
            }),
        )
        .with_state(limiter);
    let s = TestServer::start(router);
    let (code, report, all) = run(
        &Workdir::new(),
        &[&s.url("/api"), "-n", "20", "-c", "2", "--expect-limit", "5"],
    );
    assert_eq!(code, Some(0), "{all}");
    let limit = result(&report, ID);
    assert_eq!(limit["status"], "pass", "{limit:#}");
    assert_eq!(limit["details"]["transport_errors"], 0, "{limit:#}");
}

#[test]
fn url_credentials_are_sent_as_basic_auth_and_never_shown() {
    let router = Router::new().route(
        "/private",
        get(|headers: HeaderMap| async move {
            // "ops:pa ss@word" in base64.
            let expected = "Basic b3BzOnBhIHNzQHdvcmQ=";
            if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected) {
                StatusCode::TOO_MANY_REQUESTS.into_response()
            } else {
                StatusCode::UNAUTHORIZED.into_response()
            }
        }),
    );
    let s = TestServer::start(router);
    let url = format!("http://ops:pa%20ss%40word@{}/private", s.addr);
    let out = Workdir::new()
        .cmd()
        .args(["rate-limit-test", &url, "-n", "3"])
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    // Every answer is a 429: authenticated, and limited from the start.
    assert!(all.contains("limited after 0 requests"), "{all}");
    assert!(!all.contains("pa%20ss") && !all.contains("pa ss"), "{all}");

    // Without credentials nothing succeeds, and the verdict says so.
    let (code, report, _) = run(&Workdir::new(), &[&s.url("/private"), "-n", "3"]);
    assert_eq!(code, Some(1));
    let m = message(&report, "rate-limit.127-0-0-1");
    assert!(
        m.contains("no request succeeded either (3× 401): check the URL, method and credentials"),
        "{m}"
    );
}

#[test]
fn the_overall_deadline_is_reported_under_a_selected_id() {
    let (_listener, port) = common::silent_server();
    let (code, report, all) = run(
        &Workdir::new(),
        &[
            &format!("http://127.0.0.1:{port}/"),
            "-n",
            "3",
            "--timeout",
            "1s",
            "--only",
            "rate-limit.127-0-0-1.headers",
        ],
    );
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "rate-limit.127-0-0-1.headers");
    assert_eq!(r["status"], "error");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("did not finish before the overall deadline of 1.0s"),
        "{r:#}"
    );
}

#[test]
fn a_malformed_header_flag_never_shows_its_value() {
    let out = Workdir::new()
        .cmd()
        .args([
            "rate-limit-test",
            "http://127.0.0.1:9/",
            "-H",
            "Authorization=Bearer s3cr3t-RL-77",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--header `Authorization…` is not `Name: value`"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-RL-77"), "{err}");
}

#[test]
fn a_fixed_window_that_resets_during_the_burst_is_not_a_leak() {
    let s = Limiter {
        retry_after: Some(1),
        window: Duration::from_secs(1),
        ..Limiter::new(5)
    }
    .serve();
    let (code, report, all) = run(
        &Workdir::new(),
        &[&s.url("/api"), "-n", "40", "--rate", "20/s"],
    );
    assert_eq!(code, Some(0), "{all}");
    let d = &result(&report, ID)["details"];
    assert_eq!(d["observed_limit"], 5, "{d:#}");
    assert_eq!(d["leaks"], 0, "{d:#}");
    // The next window's requests passed, as they should, and are counted.
    assert!(d["successes_after_limit"].as_u64().unwrap() >= 5, "{d:#}");
}

#[test]
fn an_absurdly_slow_rate_sends_one_request_and_ends() {
    let s = Limiter {
        limit: None,
        ..Limiter::new(1)
    }
    .serve();
    let (code, report, all) = run(&Workdir::new(), &[&s.url("/api"), "--rate", "1e-20/s"]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(result(&report, ID)["details"]["requests"], 1);
}

#[test]
fn a_progress_bar_on_a_terminal_and_never_in_ci() {
    let slow = TestServer::start(Router::new().route(
        "/api",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            "ok"
        }),
    ));
    let url = slow.url("/api");
    let args = ["rate-limit-test", url.as_str(), "-n", "15"];
    let w = Workdir::new();
    // A terminal session has a TERM; without one, the bar library treats it as dumb.
    let shown = common::process::run_in_terminal(&w, &args, &[("TERM", "xterm")]);
    assert!(shown.contains("rate-limit 127.0.0.1 ["), "{shown}");
    let in_ci = common::process::run_in_terminal(&w, &args, &[("TERM", "xterm"), ("CI", "true")]);
    assert!(!in_ci.contains("rate-limit 127.0.0.1 ["), "{in_ci}");
    assert!(in_ci.contains("no 429 after 15 requests"), "{in_ci}");
    // Not a terminal (a pipe): no bar either.
    let (_, _, all) = run(&Workdir::new(), &[&url, "-n", "5"]);
    assert!(!all.contains("rate-limit 127.0.0.1 ["), "{all}");
}

/// The runbook keeps its limit in the environment (`LP_RATE_LIMIT_MAX=100`): numbers and
/// switches of a target may come from variables, and are judged as if written.
#[test]
fn numbers_and_switches_come_from_variables() {
    let s = Limiter::new(4).serve();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[rate_limit]\nmax_requests = \"${{RL_CAP}}\"\n\n\
             [[rate_limit.target]]\nname = \"api\"\nurl = \"{}\"\nrequests = \"${{RL_REQUESTS}}\"\n\
             expect_limit = \"${{LP_RATE_LIMIT_MAX}}\"\ntolerance = \"${{RL_TOLERANCE:-0}}\"\n\
             probe_bypass = \"${{RL_PROBE:-false}}\"\n",
            s.url("/api")
        ),
    );
    let out = w
        .cmd()
        .args(["rate-limit-test", "--format", "json"])
        .env("RL_CAP", "50")
        .env("RL_REQUESTS", "8")
        .env("LP_RATE_LIMIT_MAX", "4")
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    let report = json_report(&out);
    assert_eq!(result(&report, "rate-limit.api")["status"], "pass", "{all}");

    // A different limit in the environment is judged as such: expected 6, found 4.
    let s = Limiter::new(4).serve();
    w.write(
        "shipgate.toml",
        &format!(
            "[[rate_limit.target]]\nname = \"api\"\nurl = \"{}\"\nrequests = 8\nexpect_limit = \"${{LP_RATE_LIMIT_MAX}}\"\n",
            s.url("/api")
        ),
    );
    let out = w
        .cmd()
        .args(["rate-limit-test", "--format", "json"])
        .env("LP_RATE_LIMIT_MAX", "6")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = json_report(&out);
    let m = message(&report, "rate-limit.api");
    assert!(m.contains("expected 6"), "{m}");
}
