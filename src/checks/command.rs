//! A command that must succeed (`kubectl rollout undo deployment/api-server`), within a
//! timeout, its output kept for the report (where the redaction step masks any secret in it).

use std::time::{Duration, Instant};

use super::Finding;
use crate::units::format_duration;

/// How much of a command's output a report keeps.
const OUTPUT_LINES: usize = 20;

#[derive(Debug)]
pub struct CommandProbe {
    /// Program and arguments (no shell: what is written is what runs).
    pub command: Vec<String>,
    pub timeout: Duration,
}

impl CommandProbe {
    pub async fn run(&self) -> Finding {
        let shown = self.command.join(" ");
        let Some((program, args)) = self.command.split_first() else {
            return Finding::fail("the command is empty");
        };
        let started = Instant::now();
        let child = tokio::process::Command::new(super::program_to_run(program))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(self.timeout, child).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Finding::fail(format!("`{program}` is not installed (not found on PATH)"));
            }
            Ok(Err(e)) => return Finding::fail(format!("cannot run `{shown}`: {e}")),
            Err(_) => {
                return Finding::fail(format!(
                    "`{shown}` did not finish within {} and was stopped",
                    format_duration(self.timeout)
                ));
            }
        };
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(OUTPUT_LINES)..].join("\n")
        };
        let (stdout, stderr) = (tail(&output.stdout), tail(&output.stderr));
        let finding = if output.status.success() {
            Finding::pass(format!(
                "`{shown}` succeeded in {}",
                format_duration(started.elapsed())
            ))
        } else {
            let last = stderr
                .lines()
                .chain(stdout.lines())
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("");
            Finding::fail(format!("`{shown}` exited with {}: {last}", output.status))
        };
        finding
            .detail("command", shown)
            .detail("exit_code", output.status.code())
            .detail("stdout", stdout)
            .detail("stderr", stderr)
    }
}
