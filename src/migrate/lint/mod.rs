//! Migration lint: Squawk's rules (the `squawk-linter` crate, the rules of the `squawk` CLI) on
//! the migrations a run would apply, each finding weighed against the database they will run on.
//!
//! Three steps, so the database is asked only what the files make worth asking:
//! [`scan`] (no database: what Squawk finds, the table each finding is about, the tables the
//! pending set creates, what was suppressed), [`facts::read`] (those tables' sizes), [`weigh`]
//! (a severity and a reason per finding: an index built without `CONCURRENTLY` on a table of
//! 12 M rows fails, on a table an earlier migration of the same run creates it passes).
//!
//! PostgreSQL only: Squawk's parser and rules are PostgreSQL's.

mod ahead;
mod facts;
mod rules;

use std::collections::HashMap;
use std::path::PathBuf;

use squawk_linter::{Linter, Rule, Version as PgVersion};
use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SourceFile, SyntaxNode};

pub use ahead::ScanAhead;
pub use facts::{Facts, TableFacts, read as read_facts, server_version};
pub use rules::Effect;

use super::position::line_col;
use super::source::Migration;

/// `[migrate.lint]`, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    /// From this many rows a table is large: a lock held for a scan or a rewrite of it fails the
    /// lint; below, it is a warning.
    pub large_table_rows: u64,
    /// `level = "warn"`: every finding is at most a warning.
    pub warn_only: bool,
    /// Rules turned off (besides those shipgate turns off: see [`rules::OFF_BY_DEFAULT`]).
    pub disable: Vec<Rule>,
    /// Opt-in rules turned on.
    pub enable: Vec<Rule>,
    /// `[migrate.lint] ignore`: findings removed and counted.
    pub ignore: Vec<Ignore>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            large_table_rows: 100_000,
            warn_only: false,
            disable: Vec::new(),
            enable: Vec::new(),
            ignore: Vec::new(),
        }
    }
}

/// One entry of `ignore`: a rule everywhere (`"prefer-text-field"`) or in one migration
/// (`"20240101120000:ban-drop-column"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignore {
    pub version: Option<String>,
    pub rule: Rule,
}

impl Ignore {
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let (version, rule) = match text.rsplit_once(':') {
            Some((v, r)) => (Some(v.trim().to_string()), r.trim()),
            None => (None, text.trim()),
        };
        Ok(Ignore {
            version,
            rule: parse_rule(rule)?,
        })
    }

    fn covers(&self, version: &str, rule: Rule) -> bool {
        self.rule == rule && self.version.as_deref().is_none_or(|v| v == version)
    }
}

/// A Squawk rule by its name, or why not.
pub fn parse_rule(name: &str) -> Result<Rule, String> {
    name.parse::<Rule>().map_err(|_| {
        let names: Vec<String> = enum_iterator::all::<Rule>().map(|r| r.to_string()).collect();
        match crate::error::did_you_mean(name, names.iter().map(String::as_str)) {
            Some(r) => format!("`{name}` is not a Squawk rule; did you mean `{r}`?"),
            None => format!(
                "`{name}` is not a Squawk rule (see https://squawkhq.com/docs/rules for their names)"
            ),
        }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A table created in the same run, and such: the rule's concern does not apply.
    Pass,
    Warn,
    Fail,
}

/// What Squawk found, before the database is asked.
#[derive(Clone, Debug)]
struct Raw {
    migration: usize,
    rule: Rule,
    message: String,
    help: Option<String>,
    /// The statement as Squawk's fix would write it.
    rewrite: Option<String>,
    /// Byte offset in the migration file.
    offset: usize,
    /// The table the statement works on, as written (`orders`, `app."Orders"`).
    table: Option<String>,
    /// Statements in the migration's transaction besides this one (for a rewrite).
    in_transaction_with: Option<usize>,
    /// The migration runs outside a transaction, statement by statement.
    no_transaction: bool,
}

/// A finding that was not reported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub version: String,
    pub rule: String,
    pub path: PathBuf,
    pub line: u32,
    pub by: SuppressedBy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressedBy {
    /// A `-- squawk-ignore rule` (or `squawk-ignore-file`) comment in the migration.
    Comment,
    /// `[migrate.lint] ignore`.
    Config,
}

/// The migrations read and what Squawk found in them.
pub struct Scan<'a> {
    migrations: Vec<&'a Migration>,
    raw: Vec<Raw>,
    /// Tables the scanned migrations create (normalized name → the migration's index).
    created: HashMap<String, usize>,
    pub suppressed: Vec<Suppressed>,
}

impl Scan<'_> {
    /// The tables worth asking the database about: those findings name and no scanned
    /// migration creates before them.
    pub fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self
            .raw
            .iter()
            .filter(|r| rules::effect(r.rule).is_some())
            .filter_map(|r| r.table.clone())
            .filter(|t| !self.created.contains_key(&normalize(t)))
            .collect();
        tables.sort();
        tables.dedup();
        tables
    }
}

