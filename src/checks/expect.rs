//! What a response must be: status (exact, class, "not 5xx"), headers, body text, JSON
//! assertions on RFC 9535 JSONPath queries, and latency. Parsed once from config or flags,
//! evaluated against each response. Every failure says what was expected and what came back.

use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::http::BodyError;
use crate::secret::name_looks_secret;

use crate::units::format_duration;

/// Why an expectation written in config or a flag was refused.
#[derive(Clone, Debug)]
pub enum ParseError {
    NotStatus(String),
    NotJsonAssertion(String),
    InvalidRegex { text: String, cause: regex::Error },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotStatus(text) => {
                write!(f, "`{text}` is not a status: write 200, 2xx or !5xx")
            }
            ParseError::NotJsonAssertion(text) => write!(
                f,
                "`{text}` is not a JSON assertion: write `<JSONPath> <op> <JSON value>`, e.g. `$.status == \"healthy\"`, \
                 `$.items length >= 1`, `$.token exists` (ops: == != < <= > >= exists absent matches contains length type)"
            ),
            ParseError::InvalidRegex { text, cause } => {
                write!(f, "`{text}`: invalid regex: {cause}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// A JSON assertion that does not hold: the assertion, and what the document holds instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: String,
    pub got: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {} but {}", self.expected, self.got)
    }
}

impl std::error::Error for Mismatch {}

/// `200`, `2xx`, `!5xx` / `not 5xx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusExpect {
    Exact(u16),
    Class(u16),
    Not(Box<StatusExpect>),
}

impl StatusExpect {
    pub fn parse(text: &str) -> Result<StatusExpect, ParseError> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix('!').or_else(|| t.strip_prefix("not ")) {
            return Ok(StatusExpect::Not(Box::new(StatusExpect::parse(rest)?)));
        }
        let lower = t.to_ascii_lowercase();
        if let Some(digit) = lower.strip_suffix("xx")
            && let Ok(d @ 1..=5) = digit.parse::<u16>()
        {
            return Ok(StatusExpect::Class(d));
        }
        match t.parse::<u16>() {
            Ok(code @ 100..=599) => Ok(StatusExpect::Exact(code)),
            _ => Err(ParseError::NotStatus(text.to_string())),
        }
    }

    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusExpect::Exact(c) => status == *c,
            StatusExpect::Class(d) => status / 100 == *d,
            StatusExpect::Not(inner) => !inner.matches(status),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StatusExpect::Exact(c) => c.to_string(),
            StatusExpect::Class(d) => format!("{d}xx"),
            StatusExpect::Not(inner) => format!("not {}", inner.describe()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
    Exists,
    Absent,
    Matches(String),
    Contains(Value),
    /// `length <op> n`
    Length(Box<Op>),
    /// `type "string"` (string, number, boolean, null, array, object)
    Type(String),
}

/// `$.status == "healthy"`, `$.items length >= 1`, `$.token exists`.
#[derive(Clone, Debug)]
pub struct JsonAssertion {
    pub text: String,
    path: JsonPath,
    /// Selects at most one node (names and indexes only, RFC 9535's singular query):
    /// `length` then measures that value; otherwise it counts the nodes selected, so
    /// `$.services[?@ != "ok"] length == 0` means "none", whether one or many match.
    singular: bool,
    op: Op,
    regex: Option<Regex>,
}

impl JsonAssertion {
    /// The path is the longest prefix that parses as JSONPath and leaves a valid operator: a
    /// filter such as `$.items[?@.a == 1]` contains operators of its own.
    pub fn parse(text: &str) -> Result<JsonAssertion, ParseError> {
        let text = text.trim();
        let spaces: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
        for &at in spaces.iter().rev() {
            let (path, rest) = (&text[..at], text[at..].trim());
            let Ok(json_path) = JsonPath::parse(path) else {
                continue;
            };
            if let Some(op) = parse_op(rest) {
                let regex = match &op {
                    Op::Matches(p) => {
                        Some(Regex::new(p).map_err(|cause| ParseError::InvalidRegex {
                            text: text.to_string(),
                            cause,
                        })?)
                    }
                    _ => None,
                };
                return Ok(JsonAssertion {
                    text: text.to_string(),
                    path: json_path,
                    singular: is_singular(path),
                    op,
                    regex,
                });
            }
        }
        Err(ParseError::NotJsonAssertion(text.to_string()))
    }

