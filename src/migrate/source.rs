//! Migration files on disk: the six layouts teams already have, detected by themselves.
//!
//! | layout | files |
//! |---|---|
//! | sqlx | `<version>_<desc>.sql` (up only) |
//! | up/down pairs (sqlx reversible, golang-migrate) | `<version>_<desc>.up.sql` + `.down.sql` |
//! | diesel | `<version>_<name>/up.sql` + `down.sql` (+ `metadata.toml`) |
//! | dbmate | `<version>_<desc>.sql` with `-- migrate:up` and `-- migrate:down` sections |
//! | Flyway | `V<version>__<desc>.sql`, undo `U<version>__<desc>.sql` |
//! | Prisma | `<timestamp>_<name>/migration.sql` (up only; `migration_lock.toml` beside them) |
//!
//! A version is the file name up to the first `_` (`001-lp-base`, `20240101120000`); migrations
//! are ordered by its leading number (Flyway: its dotted numbers) and keep the full id.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::InputError;
use crate::report::Location;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Sqlx,
    UpDown,
    Diesel,
    Dbmate,
    Flyway,
    Prisma,
}

impl Layout {
    pub const ALL: [Layout; 6] = [
        Layout::Sqlx,
        Layout::UpDown,
        Layout::Diesel,
        Layout::Dbmate,
        Layout::Flyway,
        Layout::Prisma,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Sqlx => "sqlx",
            Layout::UpDown => "up-down",
            Layout::Diesel => "diesel",
            Layout::Dbmate => "dbmate",
            Layout::Flyway => "flyway",
            Layout::Prisma => "prisma",
        }
    }

    pub fn parse(text: &str) -> Result<Layout, UnknownLayout> {
        match text {
            "golang-migrate" | "migrate" => Ok(Layout::UpDown),
            _ => Layout::ALL
                .into_iter()
                .find(|l| l.name() == text)
                .ok_or_else(|| UnknownLayout(text.to_string())),
        }
    }
}

/// A layout name shipgate does not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLayout(pub String);

impl fmt::Display for UnknownLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown layout `{}`; use sqlx, up-down (golang-migrate), diesel, dbmate, flyway or prisma",
            self.0
        )
    }
}

impl std::error::Error for UnknownLayout {}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The SQL of one direction of a migration: a byte range of a file, so error positions map
/// back to the file exactly (see `position.rs`).
#[derive(Clone, Debug)]
pub struct Script {
    pub path: PathBuf,
    /// The whole file as read.
    pub text: String,
    /// Byte range of the SQL to run: after a BOM, after a dbmate section marker.
    pub start: usize,
    pub end: usize,
    /// Run statement by statement outside a transaction.
    pub no_transaction: bool,
}

impl Script {
    pub fn sql(&self) -> &str {
        &self.text[self.start..self.end]
    }

    /// 1-based line of the first byte of the SQL.
    pub fn first_line(&self) -> u32 {
        self.text[..self.start].matches('\n').count() as u32 + 1
    }

    pub fn location(&self) -> Location {
        Location {
            file: self.path.display().to_string(),
            line: self.first_line(),
            column: 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Migration {
    /// The full id as written: `001-lp-base`, `20240101120000`, `1.2`.
    pub version: String,
    /// What the migration is ordered by.
    pub order: Vec<u64>,
    /// The description part of the name (`create users`), may be empty.
    pub name: String,
    pub up: Script,
    pub down: Option<Script>,
    /// SHA-256 (hex) of the up SQL with a BOM removed and CRLF made LF.
    pub checksum: String,
}

#[derive(Clone, Debug)]
pub struct Source {
    pub dir: PathBuf,
    pub layout: Layout,
    /// In order.
    pub migrations: Vec<Migration>,
}

/// SHA-256 of text as a person sees it: line endings and a BOM alone never make a change.
pub fn checksum(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Copied only when there is a CR: thousands of files are checksummed on every run.
    let digest = if text.contains('\r') {
        Sha256::digest(text.replace("\r\n", "\n").as_bytes())
    } else {
        Sha256::digest(text.as_bytes())
    };
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 0xf)] as char);
    }
    hex
}