/// A finding as reported.
#[derive(Clone, Debug)]
pub struct Finding {
    pub version: String,
    pub rule: String,
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    /// What happens and why it matters here: Squawk's explanation, weighed against the table.
    pub message: String,
    /// Squawk's advice (the safe way).
    pub help: Option<String>,
    /// The statement as Squawk's fix writes it.
    pub rewrite: Option<String>,
    pub table: Option<String>,
    pub facts: Option<TableFacts>,
}

/// Every finding of the scanned migrations, in file order, and what was suppressed.
pub struct Linted {
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub migrations: usize,
}

/// A migration to lint and whether this run would apply it: only a pending migration's
/// `CREATE TABLE` makes a table no one uses yet (`--lint-all` lints applied ones too).
pub struct Lintee<'a> {
    pub migration: &'a Migration,
    pub pending: bool,
}

/// What Squawk finds in one migration's up script. It depends on no other file, so files can be
/// scanned in any order, on any thread ([`ScanAhead`]), and put together by [`assemble`].
#[derive(Debug)]
pub struct FileScan {
    /// Findings, their `migration` index set by [`assemble`].
    raw: Vec<Raw>,
    suppressed: Vec<Suppressed>,
    /// Tables the script creates, normalized.
    creates: Vec<String>,
}

/// The server's version as Squawk's rules take it (`15.4`; `None` when it does not parse).
pub fn pg_version(text: &str) -> Option<PgVersion> {
    text.parse::<PgVersion>().ok()
}

/// Runs Squawk on each migration's up script, in order. `pg_version` is the server's (`15.4`),
/// so version-dependent rules judge as that server would (a constant default rewrites the
/// table before PostgreSQL 11).
pub fn scan<'a>(
    lintees: Vec<Lintee<'a>>,
    settings: &Settings,
    pg_version: Option<PgVersion>,
) -> Scan<'a> {
    let files = lintees
        .iter()
        .map(|l| scan_file(l.migration, settings, pg_version))
        .collect();
    assemble(lintees, files)
}

