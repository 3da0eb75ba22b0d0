//! `${VAR}`, `${VAR:-default}` and `${VAR:?message}` in config values: the forms runbooks use.

use crate::env::Environment;

/// A value after interpolation, and the variables it referenced that were not set (an unset
/// `${VAR}` becomes empty, as in the shell; the check that needs the value says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    pub unset: Vec<String>,
    /// Every variable the value referenced, set or not.
    pub referenced: Vec<String>,
    /// `${captured.NAME}` references, left in the value as written: they are filled in at run
    /// time from what an earlier check captured.
    pub captured: Vec<String>,
}

/// The prefix of a reference to a value an earlier check captured: `${captured.token}`.
pub const CAPTURED: &str = "captured.";

/// Why a value could not be interpolated. `offset` is the byte offset inside the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError {
    pub message: String,
    pub help: Option<String>,
}

pub fn interpolate(raw: &str, env: &Environment) -> Result<Interpolated, InterpError> {
    let mut out = Interpolated {
        value: String::with_capacity(raw.len()),
        unset: Vec::new(),
        referenced: Vec::new(),
        captured: Vec::new(),
    };
    let mut rest = raw;
    while let Some(dollar) = rest.find('$') {
        out.value.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.value.push('$');
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix('{') else {
            out.value.push('$');
            rest = after;
            continue;
        };
        let Some(close) = body_and_tail.find('}') else {
            return Err(InterpError {
                message: format!("`${{` without a closing `}}` in `{raw}`"),
                help: Some("write `${NAME}`, or `$$` for a literal dollar sign".into()),
            });
        };
        let body = &body_and_tail[..close];
        if body.contains("${") {
            // `${A:-${B}}` would stop at the first `}` and leave a stray `}`: refuse it.
            return Err(InterpError {
                message: format!("`${{{body}}}}}`: a default cannot hold another `${{…}}`"),
                help: Some("give the default as plain text, or set the variable".into()),
            });
        }
        expand(body, env, &mut out)?;
        rest = &body_and_tail[close + 1..];
    }
    out.value.push_str(rest);
    Ok(out)
}

fn expand(body: &str, env: &Environment, out: &mut Interpolated) -> Result<(), InterpError> {
    if let Some(capture) = body.strip_prefix(CAPTURED) {
        if capture.is_empty()
            || !capture
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(InterpError {
                message: format!("`${{{body}}}` does not name a captured value"),
                help: Some("write `${captured.NAME}` with the name of a `capture` entry".into()),
            });
        }
        out.captured.push(capture.to_string());
        out.value.push_str(&format!("${{{body}}}"));
        return Ok(());
    }
    let name_len = body
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    let (name, op) = body.split_at(name_len);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InterpError {
            message: format!("`${{{body}}}` does not start with a variable name"),
            help: Some("names are letters, digits and `_`, e.g. `${DATABASE_URL}`".into()),
        });
    }
    out.referenced.push(name.to_string());
    let value = env.get(name).filter(|v| !v.is_empty());
    let expanded = if let Some(default) = op.strip_prefix(":-") {
        value.unwrap_or(default).to_string()
    } else if let Some(message) = op.strip_prefix(":?") {
        match value {
            Some(v) => v.to_string(),
            None => {
                let message = if message.is_empty() {
                    "is not set"
                } else {
                    message
                };
                return Err(InterpError {
                    message: format!("{name} is required: {message}"),
                    help: Some(format!(
                        "set {name} in the environment or in the --env-file"
                    )),
                });
            }
        }
    } else if op.is_empty() {
        match value {
            Some(v) => v.to_string(),
            None => {
                out.unset.push(name.to_string());
                String::new()
            }
        }
    } else {
        return Err(InterpError {
            message: format!("`${{{body}}}`: unknown operator `{op}`"),
            help: Some("use `${NAME}`, `${NAME:-default}` or `${NAME:?message}`".into()),
        });
    };
    out.value.push_str(&expanded);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::from_pairs([("HOST", "db"), ("EMPTY", "")])
    }

    #[test]
    fn forms() {
        let e = env();
        let i = interpolate("postgres://${HOST}:5432/${NAME:-app}", &e).unwrap();
        assert_eq!(i.value, "postgres://db:5432/app");
        assert_eq!(i.referenced, ["HOST", "NAME"]);
        assert!(i.unset.is_empty());
        let i = interpolate("${MISSING}x$$y$z", &e).unwrap();
        assert_eq!(i.value, "x$y$z");
        assert_eq!(i.unset, ["MISSING"]);
        assert_eq!(interpolate("${EMPTY:-d}", &e).unwrap().value, "d");
        let i = interpolate("Bearer ${captured.token}", &e).unwrap();
        assert_eq!(i.value, "Bearer ${captured.token}");
        assert_eq!(i.captured, ["token"]);
        assert!(interpolate("${captured.}", &e).is_err());
    }

    #[test]
    fn errors() {
        let e = env();
        let err = interpolate("${TOKEN:?ask the ops team}", &e).unwrap_err();
        assert_eq!(err.message, "TOKEN is required: ask the ops team");
        assert!(
            interpolate("${HOST", &e)
                .unwrap_err()
                .message
                .contains("closing")
        );
        assert!(interpolate("${1X}", &e).is_err());
        assert!(
            interpolate("${NOPE:-${HOST}}/x", &e)
                .unwrap_err()
                .message
                .contains("cannot hold")
        );
        assert!(
            interpolate("${HOST/x}", &e)
                .unwrap_err()
                .message
                .contains("unknown operator")
        );
    }
}
