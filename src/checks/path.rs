//! Directories the deployment writes to: exist (or are created), are writable, and have room.
//! Filesystem calls run on the blocking pool, so a hung mount only costs this check its timeout.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Context, Finding, skipped_after};
use crate::report::Status;
use crate::units::format_size;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathAspect {
    Exists,
    Writable,
    Space,
}

#[derive(Clone, Debug)]
pub struct PathProbe {
    pub name: String,
    pub path: PathBuf,
    pub create: bool,
    /// Mode of a created directory (e.g. 0o755).
    pub mode: Option<u32>,
    pub min_free: Option<u64>,
    pub usage_warn_percent: u8,
    pub usage_fail_percent: u8,
    pub aspects: Vec<PathAspect>,
}

impl PathProbe {
    pub async fn run(&self, ctx: &Context) -> Vec<Finding> {
        let probe = self.clone();
        let dry_run = ctx.dry_run;
        match tokio::task::spawn_blocking(move || probe.run_blocking(dry_run)).await {
            Ok(findings) => findings,
            Err(e) => vec![Finding::new(
                Status::Error,
                format!("the path check crashed: {e}"),
            )],
        }
    }

    fn run_blocking(&self, dry_run: bool) -> Vec<Finding> {
        let t = Instant::now();
        let exists = self.check_exists(dry_run).took(t.elapsed());
        if exists.status.fails_run(true) || exists.status == Status::Skip {
            let reason = format!("{} is not a usable directory", self.path.display());
            let mut f = vec![exists];
            f.extend(skipped_after(&reason, self.aspects.len() - 1));
            return f;
        }
        let mut findings = vec![exists];
        for aspect in &self.aspects[1..] {
            let t = Instant::now();
            let finding = match aspect {
                PathAspect::Exists => continue,
                PathAspect::Writable if dry_run => self.check_writable_without_writing(),
                PathAspect::Writable => self.check_writable(),
                PathAspect::Space => self.check_space(),
            };
            findings.push(finding.took(t.elapsed()));
        }
        findings
    }

    fn check_exists(&self, dry_run: bool) -> Finding {
        let path = &self.path;
        let shown = path.display();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mode = meta.permissions().mode() & 0o7777;
                Finding::pass(format!("{shown} exists (mode {mode:o})"))
                    .detail("path", shown.to_string())
                    .detail("mode", format!("{mode:o}"))
            }
            Ok(_) => Finding::fail(format!("{shown} exists but is not a directory"))
                .detail("path", shown.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mode = self.mode.unwrap_or(0o755);
                if !self.create {
                    Finding::fail(format!(
                        "{shown} does not exist; create it (mkdir -p) or set `create = true`"
                    ))
                } else if dry_run {
                    Finding::skip(format!(
                        "{shown} does not exist; would create it with mode {mode:o} (dry run)"
                    ))
                } else {
                    match create_dir(path, mode) {
                        Ok(()) => Finding::pass(format!("{shown} created with mode {mode:o}"))
                            .detail("created", true),
                        Err(e) => Finding::fail(format!("cannot create {shown}: {e}")),
                    }
                }
                .detail("path", shown.to_string())
            }
            Err(e) => Finding::fail(format!("cannot inspect {shown}: {e}"))
                .detail("path", shown.to_string()),
        }
    }

    /// Proves writability the way the runbook does (`touch .test && rm .test`): permission bits
    /// alone miss read-only mounts, ACLs and full disks.
    /// Under `--dry-run` nothing is written, not even a test file: the kernel is asked whether
    /// this process may write here (access(2) with W_OK). It cannot see a read-only mount's
    /// quirks or a full disk the way a real write does, and says so.
    fn check_writable_without_writing(&self) -> Finding {
        let shown = self.path.display();
        match rustix::fs::access(&self.path, rustix::fs::Access::WRITE_OK) {
            Ok(()) => Finding::pass(format!(
                "{shown} is writable by permissions (dry run: no test file written)"
            )),
            Err(e) => Finding::fail(format!(
                "{shown} is not writable by uid {}: {e} (dry run: permissions checked, nothing written)",
                rustix::process::geteuid().as_raw()
            )),
        }
    }

    fn check_writable(&self) -> Finding {
        let probe = self.path.join(format!(
            ".shipgate-write-test-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut f| f.write_all(b"shipgate"));
        let shown = self.path.display();
        match written {
            Ok(()) => match std::fs::remove_file(&probe) {
                Ok(()) => {
                    Finding::pass(format!("{shown} is writable (created and removed a file)"))
                }
                Err(e) => Finding::warn(format!(
                    "{shown} is writable, but the test file {} could not be removed: {e}",
                    probe.display()
                )),
            },
            Err(e) => {
                let _ = std::fs::remove_file(&probe);
                Finding::fail(format!(
                    "{shown} is not writable by uid {}: {e}",
                    rustix::process::geteuid().as_raw()
                ))
            }
        }
    }

    fn check_space(&self) -> Finding {
        let stat = match rustix::fs::statvfs(&self.path) {
            Ok(s) => s,
            Err(e) => {
                return Finding::fail(format!(
                    "cannot read free space of {}: {e}",
                    self.path.display()
                ));
            }
        };
        let frsize = stat.f_frsize;
        let free = stat.f_bavail.saturating_mul(frsize);
        let used = stat
            .f_blocks
            .saturating_sub(stat.f_bfree)
            .saturating_mul(frsize);
        // df's formula: the share of the space available to unprivileged users that is used.
        let percent = if used + free > 0 {
            used as f64 * 100.0 / (used + free) as f64
        } else {
            0.0
        };
        let base = format!("{} free, {percent:.0}% used", format_size(free));
        let mut status = Finding::graded(
            percent,
            f64::from(self.usage_warn_percent),
            f64::from(self.usage_fail_percent),
        );
        let mut message = match status {
            Status::Pass => base.clone(),
            Status::Warn => format!(
                "{base}: above the warning level of {}%",
                self.usage_warn_percent
            ),
            _ => format!(
                "{base}: above the failure level of {}%",
                self.usage_fail_percent
            ),
        };
        if let Some(min) = self.min_free
            && free < min
        {
            status = Status::Fail;
            message = format!(
                "{base}: less than the required {}; free space before deploying",
                format_size(min)
            );
        }
        Finding::new(status, message)
            .detail("free_bytes", free)
            .detail("used_percent", (percent * 10.0).round() / 10.0)
            .detail("min_free_bytes", self.min_free)
    }
}

/// Like `mkdir -p` then `chmod MODE`: parents get the default mode, the directory itself `mode`.
fn create_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::DirBuilder::new().mode(mode).create(path)?;
    // The umask narrows the mode given at creation; set it exactly, as `chmod` in the runbook does.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
