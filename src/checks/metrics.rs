//! A Prometheus text exposition endpoint, parsed with `prometheus-parse`, and assertions on its
//! samples: the runbook's `curl /metrics | grep lp_health`, stated as what must hold.

use std::fmt;
use std::time::Instant;

use prometheus_parse::{Sample, Scrape, Value};

use super::compare::{self, format_number, parse_number};
use super::http::HttpProbe;
use super::{Context, Finding};
use crate::secret::mask_url;
use crate::units::format_duration;

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Exists,
    Absent,
    Compare(compare::Op, f64),
}

/// `lp_health{component="database"} == 1`: a metric name, the labels a series must carry (others
/// are not compared), and what every matching series must satisfy.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricAssertion {
    pub text: String,
    name: String,
    labels: Labels,
    op: Op,
}

/// Why an assertion written in config or a flag was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    Usage(String),
    Labels { text: String, cause: LabelError },
    NotNumber { text: String, number: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Usage(text) => write!(
                f,
                "`{text}` is not a metric assertion: write e.g. `lp_health{{component=\"database\"}} == 1`, \
                 `up exists`, `errors_total absent` (ops: {} exists absent)",
                compare::Op::LIST
            ),
            ParseError::Labels { text, cause } => write!(f, "`{text}`: {cause}"),
            ParseError::NotNumber { text, number } => {
                write!(f, "`{text}`: `{number}` is not a number")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// What is wrong in the `{…}` of an assertion.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelError {
    NoEquals,
    BadName(String),
    Unquoted,
    UnfinishedEscape,
    Unclosed,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::NoEquals => f.write_str("a label needs `name=\"value\"`"),
            LabelError::BadName(key) => write!(f, "`{key}` is not a label name"),
            LabelError::Unquoted => f.write_str("label values are written in double quotes"),
            LabelError::UnfinishedEscape => f.write_str("unfinished escape in a label value"),
            LabelError::Unclosed => f.write_str("a label value has no closing quote"),
        }
    }
}

/// An assertion the scrape does not satisfy, each part already as the report shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Unmet {
    /// `near`: the series of the same name, or empty.
    Missing {
        selector: String,
        near: String,
    },
    Present {
        selector: String,
        found: String,
    },
    Histogram {
        found: String,
    },
    Value {
        series: String,
        got: f64,
        op: compare::Op,
        want: f64,
    },
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmet::Missing { selector, near } => {
                write!(f, "{selector} is not in the scrape{near}")
            }
            Unmet::Present { selector, found } => {
                write!(f, "{selector} should be absent but is there ({found})")
            }
            Unmet::Histogram { found } => write!(
                f,
                "{found} is a histogram or summary: compare its _count or _sum instead"
            ),
            Unmet::Value {
                series,
                got,
                op,
                want,
            } => write!(
                f,
                "{series} is {} (expected {op} {})",
                format_number(*got),
                format_number(*want)
            ),
        }
    }
}

impl std::error::Error for Unmet {}

/// Why the endpoint gave no scrape to assert on.
#[derive(Debug)]
enum ScrapeError {
    NotSuccess(u16),
    Failed { status: u16, failures: Vec<String> },
    Request(Vec<String>),
    Exposition(std::io::Error),
    NoSamples,
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::NotSuccess(status) => write!(f, "answered {status}, expected 2xx"),
            ScrapeError::Failed { status, failures } => {
                write!(f, "answered {status}, but {}", failures.join("; "))
            }
            ScrapeError::Request(failures) => write!(f, "request {}", failures.join("; ")),
            ScrapeError::Exposition(e) => write!(f, "cannot parse the exposition: {e}"),
            ScrapeError::NoSamples => f.write_str(
                "the body holds no Prometheus samples (is it the text exposition format?)",
            ),
        }
    }
}

