//! express-rate-limit under node (tests/ratelimit-node/server.js): a real rate limiter the
//! tests start on free loopback ports; `npm ci` there is run by scripts/test.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::Workdir;

/// tests/ratelimit-node/server.js: one express app per variant, each on its own free loopback
/// port, all in one node process that belongs to one test (fresh MemoryStore). Killed on drop;
/// it also exits by itself when its stdin (held here) closes, should this process die first.
pub struct Express {
    child: Child,
    _stdin: Option<ChildStdin>,
    ports: HashMap<String, u16>,
    log: PathBuf,
}

impl Express {
    pub fn start(w: &Workdir, variants: &[&str]) -> Express {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ratelimit-node");
        assert!(
            dir.join("node_modules/express-rate-limit/package.json")
                .is_file(),
            "{}/node_modules is missing: run scripts/test, which runs `npm ci` there",
            dir.display()
        );
        let node = which::which("node")
            .or_else(|_| which::which("nodejs"))
            .unwrap_or_else(|_| {
                panic!("node is not installed: run scripts/test, or `apt-get install nodejs npm`")
            });
        let log = w.path().join("express.log");
        let mut child = StdCommand::new(&node)
            .current_dir(&dir)
            .arg("server.js")
            .args(variants)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("express log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", node.display()));
        let out = child.stdout.take().unwrap();
        let mut express = Express {
            _stdin: child.stdin.take(),
            child,
            ports: HashMap::new(),
            log,
        };
        // The first line says where it listens; read on a thread so the wait is bounded.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(out).read_line(&mut line).map(|_| line);
            let _ = tx.send(read);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(line)) if !line.is_empty() => line,
            other => panic!(
                "server.js did not say where it listens ({other:?}):\n{}",
                express.log_text()
            ),
        };
        let said: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("server.js printed {line:?}: {e}"));
        for variant in variants {
            let port = said["ports"][variant]
                .as_u64()
                .unwrap_or_else(|| panic!("no port for {variant} in {line}"));
            express.ports.insert(variant.to_string(), port as u16);
        }
        express
    }

    /// The runbook's endpoint on this variant.
    pub fn url(&self, variant: &str) -> String {
        format!("{}/api/lp/health", self.base(variant))
    }

    /// `http://127.0.0.1:PORT` of this variant.
    pub fn base(&self, variant: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[variant])
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Express {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
