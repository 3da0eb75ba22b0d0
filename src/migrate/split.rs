//! Split a SQL script into statements, the way `psql` does, so a migration file can run one
//! statement at a time (needed for `CREATE INDEX CONCURRENTLY` and friends, which refuse to run
//! inside a multi-statement query or a transaction block).
//!
//! Statements end at a top-level `;`. Finding those needs a real lexer, not a search for `;`:
//! the [`squawk_lexer`] tokens (PostgreSQL's own lexical rules) tell a `;` apart from one inside
//! a string (`'…'`, `E'…'` with backslash escapes, `U&'…'`), a dollar-quoted body (`$$…$$`,
//! `$tag$…$tag$`), a quoted identifier (`"…"`), a `--` comment or a nested `/* /* */ */`
//! comment. On top of the tokens, two rules that `psql` also applies:
//!
//! - a `;` inside parentheses does not end a statement: `CREATE RULE … DO ALSO (INSERT …;
//!   INSERT …)` is one statement;
//! - a SQL-standard routine body, `CREATE [OR REPLACE] {FUNCTION|PROCEDURE} … BEGIN ATOMIC …
//!   END` (PostgreSQL 14+), is one statement although its inner statements end with `;`. Its
//!   `END` is found by counting `BEGIN ATOMIC` / `CASE` against `END` (a `CASE … END`
//!   expression inside the body must not close it).
//!
//! What a [`Statement`] holds: the text from its first token to its last one, exactly as written
//! (comments and line breaks inside kept; the `;` that ends it, and the whitespace and comments
//! before its first token and after its last one, left out). So `text` starts with the
//! statement's keyword, and `offset` is where that keyword is in the script. Statements made of
//! nothing but whitespace and comments (`;;`, a trailing comment) are dropped. A last statement
//! without `;` counts.
//!
//! A leading UTF-8 byte order mark is skipped like whitespace, so the caller may pass the file
//! exactly as read (offsets are then file offsets) or strip the BOM first (offsets are then
//! relative to the stripped text: add the BOM's 3 bytes back before mapping a position to the
//! file with [`super::position`]).
//!
//! Limitations, all shared with `psql` or with the PostgreSQL defaults:
//! - strings follow `standard_conforming_strings = on` (the default since PostgreSQL 9.1): in
//!   `'…'` a backslash is an ordinary character; only `E'…'` has backslash escapes;
//! - `psql` meta-commands (`\connect`, `\i`, `\copy`) and `COPY … FROM STDIN` data blocks are not
//!   SQL and are not recognised: they end up in a statement and the server rejects it;
//! - an unbalanced `(` or a `BEGIN ATOMIC` without its `END` makes the rest of the script one
//!   statement (the server then reports the syntax error, with a position);
//! - an unterminated `/*` comment is kept as part of a statement (not dropped as a comment), so
//!   the server reports it instead of it silently swallowing the end of the file.

use squawk_lexer::{TokenKind, tokenize};

/// One statement of a script: its text exactly as written (no trailing `;` needed), and where it
/// starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    /// From the statement's first token to its last one, without the `;` that ends it.
    pub text: &'a str,
    /// Byte offset of `text` in the script: `&script[offset..offset + text.len()] == text`.
    pub offset: usize,
}

/// The statements of `script`, in order. See the module documentation for the rules.
pub fn split(script: &str) -> Vec<Statement<'_>> {
    let mut statements = Vec::new();
    let mut current = Current::default();
    for (start, end, kind) in tokens(script) {
        let text = script.get(start..end).unwrap_or_default();
        if kind == TokenKind::Semi && current.may_end() {
            statements.extend(current.finish(script));
            current = Current::default();
        } else if !is_trivia(kind) {
            current.push(start, end, kind, text);
        }
    }
    statements.extend(current.finish(script));
    statements
}

/// Whether `script` holds nothing but whitespace (a leading BOM included) and comments: nothing
/// to send to the server. A lone `;` is not blank (though [`split`] finds no statement in it),
/// and neither is an unterminated `/*` comment (the server would reject it).
#[cfg(test)]
pub fn is_blank(script: &str) -> bool {
    tokens(script).all(|(_, _, kind)| is_trivia(kind))
}

