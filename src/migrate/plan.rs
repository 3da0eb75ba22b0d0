//! What a run would do, decided before it does anything: which migrations are pending, which
//! applied files changed (drift), which versions were applied but have no file, what is out of
//! order, and which migration stopped half-way.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::history::{Row, Status};
use super::source::{Migration, Source};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Recorded and unchanged.
    Applied,
    /// Not recorded: will run (if within `--to`).
    Pending,
    /// Not recorded, but a later version is: refused unless `--allow-out-of-order`.
    OutOfOrder,
    /// Recorded with another checksum: the file changed after it ran.
    Drifted { recorded: String },
    /// A non-transactional migration stopped after this many statements.
    Partial { statements_done: i64 },
    /// A rollback outside a transaction stopped after this many statements of the down script.
    Reverting { statements_done: i64 },
}

#[derive(Clone, Debug)]
pub struct Item {
    /// Index into `Source::migrations`.
    pub index: usize,
    pub state: State,
    pub row: Option<Row>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// One per migration file, in order.
    pub items: Vec<Item>,
    /// Recorded versions with no file.
    pub missing: Vec<Row>,
    /// Indexes (into `items`) of what will run, in order.
    pub to_apply: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Stop after this version.
    pub to: Option<String>,
    pub allow_out_of_order: bool,
}

/// `--to` names no migration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTarget(pub String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--to {}: no migration has that version", self.0)
    }
}

impl std::error::Error for UnknownTarget {}

impl Plan {
    pub fn new(source: &Source, rows: &[Row], opts: &Options) -> Result<Plan, UnknownTarget> {
        let target = match &opts.to {
            Some(to) => Some(find(source, to).ok_or_else(|| UnknownTarget(to.clone()))?),
            None => None,
        };
        // Lookups by version and by number: a run over 5,000 applied migrations must not
        // compare every file with every row (that was 25 million comparisons).
        let by_version: HashMap<&str, &Row> =
            rows.iter().map(|r| (r.version.as_str(), r)).collect();
        let files: HashSet<&str> = source
            .migrations
            .iter()
            .map(|m| m.version.as_str())
            .collect();
        // Rows whose file is gone, by number: a renamed file (`1_init.sql` → `001_init.sql`)
        // keeps its row. The first such row of a number wins, as a scan in row order found it.
        let mut renamed: HashMap<Vec<u64>, &Row> = HashMap::new();
        for r in rows.iter().filter(|r| !files.contains(r.version.as_str())) {
            if let Some(order) = order_of(&r.version) {
                renamed.entry(order).or_insert(r);
            }
        }
        let newest_applied = source
            .migrations
            .iter()
            .filter(|m| by_version.contains_key(m.version.as_str()))
            .map(|m| &m.order)
            .max()
            .cloned();
        let mut items = Vec::with_capacity(source.migrations.len());
        let mut to_apply = Vec::new();
        for (index, m) in source.migrations.iter().enumerate() {
            let row = by_version
                .get(m.version.as_str())
                .or_else(|| renamed.get(&m.order))
                .map(|r| (*r).clone());
            let state = match &row {
                // Changed since it stopped: the statements already run may not be the ones now
                // counted; accept the change (--accept-checksum) before resuming.
                Some(r) if r.status == Status::Partial && r.checksum != m.checksum => {
                    State::Drifted {
                        recorded: r.checksum.clone(),
                    }
                }
                Some(r) if r.status == Status::Reverting => State::Reverting {
                    statements_done: r.statements_done.unwrap_or(0),
                },
                Some(r) if r.status == Status::Partial => State::Partial {
                    statements_done: r.statements_done.unwrap_or(0),
                },
                Some(r) if r.checksum != m.checksum => State::Drifted {
                    recorded: r.checksum.clone(),
                },
                Some(_) => State::Applied,
                None if newest_applied.as_ref().is_some_and(|n| &m.order < n) => State::OutOfOrder,
                None => State::Pending,
            };
            let within_target = target.is_none_or(|t| m.order <= source.migrations[t].order);
            let runs = match state {
                State::Pending => within_target,
                State::OutOfOrder => within_target && opts.allow_out_of_order,
                _ => false,
            };
            if runs {
                to_apply.push(items.len());
            }
            items.push(Item { index, state, row });
        }
        let matched: HashSet<&str> = items
            .iter()
            .filter_map(|i: &Item| i.row.as_ref().map(|r| r.version.as_str()))
            .collect();
        let missing = rows
            .iter()
            .filter(|r| !matched.contains(r.version.as_str()))
            .cloned()
            .collect();
        Ok(Plan {
            items,
            missing,
            to_apply,
        })
    }

