//! `[[verify.log]]`: the last lines of a log file, or of a command's output, hold no line
//! matching `pattern` and one matching `must_contain`.

use std::path::PathBuf;
use std::time::Duration;

use super::Planner;
use super::command::argv;
use crate::checks::log::{LogProbe, Source};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::LogConfig;
use crate::error::InputError;

impl Planner<'_> {
    pub(super) fn log(&mut self, log: &Located<LogConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&log.span);
        let (source, default_name, timeout) = match (&log.path, &log.command) {
            (Some(path), None) => {
                if let Some(t) = &log.timeout {
                    return Err(self
                        .resolver
                        .error(
                            &t.span,
                            "`timeout` bounds a log's `command`, and this log is a file",
                        )
                        .help("remove `timeout`, or read the log from a command"));
                }
                let path = PathBuf::from(self.resolver.string(path)?);
                if path.as_os_str().is_empty() {
                    return Err(self
                        .resolver
                        .error(&log.span, "the log path is empty")
                        .help("set `path` (its variable may be unset)"));
                }
                let name = path
                    .file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "log".into());
                (Source::File(path), name, self.check_timeout)
            }
            (None, Some(command)) => {
                let words = argv(&mut self.resolver, command)?;
                let timeout = self
                    .resolver
                    .duration_or(log.timeout.as_ref(), self.check_timeout)?;
                let name = std::path::Path::new(&words[0])
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "log".into());
                (
                    Source::Command(super::command::invocation(&self.resolver, words, timeout)),
                    name,
                    timeout + Duration::from_secs(1),
                )
            }
            (Some(_), Some(_)) => {
                return Err(self
                    .resolver
                    .error(&log.span, "a log check reads `path` or `command`, not both")
                    .help("keep one: path = \"/var/log/app/api.log\" or command = \"kubectl logs -l app=api --since=10m\""));
            }
            (None, None) => {
                return Err(self
                    .resolver
                    .error(&log.span, "a log check needs `path` or `command`")
                    .help("e.g. path = \"/var/log/app/api.log\" or command = \"kubectl logs -l app=api --since=10m\""));
            }
        };
        if log.pattern.is_none() && log.must_contain.is_none() {
            return Err(self
                .resolver
                .error(
                    &log.span,
                    "a log check needs `pattern` (no line may match it) or `must_contain` (a line must match it), or both",
                )
                .help("e.g. pattern = \"(?i)error\" or must_contain = \"server started\""));
        }
        let needs = self.needs(&log.needs)?;
        let label = log.name.clone().unwrap_or(default_name);
        let name = self.claim("log", &label, log.name.is_some(), &log.span)?;
        let lines = self.resolver.value_or(log.lines.as_ref(), 100)?;
        if lines == 0 || lines > 1_000_000 {
            return Err(self
                .resolver
                .error(&log.span, format!("lines = {lines}: give 1 to 1000000")));
        }
        let pattern = log
            .pattern
            .as_ref()
            .map(|p| self.resolver.regex(p))
            .transpose()?;
        let must_contain = log
            .must_contain
            .as_ref()
            .map(|p| self.resolver.regex(p))
            .transpose()?;
        let optional = self.resolver.value_or(log.optional.as_ref(), false)?;
        let ignore = log
            .ignore
            .as_ref()
            .map(|i| self.resolver.regex(i))
            .transpose()?;
        self.push(
            Unit {
                kind: "log",
                needs,
                aspects: vec![Aspect::new(
                    format!("log.{name}"),
                    format!("log {label}"),
                    loc,
                )],
                timeout,
                probe: Probe::Log(LogProbe {
                    source,
                    lines: lines as usize,
                    pattern,
                    must_contain,
                    ignore,
                    optional,
                }),
            },
            &label,
        );
        Ok(())
    }
}
