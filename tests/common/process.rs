#![allow(dead_code)]
//! Running shipgate as a child process (runs that overlap or are killed), waiting with bounds,
//! and small helpers the migration and rollback tests share.

use std::future::Future;
use std::io::Read;
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use super::Workdir;

pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The shipgate binary as a child process (for runs that must overlap or be killed).
pub fn spawn(w: &Workdir, args: &[&str]) -> Child {
    StdCommand::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(w.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shipgate")
}

/// Waits at most `limit` for a child, then collects its output (a child still running is killed
/// and the test fails).
pub fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shipgate did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

/// Polls `condition` every 50 ms for at most `limit`.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
