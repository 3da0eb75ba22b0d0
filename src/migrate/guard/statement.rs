//! What one statement does to data, as read from its tokens (see [`super::read`] for where
//! this is used instead of measuring).
//!
//! What it reads: `DROP TABLE`, `DROP SCHEMA|DATABASE`, `TRUNCATE`, `DELETE`, `UPDATE … SET`
//! (the columns it sets), `ALTER TABLE … DROP [COLUMN]`, and renames (`ALTER TABLE … RENAME`,
//! `RENAME TABLE`, `RENAME COLUMN`, `CHANGE`) so that a rename then a drop counts the original.
//! What it knows keeps data: `CREATE`, `INSERT`, `SELECT`, `SET`, `GRANT`, … and `DROP` of
//! something that holds no rows (index, view, …) without `CASCADE`. Anything else (a CTE, a `DO`
//! block, `CALL`, `DROP TYPE … CASCADE`) is `Unknown`, and the guard refuses for it.

use super::lexer::{Token, lex};
use crate::db::Backend;

/// What one statement destroys, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Table {
        name: Name,
        dropped: bool,
    },
    Column {
        table: Name,
        column: String,
    },
    Schema(String),
    RenameTable {
        from: Name,
        to: Name,
    },
    RenameColumn {
        table: Name,
        from: String,
        to: String,
    },
    Keeps,
    Unknown,
}

/// A table name as the database resolves it: unquoted names folded to lower case on
/// PostgreSQL, kept as written on MySQL and SQLite.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    pub schema: Option<String>,
    pub table: String,
}

