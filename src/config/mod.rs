//! `shipgate.toml`: its schema, loading with positions, and `${VAR}` interpolation.

pub mod checks;
pub mod hooks;
pub mod interp;
pub mod located;
pub mod migrate;
pub mod notify;
pub mod rate_limit;
pub mod resolve;
pub mod rollback;
pub mod setting;
pub mod source;

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{InputError, did_you_mean};
pub use located::{Located, Text};
pub use resolve::Resolver;
pub use setting::{Scalar, Setting, Typed};
pub use source::Source;

/// The whole file. Each section is one phase of a runbook.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Pre-deployment checks (`sql`, `metrics`, `prometheus` and `log` belong in `[verify]`).
    pub preflight: Option<checks::ChecksConfig>,
    /// Post-deployment checks: the kinds of `[preflight]`, plus `sql`, `metrics` and `log`.
    pub verify: Option<checks::ChecksConfig>,
    /// Applying SQL migrations.
    pub migrate: Option<migrate::MigrateConfig>,
    /// Rolling migrations back.
    pub rollback: Option<rollback::RollbackConfig>,
    /// Rate limiters to prove.
    pub rate_limit: Option<rate_limit::RateLimitConfig>,
    /// Publishing to GitHub through its API (in GitHub Actions): a PR comment, a check run.
    pub github: Option<crate::github::GithubConfig>,
    /// Webhooks told of the run's outcome after every command (Slack-compatible or the JSON
    /// report), one `[[notify]]` each. A failed notification is a warning, never a failed run.
    #[serde(default)]
    pub notify: Vec<Located<notify::NotifyConfig>>,
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
    let text = crate::files::read_text_bounded(path, crate::files::CONFIG_LIMIT).map_err(|e| {
        InputError::new(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
        .help("check the --config path: it names a TOML file such as shipgate.toml")
    })?;
    parse(Source::new(path.display().to_string(), text))
}

pub fn parse(source: Source) -> Result<LoadedConfig, InputError> {
    match toml::from_str::<Config>(&source.text) {
        Ok(config) => {
            refuse_verbatim_references(&source)?;
            refuse_verify_only_in_preflight(&config, &source)?;
            Ok(LoadedConfig {
                config,
                source: Some(source),
            })
        }
        Err(e) => Err(toml_error(&source, &e)),
    }
}

/// Keys taken as written: names and identifiers, where a `${VAR}` would silently stay literal
/// text (a check named `${SERVICE}`, a history table `${SCHEMA}.migrations`). Every other
/// string is interpolated.
const VERBATIM_KEYS: &[&str] = &[
    "name",
    "method",
    "layout",
    "table",
    "migrations_table",
    "schemes",
    "one_of",
    "placeholders",
];

/// Tables whose keys are the user's own (header names, JSON fields, Redis keys): a key there
/// named `name` is data, not the verbatim `name` above.
const USER_KEYED_TABLES: &[&str] = &[
    "headers",
    "query",
    "json",
    "capture",
    "key_equals",
    "expect_headers",
];

/// Refuses a check kind that only `verify` runs written under `[preflight]`, where it would be
/// planned for a system not yet deployed (or, before, silently run by the wrong command).
fn refuse_verify_only_in_preflight(config: &Config, source: &Source) -> Result<(), InputError> {
    if let Some((key, span)) = config
        .preflight
        .as_ref()
        .and_then(checks::ChecksConfig::first_verify_only_key)
    {
        return Err(InputError::new(format!(
            "`{key}` belongs in [verify]: only `shipgate verify` watches a deployed system"
        ))
        .at(source.location(span))
        .key(format!("preflight.{key}"))
        .help(format!("move `{key}` to the [verify] section")));
    }
    let Some((kind, span)) = config
        .preflight
        .as_ref()
        .and_then(checks::ChecksConfig::first_verify_only)
    else {
        return Ok(());
    };
    Err(InputError::new(format!(
        "[[preflight.{kind}]] belongs in [verify]: {kind} checks look at a deployed system, and only `shipgate verify` runs them"
    ))
    .at(source.table_location(span))
    .key(format!("preflight.{kind}"))
    .help(format!("rename the table to [[verify.{kind}]]")))
}

/// Refuses `${` in a key that is taken as written, at its line, rather than leave it literal.
fn refuse_verbatim_references(source: &Source) -> Result<(), InputError> {
    use toml::de::{DeTable, DeValue};
    fn walk(table: &DeTable<'_>, source: &Source) -> Result<(), InputError> {
        for (key, value) in table {
            let key = key.get_ref().as_ref();
            if USER_KEYED_TABLES.contains(&key) {
                continue;
            }
            let strings: Vec<&toml::Spanned<DeValue<'_>>> = match value.get_ref() {
                DeValue::Table(inner) => {
                    walk(inner, source)?;
                    continue;
                }
                DeValue::Array(items) => {
                    for item in items.iter() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            walk(inner, source)?;
                        }
                    }
                    items.iter().collect()
                }
                _ => vec![value],
            };
            if !VERBATIM_KEYS.contains(&key) {
                continue;
            }
            for s in strings {
                if let DeValue::String(text) = s.get_ref()
                    && text.contains("${")
                {
                    let mut err = InputError::new(format!(
                        "`{key}` is taken as written: `{text}` would not be filled in"
                    ))
                    .at(source.location(&s.span()))
                    .help(format!(
                        "write the {key} itself here; variables fill in URLs, headers, bodies, expectations and values"
                    ));
                    if let Some(dotted) = source.dotted_key_at(s.span().start) {
                        err = err.key(dotted);
                    }
                    return Err(err);
                }
            }
        }
        Ok(())
    }
    match DeTable::parse(&source.text) {
        Ok(root) => walk(root.get_ref(), source),
        // The document parsed a moment ago; a second parse cannot fail differently.
        Err(_) => Ok(()),
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
        let err =
            parse_str("[preflight]\n[[preflight.redis]]\nurl = \"redis://x\"\noptional = 3\n")
                .unwrap_err();
        assert_eq!(err.location.as_ref().unwrap().line, 4, "{err}");
        assert_eq!(err.key.as_deref(), Some("preflight.redis.optional"));
        assert!(err.message.contains("expected a boolean"), "{err}");
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
