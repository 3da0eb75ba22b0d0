//! Directories the deployment writes to: exist (or are created), are writable, and have room.
//! Filesystem calls run on the blocking pool, so a hung mount only costs this check its timeout.
//!
//! On Windows there are no mode bits and no uid: a created directory gets the ACL it inherits
//! (a configured `mode` is not applied, and the message says so), an existing one's mode is not
//! shown, and a dry run cannot ask for write permission without writing (access(2) has no
//! Windows counterpart that honours ACLs), so it skips that aspect and says why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{Context, Finding, skipped_after};
use crate::report::Status;
use crate::units::{format_duration, format_size};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathAspect {
    Exists,
    Writable,
    Space,
    /// The newest file matching a glob: there, young enough, large enough.
    Newest,
}

impl super::AspectKind for PathAspect {
    fn id_suffix(self) -> &'static str {
        match self {
            PathAspect::Exists => "",
            PathAspect::Writable => ".writable",
            PathAspect::Space => ".space",
            PathAspect::Newest => ".newest",
        }
    }

    fn title(self) -> &'static str {
        match self {
            PathAspect::Exists => "directory",
            PathAspect::Writable => "writable",
            PathAspect::Space => "free space",
            PathAspect::Newest => "newest file",
        }
    }
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
    pub newest: Option<Newest>,
    pub aspects: Vec<PathAspect>,
}

/// `newest = "backup_*.dump"`, `max_age`, `min_size`.
#[derive(Clone, Debug)]
pub struct Newest {
    /// The glob as written (relative to the check's path).
    pub glob: String,
    /// The folder searched: the check's path, joined with the glob's folder part.
    pub dir: PathBuf,
    /// The file-name pattern (`*` any run of characters, `?` one).
    pub name: String,
    pub max_age: Option<Duration>,
    pub min_size: Option<u64>,
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
                PathAspect::Newest => match &self.newest {
                    Some(newest) => newest.check(),
                    None => continue,
                },
            };
            findings.push(finding.took(t.elapsed()));
        }
        findings
    }

    fn check_exists(&self, dry_run: bool) -> Finding {
        let path = &self.path;
        let shown = path.display();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => existing_dir(&meta, &shown.to_string()),
            Ok(_) => Finding::fail(format!("{shown} exists but is not a directory"))
                .detail("path", shown.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => if !self.create {
                Finding::fail(format!(
                    "{shown} does not exist; create it (mkdir -p) or set `create = true`"
                ))
            } else if dry_run {
                Finding::skip(format!(
                    "{shown} does not exist; would create it{} (dry run)",
                    created_mode(self.mode)
                ))
            } else {
                match create_dir(path, self.mode.unwrap_or(0o755)) {
                    Ok(()) => Finding::pass(format!("{shown} created{}", created_mode(self.mode)))
                        .detail("created", true),
                    Err(e) => Finding::fail(format!("cannot create {shown}: {e}")),
                }
            }
            .detail("path", shown.to_string()),
            Err(e) => Finding::fail(format!("cannot inspect {shown}: {e}"))
                .detail("path", shown.to_string()),
        }
    }

    /// Proves writability the way the runbook does (`touch .test && rm .test`): permission bits
    /// alone miss read-only mounts, ACLs and full disks.
    /// Under `--dry-run` nothing is written, not even a test file: the kernel is asked whether
    /// this process may write here (access(2) with W_OK). It cannot see a read-only mount's
    /// quirks or a full disk the way a real write does, and says so.
    #[cfg(unix)]
    fn check_writable_without_writing(&self) -> Finding {
        let shown = self.path.display();
        match rustix::fs::access(&self.path, rustix::fs::Access::WRITE_OK) {
            Ok(()) => Finding::pass(format!(
                "{shown} is writable by permissions (dry run: no test file written)"
            )),
            Err(e) => Finding::fail(format!(
                "{shown} is not writable by {}: {e} (dry run: permissions checked, nothing written)",
                current_user()
            )),
        }
    }

    /// Windows decides writes by ACLs, which only a real write (or a Win32 security query
    /// this check does not make) can answer; the read-only attribute means nothing on a
    /// directory. So a dry run says plainly that it did not check.
    #[cfg(windows)]
    fn check_writable_without_writing(&self) -> Finding {
        Finding::skip(format!(
            "{}: writability not checked (dry run on Windows: no test file written, and Windows has no permission bits to read)",
            self.path.display()
        ))
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
                    "{shown} is not writable by {}: {e}",
                    current_user()
                ))
            }
        }
    }

    fn check_space(&self) -> Finding {
        let (free, used) = match disk_space(&self.path) {
            Ok(space) => space,
            Err(e) => {
                return Finding::fail(format!(
                    "cannot read free space of {}: {e}",
                    self.path.display()
                ));
            }
        };
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

impl Newest {
    /// Finds the newest regular file whose name matches (by modification time; a symlink counts
    /// as what it points to) and checks its age and size.
    fn check(&self) -> Finding {
        let shown = self.dir.display();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                return Finding::fail(format!(
                    "no file matches {} in {shown}: cannot read the folder: {e}",
                    self.glob
                ))
                .detail("glob", self.glob.clone());
            }
        };
        let mut newest: Option<(PathBuf, SystemTime, u64)> = None;
        let mut matched = 0usize;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !glob_match(&self.name, name) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            matched += 1;
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if newest.as_ref().is_none_or(|(_, t, _)| modified > *t) {
                newest = Some((entry.path(), modified, meta.len()));
            }
        }
        let Some((file, modified, size)) = newest else {
            return Finding::fail(format!("no file matches {} in {shown}", self.glob))
                .detail("glob", self.glob.clone())
                .detail("dir", shown.to_string());
        };
        // A clock behind the file's time reads as age 0, not as an error.
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO);
        // Whole minutes once past one: "2h", not "2h 1s".
        let secs = age.as_secs();
        let age_shown = match secs {
            0..60 => format!("{secs}s"),
            _ => format_duration(Duration::from_secs(secs - secs % 60)),
        };
        let base = format!(
            "{} is the newest of {matched} matching {} ({age_shown} old, {})",
            file.display(),
            self.glob,
            format_size(size)
        );
        let mut problems = Vec::new();
        if let Some(max) = self.max_age
            && age > max
        {
            problems.push(format!("older than the allowed {}", format_duration(max)));
        }
        if let Some(min) = self.min_size
            && size < min
        {
            problems.push(format!("smaller than the required {}", format_size(min)));
        }
        let finding = if problems.is_empty() {
            Finding::pass(base)
        } else {
            Finding::fail(format!("{base}: {}", problems.join(" and ")))
        };
        finding
            .detail("file", file.display().to_string())
            .detail("age_seconds", age.as_secs())
            .detail("bytes", size)
            .detail("matching", matched)
            .detail("max_age_seconds", self.max_age.map(|d| d.as_secs()))
            .detail("min_size_bytes", self.min_size)
    }
}