impl Name {
    pub fn shown(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// A cursor over a statement's tokens.
struct Reader<'a> {
    tokens: &'a [Token],
    at: usize,
    backend: Backend,
}

impl Reader<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// Consumes `word` if it is next.
    fn eat(&mut self, word: &str) -> bool {
        let yes = self.peek_word(word);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn eat_all(&mut self, words: &[&str]) -> bool {
        let start = self.at;
        for w in words {
            if !self.eat(w) {
                self.at = start;
                return false;
            }
        }
        true
    }

    fn eat_punct(&mut self, p: char) -> bool {
        let yes = self.tokens.get(self.at) == Some(&Token::Punct(p));
        if yes {
            self.at += 1;
        }
        yes
    }

    /// One identifier, folded as the database folds it.
    fn ident(&mut self) -> Option<String> {
        let name = match self.tokens.get(self.at)? {
            Token::Word(w) if self.backend == Backend::Postgres => w.to_lowercase(),
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => q.clone(),
            _ => return None,
        };
        self.at += 1;
        Some(name)
    }

    /// `[schema.]table` (a longer path keeps its last two parts).
    fn name(&mut self) -> Option<Name> {
        let mut parts = vec![self.ident()?];
        while self.eat_punct('.') {
            parts.push(self.ident()?);
        }
        let table = parts.pop()?;
        Some(Name {
            schema: parts.pop(),
            table,
        })
    }

    /// Names separated by commas (`DROP TABLE a, b`); `TRUNCATE` allows `ONLY` and `*`.
    fn names(&mut self) -> Vec<Name> {
        let mut names = Vec::new();
        loop {
            self.eat("only");
            let Some(n) = self.name() else { break };
            names.push(n);
            self.eat_punct('*');
            if !self.eat_punct(',') {
                break;
            }
        }
        names
    }

    fn rest(&self) -> &[Token] {
        &self.tokens[self.at.min(self.tokens.len())..]
    }

    /// The remaining tokens split at top-level commas.
    fn items(&self) -> Vec<&[Token]> {
        let rest = self.rest();
        let mut items = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, t) in rest.iter().enumerate() {
            match t {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => depth = depth.saturating_sub(1),
                Token::Punct(',') if depth == 0 => {
                    items.push(&rest[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&rest[start..]);
        items
    }

    fn sub<'b>(&self, tokens: &'b [Token]) -> Reader<'b> {
        Reader {
            tokens,
            at: 0,
            backend: self.backend,
        }
    }
}

/// Words after `DROP [COLUMN]` in `ALTER TABLE` that drop something other than a column.
const NOT_COLUMNS: &[&str] = &[
    "constraint",
    "index",
    "key",
    "foreign",
    "primary",
    "check",
    "partition",
    "default",
    "expression",
    "identity",
    "not",
];

/// Objects a `DROP` (without CASCADE) removes without removing rows.
const HOLD_NO_ROWS: &[&str] = &[
    "index",
    "view",
    "materialized",
    "trigger",
    "function",
    "procedure",
    "event",
    "sequence",
    "policy",
    "rule",
    "type",
    "domain",
    "extension",
    "role",
    "user",
    "aggregate",
    "operator",
    "publication",
    "subscription",
    "statistics",
];

/// Statements that never remove rows or values.
const KEEPS: &[&str] = &[
    "create",
    "insert",
    "select",
    "set",
    "reset",
    "grant",
    "revoke",
    "comment",
    "analyze",
    "vacuum",
    "reindex",
    "refresh",
    "notify",
    "listen",
    "lock",
    "unlock",
    "use",
    "flush",
    "optimize",
    "cluster",
    "show",
    "discard",
    "security",
    "start",
    "begin",
    "commit",
    "savepoint",
    "release",
];

/// What one statement does to data.
pub fn effects(text: &str, backend: Backend) -> Vec<Effect> {
    let tokens = lex(text, backend);
    let mut r = Reader {
        tokens: &tokens,
        at: 0,
        backend,
    };
    let first = match tokens.first() {
        Some(Token::Word(w)) => w.to_ascii_lowercase(),
        _ => return vec![Effect::Unknown],
    };
    r.at = 1;
    let has_cascade = tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("cascade")));
    match first.as_str() {
        "drop" => {
            r.eat("temporary");
            if r.eat("table") {
                r.eat_all(&["if", "exists"]);
                let names = r.names();
                if names.is_empty() {
                    return vec![Effect::Unknown];
                }
                names
                    .into_iter()
                    .map(|name| Effect::Table {
                        name,
                        dropped: true,
                    })
                    .collect()
            } else if r.eat("schema") || r.eat("database") {
                r.eat_all(&["if", "exists"]);
                let names = r.names();
                if names.is_empty() {
                    return vec![Effect::Unknown];
                }
                names.into_iter().map(|n| Effect::Schema(n.table)).collect()
            } else if HOLD_NO_ROWS.iter().any(|w| r.peek_word(w)) && !has_cascade {
                vec![Effect::Keeps]
            } else {
                vec![Effect::Unknown]
            }
        }
        "truncate" => {
            r.eat("table");
            let names = r.names();
            if names.is_empty() {
                return vec![Effect::Unknown];
            }
            names
                .into_iter()
                .map(|name| Effect::Table {
                    name,
                    dropped: false,
                })
                .collect()
        }
        "delete" => {
            // `DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM t …`, or MySQL's multi-table
            // `DELETE t1, t2 FROM t1 JOIN t2 …` (the names before FROM lose rows).
            for w in ["low_priority", "quick", "ignore"] {
                r.eat(w);
            }
            let targets = if r.eat("from") {
                r.names().into_iter().take(1).collect::<Vec<_>>()
            } else {
                r.names()
            };
            if targets.is_empty() {
                return vec![Effect::Unknown];
            }
            targets
                .into_iter()
                .map(|name| Effect::Table {
                    name,
                    dropped: false,
                })
                .collect()
        }
        "update" => update(&mut r),
        "alter" => {
            if !r.eat("table") {
                return vec![Effect::Keeps];
            }
            r.eat_all(&["if", "exists"]);
            r.eat("only");
            let Some(table) = r.name() else {
                return vec![Effect::Unknown];
            };
            r.eat_punct('*');
            r.items()
                .into_iter()
                .map(|item| alter_action(&r.sub(item), &table))
                .collect()
        }
        "rename" => {
            // MySQL: RENAME TABLE a TO b [, c TO d].
            if !r.eat("table") {
                return vec![Effect::Unknown];
            }
            r.items()
                .into_iter()
                .map(|item| {
                    let mut s = r.sub(item);
                    match (s.name(), s.eat("to"), s.name()) {
                        (Some(from), true, Some(to)) => Effect::RenameTable { from, to },
                        _ => Effect::Unknown,
                    }
                })
                .collect()
        }
        w if KEEPS.contains(&w) => vec![Effect::Keeps],
        _ => vec![Effect::Unknown],
    }
}

/// `UPDATE t [[AS] alias] SET a = …, b = … [WHERE …]`: the columns set lose their values.
fn update(r: &mut Reader<'_>) -> Vec<Effect> {
    for w in ["low_priority", "ignore", "only"] {
        r.eat(w);
    }
    let Some(table) = r.name() else {
        return vec![Effect::Unknown];
    };
    r.eat_punct('*');
    let mut alias = None;
    if !r.peek_word("set") {
        r.eat("as");
        alias = r.ident();
    }
    if !r.eat("set") {
        // A join or a list of tables: which table a column belongs to is not read.
        return vec![Effect::Unknown];
    }
    // The assignments end where WHERE, FROM, RETURNING, ORDER or LIMIT begins.
    let end = r.rest().iter().position(|t| {
        matches!(t, Token::Word(w) if ["where", "from", "returning", "order", "limit"]
            .iter().any(|k| w.eq_ignore_ascii_case(k)))
    });
    let assignments = &r.rest()[..end.unwrap_or(r.rest().len())];
    let mut effects = Vec::new();
    for item in r.sub(assignments).items() {
        let mut s = r.sub(item);
        let mut path = Vec::new();
        while let Some(part) = s.ident() {
            path.push(part);
            if !s.eat_punct('.') {
                break;
            }
        }
        let qualifier_ok = match path.len() {
            1 => true,
            2 => path[0] == table.table || alias.as_deref() == Some(path[0].as_str()),
            _ => false,
        };
        if !qualifier_ok || !s.eat_punct('=') {
            return vec![Effect::Unknown];
        }
        effects.push(Effect::Column {
            table: table.clone(),
            column: path.pop().expect("one part at least"),
        });
    }
    effects
}

