//! The end of a log file holds no line matching a pattern: the runbook's
//! `tail -100 api.log | grep -i error` that should find nothing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use regex::Regex;

use super::Finding;
use crate::report::Status;
use crate::units::plural;

/// Read at most this much from the end of the file: a log of single-line megabyte records is
/// judged on what fits.
const MAX_TAIL: u64 = 16 * 1024 * 1024;
/// Matching lines shown in a failure.
const SHOWN: usize = 5;
/// A shown line is cut to this many bytes.
const LINE_LIMIT: usize = 300;

#[derive(Debug)]
pub struct LogProbe {
    pub path: PathBuf,
    pub lines: usize,
    pub pattern: Regex,
    pub ignore: Option<Regex>,
    pub optional: bool,
}

impl LogProbe {
    pub async fn run(&self) -> Finding {
        let started = Instant::now();
        let (path, lines) = (self.path.clone(), self.lines);
        let tail = tokio::task::spawn_blocking(move || tail(&path, lines))
            .await
            .unwrap_or_else(|e| Err(format!("reading crashed: {e}")));
        let shown_path = self.path.display().to_string();
        let tail = match tail {
            Ok(t) => t,
            Err(why) => {
                let (status, note) = if self.optional {
                    (Status::Warn, " (optional: a warning, not a failure)")
                } else {
                    (Status::Fail, "")
                };
                return Finding::new(status, format!("cannot read {shown_path}: {why}{note}"))
                    .detail("path", shown_path)
                    .took(started.elapsed());
            }
        };
        let matches: Vec<(usize, &str)> = tail
            .iter()
            .enumerate()
            .filter(|(_, line)| self.pattern.is_match(line))
            .filter(|(_, line)| !self.ignore.as_ref().is_some_and(|i| i.is_match(line)))
            .map(|(i, line)| (tail.len() - i, line.as_str()))
            .collect();
        let scope = format!(
            "the last {} of {shown_path}",
            plural(tail.len(), "line", "lines")
        );
        let finding = if matches.is_empty() {
            Finding::pass(format!("no line matches `{}` in {scope}", self.pattern))
        } else {
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
                self.pattern,
                cut(matches[0].1)
            ))
            .detail("matches", matches.len())
            .detail("first_matches", shown)
        };
        finding
            .detail("path", shown_path)
            .detail("lines_read", tail.len())
            .detail("pattern", self.pattern.as_str())
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
