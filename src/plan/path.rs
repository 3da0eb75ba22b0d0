//! `[[…path]]`, `--writable-dir` and `--create-dir`: a directory, whether it is writable, its
//! space, and the newest file matching a glob (a backup's age and size).

use std::path::{Path, PathBuf};

use super::Planner;
use crate::checks::path::{Newest, PathAspect, PathProbe};
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
        let newest = self.newest(path, &dir)?;
        let mut plan = vec![PathAspect::Exists];
        if self.resolver.value_or(path.writable.as_ref(), true)? {
            plan.push(PathAspect::Writable);
        }
        plan.push(PathAspect::Space);
        if newest.is_some() {
            plan.push(PathAspect::Newest);
        }
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
                newest,
                aspects: plan,
            }),
        });
        Ok(())
    }

    /// `newest` (a glob relative to `dir`; wildcards in its file name only), `max_age`,
    /// `min_size`.
    fn newest(
        &mut self,
        path: &Located<PathConfig>,
        dir: &Path,
    ) -> Result<Option<Newest>, InputError> {
        let Some(text) = &path.newest else {
            for (key, given) in [
                ("max_age", path.max_age.as_ref()),
                ("min_size", path.min_size.as_ref()),
            ] {
                if let Some(given) = given {
                    return Err(self
                        .resolver
                        .error(&given.span, format!("`{key}` applies to the file `newest` names"))
                        .help("add `newest = \"backup_*.dump\"` (a glob relative to `path`), or leave it out"));
                }
            }
            return Ok(None);
        };
        let glob = self.resolver.string(text)?;
        let (folder, name) = match glob.rsplit_once('/') {
            Some((folder, name)) => (Some(folder), name),
            None => (None, glob.as_str()),
        };
        let wild = |s: &str| s.contains(['*', '?', '[']);
        let wrong = if name.is_empty() {
            Some("it names no file")
        } else if folder.is_some_and(wild) {
            Some("wildcards go in the file name only (`daily/backup_*.dump`, not `*/backup.dump`)")
        } else if name.contains('[') {
            Some("only `*` and `?` are wildcards")
        } else if Path::new(&glob).is_absolute() || glob.split('/').any(|c| c == "..") {
            Some("it is relative to `path`, inside it")
        } else {
            None
        };
        if let Some(why) = wrong {
            return Err(self
                .resolver
                .error(&text.span, format!("`newest = \"{glob}\"`: {why}"))
                .help("e.g. newest = \"backup_*.dump\""));
        }
        let max_age = path
            .max_age
            .as_ref()
            .map(|t| self.resolver.duration(t))
            .transpose()?;
        let min_size = path
            .min_size
            .as_ref()
            .map(|t| self.resolver.size(t))
            .transpose()?;
        Ok(Some(Newest {
            dir: folder.map_or_else(|| dir.to_path_buf(), |f| dir.join(f)),
            glob: glob.clone(),
            name: name.to_string(),
            max_age,
            min_size,
        }))
    }
}
