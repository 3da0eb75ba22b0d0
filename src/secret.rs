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
        // A Slack, Teams or Discord webhook URL is its own credential: whoever has it posts.
        "WEBHOOK",
    ];
    let upper = name.to_ascii_uppercase();
    MARKERS.iter().any(|m| upper.contains(m))
}

/// A request header as a report may show it, `Name: value`: the value only for headers that
/// describe the request (content type, accept, user agent); any other header may carry a
/// credential under a name no rule foresees (`X-Auth`, `X-Session`), so its value is `***`.
pub fn shown_header(name: &str, value: &str) -> String {
    const DESCRIPTIVE: &[&str] = &[
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "content-type",
        "user-agent",
    ];
    if DESCRIPTIVE.iter().any(|d| d.eq_ignore_ascii_case(name)) {
        format!("{name}: {value}")
    } else {
        format!("{name}: {MASK}")
    }
}

/// The secret parts of a URL: the password of its userinfo (as written and percent-decoded)
/// and the values of query parameters whose names look secret (`?api_key=…`).
///
/// The userinfo is found by text, not by a URL parser: a base64 password with a raw `/`, `#`
/// or `?` makes the URL unparseable, and exactly then it must still be masked.
pub fn url_secrets(raw: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some((start, end)) = password_range(raw) {
        let password = &raw[start..end];
        secrets.push(password.to_string());
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8()
            && decoded != password
        {
            secrets.push(decoded.into_owned());
        }
    }
    if let Some((_, query)) = raw.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && name_looks_secret(key)
                && !value.is_empty()
            {
                secrets.push(value.to_string());
            }
        }
    }
    secrets
}

/// The URL with its password and secret query values replaced by `***`, for display.
pub fn mask_url(raw: &str) -> String {
    let mut redactor = Redactor::new();
    for secret in url_secrets(raw) {
        redactor.add_any_length(&secret);
    }
    redactor.redact(raw)
}

/// Byte range of the password in `scheme://user:password@host…`: from the first `:` after
/// `://` to the last `@` of the authority-and-userinfo part (the password may hold `@`, `/`).
fn password_range(raw: &str) -> Option<(usize, usize)> {
    let after_scheme = raw.find("://")? + 3;
    let rest = &raw[after_scheme..];
    let end_of_token = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let at = rest[..end_of_token].rfind('@')?;
    let userinfo = &rest[..at];
    let colon = userinfo.find(':')?;
    let (start, end) = (after_scheme + colon + 1, after_scheme + at);
    (start < end).then_some((start, end))
}

/// The set of secret values one run knows about. Everything a run outputs (report text,
/// error messages, reproduce lines) goes through [`Redactor::redact`] once, at the edge.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

/// Counts the values; printing them would defeat the type.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
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

    /// Adds a URL's secret parts (see [`url_secrets`]), in every form they may be printed.
    pub fn add_url(&mut self, url: &str) {
        for secret in url_secrets(url) {
            self.add(&secret);
        }
    }

    /// Adds a value however short: for masking one known value inside one known string.
    fn add_any_length(&mut self, value: &str) {
        if !value.is_empty() && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Adds every value another redactor knows.
    pub fn extend(&mut self, other: &Redactor) {
        for value in &other.values {
            self.add_any_length(value);
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
    fn only_descriptive_header_values_are_shown() {
        assert_eq!(
            shown_header("Content-Type", "application/json"),
            "Content-Type: application/json"
        );
        assert_eq!(
            shown_header("Authorization", "Bearer abc"),
            "Authorization: ***"
        );
        assert_eq!(shown_header("X-Auth", "abc"), "X-Auth: ***");
    }

    #[test]
    fn url_secrets_in_every_shape() {
        let forms = url_secrets("postgres://app:p%40ss%3Aword@db:5432/app");
        assert_eq!(
            forms,
            vec!["p%40ss%3Aword".to_string(), "p@ss:word".to_string()]
        );
        assert!(url_secrets("postgres://app@db/app").is_empty());
        // Unparseable as a URL (raw `/` and `#` in a base64 password): still found.
        assert_eq!(
            url_secrets("postgres://u:ab/c#d+e@db:5432/x"),
            vec!["ab/c#d+e".to_string()]
        );
        assert_eq!(
            url_secrets("https://api.example.com/v1?user=me&api_key=k3y-value&sig=zz"),
            vec!["k3y-value".to_string()]
        );
        assert_eq!(
            mask_url("redis://:pw@127.0.0.1:6379"),
            "redis://:***@127.0.0.1:6379"
        );
        assert_eq!(mask_url("postgres://u:ab/c@db/x"), "postgres://u:***@db/x");
        assert_eq!(mask_url("sqlite://app.db"), "sqlite://app.db");
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
            "SLACK_WEBHOOK",
            "DEPLOY_WEBHOOK_URL",
        ] {
            assert!(name_looks_secret(n), "{n}");
        }
        for n in ["DATABASE_HOST", "LP_CACHE_TTL_SECONDS", "PORT"] {
            assert!(!name_looks_secret(n), "{n}");
        }
    }
}
