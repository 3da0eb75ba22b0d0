//! `[[preflight.http]]` and `--http-url` against in-process axum servers; also how the engine
//! runs checks: concurrently, with results in config order.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::{TestServer, Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

fn run(w: &Workdir, vars: &[(&str, &str)], args: &[&str]) -> (Output, Value) {
    let mut cmd = w.cmd();
    cmd.args(["preflight", "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

fn ids(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

async fn slow(secs: u64) -> &'static str {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    "finally"
}

fn server() -> TestServer {
    TestServer::start(
        Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/down",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "maintenance") }),
            )
            .route("/slow1", get(|| slow(1)))
            .route("/slow3", get(|| slow(3)))
            .route(
                "/private",
                get(|headers: HeaderMap| async move {
                    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                        Some("Bearer tok-sentinel-5521") => (StatusCode::OK, "welcome"),
                        _ => (StatusCode::UNAUTHORIZED, "no"),
                    }
                }),
            ),
    )
}

#[test]
fn answer_200_passes() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"api\"\nurl = \"{}\"\n",
            s.url("/ok")
        ),
    );
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "http.api");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains("answered 200"), "{r:#}");
    assert_eq!(r["details"]["status"], 200);
}

#[test]
fn http_url_flag_uses_the_host_as_name() {
    let s = server();
    let (out, report) = run(&Workdir::new(), &[], &["--http-url", &s.url("/ok")]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(ids(&report), ["http.127-0-0-1"]);
    assert_eq!(result(&report, "http.127-0-0-1")["status"], "pass");
}

#[test]
fn answer_503_fails_naming_the_status() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"api\"\nurl = \"{}\"\n",
            s.url("/down")
        ),
    );
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "http.api");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("answered 503, expected 2xx"), "{r:#}");
    assert_eq!(r["details"]["status"], 503);
}

#[test]
fn expect_status_accepts_a_404() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"gone\"\nurl = \"{}\"\nexpect_status = [404]\n\n[[preflight.http]]\nname = \"ok\"\nurl = \"{}\"\nexpect_status = [404]\n",
            s.url("/nothing-here"),
            s.url("/ok")
        ),
    );
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "http.gone")["status"], "pass");
    let r = result(&report, "http.ok");
    assert_eq!(r["status"], "fail", "a 200 is not the expected 404: {r:#}");
    assert!(message(r).contains("answered 200, expected 404"), "{r:#}");
}

#[test]
fn slow_answer_fails_at_the_timeout() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"slow\"\nurl = \"{}\"\ntimeout = \"500ms\"\n",
            s.url("/slow3")
        ),
    );
    let started = Instant::now();
    let (out, report) = run(&w, &[], &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "http.slow");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("did not answer within 500ms"), "{r:#}");
    assert!(
        took < Duration::from_millis(2500),
        "waited {took:?} for a 500ms timeout"
    );
}

#[test]
fn unreachable_fails() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.http]]\nname = \"api\"\nurl = \"http://127.0.0.1:1/health\"\n",
    );
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "http.api");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("GET http://127.0.0.1:1/health failed"),
        "{r:#}"
    );
}

#[test]
fn unset_url_variable_fails_naming_it() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.http]]\nname = \"api\"\nurl = \"${API_URL}\"\n",
    );
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = result(&report, "http.api");
    assert!(message(r).contains("API_URL is not set"), "{r:#}");
}

#[test]
fn authorization_header_reaches_the_server_and_is_never_printed() {
    let s = server();
    let token = "tok-sentinel-5521";
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"private\"\nurl = \"{}\"\nheaders = {{ Authorization = \"Bearer ${{API_TOKEN}}\" }}\n",
            s.url("/private")
        ),
    );
    let (out, report) = run(&w, &[("API_TOKEN", token)], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the server saw the token: {}",
        stdout(&out)
    );
    assert_eq!(result(&report, "http.private")["status"], "pass");
    // Without the token the server refuses: the pass above is the header's doing.
    let (out, report) = run(&w, &[("API_TOKEN", "wrong-token")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(message(result(&report, "http.private")).contains("answered 401"));

    for format in ["json", "human", "markdown", "junit"] {
        let out = w
            .cmd()
            .args(["preflight", "-v", "--format", format])
            .env("API_TOKEN", token)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stdout(&out).contains(token), "{format}:\n{}", stdout(&out));
        assert!(!stderr(&out).contains(token), "{format}:\n{}", stderr(&out));
    }
}