    pub fn check(&self, doc: &Value) -> Result<(), Mismatch> {
        let nodes: Vec<&Value> = self.path.query(doc).all();
        let reveal = |v: &Value| {
            let s = v.to_string();
            if s.len() > 80 {
                format!("{}…", &s[..s.floor_char_boundary(80)])
            } else {
                s
            }
        };
        // `$.password_hash absent` must not print the hash it found.
        let secret_path = name_looks_secret(&self.text);
        let shown = |v: &Value| {
            if secret_path && !v.is_null() {
                let kind = match v {
                    Value::String(s) => format!("a string of {} characters", s.chars().count()),
                    Value::Array(a) => format!("an array of {}", a.len()),
                    Value::Object(o) => format!("an object of {} keys", o.len()),
                    _ => "a value".to_string(),
                };
                format!("{kind} (not shown: the path names a secret)")
            } else {
                reveal(v)
            }
        };
        let fail = |got: String| {
            Err(Mismatch {
                expected: self.text.clone(),
                got,
            })
        };
        match &self.op {
            Op::Exists => {
                return if nodes.is_empty() {
                    fail("nothing matched".into())
                } else {
                    Ok(())
                };
            }
            Op::Absent => {
                return match nodes.first() {
                    None => Ok(()),
                    Some(v) => fail(format!("found {}", shown(v))),
                };
            }
            Op::Length(inner) => {
                let len = match nodes.as_slice() {
                    _ if !self.singular => nodes.len(),
                    [Value::Array(a)] => a.len(),
                    [Value::Object(o)] => o.len(),
                    [Value::String(s)] => s.chars().count(),
                    many => many.len(),
                };
                let as_value = Value::from(len);
                return if compare(inner, &as_value, None) {
                    Ok(())
                } else if self.singular {
                    fail(format!("the length is {len}"))
                } else {
                    let first = nodes.first().map(|v| format!(", the first {}", shown(v)));
                    fail(format!(
                        "the path selected {len} {}{}",
                        if len == 1 { "value" } else { "values" },
                        first.unwrap_or_default()
                    ))
                };
            }
            _ => {}
        }
        if nodes.is_empty() {
            return fail("nothing matched the path".into());
        }
        for v in &nodes {
            if !compare(&self.op, v, self.regex.as_ref()) {
                return fail(format!("found {}{}", shown(v), numeric_note(&self.op, v)));
            }
        }
        Ok(())
    }
}

/// Whether a JSONPath selects at most one node. RFC 9535 allows only such a query as a
/// comparison operand, so the parser answers it: `$[?<path> == 0]` parses exactly when
/// `<path>` is singular.
fn is_singular(path: &str) -> bool {
    JsonPath::parse(&format!("$[?{path} == 0]")).is_ok()
}

/// A value as a number: a JSON number, or a string that reads as one (`"0.003"`, `"42"`, as
/// Prometheus and many health endpoints write numbers). NaN is no number.
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => super::compare::parse_number(s.trim()),
        _ => None,
    }
}

/// Equal as numbers: two numbers, or a number and a string that reads as one (`"3" == 3`).
/// Two strings stay strings: `"3.0"` is not `"3"`.
fn same_number(v: &Value, e: &Value) -> bool {
    match (v, e) {
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::Number(_))
        | (Value::Number(_), Value::String(_)) => {
            as_number(v).is_some_and(|x| Some(x) == as_number(e))
        }
        _ => false,
    }
}