/// Squawk on one migration's up script.
pub fn scan_file(m: &Migration, settings: &Settings, pg_version: Option<PgVersion>) -> FileScan {
    let mut raw = Vec::new();
    let mut suppressed = Vec::new();
    let sql = m.up.sql();
    let in_transaction = !m.up.no_transaction;
    let lint = |text: &str| {
        let parse = SourceFile::parse(text);
        let mut linter = linter(settings);
        linter.settings.assume_in_transaction = in_transaction;
        if let Some(v) = pg_version {
            linter.settings.pg_version = v;
        }
        let found = linter.lint(&parse, text);
        (parse, found)
    };
    let (parse, found) = lint(sql);
    // Suppressed by a comment: what the same text finds with its `squawk-ignore` comments
    // disarmed (same length, so every offset stays), and the first run did not.
    if sql.contains("squawk-ignore") {
        let (_, unfiltered) = lint(&sql.replace("squawk-ignore", "squawk_ignore"));
        for v in unfiltered {
            if !found
                .iter()
                .any(|f| f.code == v.code && f.text_range == v.text_range)
            {
                let offset = m.up.start + usize::from(v.text_range.start());
                suppressed.push(Suppressed {
                    version: m.version.clone(),
                    rule: v.code.to_string(),
                    path: m.up.path.clone(),
                    line: line_col(&m.up.text, offset).0,
                    by: SuppressedBy::Comment,
                });
            }
        }
    }
    let root = parse.syntax_node();
    let statements: Vec<ast::Stmt> = parse.tree().stmts().collect();
    let creates = statements
        .iter()
        .filter_map(|stmt| match stmt {
            ast::Stmt::CreateTable(t) => t.table_name().and_then(|n| n.path()),
            _ => None,
        })
        .map(|name| normalize(&name.syntax().text().to_string()))
        .collect();
    for v in found {
        let offset = m.up.start + usize::from(v.text_range.start());
        if settings.ignore.iter().any(|i| i.covers(&m.version, v.code)) {
            suppressed.push(Suppressed {
                version: m.version.clone(),
                rule: v.code.to_string(),
                path: m.up.path.clone(),
                line: line_col(&m.up.text, offset).0,
                by: SuppressedBy::Config,
            });
            continue;
        }
        let stmt = statement_at(&root, usize::from(v.text_range.start()));
        let table = stmt.as_ref().and_then(table_of);
        let rewrite = v.fix.as_ref().and_then(|fix| {
            let stmt = stmt.as_ref()?;
            rewritten(sql, stmt.syntax(), &fix.edits)
        });
        raw.push(Raw {
            migration: 0,
            rule: v.code,
            message: v.message,
            help: v.help,
            rewrite,
            offset,
            table,
            in_transaction_with: in_transaction.then(|| statements.len().saturating_sub(1)),
            no_transaction: !in_transaction,
        });
    }
    FileScan {
        raw,
        suppressed,
        creates,
    }
}

/// The scans of `lintees` (one [`FileScan`] each, in the same order) as one [`Scan`]: only a
/// pending migration's `CREATE TABLE` counts as a table no one uses yet.
pub fn assemble<'a>(lintees: Vec<Lintee<'a>>, files: Vec<FileScan>) -> Scan<'a> {
    let mut raw = Vec::new();
    let mut suppressed = Vec::new();
    let mut created = HashMap::new();
    for (index, (lintee, file)) in lintees.iter().zip(files).enumerate() {
        if lintee.pending {
            for table in file.creates {
                created.entry(table).or_insert(index);
            }
        }
        raw.extend(file.raw.into_iter().map(|r| Raw {
            migration: index,
            ..r
        }));
        suppressed.extend(file.suppressed);
    }
    Scan {
        migrations: lintees.iter().map(|l| l.migration).collect(),
        raw,
        created,
        suppressed,
    }
}

