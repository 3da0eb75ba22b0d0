//! A config file's text, for turning byte offsets into `file:line:column` and naming the
//! table and key written there.

use std::ops::Range;

use crate::report::Location;

#[derive(Clone, Debug)]
pub struct Source {
    /// The path as the user gave it, so messages show what they typed.
    pub path: String,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line as u32, column as u32)
    }

    /// The location of a span, or none for a value that did not come from this file.
    pub fn location(&self, span: &Range<usize>) -> Option<Location> {
        if span.start == 0 && span.end == 0 {
            return None;
        }
        let (line, column) = self.position(span.start);
        Some(Location {
            file: self.path.clone(),
            line,
            column,
        })
    }

    /// The location of the `[table]` or `[[table]]` header a table's span belongs to, so a
    /// check points at its heading rather than its first key.
    pub fn table_location(&self, span: &Range<usize>) -> Option<Location> {
        if span.start == 0 && span.end == 0 {
            return None;
        }
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let mut offset = line_start;
        // Walk back over blank and comment lines to the header, if the table has one.
        for line in self.text[..line_start].lines().rev() {
            offset -= line.len() + 1;
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                return self.location(&(offset..offset + 1));
            }
            if !(trimmed.is_empty() || trimmed.starts_with('#')) {
                break;
            }
        }
        self.location(span)
    }

    /// The header of the table an offset lies in: `preflight.database` for a key under
    /// `[[preflight.database]]`. Only whole lines before the offset's line count, so an offset
    /// inside a header names the table that header is in.
    pub fn table_at(&self, offset: usize) -> Option<String> {
        let line_start = self.line_start(offset);
        self.text[..line_start].lines().rev().find_map(header_of)
    }

    /// The header written on the line of an offset, if that line is one.
    pub fn header_at(&self, offset: usize) -> Option<String> {
        let start = self.line_start(offset);
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        header_of(&self.text[start..end])
    }

    fn line_start(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[..offset].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The key written on the line of an offset (`tables` for `tables = [...]`).
    pub fn key_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = &self.text[line_start..line_end];
        let (key, _) = line.split_once('=')?;
        let key = key.trim().trim_matches('"');
        (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
    }

    /// `preflight.database.url` for an offset inside `url = …` under `[[preflight.database]]`.
    pub fn dotted_key_at(&self, offset: usize) -> Option<String> {
        match (self.table_at(offset), self.key_at(offset)) {
            (Some(t), Some(k)) => Some(format!("{t}.{k}")),
            (None, Some(k)) => Some(k),
            (Some(t), None) => Some(t),
            (None, None) => None,
        }
    }
}

/// `preflight.database` for a line `[[preflight.database]]` or `[preflight.database]`.
fn header_of(line: &str) -> Option<String> {
    let line = line.trim();
    let header = line.strip_prefix("[[").and_then(|l| l.split("]]").next());
    let header = header.or_else(|| line.strip_prefix('[').and_then(|l| l.split(']').next()));
    header.map(|h| h.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_tables_and_keys() {
        let s = Source::new(
            "c.toml",
            "[preflight]\ntimeout = \"1s\"\n\n[[preflight.database]]\nurl = \"x\"\n",
        );
        let off = s.text.find("\"x\"").unwrap();
        assert_eq!(s.position(off), (5, 7));
        assert_eq!(s.table_at(off).as_deref(), Some("preflight.database"));
        assert_eq!(s.key_at(off).as_deref(), Some("url"));
        assert_eq!(
            s.dotted_key_at(off).as_deref(),
            Some("preflight.database.url")
        );
        assert_eq!(s.location(&(0..0)), None);
        let inside_header = s.text.find("database").unwrap();
        assert_eq!(s.table_at(inside_header).as_deref(), Some("preflight"));
        assert_eq!(
            s.header_at(inside_header).as_deref(),
            Some("preflight.database")
        );
        let table = s.text.find("url").unwrap();
        let loc = s.table_location(&(table..table + 9)).unwrap();
        assert_eq!((loc.line, loc.column), (4, 1));
    }
}
