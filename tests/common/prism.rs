//! Prism (`@stoplight/prism-cli` 5.16.0) mocking GitHub's REST API from GitHub's own OpenAPI
//! description (`@octokit/openapi` 23.0.2, `generated/api.github.com.json`), both pinned in
//! tests/github-node (scripts/test runs `npm ci` there). GitHub cannot be reached from the test
//! machines; Prism checks our requests against what GitHub documents.
//!
//! How Prism 5.16.0 answers with `--errors` (measured with curl; tests/github_api.rs pins the
//! facts the GitHub tests rely on):
//!
//! - Requests are validated with or without `--errors` (an invalid one gets 422 either way);
//!   `--errors` makes Prism check its *answers* too: an example that breaks its own schema would
//!   come back as a 500 `VIOLATIONS` problem instead of reaching our parser as if GitHub sent it.
//! - Answers are the description's first example, whatever was sent: a created or updated check
//!   run is always `{"id": 4, "head_sha": "ce587453…", "name": "mighty_readme", …}` (201 for
//!   `POST /repos/{o}/{r}/check-runs`, 200 for `PATCH …/check-runs/{id}`); a comment is always
//!   `{"id": 1, "body": "Me too", "user": {"login": "octocat", …}, …}` (201 for
//!   `POST …/issues/{n}/comments`, 200 for `PATCH …/issues/comments/{id}`), and
//!   `GET …/issues/{n}/comments` is a one-element array of that comment with
//!   `Link: <https://api.github.com/resource?page=2>; rel="next", <…?page=5>; rel="last"`.
//!   Following that `next` link leaves loopback: paginate against Prism by page number only.
//! - A request body that breaks the schema gets 422. Where the operation documents no 422
//!   (check runs) Prism writes its own `application/problem+json`:
//!   `{"type": "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY", "status": 422,
//!   "validation": [{"location": ["body", "output", "annotations", "0", "annotation_level"],
//!   "code": "enum", "message": "…", "severity": "Error"}]}`. Where it does (issue comments)
//!   the body is the description's 422 example (`{"message": "string", …}`) and the violations
//!   are in an `sl-violations` header (locations start with `"request"`). [`Reply::violations`]
//!   reads both.
//! - Enforced on check runs: `name` and `head_sha` required; the `status`, `conclusion` and
//!   `annotation_level` enums (`notice`, `warning`, `failure`; not `error`); integer lines;
//!   at most 50 annotations (`maxItems`); `summary` at most 65535 characters (`maxLength`);
//!   `output` needs `title` and `summary`. Not enforced: the form of `head_sha` (any string),
//!   `conclusion` when `status` is `completed`, unknown properties.
//! - Path and query parameters are type-checked (`check_run_id`, `issue_number`, `per_page`
//!   must be integers, `since` a date-time: 422), not range-checked: `per_page=101` passes (the
//!   description states the maximum of 100 only in prose).
//! - A method the path does not document is refused with 405 (`NO_METHOD_MATCHED_ERROR`):
//!   `POST /repos/{o}/{r}/issues/comments/{id}`, which octocrab's `update_comment` sends and
//!   GitHub still accepts, is refused; GitHub documents PATCH. An unknown path gets 404
//!   (`NO_PATH_MATCHED_ERROR`).
//! - Headers: the description declares no security scheme, so `Authorization` is never checked
//!   (none, or garbage, passes); `X-GitHub-Api-Version` and `User-Agent` are not checked either.
//!   `Accept` is negotiated against the documented media type, `application/json`: none, `*/*`
//!   and `application/json` pass, GitHub's recommended `application/vnd.github+json` alone gets
//!   406 (`NOT_ACCEPTABLE`). A body must be sent as `Content-Type: application/json` (other
//!   types: 422).
//! - A body that is not JSON at all (with `Content-Type: application/json`) gets no answer: the
//!   connection stays open (Prism's server waits for the request's `end` event, which already
//!   happened), hence the request timeout in [`Prism::send_with`].
//! - `Prefer: code=404` (or `example=…`) picks another documented response.
//!
//! Start-up takes 6.5–7 s on 2 idle cores, 11–15 s on busy ones (loading the description:
//! `api.github.com.json` and `api.github.com.deref.json` take the same time within the noise
//! and answer the same; the former needs half the memory, ~290 MB instead of ~520 MB). So a
//! test binary shares one Prism ([`Prism::shared`]); Prism keeps no state between requests,
//! so sharing is safe.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use serde_json::Value;