    /// Drift, refused out-of-order migrations and partial ones stop a run before it starts.
    pub fn blockers(&self, opts: &Options) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| match i.state {
                State::Drifted { .. } | State::Partial { .. } | State::Reverting { .. } => true,
                State::OutOfOrder => !opts.allow_out_of_order,
                State::Applied | State::Pending => false,
            })
            .collect()
    }

    pub fn pending(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.state, State::Pending | State::OutOfOrder))
            .count()
    }

    pub fn drifted(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.state, State::Drifted { .. }))
            .count()
    }
}

/// The order key of a recorded version (`001` → [1], `1.2` → [1, 2]); none for other shapes.
pub fn order_of(version: &str) -> Option<Vec<u64>> {
    let digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .trim_end_matches('.')
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect()
}

/// The migration a `--to` names: its full id, or its number (`--to 1` finds `001-lp-base`).
pub fn find(source: &Source, version: &str) -> Option<usize> {
    source
        .migrations
        .iter()
        .position(|m| m.version == version)
        .or_else(|| {
            let wanted: Vec<u64> = version
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            source.migrations.iter().position(|m| m.order == wanted)
        })
}

/// A migration's display name: `001-lp-base (lp base)`.
pub fn title(m: &Migration) -> String {
    if m.name.is_empty() {
        m.version.clone()
    } else {
        format!("{} ({})", m.version, m.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{Layout, Script, checksum};

    fn migration(version: &str, order: u64, sql: &str) -> Migration {
        Migration {
            version: version.into(),
            order: vec![order],
            name: String::new(),
            up: Script {
                path: format!("{version}.sql").into(),
                text: sql.into(),
                start: 0,
                end: sql.len(),
                no_transaction: false,
            },
            down: None,
            checksum: checksum(sql),
        }
    }

    fn row(version: &str, sql: &str, status: Status) -> Row {
        Row {
            version: version.into(),
            name: String::new(),
            checksum: checksum(sql),
            applied_at: String::new(),
            execution_ms: 1,
            applied_by: "t".into(),
            status,
            statements_done: None,
            note: None,
        }
    }

    fn source(ms: Vec<Migration>) -> Source {
        Source {
            dir: "m".into(),
            layout: Layout::Sqlx,
            migrations: ms,
        }
    }

    #[test]
    fn states() {
        let s = source(vec![
            migration("1", 1, "a"),
            migration("2", 2, "b"),
            migration("3", 3, "c"),
            migration("4", 4, "d"),
        ]);
        let rows = vec![
            row("1", "a", Status::Applied),
            row("3", "changed", Status::Applied),
            row("9", "x", Status::Applied),
        ];
        let opts = Options::default();
        let plan = Plan::new(&s, &rows, &opts).unwrap();
        let states: Vec<&State> = plan.items.iter().map(|i| &i.state).collect();
        assert_eq!(states[0], &State::Applied);
        assert_eq!(states[1], &State::OutOfOrder);
        assert!(matches!(states[2], State::Drifted { .. }));
        assert_eq!(states[3], &State::Pending);
        assert_eq!(plan.to_apply, [3]);
        assert_eq!(plan.missing.len(), 1);
        assert_eq!(plan.blockers(&opts).len(), 2);
        let allow = Options {
            allow_out_of_order: true,
            ..Options::default()
        };
        let plan = Plan::new(&s, &rows, &allow).unwrap();
        assert_eq!(plan.to_apply, [1, 3]);
        assert_eq!(plan.blockers(&allow).len(), 1);
    }

    #[test]
    fn to_stops_and_finds_by_number() {
        let s = source(vec![
            migration("001-a", 1, "a"),
            migration("002-b", 2, "b"),
            migration("003-c", 3, "c"),
        ]);
        let opts = Options {
            to: Some("2".into()),
            ..Options::default()
        };
        assert_eq!(Plan::new(&s, &[], &opts).unwrap().to_apply, [0, 1]);
        let opts = Options {
            to: Some("004".into()),
            ..Options::default()
        };
        assert_eq!(
            Plan::new(&s, &[], &opts).unwrap_err().to_string(),
            "--to 004: no migration has that version"
        );
    }

    #[test]
    fn a_renamed_file_keeps_its_row() {
        let s = source(vec![migration("001", 1, "a"), migration("002", 2, "b")]);
        let rows = vec![row("1", "a", Status::Applied)];
        let plan = Plan::new(&s, &rows, &Options::default()).unwrap();
        assert_eq!(plan.items[0].state, State::Applied);
        assert!(plan.missing.is_empty());
        assert_eq!(plan.to_apply, [1]);
    }

    #[test]
    fn partial_blocks() {
        let s = source(vec![migration("1", 1, "a")]);
        let mut r = row("1", "a", Status::Partial);
        r.statements_done = Some(2);
        let plan = Plan::new(&s, &[r], &Options::default()).unwrap();
        assert_eq!(plan.items[0].state, State::Partial { statements_done: 2 });
        assert!(plan.to_apply.is_empty());
        assert_eq!(plan.blockers(&Options::default()).len(), 1);
    }
}
