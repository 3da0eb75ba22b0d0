//! `[[…path]]`, `--writable-dir` and `--create-dir`: a directory, whether it is writable, its space.

use std::path::PathBuf;

use super::Planner;
use crate::checks::path::{PathAspect, PathProbe};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::PathConfig;
use crate::error::InputError;

impl Planner<'_> {
    pub(super) fn path(&mut self, path: &Located<PathConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&path.span);
        let dir = PathBuf::from(self.resolver.string(&path.path)?);
        if dir.as_os_str().is_empty() {
            return Err(self
                .resolver
                .error(&path.path.span, "the path is empty")
                .help("set `path` (its variable may be unset)"));
        }
        let default_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let name = self.claim(
            "path",
            path.name.as_deref().unwrap_or(&default_name),
            path.name.is_some(),
            &path.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = path.name.clone().unwrap_or_else(|| name.clone());
        let mode = match &path.mode {
            Some(m) => {
                let text = self.resolver.string(m)?;
                Some(
                    u32::from_str_radix(text.trim_start_matches("0o"), 8).map_err(|_| {
                        self.resolver.error(
                            &m.span,
                            format!("`{text}` is not an octal mode; write e.g. \"755\""),
                        )
                    })?,
                )
            }
            None => None,
        };
        let min_free = path
            .min_free
            .as_ref()
            .map(|s| self.resolver.size(s))
            .transpose()?;
        let (usage_warn, usage_fail) = (
            self.resolver
                .value_or(path.usage_warn_percent.as_ref(), 80)?,
            self.resolver
                .value_or(path.usage_fail_percent.as_ref(), 95)?,
        );
        self.percents(
            [
                ("usage_warn_percent", usage_warn),
                ("usage_fail_percent", usage_fail),
            ],
            &path.span,
        )?;
        let mut plan = vec![PathAspect::Exists];
        if self.resolver.value_or(path.writable.as_ref(), true)? {
            plan.push(PathAspect::Writable);
        }
        plan.push(PathAspect::Space);
        let aspects = Aspect::for_steps(&plan, "path", &name, &label, loc);
        self.units.push(Unit {
            kind: "path",
            needs: Vec::new(),
            aspects,
            timeout: self.check_timeout,
            probe: Probe::Path(PathProbe {
                name,
                path: dir,
                create: self.resolver.value_or(path.create.as_ref(), false)?,
                mode,
                min_free,
                usage_warn_percent: usage_warn,
                usage_fail_percent: usage_fail,
                aspects: plan,
            }),
        });
        Ok(())
    }
}