/// How long Prism may take to come up (7–15 s here; CI machines may be slower and busier).
const READY_WITHIN: Duration = Duration::from_secs(90);
/// Prism ends by itself after this long even if nothing else ends it: the whole
/// tests/github_api.rs binary runs well within it.
const LIFETIME_SECS: &str = "600";
/// A request Prism never answers (a body that is not JSON) must fail its test, not hang it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const LISTENING: &str = "Prism is listening on http://127.0.0.1:";

pub struct Prism {
    url: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// Keeps the thread that spawned Prism alive while this value lives; see `spawn`.
    _parent_alive: mpsc::Sender<()>,
}

impl Prism {
    /// The Prism of this test binary, started by the first test that asks. It is never dropped:
    /// it ends with the test process (parent-death signal) or after `LIFETIME_SECS`.
    pub fn shared() -> &'static Prism {
        static SHARED: OnceLock<Result<Prism, String>> = OnceLock::new();
        // A failed start is kept too: every test then fails with its reason at once instead of
        // waiting for its own start to fail.
        match SHARED.get_or_init(Prism::try_start) {
            Ok(prism) => prism,
            Err(reason) => panic!("{reason}"),
        }
    }

    /// A Prism of its own, killed on drop.
    pub fn start() -> Prism {
        Prism::try_start().unwrap_or_else(|reason| panic!("{reason}"))
    }

    fn try_start() -> Result<Prism, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/github-node");
        let modules = root.join("node_modules");
        let prism = modules.join(".bin/prism");
        let description = modules.join("@octokit/openapi/generated/api.github.com.json");
        if !prism.is_file() || !description.is_file() {
            return Err(format!(
                "{} is missing Prism or GitHub's OpenAPI description: run scripts/test once (it \
                 runs npm ci in tests/github-node)",
                modules.display()
            ));
        }
        let node = which::which("node")
            .or_else(|_| which::which("nodejs"))
            .map_err(|_| "node is not installed: run scripts/test, or apt-get install nodejs")?;
        // Under target/tmp rather than /tmp: the shared Prism is never dropped, so its
        // directory outlives the run (`cargo clean` removes it).
        let dir = tempfile::Builder::new()
            .prefix("prism-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .map_err(|e| format!("temporary directory: {e}"))?;
        let log = dir.path().join("prism.log");
        let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;

        let mut command = Command::new("timeout");
        // KILL 5 s after the TERM, should Prism ignore it.
        command
            .args(["-k", "5", LIFETIME_SECS])
            .arg(node)
            .arg(&prism);
        // Port 0: Prism takes a free port and names it in its log, so no other process can take
        // the port between our choosing it and Prism binding it.
        command.args(["mock", "--errors", "--host", "127.0.0.1", "--port", "0"]);
        command
            .arg(&description)
            .current_dir(&root)
            // The port is read from the log: no colour codes in it.
            .env("NO_COLOR", "1")
            .env_remove("FORCE_COLOR")
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(|e| format!("{}: {e}", log.display()))?,
            )
            .stderr(log_file)
            // Its own process group, so that `timeout` and node are ended together.
            .process_group(0);
        let (child, parent_alive) = spawn(command)?;
        let mut prism = Prism {
            url: String::new(),
            child,
            log,
            _dir: dir,
            _parent_alive: parent_alive,
        };
        // On an error the half-started Prism is dropped, which kills it.
        prism.url = prism.wait_until_ready()?;
        Ok(prism)
    }

    /// The base URL, e.g. `http://127.0.0.1:43817` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything Prism logged so far: each request with what its validator found. With a
    /// shared Prism, other tests' requests are in it too.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_until_ready(&mut self) -> Result<String, String> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "Prism exited ({status}) before it was ready; the end of {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                ));
            }
            if let Some(port) = listening_port(&self.log()) {
                // Make sure it answers as Prism does: a 404 problem for a path GitHub lacks.
                if let Some(answer) = http_get(port, "/__shipgate_ready")
                    && answer.starts_with("HTTP/1.1 404")
                    && answer.contains("stoplight.io/prism/errors#NO_PATH_MATCHED_ERROR")
                {
                    return Ok(format!("http://127.0.0.1:{port}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Prism did not come up within {READY_WITHIN:?}; the end of {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `method path` with a JSON body and the headers a GitHub client sends: a token, the API
    /// version, a user agent; no `Accept` of GitHub's own (Prism refuses it, see the module
    /// docs).
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.send_with(
            method,
            path,
            body,
            &[
                ("authorization", "Bearer ghs_test"),
                ("x-github-api-version", "2022-11-28"),
                ("user-agent", "shipgate-test"),
            ],
        )
    }

    /// `method path` with exactly these headers (besides reqwest's `Accept: */*`, which an
    /// `accept` here replaces, and `Content-Type: application/json` with a body).
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let url = format!("{}{path}", self.url);
        // reqwest is built without a TLS provider of its own and will not build a client
        // without one, even for plain HTTP; shipgate installs ring the same way.
        let _ = rustls::crypto::ring::default_provider().install_default();
        super::process::block(async {
            let client = reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("HTTP client");
            let mut request = client.request(method.clone(), &url);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap_or_else(|e| {
                panic!(
                    "{method} {url}: {e}; the end of Prism's log:\n{}",
                    self.log_tail()
                )
            });
            Reply {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                body: response.text().await.expect("response body"),
            }
        })
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let group = Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Spawns `command` so that it gets SIGTERM when the test process ends, even if no destructor
/// runs (a shared Prism lives in a static, which is never dropped; the process may be killed).
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process, and
/// each test runs on a thread of its own that ends with the test. So a dedicated thread forks
/// and then waits until the returned sender is dropped (with the Prism) or the process ends.
/// `timeout`, which gets the signal, passes it on to Prism.
fn spawn(mut command: Command) -> Result<(Child, mpsc::Sender<()>), String> {
    let test_process = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec, where another thread may have held the
    // allocator's lock: it makes two system calls and builds its errors without allocating.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::TERM))?;
            // Had the test process died before the line above, no signal would ever come.
            if rustix::process::getppid() != Some(test_process) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
    let (spawned_tx, spawned) = mpsc::channel();
    let (alive, parent_ends) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("prism-parent".into())
        .spawn(move || {
            let _ = spawned_tx.send(command.spawn());
            let _ = parent_ends.recv();
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let child = spawned
        .recv()
        .expect("the spawning thread answers")
        .map_err(|e| format!("cannot run timeout (coreutils) with node and Prism: {e}"))?;
    Ok((child, alive))
}

fn listening_port(log: &str) -> Option<u16> {
    let rest = &log[log.find(LISTENING)? + LISTENING.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|&port| port != 0)
}

/// A plain HTTP/1.0 GET (readiness only), bounded by timeouts.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// One answer from Prism.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// What Prism's validator found wrong with the request: the `validation` list of its own
    /// 422 problem, or the `sl-violations` header it adds when it answers with the
    /// description's example instead. Empty if it found nothing.
    pub fn violations(&self) -> Vec<Value> {
        if let Some(header) = self.header("sl-violations") {
            let list: Value = serde_json::from_str(header).expect("sl-violations is JSON");
            return list.as_array().cloned().unwrap_or_default();
        }
        let problem = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/problem+json"));
        if problem {
            return self.json()["validation"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        Vec::new()
    }

    /// The `code` of each violation (`enum`, `required`, `maxItems`, `type`, …).
    pub fn violation_codes(&self) -> Vec<String> {
        self.violations()
            .iter()
            .map(|v| v["code"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let violations = self.violations();
        write!(f, "{} {}", self.status, self.body)?;
        if !violations.is_empty() {
            write!(f, " (violations: {})", Value::Array(violations))?;
        }
        Ok(())
    }
}
