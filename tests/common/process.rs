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
/// and the test fails). The pipes are read while it runs: a child writing more than a pipe
/// holds must not stall and look like a hang.
pub fn finish(mut child: Child, limit: Duration) -> Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Runs shipgate with `args` under `script` (util-linux), which gives it a terminal, in a clean
/// environment (PATH and `env` only: no CI or GitHub variables leak in). Returns what the
/// terminal showed (stdout and stderr together). Bounded by 60 s.
pub fn run_in_terminal(w: &Workdir, args: &[&str], env: &[(&str, &str)]) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_shipgate"))
        .chain(args.iter().copied())
        .map(|a| {
            shlex::try_quote(a)
                .expect("no NUL in arguments")
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = StdCommand::new("script");
    cmd.current_dir(w.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("`script` (util-linux) is installed");
    let out = finish(child, Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).into_owned()
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