/// Tokens that separate or annotate statements but are not part of what they do.
fn is_trivia(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Whitespace
            | TokenKind::LineComment
            | TokenKind::BlockComment { terminated: true }
    )
}

/// Whitespace as PostgreSQL's lexer sees it (not Unicode's: a no-break space is part of an
/// identifier there).
fn is_sql_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// The tokens of `script` as byte ranges `(start, end)` with their kind.
///
/// The lexer gives lengths only; ranges are checked against the script so that a surprise in the
/// lexer can only end the token stream early, never make a caller slice out of bounds.
fn tokens(script: &str) -> impl Iterator<Item = (usize, usize, TokenKind)> + '_ {
    let mut offset = 0usize;
    tokenize(script).map_while(move |token| {
        let start = offset;
        let end = start.checked_add(usize::try_from(token.len).ok()?)?;
        if end > script.len() || !script.is_char_boundary(end) {
            return None;
        }
        offset = end;
        Some((start, end, token.kind))
    })
}

/// The statement being collected: the span of its significant tokens and what is needed to tell
/// whether a `;` ends it.
#[derive(Default)]
struct Current<'a> {
    /// Byte range from the start of its first significant token to the end of its last one.
    span: Option<(usize, usize)>,
    /// The first four significant tokens, to recognise `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
    head: [&'a str; 4],
    head_len: usize,
    /// Open parentheses (a stray `)` is ignored rather than going negative).
    paren_depth: usize,
    /// Inside a `BEGIN ATOMIC` body: 1 + the number of open `CASE`s; 0 outside.
    atomic_depth: usize,
    /// The previous significant token was a `BEGIN` that an `ATOMIC` would make a routine body.
    after_begin: bool,
    /// The previous significant token was `END` (so `END IF`/`END LOOP` close, not open).
    after_end: bool,
    /// A PostgreSQL routine whose body is a string after `AS` (no BEGIN block to track).
    dollar_body: bool,
}

impl<'a> Current<'a> {
    fn push(&mut self, start: usize, end: usize, kind: TokenKind, text: &'a str) {
        self.span = Some((self.span.map_or(start, |(first, _)| first), end));
        if let Some(slot) = self.head.get_mut(self.head_len) {
            *slot = text;
            self.head_len += 1;
        }
        let is_word = |word: &str| kind == TokenKind::Ident && text.eq_ignore_ascii_case(word);
        match kind {
            TokenKind::OpenParen => self.paren_depth += 1,
            TokenKind::CloseParen => self.paren_depth = self.paren_depth.saturating_sub(1),
            TokenKind::Ident if self.atomic_depth > 0 => {
                // CASE and END are reserved words: as bare identifiers they are always keywords.
                // The block words open a nested body in SQLite trigger and MySQL routine
                // bodies; after END they close one (`END IF`) and are not counted again.
                let opens = ["case", "begin", "if", "loop", "while", "repeat"];
                if !self.after_end && opens.iter().any(|w| is_word(w)) {
                    self.atomic_depth += 1;
                } else if is_word("end") {
                    self.atomic_depth -= 1;
                }
            }
            TokenKind::Ident if self.after_begin && is_word("atomic") => self.atomic_depth = 1,
            // SQLite `CREATE TRIGGER … BEGIN … END` and MySQL routines: BEGIN opens the body.
            TokenKind::Ident
                if is_word("begin")
                    && self.paren_depth == 0
                    && (self.is_trigger() || (self.is_routine() && !self.dollar_body)) =>
            {
                self.atomic_depth = 1;
            }
            TokenKind::Ident if is_word("as") && self.is_routine() => self.dollar_body = true,
            _ => {}
        }
        self.after_end = is_word("end");
        self.after_begin = is_word("begin")
            && self.paren_depth == 0
            && self.atomic_depth == 0
            && self.is_routine();
    }

    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: the only statements with a `BEGIN ATOMIC` body.
    /// Checking it keeps a `begin` column aliased `atomic` in a query from opening a body.
    fn is_routine(&self) -> bool {
        let word = |i: usize, words: &[&str]| {
            let head = self.head.get(..self.head_len).unwrap_or_default();
            head.get(i)
                .is_some_and(|token| words.iter().any(|w| token.eq_ignore_ascii_case(w)))
        };
        let routine = ["function", "procedure"];
        word(0, &["create"])
            && (word(1, &routine)
                || (word(1, &["or"]) && word(2, &["replace"]) && word(3, &routine)))
    }