/// `f` over `items` on a few threads, results in order; the first error (in order) wins.
/// Reading and checksumming thousands of migration files is most of a no-op run.
fn parallel_map<T: Send, R: Send>(
    items: Vec<T>,
    f: impl Fn(T) -> Result<R, InputError> + Sync,
) -> Result<Vec<R>, InputError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || items.len() < 64 {
        return items.into_iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<T> = items.by_ref().take(per_thread).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(f).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::new();
        for h in handles {
            for r in h.join().expect("a migration file reader panicked") {
                out.push(r?);
            }
        }
        Ok(out)
    })
}

/// Prisma's marker at the top of its migrations directory (which database provider they are for).
pub const PRISMA_LOCK: &str = "migration_lock.toml";

/// One file (or diesel or Prisma directory) as classified before pairing.
struct Entry {
    layout: Layout,
    version: String,
    order: Vec<u64>,
    name: String,
    kind: EntryKind,
    path: PathBuf,
    /// The file's text when classifying it had to read it (kept: read once, not twice).
    text: Option<String>,
}

#[derive(PartialEq)]
enum EntryKind {
    Up,
    Down,
    /// A file holding both directions (dbmate), a diesel or a Prisma directory.
    Both,
}

pub fn load(dir: &Path, forced: Option<Layout>) -> Result<Source, InputError> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        InputError::new(format!(
            "cannot read the migrations directory {}: {e}",
            dir.display()
        ))
        .help("pass the folder with --dir, or set `dir` under [migrate]")
    })?;
    // With whether each is a directory, from the listing itself: a stat per file adds up over
    // thousands of migrations (a symlink is followed, as `is_dir` does).
    let mut paths: Vec<(PathBuf, bool)> = read
        .filter_map(|e| {
            let e = e.ok()?;
            let path = e.path();
            let is_dir = match e.file_type() {
                Ok(t) if !t.is_symlink() => t.is_dir(),
                _ => path.is_dir(),
            };
            Some((path, is_dir))
        })
        .filter(|(p, _)| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();

    let entries: Vec<Entry> = parallel_map(paths, |(path, is_dir)| classify(&path, is_dir))?
        .into_iter()
        .flatten()
        .collect();
    let layout = decide_layout(&entries, forced, dir)?;
    let migrations = pair(entries, layout)?;
    Ok(Source {
        dir: dir.to_path_buf(),
        layout,
        migrations,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn bad_file(path: &Path, message: impl Into<String>) -> InputError {
    InputError::new(message).at(Some(Location {
        file: path.display().to_string(),
        line: 1,
        column: 1,
    }))
}

/// Splits `<version>_<desc>` into the version and the description (underscores as spaces).
fn split_stem(stem: &str) -> (String, String) {
    match stem.split_once('_') {
        Some((v, d)) => (v.to_string(), d.replace('_', " ")),
        None => (stem.to_string(), String::new()),
    }
}

/// The leading number of a version (`001-lp-base` → 1), or none when it has no digits first.
fn leading_number(version: &str) -> Option<Vec<u64>> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().ok().map(|n| vec![n])
}

fn classify(path: &Path, is_dir: bool) -> Result<Option<Entry>, InputError> {
    let name = file_name(path);
    if is_dir {
        // diesel: a directory with up.sql; Prisma: one with migration.sql (and no down script).
        let layout = if path.join("up.sql").is_file() {
            Layout::Diesel
        } else if path.join("migration.sql").is_file() {
            Layout::Prisma
        } else {
            return Ok(None);
        };
        let (raw_version, desc) = split_stem(&name);
        // diesel stores `2015-12-19-180527` as `20151219180527`.
        let version = raw_version.replace('-', "");
        let order = leading_number(&version).ok_or_else(|| {
            bad_file(
                path,
                format!("the migration directory {name} does not start with a version number"),
            )
        })?;
        return Ok(Some(Entry {
            layout,
            version,
            order,
            name: desc,
            kind: EntryKind::Both,
            path: path.to_path_buf(),
            text: None,
        }));
    }
    let Some(stem) = name.strip_suffix(".sql") else {
        return Ok(None);
    };
    if let Some(rest) = stem.strip_prefix('V').or_else(|| stem.strip_prefix('U'))
        && let Some((version, desc)) = rest.split_once("__")
        && version.starts_with(|c: char| c.is_ascii_digit())
    {
        let order: Result<Vec<u64>, _> = version.split(['.', '_']).map(str::parse::<u64>).collect();
        let order = order.map_err(|_| {
            bad_file(
                path,
                format!("the Flyway version `{version}` of {name} is not dotted numbers"),
            )
        })?;
        return Ok(Some(Entry {
            layout: Layout::Flyway,
            version: version.replace('_', "."),
            order,
            name: desc.replace('_', " "),
            kind: if stem.starts_with('V') {
                EntryKind::Up
            } else {
                EntryKind::Down
            },
            path: path.to_path_buf(),
            text: None,
        }));
    }
    if stem.starts_with("R__") || (stem.starts_with('B') && stem.contains("__")) {
        return Err(bad_file(
            path,
            format!("{name}: Flyway repeatable and baseline scripts are not supported"),
        ));
    }
    let (stem, kind, layout, text) = if let Some(s) = stem.strip_suffix(".up") {
        (s, EntryKind::Up, Layout::UpDown, None)
    } else if let Some(s) = stem.strip_suffix(".down") {
        (s, EntryKind::Down, Layout::UpDown, None)
    } else {
        let text = read_text(path)?;
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("-- migrate:up"))
        {
            (stem, EntryKind::Both, Layout::Dbmate, Some(text))
        } else {
            (stem, EntryKind::Up, Layout::Sqlx, Some(text))
        }
    };
    let (version, desc) = split_stem(stem);
    let order = leading_number(&version).ok_or_else(|| {
        bad_file(
            path,
            format!(
                "{name} does not look like a migration: its name must start with a version number"
            ),
        )
        .help("name it e.g. 001_create_users.sql, or move it out of the migrations directory")
    })?;
    Ok(Some(Entry {
        layout,
        version,
        order,
        name: desc,
        kind,
        path: path.to_path_buf(),
        text,
    }))
}

fn decide_layout(
    entries: &[Entry],
    forced: Option<Layout>,
    dir: &Path,
) -> Result<Layout, InputError> {
    let mut found: Vec<(Layout, &Path)> = Vec::new();
    for e in entries {
        if !found.iter().any(|(l, _)| *l == e.layout) {
            found.push((e.layout, &e.path));
        }
    }
    if let Some(forced) = forced {
        if let Some((other, path)) = found.iter().find(|(l, _)| *l != forced) {
            return Err(bad_file(
                path,
                format!(
                    "{} is a {other} migration, but --layout is {forced}",
                    path.display()
                ),
            ));
        }
        return Ok(forced);
    }
    match found.as_slice() {
        [] => Err(no_migrations(dir)),
        [(layout, _)] => Ok(*layout),
        [(a, pa), (b, pb), ..] => Err(InputError::new(format!(
            "the migrations directory mixes layouts: {} is {a}, {} is {b}",
            pa.display(),
            pb.display()
        ))
        .help("keep one layout per directory, or pass --layout to say which one is meant")),
    }
}

/// An empty or foreign directory; a Prisma project's folders get a pointed hint.
fn no_migrations(dir: &Path) -> InputError {
    let error = InputError::new(format!("no migrations in {}", dir.display()));
    if dir.join(PRISMA_LOCK).is_file() {
        error.help(format!(
            "{} holds Prisma's {PRISMA_LOCK} but no <timestamp>_<name>/migration.sql folder",
            dir.display()
        ))
    } else if dir.join("migrations").join(PRISMA_LOCK).is_file() {
        error.help(format!(
            "this is a Prisma project: its migrations are in {}",
            dir.join("migrations").display()
        ))
    } else {
        error.help(
            "migration files are named like 001_create_users.sql (see the README for the layouts)",
        )
    }
}

fn read_text(path: &Path) -> Result<String, InputError> {
    crate::files::read_text_bounded(path, crate::files::MIGRATION_LIMIT).map_err(|e| {
        bad_file(path, format!("cannot read {}: {e}", path.display()))
            .help("a migration is a regular UTF-8 text file; move anything else out of the migrations directory")
    })
}

/// A whole file as one script, after a BOM.
fn whole_file(path: &Path, no_transaction_default: bool) -> Result<Script, InputError> {
    whole_text(path, read_text(path)?, no_transaction_default)
}

/// A whole file, already read, as one script.
fn whole_text(
    path: &Path,
    text: String,
    no_transaction_default: bool,
) -> Result<Script, InputError> {
    let start = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let end = text.len();
    let no_transaction = no_transaction_default || has_no_transaction_directive(&text[start..]);
    Ok(Script {
        path: path.to_path_buf(),
        text,
        start,
        end,
        no_transaction,
    })
}

/// shipgate's `-- shipgate:no-transaction` on a line of its own anywhere, or sqlx's
/// `-- no-transaction` at the very start of the file.
fn has_no_transaction_directive(sql: &str) -> bool {
    sql.starts_with("-- no-transaction")
        || sql
            .lines()
            .any(|l| l.trim() == "-- shipgate:no-transaction")
}

/// Splits a dbmate file at its `-- migrate:up` / `-- migrate:down` lines.
fn dbmate_scripts(path: &Path) -> Result<(Script, Option<Script>), InputError> {
    let text = read_text(path)?;
    let mut markers = Vec::new(); // (line start, line end incl. newline, is_up, transaction:false)
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start_matches('\u{feff}').trim();
        if let Some(opts) = trimmed.strip_prefix("-- migrate:up") {
            markers.push((
                offset,
                offset + line.len(),
                true,
                opts.contains("transaction:false"),
            ));
        } else if let Some(opts) = trimmed.strip_prefix("-- migrate:down") {
            markers.push((
                offset,
                offset + line.len(),
                false,
                opts.contains("transaction:false"),
            ));
        }
        offset += line.len();
    }
    let ups = markers.iter().filter(|m| m.2).count();
    let downs = markers.iter().filter(|m| !m.2).count();
    if ups != 1 || downs > 1 {
        return Err(bad_file(
            path,
            format!(
                "{} has {ups} `-- migrate:up` and {downs} `-- migrate:down` sections; shipgate reads one of each",
                path.display()
            ),
        ));
    }
    let section = |i: usize| {
        let (_, body_start, _, no_tx) = markers[i];
        let end = markers.get(i + 1).map_or(text.len(), |m| m.0);
        let sql = &text[body_start..end];
        Script {
            path: path.to_path_buf(),
            text: text.clone(),
            start: body_start,
            end,
            no_transaction: no_tx
                || sql
                    .lines()
                    .any(|l| l.trim() == "-- shipgate:no-transaction"),
        }
    };
    let up_index = markers.iter().position(|m| m.2).expect("one up marker");
    let up = section(up_index);
    let down = markers.iter().position(|m| !m.2).map(section);
    let preamble = &text[..markers[0].0];
    if preamble
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .any(|l| !l.is_empty() && !l.starts_with("--"))
    {
        return Err(bad_file(
            path,
            format!(
                "{} has SQL before its first `-- migrate:` marker",
                path.display()
            ),
        ));
    }
    Ok((up, down))
}