/// The findings with a severity and a reason, given what the database said of their tables.
pub fn weigh(scan: Scan<'_>, facts: &Facts, settings: &Settings) -> Linted {
    let mut findings = Vec::new();
    for r in &scan.raw {
        let m = scan.migrations[r.migration];
        let (line, column) = line_col(&m.up.text, r.offset);
        let created_by = r
            .table
            .as_ref()
            .and_then(|t| scan.created.get(&normalize(t)))
            .filter(|&&i| i <= r.migration)
            .map(|&i| scan.migrations[i].version.clone());
        let table_facts = r.table.as_ref().and_then(|t| facts.get(t)).cloned();
        let (mut severity, message) = rules::judge(
            r.rule,
            &r.message,
            &rules::Context {
                table: r.table.as_deref(),
                created_by: created_by.as_deref(),
                facts: table_facts.as_ref(),
                connected: facts.connected,
                large_rows: settings.large_table_rows,
                no_transaction: r.no_transaction,
            },
        );
        if settings.warn_only {
            severity = severity.min(Severity::Warn);
        }
        findings.push(Finding {
            version: m.version.clone(),
            rule: r.rule.to_string(),
            path: m.up.path.clone(),
            line,
            column,
            severity,
            message,
            help: r.help.clone(),
            rewrite: r.rewrite.clone(),
            table: r.table.clone(),
            facts: table_facts.clone(),
        });
        // Beyond Squawk: a rewrite of a large table holds its exclusive lock until COMMIT,
        // through every other statement of the migration.
        if let (Some(Effect::Rewrite), Some(others), Some(f)) =
            (rules::effect(r.rule), r.in_transaction_with, &table_facts)
            && others > 0
            && f.rows >= settings.large_table_rows
            && created_by.is_none()
        {
            let table = r.table.as_deref().unwrap_or("the table");
            findings.push(Finding {
                version: m.version.clone(),
                rule: rules::REWRITE_IN_SHARED_TRANSACTION.to_string(),
                path: m.up.path.clone(),
                line,
                column,
                severity: if settings.warn_only {
                    Severity::Warn
                } else {
                    Severity::Fail
                },
                message: format!(
                    "the rewrite of {table} ({}) holds its ACCESS EXCLUSIVE lock until the \
                     migration commits, through {} more {} in the same transaction: reads and \
                     writes of {table} wait for all of them",
                    f.describe(),
                    others,
                    if others == 1 { "statement" } else { "statements" }
                ),
                help: Some(
                    "give the rewrite a migration of its own, so the lock is held only as long as the rewrite".into(),
                ),
                rewrite: None,
                table: r.table.clone(),
                facts: Some(f.clone()),
            });
        }
    }
    Linted {
        findings,
        suppressed: scan.suppressed,
        migrations: scan.migrations.len(),
    }
}

fn linter(settings: &Settings) -> Linter {
    let mut exclude: Vec<Rule> = rules::OFF_BY_DEFAULT.to_vec();
    exclude.extend(settings.disable.iter().copied());
    let include: Vec<Rule> = settings
        .enable
        .iter()
        .copied()
        .filter(|r| !exclude.contains(r))
        .collect();
    Linter::with_rules(&include, &exclude)
}

/// The top-level statement holding `offset`.
fn statement_at(root: &SyntaxNode, offset: usize) -> Option<ast::Stmt> {
    root.children().filter_map(ast::Stmt::cast).find(|s| {
        let range = s.syntax().text_range();
        (usize::from(range.start())..=usize::from(range.end())).contains(&offset)
    })
}

/// The table a statement works on, as written.
fn table_of(stmt: &ast::Stmt) -> Option<String> {
    let name = match stmt {
        ast::Stmt::CreateIndex(s) => s.table_relation_name()?.table_name_ref()?.syntax().clone(),
        ast::Stmt::AlterTable(s) => s.table_relation_name()?.table_name_ref()?.syntax().clone(),
        _ => return None,
    };
    Some(name.text().to_string())
}

/// The statement with a fix's edits applied (edits are offsets into `sql`).
fn rewritten(sql: &str, stmt: &SyntaxNode, edits: &[squawk_linter::Edit]) -> Option<String> {
    let range = stmt.text_range();
    let (start, end) = (usize::from(range.start()), usize::from(range.end()));
    let mut edits: Vec<&squawk_linter::Edit> = edits.iter().collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.text_range.start()));
    let mut text = sql.get(start..end)?.to_string();
    for e in edits {
        let (from, to) = (
            usize::from(e.text_range.start()).checked_sub(start)?,
            usize::from(e.text_range.end()).checked_sub(start)?,
        );
        text.replace_range(from..to.min(text.len()), e.text.as_deref().unwrap_or(""));
    }
    Some(text.trim().to_string())
}

