//! Environment variables: set, not placeholders, of the right type; `.env.example` complete.

use std::path::PathBuf;
use std::sync::OnceLock;

use regex::Regex;

use super::Finding;
use crate::config::checks::VarType;
use crate::units::parse_duration;

#[derive(Debug)]
pub struct EnvProbe {
    pub vars: Vec<VarRule>,
    pub example: Option<ExampleRule>,
    /// Values refused as placeholders besides the built-in ones (compared case-insensitively).
    pub placeholders: Vec<String>,
}

pub struct VarRule {
    pub name: String,
    /// The value the run sees (process first, then the env file).
    pub value: Option<String>,
    pub required: bool,
    pub kind: VarType,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub schemes: Vec<String>,
    pub one_of: Vec<String>,
    /// The pattern as written, and compiled anchored at both ends.
    pub pattern: Option<(String, Regex)>,
    /// Never print the value.
    pub secret: bool,
}

pub struct ExampleRule {
    pub path: PathBuf,
    /// The example's keys with the value each has in the run's environment.
    pub keys: Vec<(String, Option<String>)>,
    /// Keys the env file defines that the example does not list.
    pub extras: Vec<String>,
}

/// Values stay out of Debug: any of them may be a secret.
impl std::fmt::Debug for VarRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VarRule")
            .field("name", &self.name)
            .field("set", &self.value.is_some())
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ExampleRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExampleRule")
            .field("path", &self.path)
            .field("keys", &keys)
            .field("extras", &self.extras)
            .finish()
    }
}

impl EnvProbe {
    /// One finding per variable, then one for the example file.
    pub fn run(&self) -> Vec<Finding> {
        let mut findings: Vec<Finding> = self.vars.iter().map(|v| self.check_var(v)).collect();
        if let Some(example) = &self.example {
            findings.push(self.check_example(example));
        }
        findings
    }

    fn check_var(&self, rule: &VarRule) -> Finding {
        let name = &rule.name;
        let shown = |value: &str| {
            if rule.secret {
                "(value hidden)".to_string()
            } else {
                // DATABASE_URL is not secret by name, but its password is, however short.
                format!("`{}`", crate::secret::mask_url(value))
            }
        };
        let value = match rule.value.as_deref() {
            None | Some("") if !rule.required => {
                return Finding::pass(format!("{name} is not set (optional)"));
            }
            None => {
                return Finding::fail(format!(
                    "{name} is not set; set it in the deployment environment or the env file"
                ));
            }
            Some(v) if v.trim().is_empty() => {
                return Finding::fail(format!("{name} is set but empty"));
            }
            Some(v) => v,
        };
        if self.is_placeholder(value) {
            return Finding::fail(format!(
                "{name} still holds a placeholder {}; set the real value",
                shown(value)
            ));
        }
        if let Err(problem) = check_type(rule, value) {
            let finding = Finding::fail(format!("{name} {} {problem}", shown(value)));
            return finding.detail("type", format!("{:?}", rule.kind).to_lowercase());
        }
        if !rule.one_of.is_empty() && !rule.one_of.iter().any(|o| o == value) {
            return Finding::fail(format!(
                "{name} {} is not one of {}",
                shown(value),
                rule.one_of.join(", ")
            ))
            .detail("one_of", rule.one_of.clone());
        }
        if let Some((source, re)) = &rule.pattern
            && !re.is_match(value)
        {
            return Finding::fail(format!(
                "{name} {} does not match the pattern `{source}`",
                shown(value)
            ));
        }
        let mut finding = Finding::pass(format!("{name} is set {}", shown(value)));
        if !rule.secret {
            finding = finding.detail("value", crate::secret::mask_url(value));
        }
        finding
    }

    fn check_example(&self, example: &ExampleRule) -> Finding {
        let file = example.path.display().to_string();
        let missing: Vec<&str> = example
            .keys
            .iter()
            .filter(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty()))
            .map(|(k, _)| k.as_str())
            .collect();
        let placeholders: Vec<&str> = example
            .keys
            .iter()
            .filter(|(_, v)| {
                v.as_deref()
                    .is_some_and(|v| !v.trim().is_empty() && self.is_placeholder(v))
            })
            .map(|(k, _)| k.as_str())
            .collect();
        let mut finding = if !missing.is_empty() || !placeholders.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("not set: {}", missing.join(", ")));
            }
            if !placeholders.is_empty() {
                parts.push(format!("placeholder values: {}", placeholders.join(", ")));
            }
            Finding::fail(format!(
                "{file} lists variables that are {}",
                parts.join("; ")
            ))
        } else if !example.extras.is_empty() {
            Finding::warn(format!(
                "the env file sets variables {file} does not list: {}; add them to the example or remove them",
                example.extras.join(", ")
            ))
        } else {
            Finding::pass(format!(
                "all {} variables of {file} are set",
                example.keys.len()
            ))
        };
        finding = finding.detail("example", file);
        if !missing.is_empty() {
            finding = finding.detail("missing", missing);
        }
        if !placeholders.is_empty() {
            finding = finding.detail("placeholders", placeholders);
        }
        if !example.extras.is_empty() {
            finding = finding.detail("extras", example.extras.clone());
        }
        finding
    }

    fn is_placeholder(&self, value: &str) -> bool {
        let value = value.trim();
        builtin_placeholder().is_match(value)
            || is_template_url(value)
            || self
                .placeholders
                .iter()
                .any(|p| p.eq_ignore_ascii_case(value))
    }
}

