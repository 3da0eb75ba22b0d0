//! A program that must exit as expected and print what it should: a `[[…command]]` check
//! (`kubectl rollout status deploy/api`, a validation script), a rollback hook
//! (`kubectl rollout undo deployment/api-server`), a log source (`kubectl logs`). Run without a
//! shell unless asked, within a timeout (the whole process group is killed then), its output
//! kept bounded for the report, where the redaction step masks any secret in it.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::Finding;
use super::expect::TextExpect;
use super::retry::{Retry, Tries, until_passes};
use crate::secret::Secret;
use crate::units::format_duration;

/// How many lines of each stream a report keeps.
pub const OUTPUT_LINES: usize = 20;
/// How much of each stream a check keeps while the program runs: the last this many bytes
/// (a program that prints gigabytes is judged on its end, without running out of memory).
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// What to run, with every value resolved.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Program and arguments as run: what is written is what runs (with `shell`, `sh -c TEXT`).
    pub argv: Vec<String>,
    /// Run through `sh -c`: said in every message.
    pub shell: bool,
    /// Variables set for the program; values may be secrets.
    pub env: Vec<(String, Secret)>,
    /// The `--env-file` variables the process does not have, set before `env` (which wins):
    /// a runbook's script reads `$REDIS_URL` as the shell that sourced the file gave it.
    /// Not listed in messages: they are the run's environment, not the check's.
    pub env_file: Vec<(String, Secret)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
}

impl Invocation {
    pub fn new(argv: Vec<String>, timeout: Duration) -> Self {
        Invocation {
            argv,
            shell: false,
            env: Vec::new(),
            env_file: Vec::new(),
            cwd: None,
            timeout,
        }
    }

    /// The command as people read it, quoted as a shell would need it:
    /// `kubectl rollout status deploy/api`, or `sh -c 'a | b'` (through a shell: shell = true).
    pub fn shown(&self) -> String {
        let command = format!("`{}`", self.line());
        if self.shell {
            format!("{command} (through a shell: shell = true)")
        } else {
            command
        }
    }

    /// The words, each quoted when a shell would need it (`--since=10m` stays as written).
    pub fn line(&self) -> String {
        let word = |w: &String| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-./:@_=,%^".contains(c));
            if plain {
                w.clone()
            } else {
                shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned())
            }
        };
        self.argv.iter().map(word).collect::<Vec<_>>().join(" ")
    }

    /// Runs the program once, stdin closed, keeping the last `keep` bytes of each stream.
    pub async fn run(&self, keep: usize) -> Result<Ran, RunError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(RunError::Empty);
        };
        let mut command = tokio::process::Command::new(super::program_to_run(program));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in self.env_file.iter().chain(&self.env) {
            command.env(name, value.expose());
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        // Its own process group, so a timeout stops what it started too (`sh -c 'sleep 60'`).
        #[cfg(unix)]
        command.process_group(0);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound if self.cwd.as_ref().is_some_and(|d| !d.is_dir()) => {
                RunError::Cannot(format!(
                    "the working directory {} does not exist",
                    self.cwd
                        .as_ref()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                ))
            }
            std::io::ErrorKind::NotFound => RunError::NotFound(program.clone()),
            _ => RunError::Cannot(e.to_string()),
        })?;
        let pid = child.id();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (mut out, mut err) = (Buffer::default(), Buffer::default());
        let exited = tokio::sync::Notify::new();
        let work = async {
            let reads = async {
                tokio::join!(
                    keep_tail(stdout, keep, &mut out),
                    keep_tail(stderr, keep, &mut err)
                )
            };
            // Something the program started in the background may hold its output open: once
            // the program itself has exited, its output is read for a moment more, not waited on.
            let bounded = async {
                tokio::select! {
                    _ = reads => {}
                    _ = async {
                        exited.notified().await;
                        tokio::time::sleep(OUTPUT_GRACE).await;
                    } => {}
                }
            };
            let waited = async {
                let status = child.wait().await;
                exited.notify_one();
                status
            };
            tokio::join!(bounded, waited).1
        };
        let finished = tokio::time::timeout(self.timeout, work).await;
        let (stdout, stderr) = (out.kept(), err.kept());
        let status = match finished {
            Ok(status) => status,
            Err(_) => {
                // Stopped with everything it started. (A program that exits in time may leave
                // a background job running, as it would from a shell.)
                #[cfg(unix)]
                if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                let _ = child.start_kill();
                // Reaped within a moment: it was just killed.
                let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
                return Err(RunError::TimedOut {
                    after: self.timeout,
                    stdout,
                    stderr,
                });
            }
        };
        let status = status.map_err(|e| RunError::Cannot(e.to_string()))?;
        Ok(Ran {
            status,
            stdout,
            stderr,
            elapsed: started.elapsed(),
        })
    }
}