#[test]
fn checks_run_concurrently_and_report_in_config_order() {
    let s = server();
    let w = Workdir::new();
    // Names out of alphabetical order, the fast one in the middle.
    let config = format!(
        "[[preflight.http]]\nname = \"zulu\"\nurl = \"{slow}\"\n\n\
         [[preflight.http]]\nname = \"alpha\"\nurl = \"{slow}\"\n\n\
         [[preflight.http]]\nname = \"mike\"\nurl = \"{ok}\"\n\n\
         [[preflight.http]]\nname = \"bravo\"\nurl = \"{slow}\"\n",
        slow = s.url("/slow1"),
        ok = s.url("/ok"),
    );
    w.write("shipgate.toml", &config);
    let started = Instant::now();
    let (out, report) = run(&w, &[], &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        ids(&report),
        ["http.zulu", "http.alpha", "http.mike", "http.bravo"]
    );
    assert!(
        took >= Duration::from_secs(1),
        "the slow handlers were not waited for ({took:?})"
    );
    assert!(
        took < Duration::from_millis(2500),
        "three 1s checks took {took:?}: they ran one after another"
    );
    for id in ["http.zulu", "http.alpha", "http.bravo"] {
        assert!(
            result(&report, id)["duration_ms"].as_u64().unwrap() >= 900,
            "{id}"
        );
    }
}

#[test]
fn check_order_across_kinds_follows_the_config() {
    let s = server();
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("data")).unwrap();
    w.write(
        "shipgate.toml",
        &format!(
            "[preflight.env]\nrequired = [\"MODE\"]\n\n\
             [[preflight.path]]\nname = \"data\"\npath = \"data\"\nwritable = false\nusage_warn_percent = 100\nusage_fail_percent = 100\n\n\
             [[preflight.http]]\nname = \"api\"\nurl = \"{}\"\n",
            s.url("/slow1")
        ),
    );
    let (out, report) = run(&w, &[("MODE", "production")], &["--writable-dir", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let got = ids(&report);
    // Config checks first (env, path, http in the engine's order), then those from flags.
    assert_eq!(
        &got[..4],
        ["env.MODE", "path.data", "path.data.space", "http.api"],
        "{got:?}"
    );
    // Then the --writable-dir flag's directory: exists, writable, free space.
    assert_eq!(got.len(), 7, "{got:?}");
    assert!(got[4..].iter().all(|id| id.starts_with("path.")), "{got:?}");
}

#[test]
fn overall_timeout_cuts_a_slow_check() {
    let s = server();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"slow\"\nurl = \"{}\"\n",
            s.url("/slow3")
        ),
    );
    let started = Instant::now();
    let (out, report) = run(&w, &[], &["--timeout", "1s"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r = result(&report, "http.slow");
    assert_eq!(r["status"], "error", "{r:#}");
    assert!(message(r).contains("overall deadline of 1.0s"), "{r:#}");
    assert!(
        took < Duration::from_millis(2800),
        "the 1s deadline was ignored ({took:?})"
    );
}

/// A server that answers every connection with `head` and `body`, then either closes the
/// connection (`then_close`) or trickles a byte every 100 ms for up to 10 s.
fn raw_http_server(head: &'static str, body: &'static str, then_close: bool) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Bounded: the test sends one request per check.
        for mut stream in listener.incoming().take(8).flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body.as_bytes());
                if then_close {
                    return;
                }
                for _ in 0..100 {
                    std::thread::sleep(Duration::from_millis(100));
                    if stream.write_all(b"x").is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_status_only_check_fails_when_the_body_never_completes() {
    // 200 and a Content-Length of 1000, then the connection closes after 10 bytes.
    let cut = raw_http_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n",
        "0123456789",
        true,
    );
    // 200 and a Content-Length of 1000, then one byte every 100 ms: never done in 1 s.
    let trickle = raw_http_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n",
        "0123456789",
        false,
    );
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.http]]\nname = \"cut\"\nurl = \"http://127.0.0.1:{cut}/health\"\n\n\
             [[preflight.http]]\nname = \"trickle\"\nurl = \"http://127.0.0.1:{trickle}/health\"\ntimeout = \"1s\"\n"
        ),
    );
    let started = Instant::now();
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let cut = result(&report, "http.cut");
    assert_eq!(cut["status"], "fail", "{cut:#}");
    assert!(
        message(cut).contains("did not complete") && message(cut).contains("after 10 bytes"),
        "{cut:#}"
    );
    let trickle = result(&report, "http.trickle");
    assert_eq!(trickle["status"], "fail", "{trickle:#}");
    assert!(message(trickle).contains("did not complete"), "{trickle:#}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the trickling body was waited for {:?}",
        started.elapsed()
    );
}