fn diesel_scripts(dir: &Path) -> Result<(Script, Option<Script>), InputError> {
    let metadata = dir.join("metadata.toml");
    let no_tx = match metadata
        .exists()
        .then(|| read_text(&metadata))
        .transpose()?
    {
        Some(meta) => {
            let table: toml::Table = toml::from_str(&meta).map_err(|e| {
                bad_file(
                    &dir.join("metadata.toml"),
                    format!("cannot parse metadata.toml: {}", e.message()),
                )
            })?;
            table
                .get("run_in_transaction")
                .and_then(toml::Value::as_bool)
                == Some(false)
        }
        None => false,
    };
    let up = whole_file(&dir.join("up.sql"), no_tx)?;
    let down_path = dir.join("down.sql");
    let down = if down_path.is_file() {
        Some(whole_file(&down_path, no_tx)?)
    } else {
        None
    };
    Ok((up, down))
}

/// Flyway's per-script `<file>.sql.conf` may say `executeInTransaction=false`.
fn flyway_no_transaction(path: &Path) -> bool {
    let conf = PathBuf::from(format!("{}.conf", path.display()));
    // A conf that is not a regular file is not Flyway's: it says nothing.
    crate::files::read_text_bounded(&conf, crate::files::CONFIG_LIMIT)
        .map(|c| {
            c.lines()
                .any(|l| l.replace(' ', "") == "executeInTransaction=false")
        })
        .unwrap_or(false)
}

