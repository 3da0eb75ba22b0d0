//! Map a PostgreSQL error position back to the migration file, and show it.
//!
//! PostgreSQL reports where a statement went wrong in the `P` field of its ErrorResponse: a
//! 1-based index in CHARACTERS (not bytes) into the exact query string it received. Turning that
//! into a line and column of the file is only exact if we know which file bytes that string was.
//!
//! # Contract: send file bytes unchanged
//!
//! The string sent to the server (`sent`) must be an exact substring of the file as read from
//! disk (`file_text`), starting at byte `sent_offset`: `&file_text[sent_offset..][..sent.len()]
//! == sent`. So do NOT normalise before sending: keep CRLF line endings (PostgreSQL treats `\r`
//! as whitespace), and skip a leading UTF-8 BOM by starting `sent_offset` after it rather than by
//! building a new string. A statement from [`super::split::split`] of (a range of) the file
//! satisfies this: its `text` is a slice of the script, at `script start + offset`.
//!
//! Why not normalise and map back? Every rewrite (BOM stripped, CRLF → LF, a directive line
//! removed) shifts positions differently, and a mapping that forgets one points at the wrong
//! place with full confidence. With the contract there is nothing to map back: a position in
//! `sent` is a position in the file. [`file_position`] checks the contract and gives `None`
//! rather than a wrong answer when it does not hold.
//!
//! Positions count characters as the server does when its encoding is a real one (UTF-8 or
//! another multi-byte or single-byte encoding the text converts to character by character). With
//! `server_encoding = SQL_ASCII` the server counts bytes, and positions after a non-ASCII
//! character come out too far: a limitation here. Only the `P` field is mapped: an error inside a
//! function body reports `p` (internal position) into a different string, the body.
//!
//! Lines and columns are 1-based; columns count characters (a tab is one), not bytes or display
//! cells. A line ends at `\n` (so `\r\n` is one line break, its `\r` not a column); a lone `\r`
//! is an ordinary character. A BOM at the start of the file is not a column.

const BOM: char = '\u{feff}';

/// Line and column (1-based; column in characters) in the original file of the character at
/// 1-based char position `pg_position` inside `sent`, where `sent` starts at byte `sent_offset`
/// of `file_text` (the file as read from disk, possibly with a UTF-8 BOM and CRLF line endings).
///
/// `pg_position` may be one past the last character: PostgreSQL reports that for errors "at end
/// of input" (`SELECT 1 +`), and it maps to just after the last character. Gives `None` if the
/// position is 0 or further past the end, or if `sent` is not the substring of `file_text` at
/// `sent_offset` (see the module's contract).
pub fn file_position(
    file_text: &str,
    sent_offset: usize,
    sent: &str,
    pg_position: usize,
) -> Option<(u32, u32)> {
    let sent_end = sent_offset.checked_add(sent.len())?;
    if file_text.get(sent_offset..sent_end)? != sent {
        return None;
    }
    let index = pg_position.checked_sub(1)?;
    let byte_in_sent = sent
        .char_indices()
        .map(|(byte, _)| byte)
        .chain(std::iter::once(sent.len()))
        .nth(index)?;
    Some(line_col(file_text, sent_offset + byte_in_sent))
}

/// The line and column of a byte offset in `file_text` (BOM not counted as a column; `\r\n` is
/// one line break; columns count characters, a `\r` before `\n` not counted).
///
/// Never panics: an offset past the end is taken as the end, and one inside a multi-byte
/// character as the start of that character.
pub fn line_col(file_text: &str, byte_offset: usize) -> (u32, u32) {
    let offset = file_text.floor_char_boundary(byte_offset);
    let before = &file_text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let mut columns = &before[line_start..];
    if line_start == 0 {
        columns = columns.strip_prefix(BOM).unwrap_or(columns);
    }
    // At the `\n` of a `\r\n`, the `\r` is part of the line break: the column is the line's end.
    if file_text[offset..].starts_with('\n') {
        columns = columns.strip_suffix('\r').unwrap_or(columns);
    }
    (
        saturating_u32(line),
        saturating_u32(columns.chars().count() + 1),
    )
}

