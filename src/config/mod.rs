//! `shipgate.toml`: its schema, loading with positions, and `${VAR}` interpolation.

pub mod interp;
pub mod located;
pub mod migrate;
pub mod preflight;
pub mod rate_limit;
pub mod resolve;
pub mod rollback;
pub mod source;

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{InputError, did_you_mean};
pub use located::{Located, Text};
pub use resolve::Resolver;
pub use source::Source;

/// The whole file. Each section is one phase of a runbook.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Pre-deployment checks.
    pub preflight: Option<preflight::PreflightConfig>,
    /// Post-deployment checks: the same kinds as `[preflight]`.
    pub verify: Option<preflight::PreflightConfig>,
    /// Applying SQL migrations.
    pub migrate: Option<migrate::MigrateConfig>,
    /// Rolling migrations back.
    pub rollback: Option<rollback::RollbackConfig>,
    /// Rate limiters to prove.
    pub rate_limit: Option<rate_limit::RateLimitConfig>,
}

/// A parsed config and the text it came from (for positions in later errors).
#[derive(Debug, Default)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: Option<Source>,
}

impl LoadedConfig {
    pub fn empty() -> Self {
        Self::default()
    }
}

pub fn load(path: &Path) -> Result<LoadedConfig, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
        .help("check the --config path")
    })?;
    parse(Source::new(path.display().to_string(), text))
}

pub fn parse(source: Source) -> Result<LoadedConfig, InputError> {
    match toml::from_str::<Config>(&source.text) {
        Ok(config) => Ok(LoadedConfig {
            config,
            source: Some(source),
        }),
        Err(e) => Err(toml_error(&source, &e)),
    }
}

/// Turns a TOML or serde error into one that names the place, the key and a fix.
fn toml_error(source: &Source, e: &toml::de::Error) -> InputError {
    let span = e.span().unwrap_or(0..0);
    let mut err = InputError::new(e.message().trim().to_string())
        .at(source.location(&span).or_else(|| source.location(&(0..1))));
    if let Some((unknown, expected)) = parse_unknown_field(e.message()) {
        // An unknown section is reported on its header line: name the whole header.
        if let Some(header) = source.header_at(span.start) {
            err.message = format!("unknown section [{header}]");
            err = err.key(header.clone());
            let parent = header.rsplit_once('.').map(|(p, _)| format!("{p}."));
            let known = expected
                .iter()
                .map(|k| format!("{}{k}", parent.as_deref().unwrap_or("")));
            let known: Vec<String> = known.collect();
            if let Some(near) = did_you_mean(&header, known.iter().map(String::as_str)) {
                err = err.help(format!("did you mean [{near}]?"));
            } else if !known.is_empty() {
                err = err.help(format!(
                    "the sections allowed here are {}",
                    known.join(", ")
                ));
            }
            return err;
        }
        let table = source.table_at(span.start);
        let key = match &table {
            Some(t) => format!("{t}.{unknown}"),
            None => unknown.clone(),
        };
        err.message = match &table {
            Some(t) => format!("unknown key `{unknown}` in [{t}]"),
            None => format!("unknown key `{unknown}`"),
        };
        err = err.key(key);
        if let Some(near) = did_you_mean(&unknown, expected.iter().map(String::as_str)) {
            err = err.help(format!("did you mean `{near}`?"));
        } else if !expected.is_empty() {
            err = err.help(format!("the keys allowed here are {}", expected.join(", ")));
        }
    } else if let (Some(field), Some(header)) = (
        e.message()
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next()),
        source.header_at(span.start),
    ) {
        err.message = format!("[{header}] needs `{field}`");
        err = err
            .key(format!("{header}.{field}"))
            .help(format!("add `{field} = …` to this table"));
    } else if let Some(key) = source.dotted_key_at(span.start) {
        err = err.key(key);
    }
    err
}

/// serde's `unknown field `x`, expected one of `a`, `b`` (or `expected `a``).
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), expected))
}

/// The JSON Schema of `shipgate.toml`, as checked into `schemas/config.schema.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).expect("schema serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<LoadedConfig, InputError> {
        parse(Source::new("shipgate.toml", text))
    }

    #[test]
    fn unknown_key_names_line_and_suggests() {
        let err =
            parse_str("[preflight]\n\n[[preflight.database]]\nurl = \"x\"\ntabels = [\"funds\"]\n")
                .unwrap_err();
        let loc = err.location.clone().unwrap();
        assert_eq!((loc.line, loc.column), (5, 1), "{err}");
        assert_eq!(err.key.as_deref(), Some("preflight.database.tabels"));
        assert_eq!(err.help.as_deref(), Some("did you mean `tables`?"));
    }

    #[test]
    fn unknown_section_is_named_whole() {
        let err = parse_str("[preflight]\n\n[preflight.databse]\nurl = \"x\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("preflight.databse"), "{err}");
        assert_eq!(
            err.help.as_deref(),
            Some("did you mean [preflight.database]?")
        );
        let err = parse_str("[deploy]\n").unwrap_err();
        assert_eq!(err.message, "unknown section [deploy]");
        assert_eq!(err.location.unwrap().line, 1);
    }

    #[test]
    fn missing_field_names_the_table() {
        let err = parse_str("[preflight]\n[[preflight.database]]\nname = \"x\"\n").unwrap_err();
        assert_eq!(err.message, "[preflight.database] needs `url`", "{err}");
        assert_eq!(err.location.unwrap().line, 2);
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse_str(
            "[preflight]\n[[preflight.redis]]\nurl = \"redis://x\"\noptional = \"yes\"\n",
        )
        .unwrap_err();
        assert_eq!(err.location.as_ref().unwrap().line, 4, "{err}");
        assert_eq!(err.key.as_deref(), Some("preflight.redis.optional"));
    }

    #[test]
    fn spans_of_entries_are_kept() {
        let loaded = parse_str("[preflight]\n[[preflight.path]]\npath = \"/tmp\"\n").unwrap();
        let pre = loaded.config.preflight.unwrap();
        let source = loaded.source.unwrap();
        let loc = source.location(&pre.path[0].path.span).unwrap();
        assert_eq!((loc.line, loc.column), (3, 8));
    }
}