fn pair(entries: Vec<Entry>, layout: Layout) -> Result<Vec<Migration>, InputError> {
    let mut ups: Vec<Entry> = Vec::new();
    let mut downs: Vec<Entry> = Vec::new();
    for e in entries {
        match e.kind {
            EntryKind::Down => downs.push(e),
            _ => ups.push(e),
        }
    }
    ups.sort_by(|a, b| {
        a.order
            .cmp(&b.order)
            .then_with(|| a.version.cmp(&b.version))
    });
    for w in ups.windows(2) {
        if w[0].order == w[1].order {
            return Err(bad_file(
                &w[1].path,
                format!(
                    "duplicate migration version: {} and {} both have version {}",
                    w[0].path.display(),
                    w[1].path.display(),
                    w[1].order
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(".")
                ),
            )
            .help("give each migration its own version number"));
        }
    }
    // Down scripts by (number, version): pairing 5,000 of each must not compare every pair.
    let up_keys: std::collections::HashSet<(&[u64], &str)> = ups
        .iter()
        .map(|u| (u.order.as_slice(), u.version.as_str()))
        .collect();
    if let Some(orphan) = downs
        .iter()
        .find(|d| !up_keys.contains(&(d.order.as_slice(), d.version.as_str())))
    {
        return Err(bad_file(
            &orphan.path,
            format!(
                "{} is a down migration without an up migration",
                orphan.path.display()
            ),
        ));
    }
    let mut downs: std::collections::HashMap<(Vec<u64>, String), Entry> = downs
        .into_iter()
        .map(|d| ((d.order.clone(), d.version.clone()), d))
        .collect();
    let pairs: Vec<(Entry, Option<Entry>)> = ups
        .into_iter()
        .map(|up| {
            let down = downs.remove(&(up.order.clone(), up.version.clone()));
            (up, down)
        })
        .collect();
    parallel_map(pairs, |(up, down_entry)| {
        let (up_script, down_script) = match layout {
            Layout::Dbmate => dbmate_scripts(&up.path)?,
            Layout::Diesel => diesel_scripts(&up.path)?,
            // Prisma writes no down script: rollback refuses these (see revert.rs).
            Layout::Prisma => (whole_file(&up.path.join("migration.sql"), false)?, None),
            Layout::Flyway => (
                whole_file(&up.path, flyway_no_transaction(&up.path))?,
                down_entry
                    .map(|d| whole_file(&d.path, flyway_no_transaction(&d.path)))
                    .transpose()?,
            ),
            Layout::Sqlx | Layout::UpDown => (
                match up.text {
                    Some(text) => whole_text(&up.path, text, false)?,
                    None => whole_file(&up.path, false)?,
                },
                down_entry.map(|d| whole_file(&d.path, false)).transpose()?,
            ),
        };
        Ok(Migration {
            checksum: checksum(up_script.sql()),
            version: up.version,
            order: up.order,
            name: up.name,
            up: up_script,
            down: down_script,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn versions(source: &Source) -> Vec<&str> {
        source
            .migrations
            .iter()
            .map(|m| m.version.as_str())
            .collect()
    }

    #[test]
    fn checksum_ignores_bom_and_line_endings() {
        assert_eq!(checksum("a;\nb;\n"), checksum("\u{feff}a;\r\nb;\r\n"));
        assert_ne!(checksum("a;\n"), checksum("a; \n"));
        assert_eq!(checksum("").len(), 64);
        // The SHA-256 of "abc", as every tool writes it (lowercase hex).
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parallel_map_keeps_the_order_and_the_first_error() {
        let doubled = parallel_map((0..1000).collect(), |i: u32| Ok(i * 2)).unwrap();
        assert_eq!(doubled, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        let err = parallel_map((0..1000).collect(), |i: u32| {
            if i == 700 || i == 300 {
                Err(InputError::new(format!("bad {i}")))
            } else {
                Ok(i)
            }
        })
        .unwrap_err();
        assert!(format!("{err:?}").contains("bad 300"), "{err:?}");
    }

    #[test]
    fn sqlx_simple_ordered_by_leading_number() {
        let d = dir_with(&[
            ("10_later.sql", "SELECT 10;"),
            ("2_first_one.sql", "SELECT 2;"),
            ("README.md", "x"),
        ]);
        let s = load(d.path(), None).unwrap();
        assert_eq!(s.layout, Layout::Sqlx);
        assert_eq!(versions(&s), ["2", "10"]);
        assert_eq!(s.migrations[0].name, "first one");
        assert!(s.migrations[0].down.is_none());
    }

    #[test]
    fn seed_style_ids_with_up_down_pairs() {
        let d = dir_with(&[
            ("001-lp-base.up.sql", "CREATE TABLE a();"),
            ("001-lp-base.down.sql", "DROP TABLE a;"),
            ("002-lp-commitments.up.sql", "CREATE TABLE b();"),
        ]);
        let s = load(d.path(), None).unwrap();
        assert_eq!(s.layout, Layout::UpDown);
        assert_eq!(versions(&s), ["001-lp-base", "002-lp-commitments"]);
        assert_eq!(
            s.migrations[0].down.as_ref().unwrap().sql(),
            "DROP TABLE a;"
        );
        assert!(s.migrations[1].down.is_none());
    }

    #[test]
    fn dbmate_sections_and_options() {
        let text = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (c);\n\n-- migrate:down\nDROP INDEX i;\n";
        let d = dir_with(&[("20240101120000_index.sql", text)]);
        let s = load(d.path(), None).unwrap();
        assert_eq!(s.layout, Layout::Dbmate);
        let m = &s.migrations[0];
        assert!(m.up.no_transaction);
        assert_eq!(m.up.sql().trim(), "CREATE INDEX CONCURRENTLY i ON t (c);");
        assert_eq!(m.up.first_line(), 2);
        assert_eq!(m.down.as_ref().unwrap().sql().trim(), "DROP INDEX i;");
        assert!(!m.down.as_ref().unwrap().no_transaction);
    }

    #[test]
    fn diesel_directories_and_metadata() {
        let d = dir_with(&[
            (
                "2015-12-19-180527_create_users/up.sql",
                "CREATE TABLE users();",
            ),
            (
                "2015-12-19-180527_create_users/down.sql",
                "DROP TABLE users;",
            ),
            (
                "2016-01-01-000000_index/up.sql",
                "CREATE INDEX CONCURRENTLY x ON users(id);",
            ),
            (
                "2016-01-01-000000_index/metadata.toml",
                "run_in_transaction = false\n",
            ),
        ]);
        let s = load(d.path(), None).unwrap();
        assert_eq!(s.layout, Layout::Diesel);
        assert_eq!(versions(&s), ["20151219180527", "20160101000000"]);
        assert!(s.migrations[1].up.no_transaction);
        assert!(s.migrations[1].down.is_none());
    }

    #[test]
    fn prisma_folders_with_migration_sql() {
        let d = dir_with(&[
            ("migration_lock.toml", "provider = \"postgresql\"\n"),
            (
                "20240102093000_add_email/migration.sql",
                "-- AlterTable\nALTER TABLE \"User\" ADD COLUMN \"email\" TEXT;\n",
            ),
            (
                "20240101120000_init/migration.sql",
                "-- CreateTable\nCREATE TABLE \"User\" (\"id\" SERIAL NOT NULL);\n",
            ),
            // The seed's hand-made name: a shorter timestamp.
            (
                "20260112_add_performance_indexes/migration.sql",
                "SELECT 1;\n",
            ),
        ]);
        let s = load(d.path(), None).unwrap();
        assert_eq!(s.layout, Layout::Prisma);
        assert_eq!(
            versions(&s),
            ["20260112", "20240101120000", "20240102093000"],
            "ordered by the number: the 8-digit one is the smallest"
        );
        let init = &s.migrations[1];
        assert_eq!(init.name, "init");
        assert!(init.down.is_none(), "Prisma has no down scripts");
        assert!(init.up.path.ends_with("20240101120000_init/migration.sql"));
        assert!(init.up.sql().contains("CREATE TABLE"));
        assert_eq!(Layout::parse("prisma"), Ok(Layout::Prisma));

        // Forced, and refused for another layout's files.
        assert_eq!(
            load(d.path(), Some(Layout::Prisma)).unwrap().layout,
            Layout::Prisma
        );
        let e = load(d.path(), Some(Layout::Diesel))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is a prisma migration, but --layout is diesel"),
            "{e}"
        );

        // A diesel folder beside a Prisma one is a mix.
        let mix = dir_with(&[
            ("1_a/migration.sql", "SELECT 1;"),
            ("2_b/up.sql", "SELECT 2;"),
        ]);
        let e = load(mix.path(), None).unwrap_err().to_string();
        assert!(e.contains("mixes layouts"), "{e}");
    }

    #[test]
    fn an_empty_prisma_directory_says_where_the_migrations_are() {
        let project = dir_with(&[("migrations/migration_lock.toml", "provider = \"mysql\"\n")]);
        let e = format!("{:?}", load(project.path(), None).unwrap_err());
        assert!(e.contains("this is a Prisma project"), "{e}");
        let e = format!(
            "{:?}",
            load(&project.path().join("migrations"), None).unwrap_err()
        );
        assert!(
            e.contains("no <timestamp>_<name>/migration.sql folder"),
            "{e}"
        );
    }

    #[test]
    fn flyway_versions_and_undo() {
        let d = dir_with(&[
            ("V1.10__later.sql", "SELECT 3;"),
            ("V1.9__earlier.sql", "SELECT 2;"),
            ("U1.9__earlier.sql", "SELECT -2;"),
            ("V1__init.sql", "SELECT 1;"),
        ]);
        let s = load(d.path(), None).unwrap();
        assert_eq!(s.layout, Layout::Flyway);
        assert_eq!(versions(&s), ["1", "1.9", "1.10"]);
        assert!(s.migrations[1].down.is_some());
    }

    #[test]
    fn directives() {
        let d = dir_with(&[
            (
                "1_a.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY a ON t(c);",
            ),
            ("2_b.sql", "\u{feff}SELECT 1;\n-- shipgate:no-transaction\n"),
            (
                "3_c.sql",
                "SELECT 1; -- no-transaction later is not a directive",
            ),
        ]);
        let s = load(d.path(), None).unwrap();
        let flags: Vec<bool> = s.migrations.iter().map(|m| m.up.no_transaction).collect();
        assert_eq!(flags, [true, true, false]);
        assert_eq!(s.migrations[1].up.start, 3, "BOM skipped");
    }

    #[test]
    fn input_errors_name_the_files() {
        let dup = dir_with(&[("1_a.sql", ""), ("001_b.sql", "")]);
        let e = load(dup.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("duplicate migration version")
                && e.contains("1_a.sql")
                && e.contains("001_b.sql"),
            "{e}"
        );

        let orphan = dir_with(&[("1_a.up.sql", ""), ("2_b.down.sql", "")]);
        let e = load(orphan.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("2_b.down.sql") && e.contains("without an up"),
            "{e}"
        );

        let mix = dir_with(&[("1_a.up.sql", ""), ("2_b.sql", "SELECT 1;")]);
        let e = load(mix.path(), None).unwrap_err().to_string();
        assert!(e.contains("mixes layouts"), "{e}");

        let misnamed = dir_with(&[("create_users.sql", "")]);
        let e = load(misnamed.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("create_users.sql") && e.contains("version number"),
            "{e}"
        );

        let not_utf8 = dir_with(&[]);
        std::fs::write(not_utf8.path().join("1_a.sql"), [0xff, 0xfe, 0x00]).unwrap();
        let e = load(not_utf8.path(), None).unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");

        let e = load(Path::new("/nonexistent/migrations"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the migrations directory"), "{e}");

        let forced = dir_with(&[("1_a.sql", "SELECT 1;")]);
        let e = load(forced.path(), Some(Layout::Flyway))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--layout is flyway"), "{e}");
    }
}