/// A table name as PostgreSQL resolves it: unquoted parts folded to lower case, quotes
/// removed, `public.` dropped (the default schema).
pub(crate) fn normalize(name: &str) -> String {
    let parts: Vec<String> = name
        .split('.')
        .map(|p| {
            let p = p.trim();
            match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => p.to_lowercase(),
            }
        })
        .collect();
    match parts.as_slice() {
        [schema, table] if schema == "public" => table.clone(),
        _ => parts.join("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{Script, checksum};

    fn migration(version: &str, sql: &str) -> Migration {
        Migration {
            version: version.into(),
            order: vec![1],
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

    fn rules_found(sql: &str, pg_version: &str) -> Vec<String> {
        let m = migration("1", sql);
        let scan = scan(
            vec![Lintee {
                migration: &m,
                pending: true,
            }],
            &Settings::default(),
            super::pg_version(pg_version),
        );
        scan.raw.iter().map(|r| r.rule.to_string()).collect()
    }

    /// A constant default rewrote the whole table before PostgreSQL 11; since, it is a catalog
    /// change. The server's version decides whether it is a finding.
    #[test]
    fn the_server_version_decides_what_a_default_costs() {
        let sql = "ALTER TABLE orders ADD COLUMN priority bigint DEFAULT 0;";
        assert_eq!(rules_found(sql, "10.23"), ["adding-field-with-default"]);
        assert!(rules_found(sql, "15.4").is_empty());
        // A volatile default rewrites the table on every version.
        let volatile = "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();";
        assert_eq!(rules_found(volatile, "15.4"), ["adding-field-with-default"]);
    }

    #[test]
    fn the_table_of_a_statement_is_its_name_as_written() {
        let table = |sql: &str| {
            let parse = SourceFile::parse(sql);
            let stmt = parse.tree().stmts().next().unwrap();
            table_of(&stmt)
        };
        let t = table("ALTER TABLE ONLY public.orders ADD COLUMN a int;");
        assert_eq!(t.as_deref(), Some("public.orders"));
        let t = table("CREATE INDEX i ON ONLY \"Orders\" (a);");
        assert_eq!(t.as_deref(), Some("\"Orders\""));
        let t = table("ALTER TABLE IF EXISTS app.orders ALTER COLUMN a TYPE bigint;");
        assert_eq!(t.as_deref(), Some("app.orders"));
        assert_eq!(table("SELECT 1;"), None);
    }

    #[test]
    fn names_resolve_as_postgresql_resolves_them() {
        assert_eq!(normalize("Orders"), "orders");
        assert_eq!(normalize("public.orders"), "orders");
        assert_eq!(normalize("\"Member\""), "Member");
        assert_eq!(normalize("app.\"Order\"\"s\""), "app.Order\"s");
    }

    #[test]
    fn a_misspelt_rule_names_the_one_meant() {
        assert_eq!(parse_rule("ban-drop-column").unwrap(), Rule::BanDropColumn);
        let err = parse_rule("ban-drop-colum").unwrap_err();
        assert!(err.contains("did you mean `ban-drop-column`"), "{err}");
        let err = parse_rule("no-such-thing-at-all").unwrap_err();
        assert!(err.contains("squawkhq.com/docs/rules"), "{err}");
    }

    #[test]
    fn an_ignore_names_a_rule_everywhere_or_in_one_migration() {
        let everywhere = Ignore::parse("prefer-text-field").unwrap();
        assert!(everywhere.covers("1", Rule::PreferTextField));
        assert!(everywhere.covers("2", Rule::PreferTextField));
        assert!(!everywhere.covers("1", Rule::BanDropColumn));
        let one = Ignore::parse("20240101120000:ban-drop-column").unwrap();
        assert!(one.covers("20240101120000", Rule::BanDropColumn));
        assert!(!one.covers("20240101120001", Rule::BanDropColumn));
        assert!(Ignore::parse("1:not-a-rule").is_err());
    }

    #[test]
    fn sizes_read_as_a_person_says_them() {
        let facts = |rows, bytes, estimated| TableFacts {
            rows,
            bytes,
            estimated,
        };
        assert_eq!(
            facts(12_345_678, 2_040_109_465, true).describe(),
            "about 12 M rows, 1.9 GiB"
        );
        assert_eq!(facts(1, 8192, false).describe(), "1 row, 8.0 KiB");
        assert!(
            facts(u64::MAX, 0, false)
                .describe()
                .starts_with("more rows than 2s")
        );
    }
}