    /// `CREATE [TEMP] TRIGGER` (SQLite, MySQL): its `BEGIN … END` body holds `;`.
    fn is_trigger(&self) -> bool {
        let head = self.head.get(..self.head_len).unwrap_or_default();
        head.first()
            .is_some_and(|t| t.eq_ignore_ascii_case("create"))
            && head
                .iter()
                .skip(1)
                .any(|t| t.eq_ignore_ascii_case("trigger"))
    }

    /// A `;` here ends the statement (it is not inside parentheses or a `BEGIN ATOMIC` body).
    fn may_end(&self) -> bool {
        self.paren_depth == 0 && self.atomic_depth == 0
    }

    fn finish(&self, script: &'a str) -> Option<Statement<'a>> {
        let (start, end) = self.span?;
        // Tokens never start or end with whitespace, except an unterminated string or comment
        // that runs to the end of the script: trim that too, so every `text` is trimmed.
        let text = script.get(start..end)?.trim_end_matches(is_sql_whitespace);
        Some(Statement {
            text,
            offset: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements' texts, after checking every statement's offset and trimming.
    fn texts(script: &str) -> Vec<&str> {
        let statements = split(script);
        check_consistent(script, &statements);
        statements.iter().map(|s| s.text).collect()
    }

    fn check_consistent(script: &str, statements: &[Statement<'_>]) {
        let mut previous_end = 0;
        for s in statements {
            assert_eq!(
                &script[s.offset..s.offset + s.text.len()],
                s.text,
                "{script:?}"
            );
            assert!(!s.text.is_empty(), "{script:?}");
            assert_eq!(
                s.text.trim_matches(is_sql_whitespace),
                s.text,
                "trimmed: {script:?}"
            );
            assert!(
                !(script.starts_with('\u{feff}') && s.offset == 0),
                "BOM in text: {script:?}"
            );
            assert!(s.offset >= previous_end, "in order, disjoint: {script:?}");
            previous_end = s.offset + s.text.len();
        }
        if is_blank(script) {
            assert!(
                statements.is_empty(),
                "blank but has statements: {script:?}"
            );
        }
    }

    #[test]
    fn plain_statements_with_and_without_final_semicolon() {
        assert_eq!(texts("SELECT 1; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(texts("SELECT 1;\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(texts("  SELECT 1  "), ["SELECT 1"]);
        assert!(texts("").is_empty());
    }

    #[test]
    fn empty_and_comment_only_statements_are_dropped() {
        assert_eq!(texts(";;SELECT 1;;  ;\n-- the end\n"), ["SELECT 1"]);
        assert!(texts("-- only a comment\n/* and another */\n;").is_empty());
    }

    #[test]
    fn leading_and_trailing_comments_are_outside_the_text() {
        let script =
            "-- users\nCREATE TABLE users (id int); -- done\n/* next */ SELECT 1 /* end */;";
        let statements = split(script);
        check_consistent(script, &statements);
        assert_eq!(
            statements[0],
            Statement {
                text: "CREATE TABLE users (id int)",
                offset: 9
            }
        );
        assert_eq!(statements[1].text, "SELECT 1");
        // A comment inside a statement stays: the text is the statement as written.
        assert_eq!(texts("SELECT 1 -- one\n + 2;"), ["SELECT 1 -- one\n + 2"]);
    }

    #[test]
    fn dollar_quoted_bodies() {
        let script = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql;\nSELECT f();";
        assert_eq!(
            texts(script),
            [
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql",
                "SELECT f()"
            ]
        );
    }

    #[test]
    fn tagged_dollar_quotes_nest_other_tags() {
        let script = "DO $body$ BEGIN PERFORM $x$;$x$; RAISE NOTICE '$$;'; END $body$;\nSELECT $a$ $$ ; $a$;";
        assert_eq!(
            texts(script),
            [
                "DO $body$ BEGIN PERFORM $x$;$x$; RAISE NOTICE '$$;'; END $body$",
                "SELECT $a$ $$ ; $a$"
            ]
        );
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(
            texts("PREPARE p AS SELECT $1; SELECT 2;"),
            ["PREPARE p AS SELECT $1", "SELECT 2"]
        );
    }

    #[test]
    fn nested_block_comments() {
        let script = "SELECT 1 /* outer /* inner; */ still comment; */ + 1; SELECT 2;";
        assert_eq!(
            texts(script),
            [
                "SELECT 1 /* outer /* inner; */ still comment; */ + 1",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn line_comment_with_semicolon() {
        assert_eq!(
            texts("SELECT 1 -- not the end; really\n;SELECT 2"),
            ["SELECT 1", "SELECT 2"]
        );
        assert_eq!(texts("-- a; b; c\nSELECT 1;"), ["SELECT 1"]);
    }

    #[test]
    fn quoted_identifier_with_semicolon_and_doubled_quote() {
        let script = r#"CREATE TABLE "a;b" ("x"";y" int); SELECT 1;"#;
        assert_eq!(
            texts(script),
            [r#"CREATE TABLE "a;b" ("x"";y" int)"#, "SELECT 1"]
        );
    }

    #[test]
    fn strings_with_semicolons_and_escapes() {
        // Standard string: '' is a quote, a backslash is literal (so '\' is a whole string).
        assert_eq!(
            texts("SELECT 'it''s; fine'; SELECT '\\'; SELECT 3;"),
            ["SELECT 'it''s; fine'", "SELECT '\\'", "SELECT 3"]
        );
        // E'' string: \' is an escaped quote, so the string goes on past it.
        assert_eq!(
            texts("SELECT E'\\'; still'; SELECT e'\\\\'; SELECT 3;"),
            ["SELECT E'\\'; still'", "SELECT e'\\\\'", "SELECT 3"]
        );
        assert_eq!(
            texts("SELECT U&'d\\0061t;'; SELECT 2"),
            ["SELECT U&'d\\0061t;'", "SELECT 2"]
        );
    }

    #[test]
    fn begin_atomic_function_is_one_statement() {
        let function = "CREATE OR REPLACE FUNCTION add_and_log(a int, b int) RETURNS int\n\
            LANGUAGE sql\n\
            BEGIN ATOMIC\n  \
              INSERT INTO log VALUES (a, b);\n  \
              SELECT CASE WHEN a > b THEN a ELSE b END;\n  \
              SELECT (CASE a WHEN 1 THEN 1 END) + a + b;\n\
            END";
        let script = format!("{function};\nCREATE INDEX CONCURRENTLY i ON t (x);\n");
        assert_eq!(
            texts(&script),
            [function, "CREATE INDEX CONCURRENTLY i ON t (x)"]
        );

        let procedure = "create procedure p() begin atomic insert into t values (1); end";
        assert_eq!(
            texts(&format!("{procedure}; select 1")),
            [procedure, "select 1"]
        );
        let empty_body = "CREATE FUNCTION one() RETURNS int BEGIN ATOMIC END";
        assert_eq!(
            texts(&format!("{empty_body};SELECT 1;")),
            [empty_body, "SELECT 1"]
        );
    }

    #[test]
    fn sqlite_triggers_and_mysql_routines_keep_their_bodies() {
        let trigger = "CREATE TRIGGER audit AFTER INSERT ON t BEGIN\n  INSERT INTO log VALUES (new.id);\n  UPDATE c SET n = n + 1;\nEND";
        assert_eq!(
            texts(&format!("{trigger};\nSELECT 1;")),
            [trigger, "SELECT 1"]
        );
        let procedure = "CREATE PROCEDURE p()\nBEGIN\n  IF (SELECT 1) THEN\n    INSERT INTO t VALUES (1);\n  END IF;\n  WHILE 0 DO SELECT 1; END WHILE;\nEND";
        assert_eq!(
            texts(&format!("{procedure};\nSELECT 2;")),
            [procedure, "SELECT 2"]
        );
        // A PostgreSQL function with a string body: BEGIN inside the string is not tracked,
        // and the plpgsql body stays one statement thanks to the dollar quotes.
        let plpgsql =
            "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql";
        assert_eq!(
            texts(&format!("{plpgsql};\nSELECT 3;")),
            [plpgsql, "SELECT 3"]
        );
        // Transaction control stays separate statements.
        assert_eq!(
            texts("BEGIN;\nSELECT 1;\nCOMMIT;"),
            ["BEGIN", "SELECT 1", "COMMIT"]
        );
    }

    #[test]
    fn begin_atomic_is_only_a_body_in_a_routine() {
        // A column `begin` aliased `atomic`: an ordinary query, ended by its `;`.
        assert_eq!(
            texts("SELECT begin atomic FROM t; SELECT 2;"),
            ["SELECT begin atomic FROM t", "SELECT 2"]
        );
    }

    #[test]
    fn transaction_control_statements_are_separate() {
        let script = "BEGIN;\nCREATE TABLE a (id int);\nEND;\nBEGIN TRANSACTION; SELECT 1; COMMIT;";
        assert_eq!(
            texts(script),
            [
                "BEGIN",
                "CREATE TABLE a (id int)",
                "END",
                "BEGIN TRANSACTION",
                "SELECT 1",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn semicolon_inside_parentheses_does_not_end_a_statement() {
        let rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))";
        assert_eq!(texts(&format!("{rule}; SELECT 1")), [rule, "SELECT 1"]);
        // A stray `)` does not make later `;` inert.
        assert_eq!(texts("SELECT 1); SELECT 2"), ["SELECT 1)", "SELECT 2"]);
    }

    #[test]
    fn create_index_concurrently_among_others() {
        let script = "ALTER TABLE t ADD COLUMN x int;\n\
            CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n\
            ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\n";
        assert_eq!(
            texts(script),
            [
                "ALTER TABLE t ADD COLUMN x int",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x)",
                "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID"
            ]
        );
    }

    #[test]
    fn crlf_line_endings() {
        let script = "-- first\r\nSELECT 1\r\n  + 1;\r\n\r\nSELECT 'a;\r\nb';\r\n";
        let statements = split(script);
        check_consistent(script, &statements);
        assert_eq!(
            statements,
            [
                Statement {
                    text: "SELECT 1\r\n  + 1",
                    offset: 10
                },
                Statement {
                    text: "SELECT 'a;\r\nb'",
                    offset: 30
                }
            ]
        );
    }

    #[test]
    fn byte_order_mark() {
        // The caller may strip the BOM (offsets relative to the stripped text) ...
        let file = "\u{feff}SELECT 1;\nSELECT 2;";
        let stripped = &file[3..];
        assert_eq!(
            split(stripped),
            [
                Statement {
                    text: "SELECT 1",
                    offset: 0
                },
                Statement {
                    text: "SELECT 2",
                    offset: 10
                }
            ]
        );
        // ... or pass the file as read: the BOM is skipped like whitespace and offsets are file
        // offsets.
        assert_eq!(
            split(file),
            [
                Statement {
                    text: "SELECT 1",
                    offset: 3
                },
                Statement {
                    text: "SELECT 2",
                    offset: 13
                }
            ]
        );
        assert!(is_blank("\u{feff}\n-- nothing\n"));
    }

    #[test]
    fn multibyte_text_keeps_offsets_on_char_boundaries() {
        let script = "/* é */ SELECT 'ñ;😀'; -- 日本;\nSELECT \"日;本\";";
        let statements = split(script);
        check_consistent(script, &statements);
        assert_eq!(
            statements,
            [
                Statement {
                    text: "SELECT 'ñ;😀'",
                    offset: 9
                },
                Statement {
                    text: "SELECT \"日;本\"",
                    offset: 38
                }
            ]
        );
    }

    #[test]
    fn unterminated_tokens_are_kept_for_the_server_to_reject() {
        assert_eq!(
            texts("SELECT 1; SELECT 'abc; SELECT 3;"),
            ["SELECT 1", "SELECT 'abc; SELECT 3;"]
        );
        assert_eq!(
            texts("SELECT $$abc; SELECT 3;"),
            ["SELECT $$abc; SELECT 3;"]
        );
        assert_eq!(
            texts("SELECT 1; /* never closed; SELECT 2;"),
            ["SELECT 1", "/* never closed; SELECT 2;"]
        );
        assert!(!is_blank("/* never closed"));
    }

    #[test]
    fn is_blank_cases() {
        assert!(is_blank(""));
        assert!(is_blank(" \t\r\n\u{b}\u{c}"));
        assert!(is_blank("-- a\n/* b /* c */ */\r\n--"));
        assert!(!is_blank(";"));
        assert!(!is_blank("-- a\nSELECT 1"));
        assert!(!is_blank("\\connect db"));
    }

    const TRICKY: &str = "\u{feff}-- head; 'x\r\n\
        CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $$;$$ $fn$ LANGUAGE sql;\r\n\
        /* a /* b; */ c */ SELECT E'\\';''', 'é;', \"q\"\";\", $1, U&'\\00e9' FROM t;\n\
        CREATE PROCEDURE p() BEGIN ATOMIC SELECT CASE WHEN x THEN 1 END; SELECT 2; END;\n\
        CREATE RULE r AS ON INSERT TO t DO (INSERT INTO u VALUES (1); NOTIFY x);\n\
        BEGIN; SELECT '日本😀' -- trailing; comment\n; COMMIT; $$unterminated; /* open";

    #[test]
    fn tricky_script_splits_as_expected() {
        assert_eq!(
            texts(TRICKY),
            [
                "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $$;$$ $fn$ LANGUAGE sql",
                "SELECT E'\\';''', 'é;', \"q\"\";\", $1, U&'\\00e9' FROM t",
                "CREATE PROCEDURE p() BEGIN ATOMIC SELECT CASE WHEN x THEN 1 END; SELECT 2; END",
                "CREATE RULE r AS ON INSERT TO t DO (INSERT INTO u VALUES (1); NOTIFY x)",
                "BEGIN",
                "SELECT '日本😀'",
                "COMMIT",
                "$$unterminated; /* open",
            ]
        );
    }

    #[test]
    fn never_panics_and_stays_consistent_on_any_prefix_or_suffix() {
        for (index, _) in TRICKY.char_indices().chain([(TRICKY.len(), ' ')]) {
            for part in [&TRICKY[..index], &TRICKY[index..]] {
                let statements = split(part);
                check_consistent(part, &statements);
            }
        }
    }

    #[test]
    fn never_panics_on_generated_scripts() {
        // A small deterministic generator (no extra dependency): scripts glued from fragments
        // that open and close every kind of token, in every order.
        const PIECES: [&str; 24] = [
            ";",
            "'",
            "''",
            "E'",
            "\\",
            "\"",
            "$$",
            "$a$",
            "$",
            "--",
            "\n",
            "\r\n",
            "/*",
            "*/",
            "(",
            ")",
            " begin ",
            " atomic ",
            " case ",
            " end ",
            "create function ",
            "é",
            "😀",
            "\u{feff}",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut script = String::new();
            for _ in 0..(state % 20) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                script.push_str(PIECES[(state % PIECES.len() as u64) as usize]);
            }
            let statements = split(&script);
            check_consistent(&script, &statements);
            state = state.wrapping_add(1);
        }
    }
}