/// Why a program did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    Empty,
    NotFound(String),
    Cannot(String),
    /// Killed at its timeout; what it printed until then.
    TimedOut {
        after: Duration,
        stdout: Kept,
        stderr: Kept,
    },
}

impl RunError {
    /// A sentence about `shown` (the command as people read it).
    pub fn describe(&self, shown: &str) -> String {
        match self {
            RunError::Empty => "the command is empty".into(),
            RunError::NotFound(program) => {
                format!("`{program}` is not installed (not found on PATH)")
            }
            RunError::Cannot(why) => format!("cannot run {shown}: {why}"),
            RunError::TimedOut { after, .. } => format!(
                "{shown} did not finish within {} and was killed",
                format_duration(*after)
            ),
        }
    }
}

/// A program that has exited is given this long to close its output (see [`Invocation::run`]).
const OUTPUT_GRACE: Duration = Duration::from_millis(200);

/// The end of one output stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// The last bytes read, as text (bytes that are not UTF-8 replaced).
    pub text: String,
    /// Bytes the program wrote in all.
    pub total: u64,
}

impl Kept {
    /// Some of the output was dropped to stay within the limit.
    pub fn cut(&self) -> bool {
        self.total > self.text.len() as u64
    }

    /// The last `OUTPUT_LINES` lines, for a report.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        let tail = lines[lines.len().saturating_sub(OUTPUT_LINES)..].join("\n");
        super::expect::excerpt(&tail, 4096)
    }
}

/// A program that ran to its end.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: Kept,
    pub stderr: Kept,
    pub elapsed: Duration,
}

impl Ran {
    /// `3`, or `signal 9` when a signal ended it.
    pub fn exit(&self) -> String {
        match self.status.code() {
            Some(code) => code.to_string(),
            None => {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    if let Some(signal) = self.status.signal() {
                        return format!("signal {signal}");
                    }
                }
                self.status.to_string()
            }
        }
    }

    /// The last non-blank line of stderr, else of stdout: what a failing program said last.
    pub fn last_words(&self) -> &str {
        self.stderr
            .text
            .lines()
            .rev()
            .chain(self.stdout.text.lines().rev())
            .find(|l| !l.trim().is_empty())
            .map(str::trim)
            .unwrap_or("")
    }
}

/// Bytes read so far from one stream: the last ones, and how many in all.
#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    total: u64,
}

impl Buffer {
    fn kept(self) -> Kept {
        Kept {
            text: String::from_utf8_lossy(&self.bytes).into_owned(),
            total: self.total,
        }
    }
}

/// Reads a stream to its end into `into`, keeping its last `keep` bytes (and no more than
/// twice that while reading). What was read stays in `into` if reading is cut short.
async fn keep_tail(stream: Option<impl AsyncRead + Unpin>, keep: usize, into: &mut Buffer) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                into.total += n as u64;
                into.bytes.extend_from_slice(&chunk[..n]);
                if into.bytes.len() > 2 * keep {
                    into.bytes.drain(..into.bytes.len() - keep);
                }
            }
        }
    }
    if into.bytes.len() > keep {
        into.bytes.drain(..into.bytes.len() - keep);
    }
}