/// The values runbooks leave in `.env.example` for a person to replace: `changeme`, `xxx`,
/// `<token>`, `your-secure-session-secret` and `your_dsn_here` (the seeds' own samples),
/// `change-this-secret`, `replace-me`, `example`/`sample`/`dummy` values, and variables left
/// unexpanded (`${API_KEY}`, `{{ token }}`).
fn builtin_placeholder() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?xi)^(
                changeme | x{3,} | todo | tbd | fixme | placeholder | \.\.\. | <[^>]*>
              | change[-_\ .]?(me|this|it)([-_\ .].*)?
              | replace[-_\ .]?(me|this|with)([-_\ .].*)?
              | your[-_\ .].+
              | (example|sample|dummy|fake)([-_\ .].*)?
              | .+[-_\ ](example|sample|placeholder)
              | \$\{[^}]*\} | \{\{.*\}\}
            )$",
        )
        .expect("static regex")
    })
}

/// A connection URL written as a template: `postgresql://user:password@host:port/database`
/// (a runbook's own sample) has a literal `password`, `host` or `port` where values go.
fn is_template_url(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let password = userinfo.and_then(|u| u.split_once(':')).map(|(_, p)| p);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (host_port, None),
    };
    let is = |v: Option<&str>, words: &[&str]| {
        v.is_some_and(|v| words.iter().any(|w| v.eq_ignore_ascii_case(w)))
    };
    is(password, &["password", "pass", "secret", "changeme"])
        || is(Some(host), &["host", "hostname", "your-host", "server"])
        || is(port, &["port"])
}

/// How a value misses its declared type. It never holds the value (which may be secret): its
/// Display completes "NAME `value` …", where the value is shown or masked.
#[derive(Clone, Debug, PartialEq)]
enum TypeMismatch {
    NotInteger,
    BelowMinimum(i64),
    AboveMaximum(i64),
    NotBoolean,
    NotUrl(url::ParseError),
    Scheme {
        scheme: String,
        allowed: Vec<String>,
    },
    NoUnit,
    NotDuration,
}

impl std::fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeMismatch::NotInteger => f.write_str("is not an integer"),
            TypeMismatch::BelowMinimum(min) => write!(f, "is below the minimum {min}"),
            TypeMismatch::AboveMaximum(max) => write!(f, "is above the maximum {max}"),
            TypeMismatch::NotBoolean => {
                f.write_str("is not a boolean (true/false, 1/0, yes/no, on/off)")
            }
            TypeMismatch::NotUrl(e) => write!(f, "is not a URL ({e})"),
            TypeMismatch::Scheme { scheme, allowed } => {
                write!(
                    f,
                    "has the scheme `{scheme}`; allowed: {}",
                    allowed.join(", ")
                )
            }
            TypeMismatch::NoUnit => f.write_str("has no unit (write e.g. 30s or 30ms)"),
            TypeMismatch::NotDuration => {
                f.write_str("is not a duration (write e.g. 30s, 200ms, 2m)")
            }
        }
    }
}