/// Whether `name` matches `pattern`, where `*` is any run of characters (none included) and
/// `?` exactly one; everything else is itself. Iterative, with one point to backtrack to: linear
/// for all but pathological patterns.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The passing finding for a directory that is there: its mode where there is one.
#[cfg(unix)]
fn existing_dir(meta: &std::fs::Metadata, shown: &str) -> Finding {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    Finding::pass(format!("{shown} exists (mode {mode:o})"))
        .detail("path", shown)
        .detail("mode", format!("{mode:o}"))
}

#[cfg(windows)]
fn existing_dir(_meta: &std::fs::Metadata, shown: &str) -> Finding {
    Finding::pass(format!(
        "{shown} exists (mode and owner not checked: Windows has no mode bits)"
    ))
    .detail("path", shown)
}

/// How a created directory's mode is described: exactly as set on Unix; on Windows a
/// configured mode is named as not applied.
#[cfg(unix)]
fn created_mode(mode: Option<u32>) -> String {
    format!(" with mode {:o}", mode.unwrap_or(0o755))
}

#[cfg(windows)]
fn created_mode(mode: Option<u32>) -> String {
    match mode {
        Some(mode) => format!(
            " (mode {mode:o} not applied: Windows has no mode bits; it inherits its parent's permissions)"
        ),
        None => " (it inherits its parent's permissions)".into(),
    }
}

/// Like `mkdir -p` then `chmod MODE`: parents get the default mode, the directory itself `mode`.
#[cfg(unix)]
fn create_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::DirBuilder::new().mode(mode).create(path)?;
    // The umask narrows the mode given at creation; set it exactly, as `chmod` in the runbook does.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Like `mkdir -p`; Windows has no mode to set (see [`created_mode`]).
#[cfg(windows)]
fn create_dir(path: &Path, _mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Who this process writes as, for a failure message.
#[cfg(unix)]
fn current_user() -> String {
    format!("uid {}", rustix::process::geteuid().as_raw())
}

#[cfg(windows)]
fn current_user() -> String {
    match std::env::var("USERNAME") {
        Ok(name) if !name.is_empty() => format!("user {name}"),
        _ => "this user".into(),
    }
}

/// (bytes available to this user, bytes used) of the filesystem holding `path`, as `df`
/// counts them: space reserved for root counts neither as free nor as used.
#[cfg(unix)]
fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let stat = rustix::fs::statvfs(path)?;
    let frsize = stat.f_frsize;
    let free = stat.f_bavail.saturating_mul(frsize);
    let used = stat
        .f_blocks
        .saturating_sub(stat.f_bfree)
        .saturating_mul(frsize);
    Ok((free, used))
}

/// (bytes available to this user, bytes used) of the volume holding `path`
/// (`GetDiskFreeSpaceExW`): a per-user quota lowers the first.
#[cfg(windows)]
fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let stat = fs4::statvfs(path)?;
    let used = stat.total_space().saturating_sub(stat.free_space());
    Ok((stat.available_space(), used))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob_match("backup_*.dump", "backup_20260101.dump"));
        assert!(glob_match("backup_*.dump", "backup_.dump"));
        assert!(!glob_match("backup_*.dump", "backup_1.dump.partial"));
        assert!(!glob_match("backup_*.dump", "xbackup_1.dump"));
        assert!(glob_match("*.sql", "a.b.sql"));
        assert!(glob_match("db-??.sql", "db-01.sql"));
        assert!(!glob_match("db-??.sql", "db-1.sql"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }
}
