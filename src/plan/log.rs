//! `[[verify.log]]`: the last lines of a log file hold no line matching a pattern.

use std::path::PathBuf;

use super::Planner;
use crate::checks::log::LogProbe;
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::LogConfig;
use crate::error::InputError;

impl Planner<'_> {
    pub(super) fn log(&mut self, log: &Located<LogConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&log.span);
        let path = PathBuf::from(self.resolver.string(&log.path)?);
        if path.as_os_str().is_empty() {
            return Err(self
                .resolver
                .error(&log.path.span, "the log path is empty")
                .help("set `path` (its variable may be unset)"));
        }
        let default_name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let needs = self.needs(&log.needs)?;
        let label = log.name.clone().unwrap_or(default_name);
        let name = self.claim("log", &label, log.name.is_some(), &log.span)?;
        let lines = self.resolver.value_or(log.lines.as_ref(), 100)?;
        if lines == 0 || lines > 1_000_000 {
            return Err(self
                .resolver
                .error(&log.span, format!("lines = {lines}: give 1 to 1000000")));
        }
        let pattern = self.resolver.regex(&log.pattern)?;
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
                timeout: self.check_timeout,
                probe: Probe::Log(LogProbe {
                    path,
                    lines: lines as usize,
                    pattern,
                    ignore,
                    optional,
                }),
            },
            &label,
        );
        Ok(())
    }
}