/// One action of `ALTER TABLE table …`.
fn alter_action(r: &Reader<'_>, table: &Name) -> Effect {
    let mut r = Reader {
        tokens: r.tokens,
        at: 0,
        backend: r.backend,
    };
    if r.eat("drop") {
        if NOT_COLUMNS.iter().any(|w| r.peek_word(w)) {
            return Effect::Keeps;
        }
        r.eat("column");
        r.eat_all(&["if", "exists"]);
        return match r.ident() {
            Some(column) => Effect::Column {
                table: table.clone(),
                column,
            },
            None => Effect::Unknown,
        };
    }
    if r.eat("rename") {
        if r.eat("to") || r.eat("as") {
            return match r.name() {
                Some(mut to) => {
                    // PostgreSQL's RENAME TO keeps the schema.
                    if to.schema.is_none() {
                        to.schema = table.schema.clone();
                    }
                    Effect::RenameTable {
                        from: table.clone(),
                        to,
                    }
                }
                None => Effect::Unknown,
            };
        }
        if ["index", "key", "constraint"]
            .iter()
            .any(|w| r.peek_word(w))
        {
            return Effect::Keeps;
        }
        r.eat("column");
        return match (r.ident(), r.eat("to"), r.ident()) {
            (Some(from), true, Some(to)) => Effect::RenameColumn {
                table: table.clone(),
                from,
                to,
            },
            _ => Effect::Unknown,
        };
    }
    if r.eat("change") {
        r.eat("column");
        return match (r.ident(), r.ident()) {
            (Some(from), Some(to)) if from != to => Effect::RenameColumn {
                table: table.clone(),
                from,
                to,
            },
            (Some(_), Some(_)) => Effect::Keeps,
            _ => Effect::Unknown,
        };
    }
    Effect::Keeps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(schema: Option<&str>, table: &str) -> Name {
        Name {
            schema: schema.map(str::to_string),
            table: table.to_string(),
        }
    }

    #[test]
    fn quoted_and_qualified_names_are_read() {
        let pg = Backend::Postgres;
        assert_eq!(
            effects("ALTER TABLE app.\"Weird Table\" DROP COLUMN c", pg),
            [Effect::Column {
                table: name(Some("app"), "Weird Table"),
                column: "c".into()
            }]
        );
        assert_eq!(
            effects("DROP TABLE IF EXISTS Users, \"LpReport\" CASCADE", pg),
            [
                Effect::Table {
                    name: name(None, "users"),
                    dropped: true
                },
                Effect::Table {
                    name: name(None, "LpReport"),
                    dropped: true
                }
            ]
        );
        let my = Backend::MySql;
        assert_eq!(
            effects(
                "DELETE FROM `Weird Table` WHERE note = 'DROP TABLE x' # ;",
                my
            ),
            [Effect::Table {
                name: name(None, "Weird Table"),
                dropped: false
            }]
        );
        assert_eq!(
            effects(
                "ALTER TABLE `Weird Table` DROP COLUMN `c`, DROP INDEX i, ADD COLUMN d int",
                my
            ),
            [
                Effect::Column {
                    table: name(None, "Weird Table"),
                    column: "c".into()
                },
                Effect::Keeps,
                Effect::Keeps
            ]
        );
        assert_eq!(
            effects("UPDATE `app`.`t` SET c = NULL, t.d = 'x' WHERE id = 1", my),
            [
                Effect::Column {
                    table: name(Some("app"), "t"),
                    column: "c".into()
                },
                Effect::Column {
                    table: name(Some("app"), "t"),
                    column: "d".into()
                }
            ]
        );
        assert_eq!(
            effects("WITH d AS (DELETE FROM t RETURNING *) SELECT 1", pg),
            [Effect::Unknown]
        );
        assert_eq!(
            effects("DO $$ BEGIN DELETE FROM t; END $$", pg),
            [Effect::Unknown]
        );
        assert_eq!(effects("DROP TYPE mood CASCADE", pg), [Effect::Unknown]);
        assert_eq!(effects("DROP INDEX CONCURRENTLY idx", pg), [Effect::Keeps]);
        assert_eq!(
            effects("DROP SCHEMA IF EXISTS app CASCADE", pg),
            [Effect::Schema("app".into())]
        );
        assert_eq!(
            effects("RENAME TABLE `a` TO `b`", my),
            [Effect::RenameTable {
                from: name(None, "a"),
                to: name(None, "b")
            }]
        );
    }
}
