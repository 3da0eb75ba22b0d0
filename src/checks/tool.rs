//! An executable exists and is recent enough (`node --version` >= 18).

use std::time::Duration;

use regex::Regex;

use super::Finding;
use crate::units::{Version, format_duration};

#[derive(Debug)]
pub struct ToolProbe {
    pub name: String,
    /// Program and arguments that print the version.
    pub command: Vec<String>,
    pub pattern: Option<Regex>,
    pub min_version: Option<Version>,
    /// The version command was configured: its failure fails the check even without a minimum.
    pub custom_command: bool,
    pub timeout: Duration,
}

impl ToolProbe {
    pub async fn run(&self) -> Finding {
        let shown = self.command.join(" ");
        let Some((program, args)) = self.command.split_first() else {
            return Finding::fail("the version command is empty");
        };
        let found = match which::which(program) {
            Ok(path) => path,
            Err(_) => {
                return Finding::fail(format!("`{program}` is not installed (not found on PATH)"));
            }
        };
        // With no minimum to prove, finding the executable is the check; its version is
        // information (not every tool has `--version`: dash, ssh).
        let version_required = self.min_version.is_some() || self.custom_command;
        let output = tokio::process::Command::new(super::program_to_run(program))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let informational = |f: Finding| {
            if version_required {
                f
            } else {
                Finding::pass(format!("{} found at {}", self.name, found.display()))
                    .detail("path", found.display().to_string())
            }
        };
        let output = match tokio::time::timeout(self.timeout, output).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Finding::fail(format!("`{program}` is not installed (not found on PATH)"));
            }
            Ok(Err(e)) => {
                return informational(Finding::fail(format!("cannot run `{shown}`: {e}")));
            }
            Err(_) => {
                return informational(Finding::fail(format!(
                    "`{shown}` did not finish within {}",
                    format_duration(self.timeout)
                )));
            }
        };
        // Some tools (java, older gcc) print their version on stderr.
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let first_line = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        if !output.status.success() {
            return informational(
                Finding::fail(format!(
                    "`{shown}` exited with {}: {first_line}",
                    output.status
                ))
                .detail("output", first_line),
            );
        }
        let version = match &self.pattern {
            Some(re) => re
                .captures(&text)
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .and_then(|m| Version::find(m.as_str())),
            None => Version::find(&text),
        };
        let Some(version) = version else {
            return informational(
                Finding::fail(format!(
                    "no version number in the output of `{shown}`: {first_line}"
                ))
                .detail("output", first_line),
            );
        };
        match &self.min_version {
            Some(min) if &version < min => Finding::fail(format!(
                "{} {version} is older than the required {min}; upgrade it",
                self.name
            )),
            Some(min) => Finding::pass(format!("{} {version} is at least {min}", self.name)),
            None => Finding::pass(format!("{} {version}", self.name)),
        }
        .detail("version", version.to_string())
        .detail(
            "min_version",
            self.min_version.as_ref().map(ToString::to_string),
        )
        .detail("command", shown)
        .detail("path", found.display().to_string())
    }
}
