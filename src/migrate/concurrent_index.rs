//! Resuming a `CREATE INDEX CONCURRENTLY` that was interrupted (the migrator killed, the
//! connection lost). PostgreSQL does not undo it: the server may finish the build after the
//! client is gone (a valid index), or stop part-way and leave the index INVALID. Either way the
//! name is taken, and running the statement again fails with 42P07. So before `--resume` re-runs
//! such a statement, it looks at what the statement left: a valid index is done; an invalid one
//! is dropped (`DROP INDEX CONCURRENTLY`, which does not block writes either) and built again.

use std::time::Duration;

use sqlx::{AnyConnection, Executor, Row};
use squawk_lexer::{TokenKind, tokenize};

use crate::db::describe_error;

/// Catalog lookups answer at once; this only bounds a server that does not answer.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON [ONLY] table …` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcurrentIndex {
    /// As PostgreSQL stores it (unquoted names folded to lower case).
    pub name: String,
    /// As written (quotes and schema kept), for `to_regclass`.
    pub table: String,
}

/// The index a statement builds concurrently, if it is such a statement and names its index
/// (an unnamed one gets a generated name that cannot be looked up; it is simply run again).
pub fn parse(statement: &str) -> Option<ConcurrentIndex> {
    let mut offset = 0;
    let mut tokens = Vec::new();
    for t in tokenize(statement) {
        let start = offset;
        offset += t.len as usize;
        match t.kind {
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment { .. } => {}
            kind => tokens.push((kind, statement.get(start..offset)?)),
        }
    }
    let mut at = 0;
    let word = |at: usize, w: &str| matches!(tokens.get(at), Some((TokenKind::Ident, t)) if t.eq_ignore_ascii_case(w));
    for (required, w) in [
        (true, "create"),
        (false, "unique"),
        (true, "index"),
        (true, "concurrently"),
    ] {
        if word(at, w) {
            at += 1;
        } else if required {
            return None;
        }
    }
    if word(at, "if") && word(at + 1, "not") && word(at + 2, "exists") {
        at += 3;
    }
    let name = match tokens.get(at)? {
        (TokenKind::Ident, t) if !t.eq_ignore_ascii_case("on") => t.to_lowercase(),
        // An unterminated quote (a malformed statement) names nothing.
        (TokenKind::QuotedIdent { .. }, t) => t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))?
            .replace("\"\"", "\""),
        _ => return None,
    };
    at += 1;
    if !word(at, "on") {
        return None;
    }
    at += 1;
    if word(at, "only") {
        at += 1;
    }
    // The table: name parts joined by dots, up to the column list or `USING`.
    let start = at;
    while let Some((kind, _)) = tokens.get(at) {
        match kind {
            TokenKind::Ident | TokenKind::QuotedIdent { .. } | TokenKind::Dot
                if !word(at, "using") =>
            {
                at += 1
            }
            _ => break,
        }
    }
    if at == start {
        return None;
    }
    let table = tokens[start..at]
        .iter()
        .map(|(_, t)| *t)
        .collect::<String>();
    Some(ConcurrentIndex { name, table })
}

/// What an interrupted build left, and what resuming did about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// No index of that name on that table: the statement runs again.
    NotThere,
    /// A valid index: the statement is done.
    AlreadyBuilt,
    /// An INVALID index: dropped; the statement runs again.
    DroppedInvalid,
}

impl Resumed {
    /// For the migration's report row.
    pub fn describe(&self, index: &ConcurrentIndex) -> Option<String> {
        match self {
            Resumed::NotThere => None,
            Resumed::AlreadyBuilt => Some(format!(
                "index {} already built by the interrupted run",
                index.name
            )),
            Resumed::DroppedInvalid => Some(format!(
                "index {} was left INVALID by the interrupted run; dropped and rebuilt",
                index.name
            )),
        }
    }
}

/// Before an interrupted statement runs again: if it builds an index concurrently, what the
/// interrupted run left of it (dropped when INVALID). Returns the note for the report, and
/// whether the statement is already done.
pub async fn settle(
    conn: &mut AnyConnection,
    statement: &str,
) -> Result<(Option<String>, bool), Error> {
    let Some(index) = parse(statement) else {
        return Ok((None, false));
    };
    let found = resume(conn, &index).await?;
    Ok((found.describe(&index), found == Resumed::AlreadyBuilt))
}

/// Why an interrupted index build could not be settled; each message is rendered here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    LookupTimeout {
        index: String,
    },
    Lookup {
        index: String,
        table: String,
        cause: String,
    },
    Read(String),
    /// The INVALID index left behind could not be dropped (`qualified`: its name as SQL).
    Drop {
        qualified: String,
        cause: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::LookupTimeout { index } => write!(
                f,
                "looking up index {index} took longer than {}s",
                LOOKUP_TIMEOUT.as_secs()
            ),
            Error::Lookup {
                index,
                table,
                cause,
            } => write!(
                f,
                "cannot look up index {index} on {table} to resume its build: {cause}"
            ),
            Error::Read(cause) => write!(f, "cannot read pg_index: {cause}"),
            Error::Drop { qualified, cause } => write!(
                f,
                "cannot drop the INVALID index {qualified} the interrupted run left: {cause}; drop it by hand, then re-run with --resume"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Looks at the index the interrupted statement was building, and drops it when invalid.
pub async fn resume(conn: &mut AnyConnection, index: &ConcurrentIndex) -> Result<Resumed, Error> {
    let lookup = sqlx::query(
        "SELECT i.indisvalid AS valid, format('%I.%I', n.nspname, c.relname) AS qualified \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE i.indrelid = to_regclass($1) AND c.relname = $2",
    )
    .bind(index.table.clone())
    .bind(index.name.clone())
    .fetch_optional(&mut *conn);
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
        .await
        .map_err(|_| Error::LookupTimeout {
            index: index.name.clone(),
        })?
        .map_err(|e| Error::Lookup {
            index: index.name.clone(),
            table: index.table.clone(),
            cause: describe_error(&e),
        })?;
    let Some(row) = found else {
        return Ok(Resumed::NotThere);
    };
    let read = |e: sqlx::Error| Error::Read(describe_error(&e));
    let valid: bool = row.try_get("valid").map_err(read)?;
    if valid {
        return Ok(Resumed::AlreadyBuilt);
    }
    let qualified: String = row.try_get("qualified").map_err(read)?;
    // Bounded by the session's lock_timeout, like every statement of a migration.
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {qualified}"
    )))
    .await
    .map_err(|e| Error::Drop {
        qualified: qualified.clone(),
        cause: describe_error(&e),
    })?;
    Ok(Resumed::DroppedInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, table: &str) -> Option<ConcurrentIndex> {
        Some(ConcurrentIndex {
            name: name.into(),
            table: table.into(),
        })
    }

    #[test]
    fn reads_the_index_and_its_table() {
        assert_eq!(
            parse("CREATE INDEX CONCURRENTLY Big_H ON big (h)"),
            index("big_h", "big")
        );
        assert_eq!(
            parse(
                "create unique index concurrently if not exists \"Odd\"\"Name\" on only app.\"Weird Table\" using btree (c)"
            ),
            index("Odd\"Name", "app.\"Weird Table\"")
        );
        assert_eq!(parse("CREATE INDEX CONCURRENTLY ON big (h)"), None);
        assert_eq!(parse("CREATE INDEX big_h ON big (h)"), None);
        assert_eq!(parse("DROP INDEX CONCURRENTLY big_h"), None);
    }
}