impl MetricAssertion {
    pub fn parse(text: &str) -> Result<MetricAssertion, ParseError> {
        let text = text.trim();
        let usage = || ParseError::Usage(text.to_string());
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        let name = &text[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(usage());
        }
        let mut rest = text[name_end..].trim_start();
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(inner).map_err(|cause| ParseError::Labels {
                text: text.to_string(),
                cause,
            })?;
            labels = parsed;
            rest = after.trim_start();
        }
        let op = match rest {
            "exists" => Op::Exists,
            "absent" => Op::Absent,
            _ => {
                let (op, number) = compare::Op::split(rest).ok_or_else(usage)?;
                let number = number.trim();
                let value = parse_number(number).ok_or_else(|| ParseError::NotNumber {
                    text: text.to_string(),
                    number: number.to_string(),
                })?;
                Op::Compare(op, value)
            }
        };
        Ok(MetricAssertion {
            text: text.to_string(),
            name: name.to_string(),
            labels,
            op,
        })
    }

    fn selects(&self, sample: &Sample) -> bool {
        sample.metric == self.name
            && self
                .labels
                .iter()
                .all(|(k, v)| sample.labels.get(k) == Some(v.as_str()))
    }

    fn selector(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    /// `Err` says what the scrape holds instead.
    pub fn check(&self, scrape: &Scrape) -> Result<(), Unmet> {
        let matching: Vec<&Sample> = scrape.samples.iter().filter(|s| self.selects(s)).collect();
        let selector = self.selector();
        match (&self.op, matching.as_slice()) {
            (Op::Exists | Op::Compare(..), []) => Err(Unmet::Missing {
                selector,
                near: self.near(scrape),
            }),
            (Op::Exists, _) => Ok(()),
            (Op::Absent, []) => Ok(()),
            (Op::Absent, found) => Err(Unmet::Present {
                selector,
                found: shown(found[0]),
            }),
            (Op::Compare(op, want), found) => {
                for sample in found {
                    let Some(got) = number(&sample.value) else {
                        return Err(Unmet::Histogram {
                            found: shown(sample),
                        });
                    };
                    if !op.holds(got, *want) {
                        return Err(Unmet::Value {
                            series: series(sample),
                            got,
                            op: *op,
                            want: *want,
                        });
                    }
                }
                Ok(())
            }
        }
    }

    /// The series of the same name, to show when the labels matched none.
    fn near(&self, scrape: &Scrape) -> String {
        let same_name: Vec<String> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == self.name)
            .take(5)
            .map(series)
            .collect();
        if same_name.is_empty() {
            String::new()
        } else {
            format!(" (found: {})", same_name.join(", "))
        }
    }
}

pub(crate) type Labels = Vec<(String, String)>;

/// `k="v", k2="v2"}` → the pairs and the text after the closing brace. Shared with the
/// label selectors of Prometheus expectations.
pub(crate) fn parse_labels(mut text: &str) -> Result<(Labels, &str), LabelError> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = text.find('=').ok_or(LabelError::NoEquals)?;
        let key = text[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(LabelError::BadName(key.to_string()));
        }
        let after_eq = text[eq + 1..].trim_start();
        let quoted = after_eq.strip_prefix('"').ok_or(LabelError::Unquoted)?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(LabelError::UnfinishedEscape),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(LabelError::Unclosed),
            }
        };
        labels.push((key.to_string(), value));
        text = quoted[end + 1..].trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(_) | Value::Summary(_) => None,
    }
}

/// `name{labels}` as the exposition writes it (labels sorted).
fn series(sample: &Sample) -> String {
    let labels = sample.labels.to_string();
    if labels.is_empty() {
        sample.metric.clone()
    } else {
        format!("{}{{{labels}}}", sample.metric)
    }
}

fn shown(sample: &Sample) -> String {
    match number(&sample.value) {
        Some(v) => format!("{} {}", series(sample), format_number(v)),
        None => series(sample),
    }
}

/// The scrape is an HTTP check's request (client, headers, TLS options, timeouts, body limit,
/// 2xx expected), whose body is then parsed and asserted on.
#[derive(Debug)]
pub struct MetricsProbe {
    pub request: HttpProbe,
    pub assertions: Vec<MetricAssertion>,
}

