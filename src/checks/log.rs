//! The end of a log holds no line matching a pattern (the runbook's `tail -100 api.log | grep -i
//! error` that should find nothing) and a line matching another (`grep "server started"`). The
//! log is a file, read backwards from its end, or a command's output (`kubectl logs -l app=api`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use regex::Regex;

use super::Finding;
use super::command::Invocation;
use crate::report::Status;
use crate::units::plural;

/// Read at most this much from the end of the file: a log of single-line megabyte records is
/// judged on what fits.
const MAX_TAIL: u64 = 16 * 1024 * 1024;
/// Matching lines shown in a failure.
const SHOWN: usize = 5;
/// A shown line is cut to this many bytes.
const LINE_LIMIT: usize = 300;

/// Where the log comes from.
#[derive(Debug)]
pub enum Source {
    File(PathBuf),
    /// Its output, stdout then stderr, is the log; a failing command fails the check.
    Command(Invocation),
}

#[derive(Debug)]
pub struct LogProbe {
    pub source: Source,
    pub lines: usize,
    /// No line may match it.
    pub pattern: Option<Regex>,
    /// At least one line must match it.
    pub must_contain: Option<Regex>,
    pub ignore: Option<Regex>,
    pub optional: bool,
}

impl LogProbe {
    /// Under `--dry-run`: a log read from a command is described, not run; a file is read.
    pub fn would(&self) -> Option<Finding> {
        match &self.source {
            Source::File(_) => None,
            Source::Command(run) => Some(
                Finding::skip(format!(
                    "dry run: would run {} and read the last {} of its output",
                    run.shown(),
                    plural(self.lines, "line", "lines")
                ))
                .detail("dry_run", true)
                .detail("command", run.line()),
            ),
        }
    }

    /// The log as people name it: its path, or `the output of `cmd``.
    fn shown(&self) -> String {
        match &self.source {
            Source::File(path) => path.display().to_string(),
            Source::Command(run) => format!("the output of {}", run.shown()),
        }
    }

    /// The last lines of the log, or why there are none.
    async fn read(&self) -> Result<Vec<String>, String> {
        let lines = self.lines;
        match &self.source {
            Source::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || tail(&path, lines))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading crashed: {e}")))
                    .map_err(|why| format!("cannot read {}: {why}", self.shown()))
            }
            Source::Command(run) => {
                let shown = run.shown();
                let ran = run
                    .run(MAX_TAIL as usize)
                    .await
                    .map_err(|e| e.describe(&shown))?;
                if !ran.status.success() {
                    return Err(format!(
                        "{shown} exited with {}: {}",
                        ran.exit(),
                        cut(ran.last_words())
                    ));
                }
                // A cut output starts mid-line: that first piece is not a line of the log.
                let lines_of = |kept: &super::command::Kept| {
                    let all: Vec<String> = kept.text.lines().map(str::to_string).collect();
                    let from = usize::from(kept.cut() && all.len() > 1);
                    all.into_iter().skip(from)
                };
                let all: Vec<String> = lines_of(&ran.stdout).chain(lines_of(&ran.stderr)).collect();
                let skip = all.len().saturating_sub(lines);
                Ok(all.into_iter().skip(skip).collect())
            }
        }
    }

    pub async fn run(&self) -> Finding {
        let started = Instant::now();
        let shown_log = self.shown();
        let source_detail = |f: Finding| match &self.source {
            Source::File(path) => f.detail("path", path.display().to_string()),
            Source::Command(run) => f.detail("command", run.line()),
        };
        let tail = match self.read().await {
            Ok(t) => t,
            Err(why) => {
                let (status, note) = if self.optional {
                    (Status::Warn, " (optional: a warning, not a failure)")
                } else {
                    (Status::Fail, "")
                };
                return source_detail(Finding::new(status, format!("{why}{note}")))
                    .took(started.elapsed());
            }
        };
        let counted = |line: &&String| !self.ignore.as_ref().is_some_and(|i| i.is_match(line));
        let matches: Vec<(usize, &str)> = match &self.pattern {
            Some(pattern) => tail
                .iter()
                .enumerate()
                .filter(|(_, line)| pattern.is_match(line))
                .filter(|(_, line)| counted(line))
                .map(|(i, line)| (tail.len() - i, line.as_str()))
                .collect(),
            None => Vec::new(),
        };
        let wanted = self.must_contain.as_ref().map(|want| {
            tail.iter()
                .enumerate()
                .rev()
                .find(|(_, line)| want.is_match(line))
                .map(|(i, line)| (tail.len() - i, line.as_str()))
        });
        let scope = format!(
            "the last {} of {shown_log}",
            plural(tail.len(), "line", "lines")
        );
        let finding = if let (Some(want), Some(None)) = (&self.must_contain, &wanted) {
            let also = if matches.is_empty() {
                String::new()
            } else {
                format!(
                    "; and {} `{}`",
                    plural(matches.len(), "line matches", "lines match"),
                    self.pattern.as_ref().map_or("", |p| p.as_str())
                )
            };
            Finding::fail(format!(
                "no line matches `{want}` in {scope} (must_contain){also}"
            ))
            .detail("matches", matches.len())
        } else if matches.is_empty() {
            let mut said = Vec::new();
            if let Some(pattern) = &self.pattern {
                said.push(format!("no line matches `{pattern}`"));
            }
            if let (Some(want), Some(Some((from_end, line)))) = (&self.must_contain, &wanted) {
                said.push(format!(
                    "`{want}` found {from_end} from the end: {}",
                    cut(line)
                ));
            }
            Finding::pass(format!("{} in {scope}", said.join("; ")))
        } else {
            let pattern = self.pattern.as_ref().map_or("", |p| p.as_str());
            let shown: Vec<String> = matches
                .iter()
                .take(SHOWN)
                .map(|(from_end, line)| format!("{from_end} from the end: {}", cut(line)))
                .collect();
            Finding::fail(format!(
                "{} of {scope} {} `{}`; first: {}",
                matches.len(),
                if matches.len() == 1 {
                    "matches"
                } else {
                    "match"
                },
                pattern,
                cut(matches[0].1)
            ))
            .detail("matches", matches.len())
            .detail("first_matches", shown)
        };
        source_detail(finding)
            .detail("lines_read", tail.len())
            .detail(
                "pattern",
                self.pattern.as_ref().map(|p| p.as_str().to_string()),
            )
            .detail(
                "must_contain",
                self.must_contain.as_ref().map(|p| p.as_str().to_string()),
            )
            .took(started.elapsed())
    }
}