/// A command check (or hook): the program, the exit codes accepted, what its output must hold,
/// and how often to try.
#[derive(Debug)]
pub struct CommandProbe {
    pub run: Invocation,
    /// Accepted exit codes (default `[0]`).
    pub expect_exit: Vec<i32>,
    pub stdout: TextExpect,
    pub stderr: TextExpect,
    pub retry: Option<Retry>,
    /// Passes in a row needed (at least 1).
    pub consecutive: u32,
}

/// One run and what it fell short of.
struct Attempt {
    ran: Result<Ran, RunError>,
    failures: Vec<String>,
}

impl CommandProbe {
    /// A program that must exit 0 (a hook).
    pub fn new(run: Invocation) -> Self {
        CommandProbe {
            run,
            expect_exit: vec![0],
            stdout: TextExpect::default(),
            stderr: TextExpect::default(),
            retry: None,
            consecutive: 1,
        }
    }

    /// What `--dry-run` reports instead of running it.
    pub fn would(&self) -> Finding {
        let mut message = format!("dry run: would run {}", self.run.shown());
        if let Some(dir) = &self.run.cwd {
            message.push_str(&format!(" in {}", dir.display()));
        }
        if !self.run.env.is_empty() {
            let names: Vec<&str> = self.run.env.iter().map(|(k, _)| k.as_str()).collect();
            message.push_str(&format!(" with {} set", names.join(", ")));
        }
        if self.retry.is_some() || self.consecutive > 1 {
            message.push_str(" until it passes");
        }
        Finding::skip(message)
            .detail("dry_run", true)
            .detail("command", self.run.line())
            .detail("shell", self.run.shell)
    }

    pub async fn run(&self) -> Finding {
        let tries = until_passes(
            self.retry.as_ref(),
            self.consecutive,
            || self.attempt(),
            |a: &Attempt| a.failures.is_empty(),
        )
        .await;
        self.finding(tries)
    }

    async fn attempt(&self) -> Attempt {
        let ran = self.run.run(MAX_OUTPUT).await;
        let failures = match &ran {
            Err(e) => vec![e.describe(&self.run.shown())],
            Ok(ran) => self.failures(ran),
        };
        Attempt { ran, failures }
    }

    /// Every unmet expectation of one run, each a sentence.
    fn exit_expected(&self, ran: &Ran) -> bool {
        ran.status
            .code()
            .is_some_and(|c| self.expect_exit.contains(&c))
    }

    fn failures(&self, ran: &Ran) -> Vec<String> {
        let mut out = Vec::new();
        if !self.exit_expected(ran) {
            out.push(format!(
                "exited with {} (expected {})",
                ran.exit(),
                self.expected_exit()
            ));
        }
        for (what, kept, expect) in [
            ("stdout", &ran.stdout, &self.stdout),
            ("stderr", &ran.stderr, &self.stderr),
        ] {
            if expect.is_empty() {
                continue;
            }
            // JSON cut at its start is no JSON: say why rather than report a parse error.
            if kept.cut() && !expect.json.is_empty() {
                out.push(format!(
                    "{what} is {} bytes, more than the {} kept: its JSON cannot be checked",
                    kept.total, MAX_OUTPUT
                ));
                continue;
            }
            out.extend(expect.failures(what, &kept.text));
        }
        out
    }

    fn expected_exit(&self) -> String {
        let codes: Vec<String> = self.expect_exit.iter().map(i32::to_string).collect();
        codes.join(" or ")
    }