impl MetricsProbe {
    pub async fn run(&self, ctx: &Context) -> Finding {
        if let Some(problem) = &self.request.problem {
            return Finding::fail(problem.clone());
        }
        let started = Instant::now();
        let shown_url = mask_url(&self.request.url);
        let scrape = match self.scrape(ctx).await {
            Ok(s) => s,
            Err(why) => {
                return Finding::fail(format!("metrics {shown_url}: {why}"))
                    .detail("url", shown_url)
                    .took(started.elapsed());
            }
        };
        let failures: Vec<String> = self
            .assertions
            .iter()
            .filter_map(|a| a.check(&scrape).err().map(|e| e.to_string()))
            .collect();
        let finding = if failures.is_empty() {
            Finding::pass(format!(
                "{} of {shown_url} hold ({} samples in {})",
                crate::units::plural(self.assertions.len(), "assertion", "assertions"),
                scrape.samples.len(),
                format_duration(started.elapsed())
            ))
        } else {
            Finding::fail(format!("metrics {shown_url}: {}", failures.join("; ")))
                .detail("failures", failures)
        };
        finding
            .detail("url", shown_url)
            .detail("samples", scrape.samples.len())
            .detail(
                "assertions",
                self.assertions
                    .iter()
                    .map(|a| a.text.clone())
                    .collect::<Vec<_>>(),
            )
            .took(started.elapsed())
    }

    async fn scrape(&self, ctx: &Context) -> Result<Scrape, ScrapeError> {
        let attempt = self.request.once(ctx).await;
        match (attempt.status, attempt.failures) {
            (_, failures) if failures.is_empty() => {}
            (Some(status), failures)
                if failures.len() == 1 && failures[0].starts_with("status ") =>
            {
                return Err(ScrapeError::NotSuccess(status));
            }
            (Some(status), failures) => return Err(ScrapeError::Failed { status, failures }),
            (None, failures) => return Err(ScrapeError::Request(failures)),
        }
        let body = attempt.body.unwrap_or_default();
        let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
            .map_err(ScrapeError::Exposition)?;
        if scrape.samples.is_empty() && !body.trim().is_empty() {
            return Err(ScrapeError::NoSamples);
        }
        Ok(scrape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"# HELP lp_health Health of an LP component (1 healthy)
# TYPE lp_health gauge
lp_health{component="database"} 1
lp_health{component="redis"} 1
lp_health{component="reportStorage"} 0
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027 1395066363000
# TYPE request_seconds histogram
request_seconds_bucket{le="0.1"} 3
request_seconds_bucket{le="+Inf"} 4
request_seconds_sum 0.5
request_seconds_count 4
up 1
"#;

    fn scrape() -> Scrape {
        Scrape::parse(DOC.lines().map(|l| Ok(l.to_string()))).unwrap()
    }

    fn check(text: &str) -> Result<(), Unmet> {
        MetricAssertion::parse(text).unwrap().check(&scrape())
    }

    #[test]
    fn assertions_hold_or_say_why() {
        assert!(check(r#"lp_health{component="database"} == 1"#).is_ok());
        assert!(check("up exists").is_ok());
        assert!(check("down absent").is_ok());
        assert!(check("http_requests_total > 1000").is_ok());
        assert!(check(r#"http_requests_total{code="200"} >= 1027"#).is_ok());
        assert!(check("request_seconds_count == 4").is_ok());
        assert_eq!(
            check("lp_health == 1").unwrap_err().to_string(),
            r#"lp_health{component="reportStorage"} is 0 (expected == 1)"#
        );
        let missing = check(r#"lp_health{component="queue"} == 1"#)
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with(r#"lp_health{component="queue"} is not in the scrape (found: "#)
        );
        assert!(
            check("up absent")
                .unwrap_err()
                .to_string()
                .contains("should be absent")
        );
        assert!(
            check("request_seconds > 1")
                .unwrap_err()
                .to_string()
                .contains("histogram")
        );
    }

    #[test]
    fn parsing() {
        let a = MetricAssertion::parse(r#"x{a="1", b="q\"uote"} != 2.5"#).unwrap();
        assert_eq!(
            a.labels,
            [("a".into(), "1".into()), ("b".into(), "q\"uote".into())]
        );
        assert_eq!(a.op, Op::Compare(compare::Op::Ne, 2.5));
        assert!(MetricAssertion::parse("lp_health is 1").is_err());
        assert!(MetricAssertion::parse(r#"x{a=1} == 1"#).is_err());
        assert!(MetricAssertion::parse(r#"x{a="1" == 1"#).is_err());
        assert!(MetricAssertion::parse("x == many").is_err());
    }
}
