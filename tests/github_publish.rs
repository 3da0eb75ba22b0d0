//! Publishing to GitHub's API (`--check-run`, `--pr-comment`), end to end through the binary,
//! against a loopback server that keeps GitHub's state (comments across pages, check runs and
//! their annotations) and answers with GitHub's documented bodies, including its failures:
//! 403 without permission, rate limits with `Retry-After`, 5xx. That requests match GitHub's
//! published schema is tested against Prism in tests/github_api.rs.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use common::{TestServer, Workdir, parse_github_output, stderr, stdout};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_SENTINEL_token_0123456789abcdef";
const HEAD_SHA: &str = "1111111111111111111111111111111111111111";
const MERGE_SHA: &str = "2222222222222222222222222222222222222222";
const PR: u64 = 42;

/// A request as the fake saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: &'static str,
    path: String,
    body: Value,
    authorization: Option<String>,
}

/// A canned answer served instead of the normal one, for the next request to a route.
#[derive(Clone)]
struct Fault {
    route: &'static str,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

#[derive(Default)]
struct GitHub {
    comments: Vec<Value>,
    check_runs: Vec<Value>,
    seen: Vec<Seen>,
    faults: VecDeque<Fault>,
    next_id: u64,
}

type Shared = Arc<Mutex<GitHub>>;

fn user() -> Value {
    // GitHub's `simple-user` for the Actions bot.
    json!({"login": "github-actions[bot]", "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
           "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4", "gravatar_id": "",
           "url": "https://api.github.com/users/github-actions%5Bbot%5D",
           "html_url": "https://github.com/apps/github-actions", "type": "Bot", "site_admin": false})
}

impl GitHub {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    /// A comment as GitHub returns it (`issue-comment`).
    fn comment(&mut self, body: &str) -> Value {
        let id = self.id();
        json!({"id": id, "node_id": format!("IC_{id}"),
               "url": format!("https://api.github.com/repos/acme/shop/issues/comments/{id}"),
               "html_url": format!("https://github.com/acme/shop/pull/{PR}#issuecomment-{id}"),
               "body": body, "user": user(), "created_at": "2026-12-01T10:00:00Z",
               "updated_at": "2026-12-01T10:00:00Z",
               "issue_url": format!("https://api.github.com/repos/acme/shop/issues/{PR}"),
               "author_association": "NONE"})
    }

