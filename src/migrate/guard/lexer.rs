//! The tokens of one SQL statement, enough to read the names in it: a name may be quoted with
//! backticks or double quotes, hold spaces, and be schema-qualified (`app."Weird Table"`,
//! `` `Weird Table` ``), and a keyword inside a string or a comment must not count. The
//! PostgreSQL lexer `squawk_lexer`, which splits the scripts, knows neither MySQL's backtick
//! names, nor its `#` comments, nor its backslash escapes in strings: this one follows the
//! dialect of the backend.

use crate::db::Backend;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An unquoted word, as written.
    Word(String),
    /// A quoted identifier, unescaped.
    Quoted(String),
    Punct(char),
    /// A string or number literal.
    Literal,
}

/// The tokens of one statement, comments and whitespace left out. On MySQL `'…'` strings take
/// backslash escapes and `#` starts a comment; on PostgreSQL only `E'…'` strings do, and
/// `$tag$…$tag$` bodies are strings.
pub fn lex(text: &str, backend: Backend) -> Vec<Token> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str, backend: Backend) -> Vec<String> {
        lex(text, backend)
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                Token::Quoted(q) => Some(format!("<{q}>")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn names_strings_and_comments_by_dialect() {
        let my = Backend::MySql;
        assert_eq!(
            words(
                "DELETE FROM `a``b` WHERE x = 'it\\'s DROP' # DROP TABLE t",
                my
            ),
            ["DELETE", "FROM", "<a`b>", "WHERE", "x"]
        );
        assert_eq!(
            words("/* a /* b */ DROP c", my),
            ["DROP", "c"],
            "MySQL block comments do not nest"
        );
        let pg = Backend::Postgres;
        assert_eq!(
            words("/* a /* b */ DROP c */ DROP \"X\"\"y\" -- DROP z", pg),
            ["DROP", "<X\"y>"]
        );
        assert_eq!(
            words(
                "DO $body$ DELETE FROM t $body$ ; SELECT E'\\' DROP' , 'a\\' x",
                pg
            ),
            ["DO", "SELECT", "x"]
        );
    }
}
