//! Turns config text into the values checks use: interpolates `${VAR}`, parses durations,
//! sizes, versions and patterns, and records every secret it meets for redaction.

use std::ops::Range;
use std::time::Duration;

use super::interp::{Interpolated, interpolate};
use super::located::{Located, Text};
use super::setting::{Scalar, Setting, Typed};
use super::source::Source;
use crate::env::Environment;
use crate::error::InputError;
use crate::report::Location;
use crate::secret::{Redactor, name_looks_secret};
use crate::units::{Version, parse_duration, parse_size};

pub struct Resolver<'a> {
    pub env: &'a Environment,
    source: Option<&'a Source>,
    /// Every secret value met while resolving: masked in all output of the run.
    pub secrets: Redactor,
    /// While resolving the parts of a request that may use `${captured.NAME}`: the names met.
    /// `None` elsewhere, where such a reference is refused.
    pub captured: Option<Vec<String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(env: &'a Environment, source: Option<&'a Source>) -> Self {
        Resolver {
            env,
            source,
            // Seeded with every secret of the environment before anything prints.
            secrets: env.secrets(),
            captured: None,
        }
    }

    pub fn location(&self, span: &Range<usize>) -> Option<Location> {
        self.source.and_then(|s| s.location(span))
    }

    /// Where a table (a check's entry) starts: its `[header]` line.
    pub fn table_location(&self, span: &Range<usize>) -> Option<Location> {
        self.source.and_then(|s| s.table_location(span))
    }

    /// An input error placed at `span`, naming the key written there.
    /// Secrets met so far are masked in the message: it may quote a value.
    pub fn error(&self, span: &Range<usize>, message: impl std::fmt::Display) -> InputError {
        let message = self.secrets.redact(&message.to_string());
        let mut err = InputError::new(message).at(self.location(span));
        if let Some(key) = self
            .source
            .filter(|_| span.end > 0)
            .and_then(|s| s.dotted_key_at(span.start))
        {
            err = err.key(key);
        }
        err
    }

    /// Interpolates a value, remembering the secrets it pulled in.
    pub fn text(&mut self, text: &Text) -> Result<Interpolated, InputError> {
        if text.is_unplaced() {
            self.secrets.add_url(&text.value);
            return Ok(Interpolated {
                value: text.value.clone(),
                unset: Vec::new(),
                referenced: Vec::new(),
                captured: Vec::new(),
            });
        }
        let resolved = interpolate(&text.value, self.env).map_err(|e| {
            let mut err = self.error(&text.span, e.message);
            err.help = e.help;
            err
        })?;
        if let Some(name) = resolved.captured.first() {
            match &mut self.captured {
                Some(names) => names.extend(resolved.captured.iter().cloned()),
                None => {
                    return Err(self
                        .error(
                            &text.span,
                            format!("`${{captured.{name}}}` cannot be used here"),
                        )
                        .help(
                            "captured values fill the url, query, headers and body of http checks",
                        ));
                }
            }
        }
        for name in &resolved.referenced {
            let Some(value) = self.env.get(name) else {
                continue;
            };
            if name_looks_secret(name) {
                self.secrets.add(value);
            }
            self.secrets.add_url(value);
        }
        self.secrets.add_url(&resolved.value);
        Ok(resolved)
    }

    /// A number or boolean, written as itself or as text that interpolates to it
    /// (`"${LP_RATE_LIMIT_MAX}"`); NaN and infinities are refused.
    pub fn value<T: Scalar>(&mut self, setting: &Typed<T>) -> Result<T, InputError> {
        let value = match &setting.value {
            Setting::Literal(v) => *v,
            Setting::Text(text) => {
                let located = Located {
                    value: text.clone(),
                    span: setting.span.clone(),
                };
                let resolved = self.string(&located)?;
                resolved.trim().parse::<T>().map_err(|_| {
                    let from = if text.contains("${") {
                        format!("`{text}` is `{resolved}`")
                    } else {
                        format!("`{resolved}`")
                    };
                    self.error(&setting.span, format!("{from}: expected {}", T::EXPECTED))
                })?
            }
        };
        value.check().map_err(|e| self.error(&setting.span, e))
    }

    pub fn value_or<T: Scalar>(
        &mut self,
        setting: Option<&Typed<T>>,
        default: T,
    ) -> Result<T, InputError> {
        setting.map_or(Ok(default), |s| self.value(s))
    }

    /// An optional setting, resolved when present.
    pub fn optional<T: Scalar>(
        &mut self,
        setting: Option<&Typed<T>>,
    ) -> Result<Option<T>, InputError> {
        setting.map(|s| self.value(s)).transpose()
    }

    pub fn string(&mut self, text: &Text) -> Result<String, InputError> {
        Ok(self.text(text)?.value)
    }

    /// A file path that may be left out: unset, or set to an empty value (`ca_file =
    /// "${CA_FILE:-}"` when the variable is unset) both mean none.
    pub fn optional_path(
        &mut self,
        text: Option<&Text>,
    ) -> Result<Option<std::path::PathBuf>, InputError> {
        let Some(text) = text else { return Ok(None) };
        let value = self.string(text)?;
        Ok((!value.trim().is_empty()).then(|| std::path::PathBuf::from(value)))
    }

    pub fn duration(&mut self, text: &Text) -> Result<Duration, InputError> {
        let value = self.string(text)?;
        parse_duration(&value).map_err(|e| self.error(&text.span, e))
    }

    pub fn duration_or(
        &mut self,
        text: Option<&Text>,
        default: Duration,
    ) -> Result<Duration, InputError> {
        text.map_or(Ok(default), |t| self.duration(t))
    }

    pub fn size(&mut self, text: &Text) -> Result<u64, InputError> {
        let value = self.string(text)?;
        parse_size(&value).map_err(|e| self.error(&text.span, e))
    }

    pub fn version(&mut self, text: &Text) -> Result<Version, InputError> {
        let value = self.string(text)?;
        Version::parse(&value).map_err(|e| self.error(&text.span, e))
    }

    /// A pattern the whole value must match: `eu|eu-west` accepts `eu-west`.
    pub fn anchored_regex(&mut self, text: &Text) -> Result<(String, regex::Regex), InputError> {
        let value = self.string(text)?;
        regex::Regex::new(&value)
            .and_then(|_| regex::Regex::new(&format!("^(?:{value})$")))
            .map(|re| (value, re))
            .map_err(|e| self.error(&text.span, format!("invalid regular expression: {e}")))
    }

    pub fn regex(&mut self, text: &Text) -> Result<regex::Regex, InputError> {
        let value = self.string(text)?;
        regex::Regex::new(&value)
            .map_err(|e| self.error(&text.span, format!("invalid regular expression: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Located;

    #[test]
    fn records_secrets_and_places_errors() {
        let env = Environment::from_pairs([
            ("DB_PASSWORD", "sup3r-secret"),
            ("DATABASE_URL", "postgres://app:pa55word@db/app"),
        ]);
        let source = Source::new(
            "s.toml",
            "[preflight]\nx = \"${DB_PASSWORD}\"\ny = \"soon\"\n",
        );
        let mut r = Resolver::new(&env, Some(&source));
        let t = Located {
            value: "${DB_PASSWORD} ${DATABASE_URL}".to_string(),
            span: 16..31,
        };
        r.text(&t).unwrap();
        assert_eq!(r.secrets.redact("sup3r-secret pa55word"), "*** ***");
        let bad = Located {
            value: "soon".to_string(),
            span: 36..42,
        };
        let err = r.duration(&bad).unwrap_err();
        assert_eq!(err.location.unwrap().line, 3);
        assert_eq!(err.key.as_deref(), Some("preflight.y"));
    }
}