/// Whether a value has its declared type.
fn check_type(rule: &VarRule, value: &str) -> Result<(), TypeMismatch> {
    match rule.kind {
        VarType::String => Ok(()),
        VarType::Integer => {
            let n: i64 = value.trim().parse().map_err(|_| TypeMismatch::NotInteger)?;
            match (rule.min, rule.max) {
                (Some(min), _) if n < min => Err(TypeMismatch::BelowMinimum(min)),
                (_, Some(max)) if n > max => Err(TypeMismatch::AboveMaximum(max)),
                _ => Ok(()),
            }
        }
        VarType::Boolean => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "false" | "1" | "0" | "yes" | "no" | "on" | "off" => Ok(()),
            _ => Err(TypeMismatch::NotBoolean),
        },
        VarType::Url => {
            let url = url::Url::parse(value.trim()).map_err(TypeMismatch::NotUrl)?;
            if !rule.schemes.is_empty() && !rule.schemes.iter().any(|s| s == url.scheme()) {
                return Err(TypeMismatch::Scheme {
                    scheme: url.scheme().to_string(),
                    allowed: rule.schemes.clone(),
                });
            }
            Ok(())
        }
        // The parser's own message quotes the value; this one must not (it may be secret).
        VarType::Duration => parse_duration(value).map(|_| ()).map_err(|_| {
            if value.trim().chars().all(|c| c.is_ascii_digit()) {
                TypeMismatch::NoUnit
            } else {
                TypeMismatch::NotDuration
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    fn rule(name: &str, value: Option<&str>, kind: VarType) -> VarRule {
        VarRule {
            name: name.into(),
            value: value.map(str::to_string),
            required: true,
            kind,
            min: None,
            max: None,
            schemes: vec![],
            one_of: vec![],
            pattern: None,
            secret: false,
        }
    }

    fn run(rules: Vec<VarRule>) -> Vec<Finding> {
        EnvProbe {
            vars: rules,
            example: None,
            placeholders: vec!["replace-me".into()],
        }
        .run()
    }

    #[test]
    fn required_placeholders_and_types() {
        let mut int = rule("LP_REPORT_MAX_SIZE_MB", Some("500"), VarType::Integer);
        int.max = Some(100);
        let mut url = rule("REDIS_URL", Some("http://x"), VarType::Url);
        url.schemes = vec!["redis".into(), "rediss".into()];
        let mut secret = rule(
            "SESSION_SECRET",
            Some("your_session_secret_here"),
            VarType::String,
        );
        secret.secret = true;
        let f = run(vec![
            rule("MISSING", None, VarType::String),
            rule("EMPTY", Some(" "), VarType::String),
            secret,
            int,
            url,
            rule("FLAG", Some("maybe"), VarType::Boolean),
            rule("TTL", Some("300s"), VarType::Duration),
            rule("CUSTOM", Some("REPLACE-ME"), VarType::String),
        ]);
        let statuses: Vec<_> = f.iter().map(|f| f.status).collect();
        use Status::*;
        assert_eq!(statuses, [Fail, Fail, Fail, Fail, Fail, Fail, Pass, Fail]);
        assert!(
            f[2].message.contains("placeholder (value hidden)"),
            "{}",
            f[2].message
        );
        assert!(!f[2].message.contains("your_session"));
        assert!(f[3].message.contains("above the maximum 100"));
        assert!(f[4].message.contains("scheme `http`"));
    }

    #[test]
    fn placeholder_shapes() {
        let p = EnvProbe {
            vars: vec![],
            example: None,
            placeholders: vec![],
        };
        for v in [
            "changeme",
            "CHANGE_ME",
            "xxx",
            "XXXXXX",
            "TODO",
            "your_api_key_here",
            "<token>",
            // The seeds' own samples.
            "your-secure-session-secret",
            "your_dsn_here",
            "YOUR_VALID_TOKEN",
            "postgresql://user:password@host:port/database",
            "change-this-secret",
            "changethis",
            "replace-me",
            "example",
            "example-secret",
            "sample_key",
            "dummy",
            "secret-example",
            "${API_KEY}",
            "{{ token }}",
            "  changeme  ",
        ] {
            assert!(p.is_placeholder(v), "{v}");
        }
        for v in [
            "production",
            "x",
            "todo-list-service",
            "300",
            "yourcompany",
            "https://api.example.com/v1",
            "postgres://app:s3cret@db.internal:5432/app",
            "counterexample",
            "exchange-rates",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ] {
            assert!(!p.is_placeholder(v), "{v}");
        }
    }

    #[test]
    fn example_missing_and_extras() {
        let probe = EnvProbe {
            vars: vec![],
            placeholders: vec![],
            example: Some(ExampleRule {
                path: ".env.example".into(),
                keys: vec![
                    ("A".into(), Some("1".into())),
                    ("B".into(), None),
                    ("C".into(), Some("changeme".into())),
                ],
                extras: vec!["D".into()],
            }),
        };
        let f = &probe.run()[0];
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.details["missing"], serde_json::json!(["B"]));
        assert_eq!(f.details["placeholders"], serde_json::json!(["C"]));
        let probe = EnvProbe {
            vars: vec![],
            placeholders: vec![],
            example: Some(ExampleRule {
                path: ".env.example".into(),
                keys: vec![("A".into(), Some("1".into()))],
                extras: vec!["D".into()],
            }),
        };
        assert_eq!(probe.run()[0].status, Status::Warn);
    }
}
