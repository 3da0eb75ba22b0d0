//! Secret values: a wrapper that never prints, and the one redaction rule every output passes through.

use std::fmt;

use serde::{Serialize, Serializer};

/// What every renderer prints in place of a secret.
pub const MASK: &str = "***";

/// A value that must not reach any output. Display, Debug and Serialize all print `***`;
/// the only way to the value is [`Secret::expose`], called where the value is used, not shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

/// Whether a variable or header name says its value is secret.
pub fn name_looks_secret(name: &str) -> bool {
    const MARKERS: &[&str] = &[
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
        "AUTHORIZATION",
        "COOKIE",
    ];
    let upper = name.to_ascii_uppercase();
    MARKERS.iter().any(|m| upper.contains(m))
}

/// The password of a URL's userinfo (`scheme://user:password@host`), both as written and
/// percent-decoded, since either form may show up in a driver's error message.
pub fn url_password_forms(raw: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(raw) else {
        return Vec::new();
    };
    let Some(password) = url.password() else {
        return Vec::new();
    };
    let mut forms = vec![password.to_string()];
    if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8()
        && decoded != password
    {
        forms.push(decoded.into_owned());
    }
    forms
}

/// The set of secret values one run knows about. Everything a run outputs (report text,
/// error messages, reproduce lines) goes through [`Redactor::redact`] once, at the edge.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    values: Vec<String>,
}

/// Values shorter than this are not redacted: masking every `1` or `ab` in a report would
/// destroy it, and a secret that short protects nothing anyway.
const MIN_SECRET_LEN: usize = 4;

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.chars().count() < MIN_SECRET_LEN || self.values.iter().any(|v| v == value) {
            return;
        }
        self.values.push(value.to_string());
        // Longest first, so a secret that contains another is masked whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Adds a URL's password (if it has one), in every form it may be printed.
    pub fn add_url(&mut self, url: &str) {
        for form in url_password_forms(url) {
            self.add(&form);
        }
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value, keys included.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2-password");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    }

    #[test]
    fn url_password_both_forms() {
        let forms = url_password_forms("postgres://app:p%40ss%3Aword@db:5432/app");
        assert_eq!(
            forms,
            vec!["p%40ss%3Aword".to_string(), "p@ss:word".to_string()]
        );
        assert!(url_password_forms("postgres://app@db/app").is_empty());
    }

    #[test]
    fn redacts_longest_first_and_inside_json() {
        let mut r = Redactor::new();
        r.add("abcd");
        r.add("abcdefgh");
        assert_eq!(r.redact("x abcdefgh y abcd"), "x *** y ***");
        let mut v = serde_json::json!({"k": ["abcd", {"abcd": 1}]});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"k": ["***", {"***": 1}]}));
    }

    #[test]
    fn secret_names() {
        for n in [
            "SESSION_SECRET",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "api_key",
            "Authorization",
        ] {
            assert!(name_looks_secret(n), "{n}");
        }
        for n in ["DATABASE_HOST", "LP_CACHE_TTL_SECONDS", "PORT"] {
            assert!(!name_looks_secret(n), "{n}");
        }
    }
}
