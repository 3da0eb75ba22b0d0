//! `[[notify]]` end to end through the binary: a `verify` run against checks on a loopback
//! server, whose webhook routes record every request and answer as scripted (500s, 429 with
//! `Retry-After`, silence). A notification that fails is a warning and never changes the exit
//! code; nothing secret reaches a payload; `--dry-run` sends nothing.

mod common;

use std::collections::VecDeque;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{TestServer, Workdir, json_report, result, silent_server, stderr};
use serde_json::Value;

/// A request a webhook route received.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: String,
    at: Instant,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the payload is not JSON ({e}): {}", self.body))
    }
}

/// A scripted answer: status and headers, for the next request to any webhook route.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
}

#[derive(Default)]
struct Hooks {
    seen: Vec<Seen>,
    script: VecDeque<Answer>,
}

type Shared = Arc<Mutex<Hooks>>;

struct Server {
    server: TestServer,
    hooks: Shared,
}

impl Server {
    fn start() -> Server {
        let hooks = Shared::default();
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route("/hook/{name}", post(hook))
            .with_state(Arc::clone(&hooks));
        Server {
            server: TestServer::start(router),
            hooks,
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// The next requests are answered with these, in order (then 200 `ok`).
    fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.hooks.lock().unwrap().script.extend(answers);
    }

    fn seen(&self) -> Vec<Seen> {
        self.hooks.lock().unwrap().seen.clone()
    }

    /// `[[verify.http]]` checks: `health` passes; with `failing`, `orders` (written after it)
    /// answers 404 and fails the run.
    fn checks(&self, failing: bool) -> String {
        let mut out = format!(
            "[[verify.http]]\nname = \"health\"\nurl = \"{}\"\n\n",
            self.url("/health")
        );
        if failing {
            out.push_str(&format!(
                "[[verify.http]]\nname = \"orders\"\nurl = \"{}\"\n\n",
                self.url("/missing")
            ));
        }
        out
    }
}

async fn hook(
    State(hooks): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut hooks = hooks.lock().unwrap();
    hooks.seen.push(Seen {
        path: format!("/hook/{name}"),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    match hooks.script.pop_front() {
        None => "ok".into_response(),
        Some(answer) => {
            let mut response =
                (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
            for (name, value) in answer.headers {
                response.headers_mut().insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            response
        }
    }
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: "",
    }
}

/// `shipgate verify --format json` with the config, the webhook URL in `$WEBHOOK_URL` (as a
/// Slack webhook is given), and more variables.
fn verify(
    w: &Workdir,
    config: &str,
    webhook: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Output, Duration) {
    w.write("shipgate.toml", config);
    let mut cmd = w.cmd();
    cmd.args(["verify", "--format", "json"])
        .args(args)
        .env("WEBHOOK_URL", webhook);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

fn block_texts(payload: &Value) -> Vec<String> {
    payload["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter_map(|b| b["text"]["text"].as_str().map(str::to_string))
        .collect()
}

const SLACK: &str = "[[notify]]\nurl = \"${WEBHOOK_URL}\"\n";

#[test]
fn a_failing_verify_sends_one_slack_message_naming_the_failing_check_first() {
    let s = Server::start();
    let w = Workdir::new();
    let hook = s.url("/hook/T0AAA-B0BBB-c0ffee");
    let config = format!("{}{SLACK}", s.checks(true));
    let (out, _) = verify(&w, &config, &hook, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let seen = s.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].path, "/hook/T0AAA-B0BBB-c0ffee");
    assert_eq!(
        seen[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    let payload = seen[0].json();
    let blocks = block_texts(&payload);
    assert!(
        blocks[0].starts_with(":x: *shipgate verify failed*: 1 failed, 1 passed (2 checks)"),
        "{blocks:#?}"
    );
    // The failing check is the first one named, with its message; the passing one is not listed.
    assert!(
        blocks[1].starts_with(":x: *`http.orders`* fail: GET http://127.0.0.1:"),
        "{blocks:#?}"
    );
    assert!(blocks[1].contains("answered 404"), "{blocks:#?}");
    assert!(!payload.to_string().contains("http.health"), "{payload:#}");
    let text = payload["text"].as_str().unwrap();
    assert_eq!(text.lines().nth(1), Some(blocks[1].as_str()));
    // Said on stderr, the webhook's path (its credential) masked everywhere.
    let err = stderr(&out);
    let port = s.server.addr.port();
    assert!(
        err.contains(&format!(
            "notify: `slack` delivered to http://127.0.0.1:{port}/*** (200)"
        )),
        "{err}"
    );
    assert!(!err.contains("c0ffee") && !common::stdout(&out).contains("c0ffee"));
}

#[test]
fn on_fail_sends_nothing_on_a_pass_and_on_pass_does() {
    let s = Server::start();
    let w = Workdir::new();
    let config = format!(
        "{}{SLACK}\n[[notify]]\nname = \"deploys\"\nurl = \"{}\"\non = [\"pass\", \"warn\"]\n\n[[notify]]\nname = \"preflight-only\"\nurl = \"{}\"\non = [\"pass\"]\ncommands = [\"preflight\", \"migrate\"]\n",
        s.checks(false),
        s.url("/hook/deploys"),
        s.url("/hook/preflight-only"),
    );
    let (out, _) = verify(&w, &config, &s.url("/hook/failures"), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = s.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/hook/deploys"]);
    let blocks = block_texts(&seen[0].json());
    assert!(
        blocks[0].starts_with(":white_check_mark: *shipgate verify passed*: 1 passed (1 check)"),
        "{blocks:#?}"
    );
}

#[test]
fn a_500_then_200_is_retried_and_delivered() {
    let s = Server::start();
    let w = Workdir::new();
    s.script([answer(500)]);
    let config = format!("{}{SLACK}", s.checks(true));
    let (out, _) = verify(&w, &config, &s.url("/hook/x"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let seen = s.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the same payload is sent again");
    // The pause before the retry: the backoff's first second.
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(900));
    let err = stderr(&out);
    assert!(
        err.contains("delivered to http://") && err.contains("(200) after 2 attempts"),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_webhook_that_always_fails_is_a_warning_and_never_changes_the_exit_code() {
    let s = Server::start();
    let port = s.server.addr.port();
    let w = Workdir::new();
    let notify = "[[notify]]\nurl = \"${WEBHOOK_URL}\"\non = [\"fail\", \"pass\"]\nretries = 1\n";
    for (failing, code) in [(true, 1), (false, 0)] {
        let before = s.seen().len();
        s.script([answer(503), answer(503)]);
        let config = format!("{}{notify}", s.checks(failing));
        let (out, _) = verify(
            &w,
            &config,
            &s.url("/hook/down"),
            &["--github"],
            &[("RUNNER_TEMP", w.path().to_str().unwrap())],
        );
        // GitHub publishing that fails turns a pass into 3; a notification never does.
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert_eq!(s.seen().len() - before, 2, "one retry");
        let err = stderr(&out);
        let said = format!(
            "the notification `slack` to http://127.0.0.1:{port}/*** failed after 2 attempts: the webhook answered 503 Service Unavailable"
        );
        assert!(err.contains(&format!("warning: {said}")), "{err}");
        // In GitHub Actions, an annotation (on stderr: stdout holds the JSON report).
        assert!(
            err.contains("::warning title=shipgate%3A notification::the notification `slack`"),
            "{err}"
        );
        // The runner is told to hide the webhook URL from the whole log.
        assert!(
            err.contains(&format!("::add-mask::{}", s.url("/hook/down"))),
            "{err}"
        );
        let report = json_report(&out);
        assert_eq!(
            report["summary"]["status"],
            if failing { "fail" } else { "pass" }
        );
    }
    // A 4xx other than 429 is not retried: the same request would be refused again.
    s.script([Answer {
        status: 404,
        headers: Vec::new(),
        body: "no_service",
    }]);
    let before = s.seen().len();
    let config = format!("{}{notify}", s.checks(false));
    let (out, _) = verify(&w, &config, &s.url("/hook/gone"), &[], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s.seen().len() - before, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "the webhook answered 404 Not Found: \"no_service\": the webhook URL is wrong"
        ),
        "{err}"
    );
}

#[test]
fn a_429_retry_after_is_honoured_within_the_bound() {
    let s = Server::start();
    let w = Workdir::new();
    s.script([Answer {
        status: 429,
        headers: vec![("retry-after", "2")],
        body: "rate_limited",
    }]);
    let config = format!("{}{SLACK}", s.checks(true));
    let (out, _) = verify(&w, &config, &s.url("/hook/x"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let seen = s.seen();
    assert_eq!(seen.len(), 2);
    // Two seconds as asked, not the one-second backoff.
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(1900), "{gap:?}");
    assert!(
        stderr(&out).contains("after 2 attempts"),
        "{}",
        stderr(&out)
    );

    // A wait beyond the bound is not waited out: one request, a warning, at once.
    s.script([Answer {
        status: 429,
        headers: vec![("retry-after", "3600")],
        body: "",
    }]);
    let (out, elapsed) = verify(&w, &config, &s.url("/hook/x"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s.seen().len(), 3);
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let err = stderr(&out);
    assert!(
        err.contains("answered 429 Too Many Requests, and asked to wait 3600s, longer than the 30s shipgate waits"),
        "{err}"
    );
}

#[test]
fn no_secret_reaches_a_payload() {
    let s = Server::start();
    let w = Workdir::new();
    const DEPLOY_TOKEN: &str = "dtok-SENTINEL-5150";
    const HOOK_TOKEN: &str = "htok-SENTINEL-8086";
    // The failing check's message holds DEPLOY_TOKEN (in its URL); the webhooks get a header
    // with HOOK_TOKEN.
    let config = format!(
        "{}[[verify.http]]\nname = \"orders\"\nurl = \"{}?ref=${{DEPLOY_TOKEN}}\"\n\n\
         [[notify]]\nurl = \"${{WEBHOOK_URL}}\"\nheaders = {{ Authorization = \"Bearer ${{HOOK_TOKEN}}\" }}\n\n\
         [[notify]]\nurl = \"{}\"\nformat = \"json\"\nheaders = {{ X-Hook-Auth = \"${{HOOK_TOKEN}}\" }}\n",
        s.checks(false),
        s.url("/missing"),
        s.url("/hook/json"),
    );
    let (out, _) = verify(
        &w,
        &config,
        &s.url("/hook/slack"),
        &[],
        &[("DEPLOY_TOKEN", DEPLOY_TOKEN), ("HOOK_TOKEN", HOOK_TOKEN)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The secret was in the check's message: the report shows it masked.
    let report = json_report(&out);
    let message = result(&report, "http.orders")["message"].as_str().unwrap();
    assert!(message.contains("?ref=***"), "{message}");

    let seen = s.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    for request in &seen {
        for secret in [DEPLOY_TOKEN, HOOK_TOKEN] {
            assert!(
                !request.body.contains(secret),
                "{secret} in the payload to {}: {}",
                request.path,
                request.body
            );
        }
        assert!(request.body.contains("?ref=***"), "{}", request.body);
    }
    // The headers themselves carry the credential: that is what they are for.
    let slack = seen.iter().find(|r| r.path == "/hook/slack").unwrap();
    assert_eq!(
        slack.headers.get("authorization").unwrap(),
        &format!("Bearer {HOOK_TOKEN}")
    );
    let json = seen.iter().find(|r| r.path == "/hook/json").unwrap();
    assert_eq!(json.headers.get("x-hook-auth").unwrap(), HOOK_TOKEN);
    let all = format!("{}{}", common::stdout(&out), stderr(&out));
    assert!(
        !all.contains(DEPLOY_TOKEN) && !all.contains(HOOK_TOKEN),
        "{all}"
    );
}

#[test]
fn format_json_posts_the_report() {
    let s = Server::start();
    let w = Workdir::new();
    let config = format!(
        "{}[[notify]]\nurl = \"${{WEBHOOK_URL}}\"\nformat = \"json\"\n",
        s.checks(true)
    );
    let (out, _) = verify(&w, &config, &s.url("/hook/json"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let seen = s.seen();
    assert_eq!(seen.len(), 1);
    let posted = seen[0].json();
    let printed = json_report(&out);
    assert_eq!(posted["schema"], "shipgate.report/v1");
    assert_eq!(posted["command"], "verify");
    assert_eq!(posted["summary"]["failed"], 1);
    assert_eq!(posted["summary"]["passed"], 1);
    assert_eq!(posted["summary"]["status"], "fail");
    // The same report as printed.
    assert_eq!(posted, printed);
}

#[test]
fn dry_run_sends_nothing_and_says_what_and_where() {
    let s = Server::start();
    let port = s.server.addr.port();
    let w = Workdir::new();
    let config = format!(
        "{}[[notify]]\nurl = \"${{WEBHOOK_URL}}\"\non = [\"fail\", \"warn\", \"pass\"]\n\n[[notify]]\nname = \"failures\"\nurl = \"{}\"\nformat = \"json\"\n",
        s.checks(true),
        s.url("/hook/json-secret-path"),
    );
    let (out, _) = verify(
        &w,
        &config,
        &s.url("/hook/slack-secret-path"),
        &["--dry-run"],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(s.seen().len(), 0, "{err}");
    assert!(
        err.contains(
            "notify: dry run: would POST a Slack message «:white_check_mark: *shipgate verify passed*"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "to `slack` at http://127.0.0.1:{port}/***; nothing sent"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "notify: dry run: `failures` would not be sent: the run's status is pass, and it is sent on fail"
        ),
        "{err}"
    );
    assert!(!err.contains("secret-path"), "{err}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_hanging_webhook_is_cut_off_at_its_timeout() {
    let (_listener, port) = silent_server();
    let s = Server::start();
    let w = Workdir::new();
    let config = format!(
        "{}[[notify]]\nurl = \"${{WEBHOOK_URL}}\"\ntimeout = \"1s\"\nretries = 0\n",
        s.checks(true)
    );
    let (out, elapsed) = verify(
        &w,
        &config,
        &format!("http://127.0.0.1:{port}/hook"),
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: the notification `slack` to http://127.0.0.1:{port}/*** failed after 1 attempt: no answer within 1.0s"
        )),
        "{err}"
    );
}

#[test]
fn an_unset_webhook_variable_is_a_warning_when_a_notification_is_due() {
    let s = Server::start();
    let w = Workdir::new();
    w.write("shipgate.toml", &format!("{}{SLACK}", s.checks(true)));
    let out = w.cmd().args(["verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("warning: the notification `slack` was not sent: its url cannot be used (WEBHOOK_URL is not set); set it where shipgate runs"),
        "{err}"
    );
    // Not due (the run passes, `on` is fail): not a word.
    w.write("shipgate.toml", &format!("{}{SLACK}", s.checks(false)));
    let out = w.cmd().args(["verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("notif"), "{}", stderr(&out));
}

#[test]
fn config_mistakes_stop_the_run_at_their_line() {
    let s = Server::start();
    let w = Workdir::new();
    let config = format!(
        "{}[[notify]]\nurl = \"${{WEBHOOK_URL}}\"\nretries = 9\n",
        s.checks(true)
    );
    let (out, _) = verify(&w, &config, &s.url("/hook/x"), &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = config.lines().position(|l| l == "retries = 9").unwrap() + 1;
    assert!(
        err.contains(&format!(
            "shipgate.toml:{line}:11: `notify.retries`: retries = 9: at most 5 retries are made"
        )),
        "{err}"
    );
    assert_eq!(s.seen().len(), 0);
}

#[test]
fn other_commands_notify_too_and_quiet_leaves_out_the_delivered_line() {
    let s = Server::start();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!(
            "[[preflight.path]]\npath = \"reports\"\n\n[[notify]]\nurl = \"{}\"\ncommands = [\"preflight\"]\n",
            s.url("/hook/preflight")
        ),
    );
    let out = w.cmd().args(["preflight", "--quiet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let seen = s.seen();
    assert_eq!(seen.len(), 1);
    let blocks = block_texts(&seen[0].json());
    assert!(
        blocks[0].starts_with(":x: *shipgate preflight failed*"),
        "{blocks:#?}"
    );
    assert!(blocks[1].contains("`path.reports"), "{blocks:#?}");
    assert!(!stderr(&out).contains("notify:"), "{}", stderr(&out));
}
