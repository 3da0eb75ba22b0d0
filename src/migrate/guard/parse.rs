//! Reading what down scripts destroy from their statements, where they cannot be tried (MySQL,
//! whose DDL commits; a no-transaction script; a read-only dry run), then counting it.
//!
//! Names are read by a small lexer, not patterns: a name may be quoted with backticks or double
//! quotes, hold spaces, and be schema-qualified (`app."Weird Table"`, `` `Weird Table` ``), and a
//! keyword inside a string or a comment must not count. (The PostgreSQL lexer `squawk_lexer`,
//! which splits the scripts, knows neither MySQL's backtick names, nor its `#` comments, nor its
//! backslash escapes in strings.)
//!
//! What it reads: `DROP TABLE`, `DROP SCHEMA|DATABASE`, `TRUNCATE`, `DELETE`, `UPDATE … SET`
//! (the columns it sets), `ALTER TABLE … DROP [COLUMN]`, and renames (`ALTER TABLE … RENAME`,
//! `RENAME TABLE`, `RENAME COLUMN`, `CHANGE`) so that a rename then a drop counts the original.
//! What it knows keeps data: `CREATE`, `INSERT`, `SELECT`, `SET`, `GRANT`, … and `DROP` of
//! something that holds no rows (index, view, …) without `CASCADE`. Anything else (a CTE, a `DO`
//! block, `CALL`, `DROP TYPE … CASCADE`) is left unjudged, and the caller refuses for it.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::{COUNT_CAP, ColumnLoss, Down, Settings, TableLoss, Unjudged};
use crate::db::{Backend, describe_error};
use crate::migrate::apply::statements;
use crate::migrate::position::line_col;

#[derive(Default)]
pub struct Judged {
    pub tables: Vec<TableLoss>,
    pub columns: Vec<ColumnLoss>,
    pub unjudged: Vec<Unjudged>,
}

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
    fn shown(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// An unquoted word, as written.
    Word(String),
    /// A quoted identifier, unescaped.
    Quoted(String),
    Punct(char),
    /// A string or number literal.
    Literal,
}

