//! Shared test support: the binary under test, the real servers' URLs, throwaway databases,
//! and HTTP servers on loopback.
#![allow(dead_code)]

pub mod express;
pub mod freeze;
pub mod prism;
pub mod process;
pub mod prometheus;
pub mod tls;

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use sqlx::Connection;

pub fn postgres_url() -> String {
    std::env::var("SHIPGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mysql_url() -> String {
    std::env::var("SHIPGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

pub fn redis_url() -> String {
    std::env::var("SHIPGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The shipgate binary, run in `dir`, with a clean environment: no GitHub variables leak in
/// from a CI runner, no NO_COLOR, no .env from the repo.
pub fn shipgate(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("shipgate").expect("binary built");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.timeout(Duration::from_secs(120));
    cmd
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code (a signal-killed run has none: that fails the test).
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

/// Both streams, for an assertion's message.
pub fn both(output: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output))
}

/// Parses a JSON report from stdout and returns the result with `id`.
pub fn result<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .expect("results array")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {report:#}"))
}

/// The versions a migrate report lists in its one `migrate.applied` row (applied before the
/// run, untouched by it); empty when it has none.
pub fn applied_versions(report: &serde_json::Value) -> Vec<String> {
    let Some(row) = report["results"]
        .as_array()
        .expect("results array")
        .iter()
        .find(|r| r["id"] == "migrate.applied")
    else {
        return Vec::new();
    };
    let listed = row["details"]["applied"].as_array().expect("applied list");
    assert_eq!(row["details"]["count"].as_u64(), Some(listed.len() as u64));
    listed
        .iter()
        .map(|v| {
            let text = v.as_str().expect("a string");
            text.split(" at ").next().unwrap_or(text).to_string()
        })
        .collect()
}

pub fn json_report(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(output),
            stderr(output)
        )
    })
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn with_database(url: &str, db: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("test URL parses");
    parsed.set_path(&format!("/{db}"));
    parsed.to_string()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A database made for one test on the real server, dropped when the test ends.
pub struct TestDb {
    admin_url: String,
    name: String,
    pub url: String,
    postgres: bool,
}

impl TestDb {
    pub fn postgres() -> TestDb {
        Self::create(&postgres_url(), true)
    }

    pub fn mysql() -> TestDb {
        Self::create(&mysql_url(), false)
    }

    fn create(admin_url: &str, postgres: bool) -> TestDb {
        let name = unique_name("shipgate_test");
        let db = TestDb {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
            postgres,
        };
        db.admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn admin(&self, sql: &str) {
        runtime().block_on(async {
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&self.admin_url)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot reach the test server at {}: {e} (run scripts/test)",
                        self.admin_url
                    )
                });
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }

    /// Runs SQL inside the test database.
    pub fn execute(&self, sql: &str) {
        runtime().block_on(async {
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&self.url)
                .await
                .expect("connect to test db");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = if self.postgres {
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
        } else {
            format!("DROP DATABASE IF EXISTS {}", self.name)
        };
        self.admin(&sql);
    }
}

/// An HTTP server on 127.0.0.1 running an axum router on its own thread for the test's life.
pub struct TestServer {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    pub fn start(router: axum::Router) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        runtime.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestServer {
            addr,
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A temporary working directory with helpers to write files into it.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn cmd(&self) -> Command {
        shipgate(self.path())
    }
}

/// A TCP server that accepts connections and never says a word, for the test's life.
pub fn silent_server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clone = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: the test process ends long before 64 connections.
        for stream in clone.incoming().take(64).flatten() {
            held.push(stream);
        }
        let mut buf = [0u8; 1];
        for mut s in held {
            let _ = s.read(&mut buf);
        }
    });
    (listener, port)
}

/// Parses `$GITHUB_OUTPUT` as the runner does (`name=value` or `name<<DELIM` … `DELIM`).
/// Whichever of `=` and `<<` comes first decides the form. Returns the values and the
/// delimiters used.
pub fn parse_github_output(text: &str) -> (HashMap<String, String>, Vec<String>) {
    let mut values = HashMap::new();
    let mut delimiters = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.is_empty() {
            continue;
        }
        let heredoc = match (line.find('='), line.find("<<")) {
            (Some(eq), Some(here)) => here < eq,
            (None, Some(_)) => true,
            _ => false,
        };
        if heredoc {
            let (name, delimiter) = line.split_once("<<").expect("heredoc line");
            assert!(!delimiter.is_empty(), "empty delimiter in {line:?}");
            let mut value = Vec::new();
            loop {
                assert!(
                    i < lines.len(),
                    "no closing delimiter {delimiter:?} for {name}:\n{text}"
                );
                let l = lines[i];
                i += 1;
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            delimiters.push(delimiter.to_string());
            values.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("invalid line {line:?} in GITHUB_OUTPUT"));
            values.insert(name.to_string(), value.to_string());
        }
    }
    (values, delimiters)
}