    fn annotations_of(&self, id: u64) -> Vec<Value> {
        let run = self
            .check_runs
            .iter()
            .find(|r| r["id"] == id)
            .expect("check run");
        run["annotations"].as_array().cloned().unwrap_or_default()
    }
}

fn record(state: &Shared, method: &'static str, path: String, headers: &HeaderMap, body: Value) {
    state.lock().unwrap().seen.push(Seen {
        method,
        path,
        body,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
}

/// The fault queued for this route, if it is next.
fn fault(state: &Shared, route: &str) -> Option<Response> {
    let mut s = state.lock().unwrap();
    if s.faults.front().is_some_and(|f| f.route == route) {
        let f = s.faults.pop_front().unwrap();
        let mut response = (
            StatusCode::from_u16(f.status).unwrap(),
            Json(f.body.clone()),
        )
            .into_response();
        for (k, v) in &f.headers {
            response
                .headers_mut()
                .insert(*k, HeaderValue::from_str(v).unwrap());
        }
        return Some(response);
    }
    None
}

fn server(state: Shared) -> TestServer {
    let router = axum::Router::new()
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(
                |State(s): State<Shared>,
                 UrlPath((_, _, number)): UrlPath<(String, String, u64)>,
                 Query(q): Query<std::collections::HashMap<String, String>>,
                 headers: HeaderMap| async move {
                    record(&s, "GET", format!("/issues/{number}/comments?page={}", q.get("page").map_or("1", |p| p)), &headers, Value::Null);
                    if let Some(f) = fault(&s, "list") {
                        return f;
                    }
                    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30).min(100);
                    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
                    let all = s.lock().unwrap().comments.clone();
                    let slice: Vec<Value> = all.iter().skip((page - 1) * per_page).take(per_page).cloned().collect();
                    let mut response = Json(slice).into_response();
                    if page * per_page < all.len() {
                        let link = format!(
                            "<https://api.github.com/repositories/1/issues/{number}/comments?per_page={per_page}&page={}>; rel=\"next\", <https://api.github.com/repositories/1/issues/{number}/comments?per_page={per_page}&page={}>; rel=\"last\"",
                            page + 1,
                            all.len().div_ceil(per_page)
                        );
                        response.headers_mut().insert("link", HeaderValue::from_str(&link).unwrap());
                    }
                    response
                },
            )
            .post(
                |State(s): State<Shared>,
                 UrlPath((_, _, number)): UrlPath<(String, String, u64)>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    record(&s, "POST", format!("/issues/{number}/comments"), &headers, body.clone());
                    if let Some(f) = fault(&s, "comment") {
                        return f;
                    }
                    let mut st = s.lock().unwrap();
                    let c = st.comment(body["body"].as_str().unwrap_or(""));
                    st.comments.push(c.clone());
                    (StatusCode::CREATED, Json(c)).into_response()
                },
            ),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            patch(
                |State(s): State<Shared>,
                 UrlPath((_, _, id)): UrlPath<(String, String, u64)>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    record(&s, "PATCH", format!("/issues/comments/{id}"), &headers, body.clone());
                    if let Some(f) = fault(&s, "comment") {
                        return f;
                    }
                    let mut st = s.lock().unwrap();
                    match st.comments.iter_mut().find(|c| c["id"] == id) {
                        Some(c) => {
                            c["body"] = body["body"].clone();
                            c["updated_at"] = json!("2026-12-02T10:00:00Z");
                            (StatusCode::OK, Json(c.clone())).into_response()
                        }
                        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/issues/comments#update-an-issue-comment", "status": "404"}))).into_response(),
                    }
                },
            ),
        )
        .route(
            "/repos/{owner}/{repo}/check-runs",
            post(
                |State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    record(&s, "POST", "/check-runs".into(), &headers, body.clone());
                    if let Some(f) = fault(&s, "check-run") {
                        return f;
                    }
                    let mut st = s.lock().unwrap();
                    let id = st.id();
                    let annotations = body["output"]["annotations"].clone();
                    let run = json!({"id": id, "head_sha": body["head_sha"], "node_id": format!("CR_{id}"),
                        "name": body["name"], "status": body["status"], "conclusion": body["conclusion"],
                        "html_url": format!("https://github.com/acme/shop/runs/{id}"),
                        "output": {"title": body["output"]["title"], "summary": body["output"]["summary"],
                                   "annotations_count": annotations.as_array().map_or(0, |a| a.len())},
                        "annotations": if annotations.is_null() { json!([]) } else { annotations }});
                    st.check_runs.push(run.clone());
                    (StatusCode::CREATED, Json(run)).into_response()
                },
            ),
        )
        .route(
            "/repos/{owner}/{repo}/check-runs/{id}",
            patch(
                |State(s): State<Shared>,
                 UrlPath((_, _, id)): UrlPath<(String, String, u64)>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    record(&s, "PATCH", format!("/check-runs/{id}"), &headers, body.clone());
                    if let Some(f) = fault(&s, "check-run-update") {
                        return f;
                    }
                    let mut st = s.lock().unwrap();
                    let Some(run) = st.check_runs.iter_mut().find(|r| r["id"] == id) else {
                        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
                    };
                    // "Each time you update the check run, annotations are appended."
                    if let Some(more) = body["output"]["annotations"].as_array() {
                        run["annotations"].as_array_mut().unwrap().extend(more.iter().cloned());
                    }
                    (StatusCode::OK, Json(run.clone())).into_response()
                },
            ),
        )
        .with_state(state);
    TestServer::start(router)
}

struct Fixture {
    w: Workdir,
    state: Shared,
    server: TestServer,
}

impl Fixture {
    fn new(config: &str) -> Fixture {
        let w = Workdir::new();
        w.write("shipgate.toml", config);
        w.write(
            "event.json",
            &json!({"action": "synchronize", "number": PR, "pull_request": {"number": PR,
                "head": {"sha": HEAD_SHA, "repo": {"full_name": "acme/shop", "fork": false}},
                "base": {"repo": {"full_name": "acme/shop"}}}})
            .to_string(),
        );
        let state = Shared::default();
        let server = server(state.clone());
        Fixture { w, state, server }
    }

