//! `[[…tool]]` and `--require-tool`: a program on PATH, at a minimum version.

use std::time::Duration;

use super::Planner;
use crate::checks::tool::ToolProbe;
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::ToolConfig;
use crate::error::InputError;
use crate::units::Version;

impl Planner<'_> {
    pub(super) fn tool(&mut self, tool: &Located<ToolConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&tool.span);
        let name = self.claim("tool", &tool.name, true, &tool.span)?;
        let command = match &tool.command {
            Some(c) => super::command::argv(&mut self.resolver, c)?,
            None => vec![tool.name.clone(), "--version".into()],
        };
        let pattern = tool
            .pattern
            .as_ref()
            .map(|p| self.resolver.regex(p))
            .transpose()?;
        let min_version: Option<Version> = tool
            .min_version
            .as_ref()
            .map(|v| self.resolver.version(v))
            .transpose()?;
        let timeout = self
            .resolver
            .duration_or(tool.timeout.as_ref(), self.check_timeout)?;
        self.units.push(Unit {
            kind: "tool",
            needs: Vec::new(),
            aspects: vec![Aspect::new(
                format!("tool.{name}"),
                format!("tool {}", tool.name),
                loc,
            )],
            timeout: timeout + Duration::from_secs(1),
            probe: Probe::Tool(ToolProbe {
                name: tool.name.clone(),
                command,
                pattern,
                min_version,
                custom_command: tool.command.is_some(),
                timeout,
            }),
        });
        Ok(())
    }
}