/// A code frame like rustc's for display: 2 lines of context before, the line, a caret under the
/// column, 1 line after; line numbers in a gutter. For example, line 3, column 8:
///
/// ```text
///   |
/// 1 | CREATE TABLE a (id int);
/// 2 | CREATE TABLE b (
/// 3 |     id integr
///   |        ^
/// 4 | );
/// ```
///
/// No trailing newline; no trailing spaces on a line. A tab shows as 4 spaces and another control
/// character (a lone `\r`, an escape) as `�`, so the terminal cannot be disturbed; the caret is
/// padded by the display width of what precedes it (CJK and emoji count as 2 cells, an
/// approximation of Unicode's East Asian Width). A column past the end of the line points just
/// after it; a line that is not in the file gives an empty string.
pub fn code_frame(file_text: &str, line: u32, column: u32) -> String {
    let body = file_text.strip_prefix(BOM).unwrap_or(file_text);
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let Some(index) = usize::try_from(line).ok().and_then(|l| l.checked_sub(1)) else {
        return String::new();
    };
    let Some(target) = lines.get(index) else {
        return String::new();
    };
    let first = index.saturating_sub(2);
    let last = (index + 1).min(lines.len() - 1);
    let width = (last + 1).to_string().len();

    let mut out = vec![format!("{:width$} |", "")];
    for (i, text) in lines.iter().enumerate().take(last + 1).skip(first) {
        out.push(format!("{:>width$} | {}", i + 1, render(text)));
        if i == index {
            let before = usize::try_from(column)
                .unwrap_or(usize::MAX)
                .saturating_sub(1);
            let pad: usize = target.chars().take(before).map(display_width).sum();
            out.push(format!("{:width$} | {:pad$}^", "", ""));
        }
    }
    out.iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line as shown in a code frame: tabs expanded, control characters made visible.
fn render(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\t' => "    ".to_string(),
            c if c.is_control() => '\u{fffd}'.to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Terminal cells taken by `c` as [`render`] shows it: enough to put a caret under CJK and emoji
/// text without a Unicode-width dependency. Combining marks, zero-width joiners and variation
/// selectors take none; wide East Asian ranges and emoji take two.
fn display_width(c: char) -> usize {
    match u32::from(c) {
        0x09 => 4,
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x2FFFD
        | 0x30000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 1-based char position of the first occurrence of `needle` in `sent`, as the server
    /// would report it.
    fn pg_position_of(sent: &str, needle: &str) -> usize {
        let byte = sent.find(needle).expect("needle in sent");
        sent[..byte].chars().count() + 1
    }

    #[test]
    fn ascii() {
        let file = "SELECT 1;\nSELEC 2;\n";
        assert_eq!(file_position(file, 0, file, 1), Some((1, 1)));
        assert_eq!(
            file_position(file, 0, file, pg_position_of(file, "SELEC 2")),
            Some((2, 1))
        );
        assert_eq!(
            file_position(file, 0, file, pg_position_of(file, "2;")),
            Some((2, 7))
        );
        assert_eq!(line_col(file, 0), (1, 1));
        assert_eq!(line_col(file, 9), (1, 10), "the newline itself ends line 1");
        assert_eq!(line_col(file, 10), (2, 1));
        assert_eq!(
            line_col(file, file.len()),
            (3, 1),
            "end of a file ending in a newline"
        );
    }

    #[test]
    fn multibyte_characters_before_the_error_on_the_same_line() {
        // The server counts characters: é (2 bytes), 😀 (4 bytes), 日本 (3 bytes each).
        let file = "SELECT 'é😀日本', x FROM t;";
        let position = pg_position_of(file, "x FROM");
        assert_eq!(position, 16);
        assert_eq!(file_position(file, 0, file, position), Some((1, 16)));
        assert_eq!(line_col(file, file.find("x FROM").unwrap()), (1, 16));
    }

    #[test]
    fn multibyte_characters_on_earlier_lines() {
        let file = "-- café ☕ 日本語\nINSERT INTO t VALUES ('😀😀');\nSELECT nope;";
        let position = pg_position_of(file, "nope");
        assert_eq!(file_position(file, 0, file, position), Some((3, 8)));
        let position = pg_position_of(file, "');");
        assert_eq!(file_position(file, 0, file, position), Some((2, 26)));
    }

    #[test]
    fn crlf_file() {
        let file = "SELECT 1;\r\nSELECT\r\n  nope;\r\n";
        // `\r` is a character the server counts: the string is sent with its CRLFs.
        let position = pg_position_of(file, "nope");
        assert_eq!(position, 22);
        assert_eq!(file_position(file, 0, file, position), Some((3, 3)));
        // The `\r` and `\n` of a line break both sit at the end of their line.
        assert_eq!(line_col(file, 9), (1, 10));
        assert_eq!(line_col(file, 10), (1, 10));
        assert_eq!(line_col(file, 11), (2, 1));
        // A lone `\r` is not a line break.
        assert_eq!(line_col("a\rb", 2), (1, 3));
    }

    #[test]
    fn bom_file_does_not_count_the_bom() {
        let file = "\u{feff}SELEC 1;\nSELECT 2;";
        let sent = &file[3..];
        assert_eq!(file_position(file, 3, sent, 1), Some((1, 1)));
        assert_eq!(file_position(file, 3, sent, 7), Some((1, 7)));
        assert_eq!(
            file_position(file, 3, sent, pg_position_of(sent, "2;")),
            Some((2, 8))
        );
        assert_eq!(line_col(file, 0), (1, 1));
        assert_eq!(line_col(file, 3), (1, 1));
        assert_eq!(line_col(file, 4), (1, 2));
        // A BOM that is not at the start of the file is an ordinary (invisible) character.
        assert_eq!(line_col("a\n\u{feff}b", 5), (2, 2));
    }

    #[test]
    fn second_statement_in_the_middle_of_the_file() {
        let file = "\u{feff}-- schema\r\nCREATE TABLE a (id int);\r\nCREATE TABLE b (\r\n  id integr,\r\n  é text\r\n);\r\n";
        let statements = super::super::split::split(file);
        let second = statements[1];
        assert_eq!(
            second.text,
            "CREATE TABLE b (\r\n  id integr,\r\n  é text\r\n)"
        );
        let position = pg_position_of(second.text, "integr");
        assert_eq!(
            file_position(file, second.offset, second.text, position),
            Some((4, 6))
        );
        let position = pg_position_of(second.text, "text");
        assert_eq!(
            file_position(file, second.offset, second.text, position),
            Some((5, 5))
        );
    }

    #[test]
    fn end_of_input_and_past_the_end() {
        let file = "SELECT 1;\nSELECT 1 +";
        let sent = &file[10..];
        let chars = sent.chars().count();
        // "syntax error at end of input": one past the last character.
        assert_eq!(file_position(file, 10, sent, chars + 1), Some((2, 11)));
        assert_eq!(file_position(file, 10, sent, chars + 2), None);
        assert_eq!(file_position(file, 10, sent, usize::MAX), None);
        assert_eq!(
            file_position(file, 10, sent, 0),
            None,
            "positions are 1-based"
        );
        assert_eq!(file_position("é", 0, "é", 2), Some((1, 2)));
        assert_eq!(file_position("é", 0, "é", 3), None, "characters, not bytes");
    }

    #[test]
    fn broken_contract_gives_none() {
        let file = "\u{feff}SELECT 1;\r\nSELECT 2;";
        let normalised = "SELECT 1;\nSELECT 2;";
        assert_eq!(file_position(file, 3, normalised, 1), None, "CRLF made LF");
        assert_eq!(
            file_position(file, 0, &file[3..], 1),
            None,
            "offset not after the BOM"
        );
        assert_eq!(
            file_position(file, 1, "x", 1),
            None,
            "offset inside the BOM"
        );
        assert_eq!(file_position(file, usize::MAX, "SELECT", 1), None);
        assert_eq!(file_position(file, file.len() + 1, "", 1), None);
        // An empty statement at the very end is still a valid place.
        assert_eq!(file_position(file, file.len(), "", 1), Some((2, 10)));
    }

    #[test]
    fn line_col_never_panics() {
        let file = "\u{feff}a\r\né😀\n\r\n日本\r";
        for offset in 0..=file.len() + 2 {
            let (line, column) = line_col(file, offset);
            assert!(line >= 1 && column >= 1);
            let _ = code_frame(file, line, column);
        }
        // Inside a multi-byte character: its start.
        assert_eq!(line_col(file, file.find('😀').unwrap() + 2), (2, 2));
        assert_eq!(line_col("", 5), (1, 1));
    }

    #[test]
    fn every_character_maps_back_to_itself() {
        let file = "\u{feff}-- 日本\r\nSELECT 'é😀',\tx\r\nFROM t\rq;\n\nSELECT 2";
        let sent = &file[3..];
        for (n, (byte, c)) in sent.char_indices().enumerate() {
            let (line, column) = file_position(file, 3, sent, n + 1).expect("in range");
            let expected_line = sent[..byte].matches('\n').count() + 1;
            let line_start = sent[..byte].rfind('\n').map_or(0, |i| i + 1);
            let mut expected_column = sent[line_start..byte].chars().count() + 1;
            if c == '\n' && sent[..byte].ends_with('\r') {
                expected_column -= 1;
            }
            assert_eq!(
                (line, column),
                (expected_line as u32, expected_column as u32),
                "char {n} {c:?}"
            );
        }
    }

    #[test]
    fn code_frame_exact() {
        let file = "CREATE TABLE a (id int);\nCREATE TABLE b (\n    id integr\n);\n";
        assert_eq!(
            code_frame(file, 3, 8),
            "  |\n\
             1 | CREATE TABLE a (id int);\n\
             2 | CREATE TABLE b (\n\
             3 |     id integr\n\
             \x20 |        ^\n\
             4 | );"
        );
    }

    #[test]
    fn code_frame_edges() {
        let file = "\u{feff}SELEC 1;\r\n";
        // First line: no context before; the BOM and the `\r` are not shown.
        assert_eq!(code_frame(file, 1, 1), "  |\n1 | SELEC 1;\n  | ^\n2 |");
        // Past the end of the line: just after it.
        assert_eq!(
            code_frame(file, 1, 99),
            "  |\n1 | SELEC 1;\n  |         ^\n2 |"
        );
        assert_eq!(code_frame(file, 0, 1), "");
        assert_eq!(code_frame(file, 3, 1), "");
        assert_eq!(code_frame(file, u32::MAX, u32::MAX), "");
        assert_eq!(code_frame("", 1, 1), "  |\n1 |\n  | ^");
        // The gutter is as wide as the largest line number shown.
        let ten = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10 x\n11";
        assert_eq!(
            code_frame(ten, 10, 4),
            "   |\n 8 | 8\n 9 | 9\n10 | 10 x\n   |    ^\n11 | 11"
        );
    }

    #[test]
    fn code_frame_caret_under_wide_and_tab_text() {
        let file = "\tSELECT '日本', é, x";
        // Column 18 is `x`: after tab (4 cells) + "SELECT '" (8) + 日本 (4) + "', é, " (6) = 22 cells.
        assert_eq!(line_col(file, file.find('x').unwrap()), (1, 18));
        let frame = code_frame(file, 1, 18);
        assert_eq!(
            frame,
            format!("  |\n1 |     SELECT '日本', é, x\n  | {}^", " ".repeat(22))
        );
        // Control characters are shown harmlessly.
        assert_eq!(
            code_frame("a\rb\u{1b}", 1, 3),
            "  |\n1 | a\u{fffd}b\u{fffd}\n  |   ^"
        );
    }
}
