//! Input errors: the config, a flag or a file is wrong, and nothing ran (exit code 2).

use std::fmt;

use crate::report::Location;

/// An error in what the user gave shipgate. Its Display says what, where and what to do, the
/// way cargo does: `error: shipgate.toml:12:1: …` then `  help: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub message: String,
    pub location: Option<Location>,
    /// The dotted key the error is about, e.g. `preflight.database.url`.
    pub key: Option<String>,
    pub help: Option<String>,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        InputError {
            message: message.into(),
            location: None,
            key: None,
            help: None,
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{}:{}:{}: ", loc.file, loc.line, loc.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// The closest of `candidates` to `word`, if it is close enough to be what the user meant.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    close_names(word, candidates, 1).into_iter().next()
}

/// Up to `max` of `candidates` close enough to `word` to be what the user meant, closest first.
pub fn close_names<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    // Stable: among equal scores the first candidate stays first.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_place_key_and_help() {
        let e = InputError::new("unknown key")
            .at(Some(Location {
                file: "shipgate.toml".into(),
                line: 3,
                column: 1,
            }))
            .key("preflight.database.tabels")
            .help("did you mean `tables`?");
        assert_eq!(
            e.to_string(),
            "shipgate.toml:3:1: `preflight.database.tabels`: unknown key\n  help: did you mean `tables`?"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("tabels", ["url", "tables", "extensions"]),
            Some("tables")
        );
        assert_eq!(did_you_mean("zzz", ["url", "tables"]), None);
    }
}
