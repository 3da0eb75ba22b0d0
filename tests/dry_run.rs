//! `--dry-run` on preflight and verify sends nothing, connects nowhere and runs no program: it
//! says what each check would do. One TCP listener stands in for every server a check could
//! reach (HTTP, metrics, TLS, PostgreSQL, Redis) and counts the connections it accepts.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Workdir, json_report, result, stdout};

const TOKEN: &str = "DRYRUN-TOKEN-5b1e9";

/// A loopback listener that counts accepted connections and answers none of them.
struct CountingListener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl CountingListener {
    fn start() -> CountingListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: a dry run should bring none; 64 is far past any test here.
            for stream in listener.incoming().take(64).flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        CountingListener { port, accepted }
    }

    fn accepted(&self) -> usize {
        // Connections still in flight would land within this pause.
        std::thread::sleep(Duration::from_millis(200));
        self.accepted.load(Ordering::SeqCst)
    }
}

fn config(port: u16, marker: &str) -> String {
    format!(
        r#"
[verify]
check_timeout = "2s"

[[verify.http]]
name = "chat"
url = "http://127.0.0.1:{port}/api/llm/chat"
method = "POST"
headers = {{ Authorization = "Bearer ${{API_TOKEN}}", X-Team = "ops" }}
json = {{ prompt = "hello" }}
expect_status = [200]

[[verify.http]]
name = "health"
url = "http://127.0.0.1:{port}/health"
retry = {{ timeout = "5s", interval = "1s" }}

[[verify.metrics]]
name = "app"
url = "http://127.0.0.1:{port}/metrics"
expect = ["up == 1"]

[[verify.tls]]
name = "api"
host = "127.0.0.1"
port = {port}

[[verify.database]]
name = "main"
url = "postgres://app:pw-{TOKEN}@127.0.0.1:{port}/app"
tables = ["users"]

[[verify.sql]]
name = "probe"
url = "postgres://app@127.0.0.1:{port}/app"
query = "INSERT INTO users (email) VALUES ('a@example.com')"
expect_error = "23505"

[[verify.redis]]
name = "cache"
url = "redis://127.0.0.1:{port}"

[[verify.tool]]
name = "touch"
command = "touch {marker}"
"#
    )
}

#[test]
fn verify_dry_run_contacts_nothing_and_says_what_it_would_do() {
    let w = Workdir::new();
    let server = CountingListener::start();
    let marker = w.path().join("tool-ran");
    w.write(
        "shipgate.toml",
        &config(server.port, &marker.display().to_string()),
    );
    let out = w
        .cmd()
        .env("API_TOKEN", TOKEN)
        .args(["verify", "--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(server.accepted(), 0, "a dry run connected to the server");
    assert!(!marker.exists(), "a dry run ran the tool's command");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
    let all = stdout(&out);
    assert!(!all.contains(TOKEN), "the token leaked: {all}");
    let report = json_report(&out);

    let chat = result(&report, "http.chat");
    assert_eq!(chat["status"], "skip");
    let message = chat["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "dry run: would send POST http://127.0.0.1:{}/api/llm/chat",
            server.port
        )),
        "{message}"
    );
    assert!(message.contains("Authorization: ***"), "{message}");
    // A header no rule names secret may still carry a credential: masked too.
    assert!(message.contains("X-Team: ***"), "{message}");
    assert!(!message.contains("ops"), "{message}");
    assert!(
        message.contains("Content-Type: application/json"),
        "{message}"
    );
    assert!(message.contains("JSON body"), "{message}");
    assert_eq!(chat["details"]["method"], "POST");

    for id in [
        "http.health",
        "metrics.app",
        "tls.api",
        "database.main",
        "sql.probe",
        "redis.cache",
        "tool.touch",
    ] {
        let r = result(&report, id);
        assert_eq!(r["status"], "skip", "{id}: {r}");
        let m = r["message"].as_str().unwrap();
        assert!(m.starts_with("dry run: would "), "{id}: {m}");
    }
    assert!(
        result(&report, "tool.touch")["message"]
            .as_str()
            .unwrap()
            .contains("run `touch "),
    );
    let db = result(&report, "database.main")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(db.contains("postgres://app:***@127.0.0.1"), "{db}");
    // The aspects after the connection say why they did not run.
    assert_eq!(result(&report, "database.main.tables")["status"], "skip");
}

#[test]
fn preflight_dry_run_contacts_nothing_and_still_checks_local_state() {
    let w = Workdir::new();
    let server = CountingListener::start();
    w.write(
        "shipgate.toml",
        &format!(
            r#"
[preflight.env]
required = ["API_TOKEN", "MISSING_VAR"]

[[preflight.http]]
name = "upstream"
url = "http://127.0.0.1:{port}/"

[[preflight.redis]]
name = "cache"
url = "redis://:{TOKEN}@127.0.0.1:{port}"
"#,
            port = server.port
        ),
    );
    let out = w
        .cmd()
        .env("API_TOKEN", TOKEN)
        .args(["preflight", "--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(server.accepted(), 0, "a dry run connected to the server");
    let all = stdout(&out);
    assert!(!all.contains(TOKEN), "the password leaked: {all}");
    let report = json_report(&out);
    // Reading the environment changes nothing: a missing variable still fails the dry run.
    assert_eq!(result(&report, "env.MISSING_VAR")["status"], "fail");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "http.upstream")["status"], "skip");
    assert_eq!(result(&report, "redis.cache")["status"], "skip");
}

#[test]
fn one_line_verify_flags_send_nothing_under_dry_run() {
    let w = Workdir::new();
    let server = CountingListener::start();
    let url = format!("http://127.0.0.1:{}/health", server.port);
    let out = w
        .cmd()
        .args([
            "verify",
            "--dry-run",
            "--http",
            &url,
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
        ])
        .output()
        .unwrap();
    assert_eq!(server.accepted(), 0);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("would send GET"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}