    fn finding(&self, tries: Tries<Attempt>) -> Finding {
        let shown = self.run.shown();
        let suffix = tries.summary();
        let attempt = &tries.last;
        let ran = match &attempt.ran {
            Ok(ran) => ran,
            Err(e) => {
                let mut finding = Finding::fail(format!("{}{suffix}", e.describe(&shown)))
                    .detail("command", self.run.line())
                    .detail("shell", self.run.shell)
                    .detail("attempts", tries.attempts);
                // What it printed before it was killed: often why it hung.
                if let RunError::TimedOut { stdout, stderr, .. } = e {
                    finding = finding
                        .detail("stdout", stdout.tail())
                        .detail("stderr", stderr.tail());
                }
                return finding.took(tries.elapsed);
            }
        };
        let took = format_duration(ran.elapsed);
        let finding = if tries.passed {
            Finding::pass(format!("{shown} exited {} in {took}{suffix}", ran.exit()))
        } else {
            let exit_failed = !self.exit_expected(ran);
            let mut message = if attempt.failures.is_empty() {
                // The last run passed, but the retry window closed before `consecutive` did.
                format!(
                    "{shown} exited {} in {took}, but the retry window closed before {} runs in a row passed",
                    ran.exit(),
                    self.consecutive
                )
            } else if exit_failed {
                format!("{shown} {}", attempt.failures.join("; "))
            } else {
                format!(
                    "{shown} exited {} in {took}, but {}",
                    ran.exit(),
                    attempt.failures.join("; ")
                )
            };
            message.push_str(&suffix);
            // What the program said last, for the one line a person reads first.
            let last = ran.last_words();
            if exit_failed && !last.is_empty() {
                message.push_str(&format!(": {}", super::expect::excerpt(last, 300)));
            }
            Finding::fail(message).detail("failures", attempt.failures.clone())
        };
        finding
            .detail("command", self.run.line())
            .detail("shell", self.run.shell)
            .detail("exit_code", ran.status.code())
            .detail("expected_exit", self.expect_exit.clone())
            .detail("attempts", tries.attempts)
            .detail("stdout", ran.stdout.tail())
            .detail("stderr", ran.stderr.tail())
            .took(tries.elapsed)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn sh(script: &str) -> Invocation {
        let mut run = Invocation::new(
            vec!["sh".into(), "-c".into(), script.into()],
            Duration::from_secs(5),
        );
        run.shell = true;
        run
    }

    #[test]
    fn keeps_the_end_of_a_long_output() {
        let ran = block(sh("seq 1 100000").run(1000)).unwrap();
        assert!(ran.stdout.cut());
        assert_eq!(ran.stdout.total, 588_895);
        assert!(ran.stdout.text.ends_with("99999\n100000\n"));
        assert!(ran.stdout.text.len() <= 1000);
        let tail = ran.stdout.tail();
        assert_eq!(tail.lines().count(), OUTPUT_LINES);
        assert_eq!(tail.lines().last(), Some("100000"));
    }

    #[test]
    fn a_timeout_kills_what_the_shell_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let mut run = sh(&format!("sleep 2; touch {}", marker.display()));
        run.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = block(run.run(1000)).unwrap_err();
        assert!(
            matches!(&err, RunError::TimedOut { after, .. } if *after == Duration::from_millis(300)),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the shell's child outlived the timeout");
    }

    #[test]
    fn a_background_job_holding_the_output_does_not_hold_the_check() {
        let mut run = sh("sleep 3 & echo started");
        run.timeout = Duration::from_secs(10);
        let started = Instant::now();
        let ran = block(run.run(1000)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "{ran:?}");
        assert!(ran.status.success());
        assert_eq!(ran.stdout.text, "started\n");
    }

    #[test]
    fn exit_codes_and_expectations() {
        let mut probe = CommandProbe::new(Invocation::new(Vec::new(), Duration::from_secs(5)));
        probe.run = sh("echo '{\"ok\": true}'; echo warn >&2; exit 3");
        probe.expect_exit = vec![0, 3];
        probe
            .stdout
            .json
            .push(crate::checks::expect::JsonAssertion::parse("$.ok == true").unwrap());
        probe.stderr.contains.push("nothing".into());
        let ran = block(probe.run.run(MAX_OUTPUT)).unwrap();
        assert_eq!(ran.exit(), "3");
        assert_eq!(ran.last_words(), "warn");
        assert_eq!(probe.failures(&ran), ["stderr does not contain `nothing`"]);
        probe.expect_exit = vec![0];
        assert_eq!(probe.failures(&ran)[0], "exited with 3 (expected 0)");
    }
}