fn cut(line: &str) -> String {
    if line.len() <= LINE_LIMIT {
        line.to_string()
    } else {
        format!("{}…", &line[..line.floor_char_boundary(LINE_LIMIT)])
    }
}

/// The last `count` lines of a file, read backwards from its end (a log may be gigabytes),
/// bytes that are not UTF-8 replaced.
fn tail(path: &Path, count: usize) -> Result<Vec<String>, String> {
    const CHUNK: u64 = 64 * 1024;
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut start = len;
    // Chunks from the end backwards; each is read and counted once.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0;
    while start > 0 && len - start < MAX_TAIL {
        let step = CHUNK.min(start);
        start -= step;
        file.seek(SeekFrom::Start(start))
            .map_err(|e| e.to_string())?;
        let mut chunk = vec![0; step as usize];
        file.read_exact(&mut chunk).map_err(|e| e.to_string())?;
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
        // A final newline ends the last line; it does not start another.
        if chunks.is_empty() && chunk.last() == Some(&b'\n') {
            newlines -= 1;
        }
        chunks.push(chunk);
        if newlines >= count {
            break;
        }
    }
    let buf: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    let text = String::from_utf8_lossy(&buf);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    // Reading started mid-line unless it reached the start of the file.
    if start > 0 && lines.len() > 1 {
        lines.remove(0);
    }
    if text.is_empty() {
        lines.clear();
    }
    let skip = lines.len().saturating_sub(count);
    Ok(lines[skip..]
        .iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_large_files_by_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.log");
        let text: String = (1..=50_000).map(|i| format!("line {i} ok\n")).collect();
        std::fs::write(&path, text).unwrap();
        let last = tail(&path, 100).unwrap();
        assert_eq!(last.len(), 100);
        assert_eq!(last[0], "line 49901 ok");
        assert_eq!(last[99], "line 50000 ok");
        std::fs::write(&path, "a\r\nb").unwrap();
        assert_eq!(tail(&path, 100).unwrap(), ["a", "b"]);
        std::fs::write(&path, "").unwrap();
        assert!(tail(&path, 100).unwrap().is_empty());
        assert!(tail(&dir.path().join("none.log"), 1).is_err());
    }
}