/// Why a value compared with a number did not hold, when that is not plain: it is a string
/// that was read as a number, or it is no number at all.
fn numeric_note(op: &Op, v: &Value) -> String {
    let numeric_op = match op {
        Op::Lt(_) | Op::Le(_) | Op::Gt(_) | Op::Ge(_) => true,
        Op::Eq(e) | Op::Ne(e) => e.is_number(),
        _ => false,
    };
    if !numeric_op || v.is_number() {
        return String::new();
    }
    match (v, as_number(v)) {
        (Value::String(_), Some(n)) => format!(
            " (a string, compared as the number {})",
            super::compare::format_number(n)
        ),
        (Value::String(_), None) => " (a string that is not a number)".into(),
        _ => " (not a number)".into(),
    }
}

fn compare(op: &Op, v: &Value, regex: Option<&Regex>) -> bool {
    let num = as_number(v);
    match op {
        Op::Eq(e) => v == e || same_number(v, e),
        Op::Ne(e) => !(v == e || same_number(v, e)),
        Op::Lt(n) => num.is_some_and(|x| x < *n),
        Op::Le(n) => num.is_some_and(|x| x <= *n),
        Op::Gt(n) => num.is_some_and(|x| x > *n),
        Op::Ge(n) => num.is_some_and(|x| x >= *n),
        Op::Matches(_) => v
            .as_str()
            .is_some_and(|s| regex.is_some_and(|r| r.is_match(s))),
        Op::Contains(e) => match (v, e) {
            (Value::Array(items), _) => items.contains(e),
            (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
            (Value::Object(map), Value::String(key)) => map.contains_key(key),
            _ => false,
        },
        Op::Type(t) => {
            let actual = match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            actual == t
        }
        Op::Exists | Op::Absent | Op::Length(_) => true,
    }
}

fn json_value(text: &str) -> Option<Value> {
    serde_json::from_str(text.trim()).ok()
}

fn number(text: &str) -> Option<f64> {
    json_value(text)?.as_f64()
}

/// `None` when `rest` is no operator and operand: [`JsonAssertion::parse`] then tries a
/// shorter path, and its error covers every way this can go wrong.
fn parse_op(rest: &str) -> Option<Op> {
    let (word, value) = rest
        .split_once(' ')
        .map_or((rest, ""), |(w, v)| (w, v.trim()));
    let none = |op: Op| value.is_empty().then_some(op);
    match word {
        "==" => json_value(value).map(Op::Eq),
        "!=" => json_value(value).map(Op::Ne),
        "<" => number(value).map(Op::Lt),
        "<=" => number(value).map(Op::Le),
        ">" => number(value).map(Op::Gt),
        ">=" => number(value).map(Op::Ge),
        "exists" => none(Op::Exists),
        "absent" => none(Op::Absent),
        "matches" => match json_value(value)? {
            Value::String(p) => Some(Op::Matches(p)),
            _ => None,
        },
        "contains" => json_value(value).map(Op::Contains),
        "length" => parse_op(value).and_then(|inner| match inner {
            Op::Eq(_) | Op::Ne(_) | Op::Lt(_) | Op::Le(_) | Op::Gt(_) | Op::Ge(_) => {
                Some(Op::Length(Box::new(inner)))
            }
            _ => None,
        }),
        "type" => match json_value(value)? {
            Value::String(t)
                if ["string", "number", "boolean", "null", "array", "object"]
                    .contains(&t.as_str()) =>
            {
                Some(Op::Type(t))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A response header expectation: `X-Cache` present, equal to, or matching.
#[derive(Clone, Debug)]
pub enum HeaderExpect {
    Present(String),
    Equals(String, String),
    Matches(String, Regex),
}

/// Everything one response must satisfy.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// Any of these (empty: 2xx).
    pub status: Vec<StatusExpect>,
    pub headers: Vec<HeaderExpect>,
    pub body: TextExpect,
    pub max_latency: Option<Duration>,
}

/// What a text must hold: a response body, a command's stdout or stderr. Texts it contains,
/// patterns it matches, JSON assertions on it parsed as JSON.
#[derive(Clone, Debug, Default)]
pub struct TextExpect {
    pub contains: Vec<String>,
    pub matches: Vec<Regex>,
    pub json: Vec<JsonAssertion>,
}

impl TextExpect {
    pub fn is_empty(&self) -> bool {
        self.contains.is_empty() && self.matches.is_empty() && self.json.is_empty()
    }

    /// Every unmet expectation on `text`, each a sentence about `what` ("the body", "stdout").
    pub fn failures(&self, what: &str, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.contains {
            if !text.contains(s.as_str()) {
                out.push(format!("{what} does not contain `{s}`"));
            }
        }
        for re in &self.matches {
            if !re.is_match(text) {
                out.push(format!("{what} does not match `{}`", re.as_str()));
            }
        }
        if !self.json.is_empty() {
            match serde_json::from_str::<Value>(text) {
                Ok(doc) => out.extend(
                    self.json
                        .iter()
                        .filter_map(|a| a.check(&doc).err().map(|e| e.to_string())),
                ),
                Err(e) => out.push(format!("{what} is not JSON ({e})")),
            }
        }
        out
    }
}

/// A response as the expectations see it.
pub struct Response<'a> {
    pub status: u16,
    pub headers: &'a reqwest::header::HeaderMap,
    /// The body, when it was text within the size limit.
    pub body: Result<&'a str, &'a BodyError>,
    pub latency: Duration,
}

impl Expectations {
    pub fn status_text(&self) -> String {
        if self.status.is_empty() {
            "2xx".into()
        } else {
            self.status
                .iter()
                .map(StatusExpect::describe)
                .collect::<Vec<_>>()
                .join(" or ")
        }
    }

    /// Every unmet expectation, each a sentence.
    pub fn failures(&self, r: &Response<'_>) -> Vec<String> {
        let mut out = Vec::new();
        let status_ok = if self.status.is_empty() {
            (200..300).contains(&r.status)
        } else {
            self.status.iter().any(|s| s.matches(r.status))
        };
        if !status_ok {
            out.push(format!(
                "status {} (expected {})",
                r.status,
                self.status_text()
            ));
        }
        for h in &self.headers {
            let (name, ok, want) = match h {
                HeaderExpect::Present(n) => {
                    (n, r.headers.contains_key(n.as_str()), "present".to_string())
                }
                HeaderExpect::Equals(n, v) => {
                    (n, header(r, n).is_some_and(|x| x == *v), format!("`{v}`"))
                }
                HeaderExpect::Matches(n, re) => (
                    n,
                    header(r, n).is_some_and(|x| re.is_match(&x)),
                    format!("matching `{}`", re.as_str()),
                ),
            };
            if !ok {
                // A cookie or token header is described, never shown.
                let got = match header(r, name) {
                    None => "absent".to_string(),
                    Some(v) if name_looks_secret(name) => {
                        format!("set ({} characters, not shown)", v.chars().count())
                    }
                    Some(v) => format!("`{v}`"),
                };
                out.push(format!("header {name} is {got} (expected {want})"));
            }
        }
        if let Some(max) = self.max_latency
            && r.latency > max
        {
            out.push(format!(
                "took {} (expected at most {})",
                format_duration(r.latency),
                format_duration(max)
            ));
        }
        if self.body.is_empty() {
            return out;
        }
        match &r.body {
            Ok(body) => out.extend(self.body.failures("the body", body)),
            Err(why) => out.push(format!("the body cannot be checked: {why}")),
        }
        out
    }
}

fn header(r: &Response<'_>, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The start of a body for a report: at most `limit` bytes, on a character boundary.
pub fn excerpt(body: &str, limit: usize) -> String {
    if body.len() <= limit {
        body.to_string()
    } else {
        format!(
            "{}… ({} bytes in all)",
            &body[..body.floor_char_boundary(limit)],
            body.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses() {
        let s = |t| StatusExpect::parse(t).unwrap();
        assert!(s("200").matches(200) && !s("200").matches(201));
        assert!(s("2xx").matches(204) && !s("2xx").matches(301));
        assert!(s("!5xx").matches(404) && !s("not 5xx").matches(503));
        assert_eq!(s("!5xx").describe(), "not 5xx");
        assert!(StatusExpect::parse("ok").is_err() && StatusExpect::parse("700").is_err());
    }

    #[test]
    fn json_assertions() {
        let doc = json!({"status": "healthy", "checks": {"database": {"status": "healthy", "ms": 12}},
                          "items": [1, 2, 3], "tags": ["a", "b"], "name": "lp-api"});
        let ok = |t: &str| {
            JsonAssertion::parse(t)
                .unwrap()
                .check(&doc)
                .map_err(|e| e.to_string())
        };
        assert!(ok(r#"$.status == "healthy""#).is_ok());
        assert!(ok(r#"$.checks.database.status == "healthy""#).is_ok());
        assert!(ok("$.checks.database.ms < 200").is_ok());
        assert!(ok("$.items length >= 3").is_ok());
        assert!(
            ok("$.items[?@ > 1] length == 2").is_ok(),
            "filters hold operators of their own"
        );
        assert!(ok("$.status exists").is_ok());
        assert!(ok("$.error absent").is_ok());
        assert!(ok(r#"$.name matches "^lp-""#).is_ok());
        assert!(ok(r#"$.tags contains "b""#).is_ok());
        assert!(ok(r#"$.items type "array""#).is_ok());
        let err = ok(r#"$.status == "degraded""#).unwrap_err();
        assert_eq!(
            err,
            r#"expected $.status == "degraded" but found "healthy""#
        );
        assert!(
            ok("$.missing == 1")
                .unwrap_err()
                .contains("nothing matched")
        );
        assert!(JsonAssertion::parse("$.status is healthy").is_err());
        assert!(JsonAssertion::parse("status == 1").is_err());
    }

    #[test]
    fn every_matched_node_must_hold() {
        let doc = json!({"checks": {"database": {"status": "healthy"}, "redis": {"status": "degraded"},
                                     "storage": {"status": "healthy"}}});
        let a = JsonAssertion::parse(r#"$.checks[*].status == "healthy""#).unwrap();
        let err = a.check(&doc).unwrap_err().to_string();
        assert!(err.contains(r#"found "degraded""#), "{err}");
        let healthy = json!({"checks": {"a": {"status": "healthy"}, "b": {"status": "healthy"}}});
        assert!(a.check(&healthy).is_ok());
        // `!=` too holds for every node.
        let ne = JsonAssertion::parse(r#"$.checks[*].status != "degraded""#).unwrap();
        assert!(ne.check(&doc).is_err());
        assert!(ne.check(&healthy).is_ok());
    }

    #[test]
    fn comparisons_at_their_boundary() {
        let doc = json!({"ms": 200, "ratio": 0.5});
        let ok = |t: &str| JsonAssertion::parse(t).unwrap().check(&doc).is_ok();
        assert!(!ok("$.ms < 200"), "< is strict");
        assert!(ok("$.ms <= 200"));
        assert!(ok("$.ms < 200.5"));
        assert!(!ok("$.ms > 200"), "> is strict");
        assert!(ok("$.ms >= 200"));
        assert!(ok("$.ratio == 0.5") && !ok("$.ratio < 0.5"));
    }

    #[test]
    fn numeric_strings_compare_as_numbers_or_say_why_not() {
        // Prometheus, and many health endpoints, write numbers as strings.
        let doc = json!({"ratio": "0.003", "count": "42", "state": "ok", "flag": true,
                          "n": 3, "text3": "3.0"});
        let check = |t: &str| {
            JsonAssertion::parse(t)
                .unwrap()
                .check(&doc)
                .map_err(|e| e.to_string())
        };
        assert!(check("$.ratio < 0.01").is_ok());
        assert!(check("$.count >= 42").is_ok());
        assert!(check("$.count == 42").is_ok());
        assert!(check("$.count != 41").is_ok());
        assert!(check(r#"$.n == "3""#).is_ok(), "a number equals its string");
        assert!(check(r#"$.count == "42""#).is_ok(), "strings stay strings");
        assert!(
            check(r#"$.text3 == "3""#).is_err(),
            "\"3.0\" is not \"3\" as text"
        );
        assert_eq!(
            check("$.ratio > 0.01").unwrap_err(),
            r#"expected $.ratio > 0.01 but found "0.003" (a string, compared as the number 0.003)"#
        );
        assert_eq!(
            check("$.state < 1").unwrap_err(),
            r#"expected $.state < 1 but found "ok" (a string that is not a number)"#
        );
        assert_eq!(
            check("$.flag == 1").unwrap_err(),
            "expected $.flag == 1 but found true (not a number)"
        );
        assert_eq!(
            check("$.n < 2").unwrap_err(),
            "expected $.n < 2 but found 3",
            "a number needs no note"
        );
    }

    #[test]
    fn length_after_a_filter_counts_what_it_selected_even_one() {
        let doc = serde_json::json!({
            "services": {"db": "healthy", "cache": "degraded", "queue": "healthy"},
            "groups": [{"logGroupName": "/vc/api"}],
        });
        let check = |t: &str| {
            JsonAssertion::parse(t)
                .unwrap()
                .check(&doc)
                .map_err(|e| e.to_string())
        };
        // One service matches: the count is 1, not the 8 characters of "degraded".
        let err = check(r#"$.services[?@ != "healthy"] length == 0"#).unwrap_err();
        assert!(
            err.contains(r#"the path selected 1 value, the first "degraded""#),
            "{err}"
        );
        assert!(check(r#"$.services[?@ != "healthy"] length == 1"#).is_ok());
        assert!(check(r#"$.services[?@ == "healthy"] length == 2"#).is_ok());
        assert!(check(r#"$.services[?@ == "down"] length == 0"#).is_ok());
        // A filter selecting one object counts one, not that object's keys.
        assert!(check(r#"$.groups[?@.logGroupName == "/vc/api"] length == 1"#).is_ok());
        assert!(check("$.groups[*] length == 1").is_ok());
        // Names and indexes still measure the one value they name.
        assert!(check("$.services length == 3").is_ok());
        assert!(check("$.groups[0] length == 1").is_ok());
        assert!(check("$.groups[0].logGroupName length == 7").is_ok());
    }

    #[test]
    fn string_length_counts_characters_not_bytes() {
        let doc = json!({"name": "Zoë Ångström", "emoji": "🚀🚀"});
        let ok = |t: &str| JsonAssertion::parse(t).unwrap().check(&doc).is_ok();
        assert!(ok("$.name length == 12"), "12 characters, 15 bytes");
        assert!(!ok("$.name length == 15"));
        assert!(ok("$.emoji length == 2"));
    }

    #[test]
    fn values_at_secret_paths_are_described_not_shown() {
        let doc = json!({"user": {"password_hash": "$2b$12$abcdefghijkl"}, "name": "x"});
        let err = JsonAssertion::parse("$.user.password_hash absent")
            .unwrap()
            .check(&doc)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("abcdefghijkl"), "{err}");
        assert!(
            err.contains("a string of 19 characters (not shown"),
            "{err}"
        );
        let err = JsonAssertion::parse(r#"$.name == "y""#)
            .unwrap()
            .check(&doc)
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"found "x""#), "{err}");
    }

    #[test]
    fn excerpts_stay_on_char_boundaries() {
        assert_eq!(excerpt("héllo", 2), "h… (6 bytes in all)");
        assert_eq!(excerpt("short", 100), "short");
    }
}
