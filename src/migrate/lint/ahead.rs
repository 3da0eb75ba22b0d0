//! Scanning ahead: Squawk's parse is the lint's cost (about 0.04 ms a file), and it needs only
//! the files. So a run that will lint starts scanning on threads of its own as soon as the files
//! are read, while the database is connected and the history read, newest file first (the
//! pending migrations of a deployment are the newest). When the run knows which migrations are
//! pending, the threads skip the others, and the run scans whatever is left itself, from the
//! oldest: they meet in the middle, and no file is scanned twice.
//!
//! The threads scan as if for PostgreSQL 15 (Squawk's default). Squawk 2.68's rules change
//! their verdict at 11, 12 and 19 only ([`same_rules`]): for a server outside 12–18 every
//! file is scanned again, for that version.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use squawk_linter::Version as PgVersion;

use super::{FileScan, Settings, scan_file};
use crate::migrate::Source;

/// The version the thread scans for.
const GUESS: &str = "15";

pub struct ScanAhead {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared {
    source: Arc<Source>,
    settings: Settings,
    /// A file is scanned by whoever claims it first.
    claimed: Vec<AtomicBool>,
    scans: Vec<Mutex<Option<FileScan>>>,
    /// Set once the run knows what it needs: the files it will lint (none: stop).
    wanted: OnceLock<Vec<bool>>,
}

impl Shared {
    fn claim(&self, i: usize) -> bool {
        !self.claimed[i].swap(true, Ordering::AcqRel)
    }

    fn scan(&self, i: usize, version: Option<PgVersion>) {
        let scan = scan_file(&self.source.migrations[i], &self.settings, version);
        *self.scans[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(scan);
    }
}

impl ScanAhead {
    pub fn start(source: Arc<Source>, settings: Settings) -> ScanAhead {
        let n = source.migrations.len();
        let shared = Arc::new(Shared {
            source,
            settings,
            claimed: (0..n).map(|_| AtomicBool::new(false)).collect(),
            scans: (0..n).map(|_| Mutex::new(None)).collect(),
            wanted: OnceLock::new(),
        });
        // One thread per core: until the run knows what is pending it mostly waits for the
        // database. No thread (a resource limit): the run scans everything itself.
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        let workers = (0..threads)
            .filter_map(|_| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name("shipgate-lint".into())
                    .spawn(move || {
                        let guess = super::pg_version(GUESS);
                        for i in (0..n).rev() {
                            if s.wanted.get().is_some_and(|w| !w[i]) {
                                continue;
                            }
                            if s.claim(i) {
                                s.scan(i, guess);
                            }
                        }
                    })
                    .ok()
            })
            .collect();
        ScanAhead { shared, workers }
    }

    /// The scans of the migrations at `indices` (ascending), for a server of `version`: those
    /// the thread made, the rest made here.
    pub fn finish(mut self, indices: &[usize], version: Option<PgVersion>) -> Vec<FileScan> {
        let shared = Arc::clone(&self.shared);
        let n = shared.claimed.len();
        let reuse = same_rules(version, super::pg_version(GUESS));
        let mut wanted = vec![false; n];
        if reuse {
            for &i in indices {
                wanted[i] = true;
            }
        }
        let _ = shared.wanted.set(wanted);
        if reuse {
            for &i in indices {
                if shared.claim(i) {
                    shared.scan(i, version);
                }
            }
        }
        // Each thread is at most one file away from done.
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        indices
            .iter()
            .map(|&i| {
                let made = shared.scans[i]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                match made {
                    Some(scan) if reuse => scan,
                    _ => scan_file(&shared.source.migrations[i], &shared.settings, version),
                }
            })
            .collect()
    }
}

/// A run that ends before it lints stops the threads (after their current file); they are not
/// waited for.
impl Drop for ScanAhead {
    fn drop(&mut self) {
        let _ = self.shared.wanted.set(Vec::new());
    }
}

/// Whether Squawk 2.68's rules judge the same on both versions: their thresholds are
/// PostgreSQL 11 (`adding-field-with-default`), 12 (`adding-not-nullable-field`) and 19
/// (`prefer-repack`). Pinned with the crate: check them when squawk-linter is upgraded.
fn same_rules(a: Option<PgVersion>, b: Option<PgVersion>) -> bool {
    let class = |v: Option<PgVersion>| {
        let v = v.or_else(|| super::pg_version(GUESS))?;
        Some(
            ["11", "12", "19"]
                .iter()
                .filter_map(|t| super::pg_version(t))
                .filter(|t| v >= *t)
                .count(),
        )
    };
    class(a) == class(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::lint::pg_version;
    use crate::migrate::source::{Layout, Migration, Script, checksum};

    fn source(n: usize) -> Arc<Source> {
        let migrations = (0..n)
            .map(|i| {
                let sql = format!(
                    "CREATE TABLE t{i} (id int);\nALTER TABLE orders ADD COLUMN c{i} bigint DEFAULT 0;\n\
                     CREATE INDEX i{i} ON orders (c{i});\n"
                );
                Migration {
                    version: i.to_string(),
                    order: vec![i as u64],
                    name: String::new(),
                    up: Script {
                        path: format!("{i}.sql").into(),
                        text: sql.clone(),
                        start: 0,
                        end: sql.len(),
                        no_transaction: false,
                    },
                    down: None,
                    checksum: checksum(&sql),
                }
            })
            .collect();
        Arc::new(Source {
            dir: "migrations".into(),
            layout: Layout::Sqlx,
            migrations,
        })
    }

    /// What the threads made and what the run made itself is what one serial scan makes, for
    /// the server's version (a PostgreSQL 10 server rescans everything for its rules).
    #[test]
    fn the_scans_ahead_are_the_serial_scans() {
        let source = source(200);
        let wanted: Vec<usize> = (0..200).filter(|i| i % 3 != 0).collect();
        for version in ["15.4", "10.5"] {
            let v = pg_version(version);
            let ahead = ScanAhead::start(Arc::clone(&source), Settings::default());
            let made = ahead.finish(&wanted, v);
            let serial: Vec<FileScan> = wanted
                .iter()
                .map(|&i| scan_file(&source.migrations[i], &Settings::default(), v))
                .collect();
            assert_eq!(format!("{made:?}"), format!("{serial:?}"), "{version}");
        }
        // PostgreSQL 10 finds the constant default; 15 does not.
        let made = ScanAhead::start(Arc::clone(&source), Settings::default())
            .finish(&[1], pg_version("10.5"));
        assert!(
            format!("{made:?}").contains("AddingFieldWithDefault"),
            "{made:?}"
        );
    }

    #[test]
    fn versions_between_thresholds_judge_alike() {
        assert!(same_rules(pg_version("15.4"), pg_version("15")));
        assert!(same_rules(pg_version("12.0"), pg_version("18.1")));
        assert!(!same_rules(pg_version("11.22"), pg_version("15")));
        assert!(!same_rules(pg_version("10.5"), pg_version("11.1")));
        assert!(!same_rules(pg_version("19.0"), pg_version("15")));
        assert!(same_rules(None, pg_version("15")));
    }
}