    fn run(&self, args: &[&str]) -> (Output, Duration) {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
        let mut cmd = self.w.cmd();
        cmd.args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", self.w.path().join("event.json"))
            .env("GITHUB_SHA", MERGE_SHA)
            .env("GITHUB_REF", format!("refs/pull/{PR}/merge"))
            .env("GITHUB_API_URL", self.server.url(""))
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "777")
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_WORKSPACE", self.w.path())
            .env("GITHUB_STEP_SUMMARY", self.w.path().join("summary.md"))
            .env("GITHUB_OUTPUT", self.w.path().join("output.txt"))
            .env("RUNNER_TEMP", self.w.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let out = cmd.output().expect("run shipgate");
        (out, started.elapsed())
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn fail_next(
        &self,
        route: &'static str,
        status: u16,
        headers: &[(&'static str, &str)],
        body: Value,
    ) {
        self.state.lock().unwrap().faults.push_back(Fault {
            route,
            status,
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            body,
        });
    }
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// `count` directories that do not exist: each a failing `path.<name>` at its config line.
fn missing_dirs(count: usize) -> String {
    (0..count)
        .map(|i| format!("[[preflight.path]]\nname = \"gone{i}\"\npath = \"no/such/dir{i}\"\n\n"))
        .collect()
}

// Never warns about a full disk: the verdict must not depend on this machine.
const PASSING: &str = "[[preflight.path]]\nname = \"here\"\npath = \".\"\nusage_warn_percent = 100\nusage_fail_percent = 100\n";

// ---------------------------------------------------------------------------------- check run --

#[test]
fn a_check_run_carries_every_failure_as_an_annotation_in_batches_of_50() {
    let f = Fixture::new(&format!("{PASSING}\n{}", missing_dirs(120)));
    let (out, _) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));

    let seen = f.seen();
    let calls: Vec<(&str, &str)> = seen.iter().map(|s| (s.method, s.path.as_str())).collect();
    let id = f.state.lock().unwrap().check_runs[0]["id"]
        .as_u64()
        .unwrap();
    let update = format!("/check-runs/{id}");
    assert_eq!(
        calls,
        [
            ("POST", "/check-runs"),
            ("PATCH", update.as_str()),
            ("PATCH", update.as_str())
        ],
        "one request per 50 annotations"
    );
    let create = &seen[0].body;
    assert_eq!(create["name"], "shipgate preflight");
    assert_eq!(
        create["head_sha"], HEAD_SHA,
        "the PR head, not the merge commit"
    );
    assert_eq!(create["status"], "completed");
    assert_eq!(create["conclusion"], "failure");
    assert_eq!(
        create["details_url"],
        "https://github.com/acme/shop/actions/runs/777"
    );
    for s in &seen {
        let batch = s.body["output"]["annotations"].as_array().unwrap();
        assert!(batch.len() <= 50, "{}", batch.len());
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    let annotations = f.state.lock().unwrap().annotations_of(id);
    assert_eq!(annotations.len(), 120);
    let first = &annotations[0];
    assert_eq!(
        first["path"], "shipgate.toml",
        "relative to GITHUB_WORKSPACE"
    );
    assert_eq!(first["annotation_level"], "failure");
    assert_eq!(first["start_line"], first["end_line"]);
    assert!(first["message"].as_str().unwrap().starts_with("path.gone"));
    // The config line of each failing entry, so the PR diff shows it there.
    let lines: Vec<u64> = annotations
        .iter()
        .map(|a| a["start_line"].as_u64().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    let summary = create["output"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("### ❌ shipgate preflight"),
        "{summary}"
    );
    // Failures first; the passing row is folded below them (or cut for size, and said so).
    let first_fail = summary.find("| ❌ fail |").unwrap();
    assert!(
        summary.find("| ✅ pass |").is_none_or(|p| p > first_fail),
        "{summary}"
    );
    assert!(summary.len() <= 65_535);
    assert!(
        stderr(&out).contains("github: check run `shipgate preflight` (failure, 120 annotations): https://github.com/acme/shop/runs/"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_passing_run_gets_a_successful_check_run_with_its_chosen_name() {
    let f = Fixture::new(PASSING);
    let (out, _) = f.run(&["preflight", "--check-run=deploy gate"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let seen = f.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body["name"], "deploy gate");
    assert_eq!(seen[0].body["conclusion"], "success");
    assert!(seen[0].body["output"].get("annotations").is_none());
}

#[test]
fn the_config_can_ask_for_the_check_run_and_the_comment() {
    let f = Fixture::new(&format!(
        "[github]\ncheck_run = \"gate\"\npr_comment = \"always\"\n\n{PASSING}"
    ));
    let (out, _) = f.run(&["preflight"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let calls: Vec<&str> = f.seen().iter().map(|s| s.method).collect();
    assert_eq!(calls, ["POST", "GET", "POST"], "check run, list, comment");
    // Outside GitHub Actions the same config publishes nothing and says so.
    let out =
        f.w.cmd()
            .args(["preflight"])
            .output()
            .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stderr(&out).contains("not GitHub Actions): nothing published"),
        "{}",
        both(&out)
    );
    assert_eq!(f.seen().len(), 3);
}

// ------------------------------------------------------------------------------ PR comment --

#[test]
fn the_comment_is_created_once_and_found_again_across_pages() {
    let f = Fixture::new(&missing_dirs(2));
    {
        // 150 comments by people first: ours lands on page 2.
        let mut st = f.state.lock().unwrap();
        for i in 0..150 {
            let c = st.comment(&format!("LGTM {i}"));
            st.comments.push(c);
        }
    }
    let (out, _) = f.run(&["preflight", "--pr-comment", "always"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let (out, _) = f.run(&["preflight", "--pr-comment", "always"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));

    let st = f.state.lock().unwrap();
    assert_eq!(
        st.comments.len(),
        151,
        "one comment, edited on the second run"
    );
    let ours = st.comments.last().unwrap();
    let body = ours["body"].as_str().unwrap();
    assert!(body.starts_with("### ❌ shipgate preflight"), "{body}");
    assert!(
        body.trim_end()
            .ends_with("<!-- shipgate:v1 command=preflight config=shipgate.toml -->")
    );
    assert!(body.contains("[workflow run](https://github.com/acme/shop/actions/runs/777)"));
    let calls: Vec<(&str, String)> = st.seen.iter().map(|s| (s.method, s.path.clone())).collect();
    assert_eq!(
        calls,
        [
            ("GET", format!("/issues/{PR}/comments?page=1")),
            ("GET", format!("/issues/{PR}/comments?page=2")),
            ("POST", format!("/issues/{PR}/comments")),
            ("GET", format!("/issues/{PR}/comments?page=1")),
            ("GET", format!("/issues/{PR}/comments?page=2")),
            ("PATCH", format!("/issues/comments/{}", ours["id"])),
        ]
    );
    drop(st);
    assert!(
        stderr(&out).contains(&format!(
            "github: updated the shipgate comment on pull request #{PR}"
        )),
        "{}",
        both(&out)
    );
}

#[test]
fn on_failure_comments_only_on_failure_and_then_says_it_passes_now() {
    let f = Fixture::new(PASSING);
    let (out, _) = f.run(&["preflight", "--pr-comment", "on-failure"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(f.state.lock().unwrap().comments.is_empty());
    assert!(
        stderr(&out).contains("no PR comment: the run passed"),
        "{}",
        both(&out)
    );

    f.w.write("shipgate.toml", &missing_dirs(1));
    let (out, _) = f.run(&["preflight", "--pr-comment", "on-failure"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert_eq!(f.state.lock().unwrap().comments.len(), 1);

    f.w.write("shipgate.toml", PASSING);
    let (out, _) = f.run(&["preflight", "--pr-comment", "on-failure"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let st = f.state.lock().unwrap();
    assert_eq!(st.comments.len(), 1);
    assert!(
        st.comments[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("### ✅ shipgate preflight")
    );
}

#[test]
fn another_config_gets_its_own_comment() {
    let f = Fixture::new(PASSING);
    f.w.write("other.toml", PASSING);
    f.run(&["preflight", "--pr-comment", "always"]);
    f.run(&[
        "preflight",
        "--pr-comment",
        "always",
        "--config",
        "other.toml",
    ]);
    f.run(&["preflight", "--pr-comment", "always"]);
    // The same file named another way is the same config.
    let absolute = f.w.path().join("other.toml").display().to_string();
    f.run(&[
        "preflight",
        "--pr-comment",
        "always",
        "--config",
        "./other.toml",
    ]);
    f.run(&["preflight", "--pr-comment", "always", "--config", &absolute]);
    let st = f.state.lock().unwrap();
    assert_eq!(st.comments.len(), 2);
    assert!(
        st.comments[1]["body"]
            .as_str()
            .unwrap()
            .contains("config=other.toml -->")
    );
}

#[test]
fn a_push_event_gets_no_comment_but_a_check_run_on_its_commit() {
    let f = Fixture::new(PASSING);
    f.w.write("event.json", r#"{"ref": "refs/heads/main"}"#);
    let (out, _) = f.run_with(
        &["preflight", "--pr-comment", "always", "--check-run"],
        &[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let seen = f.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body["head_sha"], MERGE_SHA);
    assert!(
        stderr(&out).contains("no PR comment: the `push` event is not about a pull request"),
        "{}",
        both(&out)
    );
}

// ---------------------------------------------------------------------------- API failures --

const NOT_ACCESSIBLE: &str = "Resource not accessible by integration";

fn forbidden() -> Value {
    json!({"message": NOT_ACCESSIBLE, "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run", "status": "403"})
}

#[test]
fn a_missing_permission_is_a_warning_naming_it_and_exit_3_only_when_the_checks_passed() {
    let f = Fixture::new(PASSING);
    f.fail_next(
        "check-run",
        403,
        &[("x-ratelimit-remaining", "4999")],
        forbidden(),
    );
    let (out, _) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("warning: the check run `shipgate preflight` was not created: GitHub answered 403: {NOT_ACCESSIBLE}; the token lacks `checks: write`: add `permissions: checks: write` to the job")),
        "{}",
        both(&out)
    );
    // Annotated on the step too, and the report was still written in full.
    assert!(
        format!("{}{err}", stdout(&out))
            .contains("::warning title=shipgate%3A GitHub API::the check run"),
        "{}",
        both(&out)
    );
    assert!(stdout(&out).contains("path.here"));
    let outputs = parse_github_output(&f.w.read("output.txt")).0;
    assert_eq!(outputs["status"], "pass");
    assert!(f.w.read("summary.md").contains("shipgate preflight"));

    // A failing run keeps exit 1: the verdict is the checks'.
    f.w.write("shipgate.toml", &missing_dirs(1));
    f.fail_next("list", 403, &[], forbidden());
    let (out, _) = f.run(&["preflight", "--pr-comment", "always"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("`pull-requests: write`"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_fork_pull_request_is_explained() {
    let f = Fixture::new(PASSING);
    f.w.write(
        "event.json",
        &json!({"number": PR, "pull_request": {"number": PR,
            "head": {"sha": HEAD_SHA, "repo": {"full_name": "mallory/shop", "fork": true}},
            "base": {"repo": {"full_name": "acme/shop"}}}})
        .to_string(),
    );
    f.fail_next("list", 403, &[], forbidden());
    let (out, _) = f.run(&["preflight", "--pr-comment", "always"]);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert!(
        stderr(&out).contains("comes from a fork, whose GITHUB_TOKEN is read-only"),
        "{}",
        both(&out)
    );
}

#[test]
fn rate_limits_are_waited_out_when_github_says_how_long() {
    let f = Fixture::new(PASSING);
    f.fail_next(
        "check-run",
        429,
        &[("retry-after", "2")],
        json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
    );
    let (out, took) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        took >= Duration::from_secs(2),
        "Retry-After honoured: {took:?}"
    );
    assert_eq!(f.state.lock().unwrap().check_runs.len(), 1);

    // A reset an hour away is not waited for: said at once, exit 3.
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    f.fail_next(
        "check-run",
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
        json!({"message": "API rate limit exceeded for installation ID 1."}),
    );
    let (out, took) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        stderr(&out).contains("rate limited by GitHub: API rate limit exceeded"),
        "{}",
        both(&out)
    );
}

#[test]
fn server_errors_are_retried_a_bounded_number_of_times() {
    let f = Fixture::new(PASSING);
    let unicorn = json!({"message": "Server Error"});
    f.fail_next("check-run", 502, &[], unicorn.clone());
    f.fail_next("check-run", 500, &[], unicorn.clone());
    let (out, _) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(f.state.lock().unwrap().check_runs.len(), 1);
    assert_eq!(f.seen().len(), 3);

    for _ in 0..4 {
        f.fail_next("check-run", 503, &[], unicorn.clone());
    }
    let (out, took) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert_eq!(f.seen().len(), 7, "4 more tries, then it gives up");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        stderr(&out).contains("GitHub answered 503 (a server error) 4 times in a row"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_half_sent_check_run_says_how_many_annotations_it_holds() {
    let f = Fixture::new(&missing_dirs(60));
    f.fail_next("check-run-update", 422, &[], json!({"message": "Validation Failed", "errors": [{"resource": "CheckRun", "code": "invalid", "field": "annotations"}]}));
    let (out, _) = f.run(&["preflight", "--check-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("the check run `shipgate preflight` holds only 50 of its 60 annotations: GitHub refused the request (422): Validation Failed"),
        "{}",
        both(&out)
    );
}

// ------------------------------------------------------------------ secrets, dry run, input --

#[test]
fn the_token_never_shows_anywhere() {
    const KEY: &str = "deploy-key-SENTINEL-777";
    let f = Fixture::new(&format!(
        "{}[[preflight.path]]\nname = \"keyed\"\npath = \"vault/${{DEPLOY_KEY}}\"\n",
        missing_dirs(2)
    ));
    f.fail_next("check-run", 403, &[], forbidden());
    let (out, _) = f.run_with(
        &["preflight", "--check-run", "--pr-comment", "always", "-v"],
        &[("DEPLOY_KEY", KEY)],
    );
    // The one line that may hold it tells the runner to mask it.
    let mut everything: String = format!("{}{}", stdout(&out), stderr(&out))
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    for file in ["summary.md", "output.txt"] {
        everything.push_str(&f.w.read(file));
    }
    for s in f.seen() {
        everything.push_str(&s.body.to_string());
    }
    let report = parse_github_output(&f.w.read("output.txt")).0["report"].clone();
    everything.push_str(&std::fs::read_to_string(report).unwrap());
    assert!(
        !everything.contains(TOKEN) && !everything.contains(KEY),
        "a secret leaked:\n{everything}"
    );
    // The check whose path holds the key ran and is in the comment, masked.
    let comment = f
        .seen()
        .into_iter()
        .find(|s| s.method == "POST" && s.path.contains("/comments"))
        .unwrap()
        .body;
    assert!(
        comment["body"].as_str().unwrap().contains("vault/***"),
        "{comment}"
    );
    // It is masked in the log by the runner, too.
    assert!(format!("{}{}", stdout(&out), stderr(&out)).contains(&format!("::add-mask::{TOKEN}")));
}

#[test]
fn a_dry_run_sends_nothing_to_github() {
    let f = Fixture::new(&missing_dirs(3));
    let (out, _) = f.run(&[
        "preflight",
        "--dry-run",
        "--check-run",
        "--pr-comment",
        "always",
    ]);
    assert!(f.seen().is_empty(), "{:?}", f.seen());
    let err = stderr(&out);
    assert!(err.contains(&format!("dry run: would create the check run `shipgate preflight` on {HEAD_SHA} with 3 annotations")), "{}", both(&out));
    assert!(
        err.contains(&format!(
            "dry run: would post or update the shipgate comment on pull request #{PR}"
        )),
        "{}",
        both(&out)
    );
}

#[test]
fn the_flags_outside_github_actions_are_refused_before_anything_runs() {
    let w = Workdir::new();
    let mark = w.path().join("created");
    let out = w
        .cmd()
        .args(["preflight", "--check-run", "--create-dir"])
        .arg(&mark)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stderr(&out).contains("GITHUB_REPOSITORY is not set: this is not a GitHub Actions run"),
        "{}",
        both(&out)
    );
    assert!(!Path::new(&mark).exists(), "a check ran");
}