/// The tokens of one statement. `backslash` : `'…'` strings take backslash escapes (MySQL).
fn lex(text: &str, backend: Backend) -> Vec<Token> {
    let mysql = backend == Backend::MySql;
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    // Reads a quoted run from `i` (at the opening quote) to its closing quote, a doubled quote
    // standing for itself; returns the content and the index after the closing quote.
    let quoted = |i: usize, q: char, backslash: bool| -> (String, usize) {
        let mut out = String::new();
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j];
            if backslash && c == '\\' && j + 1 < chars.len() {
                out.push(chars[j + 1]);
                j += 2;
            } else if c == q {
                if chars.get(j + 1) == Some(&q) {
                    out.push(q);
                    j += 2;
                } else {
                    return (out, j + 1);
                }
            } else {
                out.push(c);
                j += 1;
            }
        }
        (out, j)
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if (c == '-' && next == Some('-')) || (mysql && c == '#') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // PostgreSQL nests block comments; MySQL does not (an inner `/*` is just text).
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') && (depth == 0 || !mysql) {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '\'' {
            i = quoted(i, '\'', mysql).1;
            tokens.push(Token::Literal);
        } else if c == '"' || c == '`' {
            let (name, end) = quoted(i, c, false);
            tokens.push(Token::Quoted(name));
            i = end;
        } else if c == '$'
            && !mysql
            && next.is_some_and(|n| n == '$' || n.is_alphabetic() || n == '_')
        {
            // A dollar-quoted body: $tag$ … $tag$.
            let tag_end = chars[i + 1..]
                .iter()
                .position(|&c| c == '$')
                .map(|p| i + 1 + p);
            match tag_end {
                Some(end) => {
                    let tag: String = chars[i..=end].iter().collect();
                    let rest: String = chars[end + 1..].iter().collect();
                    let close = rest.find(&tag).map(|p| rest[..p].chars().count());
                    i = match close {
                        Some(n) => end + 1 + n + tag.chars().count(),
                        None => chars.len(),
                    };
                    tokens.push(Token::Literal);
                }
                None => i += 1,
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // E'…' strings take backslash escapes on PostgreSQL too.
            if !mysql && word.eq_ignore_ascii_case("e") && chars.get(i) == Some(&'\'') {
                i = quoted(i, '\'', true).1;
                tokens.push(Token::Literal);
            } else if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                tokens.push(Token::Literal);
            } else {
                tokens.push(Token::Word(word));
            }
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
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

/// What the statements would destroy, followed through renames, then counted as the database is
/// now.
pub async fn judge(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    downs: &[Down<'_>],
) -> Result<Judged, String> {
    let backend = settings.backend;
    let mut judged = Judged::default();
    // Current name → the name it had before the scripts (a rename then a drop loses the original).
    let mut tables: HashMap<Name, Name> = HashMap::new();
    let mut columns: HashMap<(Name, String), String> = HashMap::new();
    let mut at_risk: Vec<(Name, Option<String>, bool)> = Vec::new();
    let mut schemas: Vec<String> = Vec::new();
    let original = |tables: &HashMap<Name, Name>, n: &Name| {
        tables.get(n).cloned().unwrap_or_else(|| n.clone())
    };
    for down in downs {
        for stmt in statements(down.script).iter().skip(down.resume_from) {
            for effect in effects(stmt.text, backend) {
                match effect {
                    Effect::Table { name, dropped } => {
                        at_risk.push((original(&tables, &name), None, dropped));
                    }
                    Effect::Column { table, column } => {
                        let t = original(&tables, &table);
                        let c = columns
                            .get(&(t.clone(), column.clone()))
                            .cloned()
                            .unwrap_or(column);
                        at_risk.push((t, Some(c), false));
                    }
                    Effect::Schema(s) => schemas.push(s),
                    Effect::RenameTable { from, to } => {
                        let o = original(&tables, &from);
                        tables.insert(to, o);
                    }
                    Effect::RenameColumn { table, from, to } => {
                        let t = original(&tables, &table);
                        let o = columns
                            .get(&(t.clone(), from.clone()))
                            .cloned()
                            .unwrap_or(from);
                        columns.insert((t, to), o);
                    }
                    Effect::Keeps => {}
                    Effect::Unknown => {
                        let (line, _) = line_col(&down.script.text, stmt.offset);
                        let words: Vec<&str> = stmt.text.split_whitespace().take(6).collect();
                        judged.unjudged.push(Unjudged {
                            version: down.version.to_string(),
                            at: format!("{}:{line}", down.script.path.display()),
                            statement: words.join(" "),
                        });
                    }
                }
            }
        }
    }
    for (table, column, dropped) in at_risk {
        match column {
            None => {
                if judged.tables.iter().any(|t| t.table == table.shown()) {
                    continue;
                }
                if let Some(rows) = count(conn, settings, &table, None).await?
                    && rows > 0
                {
                    judged.tables.push(TableLoss {
                        table: table.shown(),
                        rows,
                        dropped,
                    });
                }
            }
            Some(column) => {
                if judged
                    .columns
                    .iter()
                    .any(|c| c.table == table.shown() && c.column == column)
                {
                    continue;
                }
                if let Some(values) = count(conn, settings, &table, Some(&column)).await?
                    && values > 0
                {
                    judged.columns.push(ColumnLoss {
                        table: table.shown(),
                        column,
                        values,
                    });
                }
            }
        }
    }
    for schema in schemas {
        for table in schema_tables(conn, backend, &schema).await? {
            if let Some(rows) = count(conn, settings, &table, None).await?
                && rows > 0
            {
                judged.tables.push(TableLoss {
                    table: table.shown(),
                    rows,
                    dropped: true,
                });
            }
        }
    }
    Ok(judged)
}

fn quote(backend: Backend, ident: &str) -> String {
    match backend {
        Backend::MySql => format!("`{}`", ident.replace('`', "``")),
        _ => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

fn qualified(backend: Backend, name: &Name) -> String {
    match &name.schema {
        Some(s) => format!("{}.{}", quote(backend, s), quote(backend, &name.table)),
        None => quote(backend, &name.table),
    }
}

/// [`count_now`] within the guard's timeout: outside a transaction no `statement_timeout` bounds
/// it, and a `WHERE c IS NOT NULL` over a big, mostly NULL table is a scan. A few seconds more
/// than the session's lock wait timeout, so that a lock wait ends with the server's own reason.
async fn count(
    conn: &mut AnyConnection,
    settings: Settings<'_>,
    table: &Name,
    column: Option<&str>,
) -> Result<Option<i64>, String> {
    let limit = settings.timeout + std::time::Duration::from_secs(5);
    tokio::time::timeout(
        limit,
        count_now(conn, settings.backend, table, column),
    )
    .await
    .map_err(|_| {
        format!(
            "counting what the rollback would destroy in {} took longer than {}",
            table.shown(),
            crate::units::format_duration(limit)
        )
    })?
}

/// Rows of a table (or non-NULL values of a column), up to COUNT_CAP + 1; `None` when the table
/// or column does not exist now (a later migration dropped it: it holds nothing).
async fn count_now(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &Name,
    column: Option<&str>,
) -> Result<Option<i64>, String> {
    let what = match column {
        Some(c) => format!("column {}.{c}", table.shown()),
        None => format!("table {}", table.shown()),
    };
    let failed = |e: sqlx::Error| {
        format!(
            "cannot count what the rollback would destroy in {what}: {}",
            describe_error(&e)
        )
    };
    let exists: i64 = match backend {
        Backend::Postgres => sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid \
               AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p') AND ($2 IS NULL OR a.attname IS NOT NULL)",
        )
        .bind(qualified(backend, table))
        .bind(column.map(str::to_string)),
        Backend::MySql => sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables t \
             WHERE t.table_schema = COALESCE(?, DATABASE()) AND t.table_name = ? AND t.table_type = 'BASE TABLE' \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM information_schema.columns c \
                 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = ?))",
        )
        .bind(table.schema.clone())
        .bind(table.table.clone())
        .bind(column.map(str::to_string))
        .bind(column.map(str::to_string)),
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master m WHERE m.type = 'table' AND m.name = ? \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = ?))",
        )
        .bind(table.table.clone())
        .bind(column.map(str::to_string))
        .bind(column.map(str::to_string)),
    }
    .fetch_one(&mut *conn)
    .await
    .map_err(failed)?;
    if exists == 0 {
        return Ok(None);
    }
    let limit = COUNT_CAP + 1;
    let filter = match column {
        Some(c) => format!(" WHERE {} IS NOT NULL", quote(backend, c)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {}{filter} LIMIT {limit}) AS at_risk",
        qualified(backend, table)
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .map(Some)
        .map_err(failed)
}

/// The tables of a schema (a MySQL database) that `DROP SCHEMA` removes with it.
async fn schema_tables(
    conn: &mut AnyConnection,
    backend: Backend,
    schema: &str,
) -> Result<Vec<Name>, String> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1"
        }
        Backend::MySql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY 1"
        }
        // SQLite has no schemas to drop.
        Backend::Sqlite => return Ok(Vec::new()),
    };
    let names: Vec<String> = sqlx::query_scalar(sql)
        .bind(schema.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| {
            format!(
                "cannot list the tables of schema {schema}: {}",
                describe_error(&e)
            )
        })?;
    Ok(names
        .into_iter()
        .map(|table| Name {
            schema: Some(schema.to_string()),
            table,
        })
        .collect())
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
