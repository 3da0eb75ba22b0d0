//! A PromQL query against a Prometheus server's HTTP API (`/api/v1/query`, or
//! `/api/v1/query_range` for a value that must hold over a while), and what its result must be:
//! the runbook's "error rate should be < 0.1 %" or "no alert firing" read off a dashboard,
//! stated as what must hold. Values arrive as strings in the API's JSON (`"0.003"`, `"NaN"`,
//! `"+Inf"`) and are compared as numbers with the one comparison of [`super::compare`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use super::compare::{self, format_number, parse_number};
use super::expect::excerpt;
use super::http::HttpProbe;
use super::metrics::{LabelError, Labels, parse_labels};
use super::retry::until_passes;
use super::{Context, Finding};
use crate::report::Status;
use crate::secret::mask_url;
use crate::units::{format_duration, plural};

/// Failures named in a message; the report's details keep up to [`DETAIL_CAP`].
const MESSAGE_CAP: usize = 5;
const DETAIL_CAP: usize = 50;

/// The most points per series Prometheus answers in a range query.
pub const MAX_POINTS: u64 = 11_000;

/// `< 0.01`, or `{handler="/api/reports"} < 0.5`: what every value of the result (of the
/// series carrying those labels) must satisfy.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub text: String,
    labels: Labels,
    op: compare::Op,
    want: f64,
}

/// Why an expectation written in config was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    Usage(String),
    /// A metric name where the comparison goes: the query picks the metric.
    Selector(String),
    Labels {
        text: String,
        cause: LabelError,
    },
    NotNumber {
        text: String,
        number: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Usage(text) => write!(
                f,
                "`{text}` is not a Prometheus expectation: write `<op> <number>` (ops: {}), e.g. `< 0.01`, \
                 optionally after labels: `{{job=\"api\"}} < 0.01`",
                compare::Op::LIST
            ),
            ParseError::Selector(text) => write!(
                f,
                "`{text}`: the query picks what to compare; `expect` holds only the comparison, e.g. `== 1` \
                 (labels in braces select series of the result: `{{job=\"api\"}} == 1`)"
            ),
            ParseError::Labels { text, cause } => write!(f, "`{text}`: {cause}"),
            ParseError::NotNumber { text, number } => {
                write!(f, "`{text}`: `{number}` is not a number")
            }
        }
    }
}

impl std::error::Error for ParseError {}

impl Expectation {
    pub fn parse(text: &str) -> Result<Expectation, ParseError> {
        let text = text.trim();
        let usage = || ParseError::Usage(text.to_string());
        let (labels, rest) = match text.strip_prefix('{') {
            Some(inner) => parse_labels(inner).map_err(|cause| ParseError::Labels {
                text: text.to_string(),
                cause,
            })?,
            None => (Vec::new(), text),
        };
        let rest = rest.trim_start();
        let Some((op, number)) = compare::Op::split(rest) else {
            if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                return Err(ParseError::Selector(text.to_string()));
            }
            return Err(usage());
        };
        let number = number.trim();
        let want = parse_number(number).ok_or_else(|| ParseError::NotNumber {
            text: text.to_string(),
            number: number.to_string(),
        })?;
        Ok(Expectation {
            text: text.to_string(),
            labels,
            op,
            want,
        })
    }

    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == Some(v.as_str()))
    }

    fn selector(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", quoted(v)))
            .collect();
        format!("{{{}}}", labels.join(","))
    }

    /// The comparison alone, as a failure names it: `< 0.01`.
    fn comparison(&self) -> String {
        format!("{} {}", self.op, format_number(self.want))
    }
}

/// What the result must be.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Every value (of the selected series) satisfies every expectation; an empty result fails.
    Values(Vec<Expectation>),
    /// No series (`expect_empty = true`).
    Empty,
    /// At least one series (`expect_empty = false` without `expect`).
    NotEmpty,
}

/// `for`: the window up to now, evaluated every `step`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub length: Duration,
    pub step: Duration,
}

impl Window {
    /// The step a window gets unless one is given: a sixtieth of it, at least a second.
    pub fn default_step(length: Duration) -> Duration {
        Duration::from_secs((length.as_secs() / 60).max(1))
    }

    /// The points Prometheus evaluates over the window.
    pub fn points(&self) -> u64 {
        (self.length.as_millis() / self.step.as_millis().max(1)) as u64 + 1
    }
}

/// The query, where it goes, and what must hold.
#[derive(Debug)]
pub struct PrometheusProbe {
    /// A POST of the query as a form to `/api/v1/query` or `/api/v1/query_range`: the HTTP
    /// check's request (client, headers, TLS options, timeouts, body limit).
    pub request: HttpProbe,
    /// The server's base URL as written, masked.
    pub shown_url: String,
    pub query: String,
    pub window: Option<Window>,
    pub expect: Expect,
}

/// The API's envelope: `{"status": "success", "data": …, "warnings": […]}` or
/// `{"status": "error", "errorType": "bad_data", "error": "…"}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar((f64, String)),
    String((f64, String)),
}

#[derive(Debug, Deserialize)]
struct InstantSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Option<(f64, String)>,
    /// A native histogram sample has this instead of `value`.
    histogram: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    histograms: Vec<Value>,
}

/// A result as judged: series with their points (a scalar is one series without labels).
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub scalar: bool,
    pub series: Vec<Series>,
    pub warnings: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// Timestamp (Unix seconds) and the value as Prometheus wrote it.
    pub points: Vec<(f64, String)>,
    pub histogram: bool,
}

impl Series {
    /// `up{instance="…",job="…"}`, as PromQL writes it; a scalar is `scalar`.
    fn name(&self, scalar: bool) -> String {
        if scalar {
            return "scalar".into();
        }
        series_name(&self.labels)
    }

    fn last(&self) -> Option<&str> {
        self.points.last().map(|(_, v)| v.as_str())
    }
}

fn series_name(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={}", quoted(v)))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", rest.join(","))
    }
}

fn quoted(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// Why there is no result to judge.
#[derive(Debug, PartialEq)]
enum AnswerError {
    Request(Vec<String>),
    /// Prometheus said why: `errorType` and `error`.
    Refused {
        status: u16,
        kind: String,
        error: String,
    },
    NotApi {
        status: u16,
        why: String,
    },
    StringResult(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Request(failures) => write!(f, "request {}", failures.join("; ")),
            AnswerError::Refused {
                status,
                kind,
                error,
            } => write!(f, "answered {status}: {kind}: {error}"),
            AnswerError::NotApi { status, why } => {
                let hint = match status {
                    401 | 403 => {
                        "credentials missing or refused: give them in `headers`, e.g. Authorization"
                    }
                    _ => {
                        "is the url the Prometheus server's base URL, such as http://prometheus:9090?"
                    }
                };
                write!(f, "answered {status} with {why} ({hint})")
            }
            AnswerError::StringResult(s) => write!(
                f,
                "the query returned a string ({}), not numbers",
                quoted(&excerpt(s, 80))
            ),
        }
    }
}

/// Reads the API's answer: the result, or what Prometheus (or whatever answered) said instead.
fn read_answer(status: u16, body: Option<&str>) -> Result<Answer, AnswerError> {
    let body = body.unwrap_or("");
    let envelope: Envelope = serde_json::from_str(body).map_err(|_| AnswerError::NotApi {
        status,
        why: if body.trim().is_empty() {
            "an empty body".into()
        } else {
            format!(
                "a body that is not the API's JSON: {}",
                quoted(&excerpt(body.trim(), 200))
            )
        },
    })?;
    if envelope.status != "success" {
        return Err(AnswerError::Refused {
            status,
            kind: envelope.error_type.unwrap_or_else(|| "error".into()),
            error: envelope
                .error
                .unwrap_or_else(|| format!("status {}", envelope.status)),
        });
    }
    if !(200..300).contains(&status) {
        return Err(AnswerError::NotApi {
            status,
            why: "a success envelope".into(),
        });
    }
    let data: Data = envelope
        .data
        .ok_or_else(|| "no `data`".to_string())
        .and_then(|d| serde_json::from_value(d).map_err(|e| e.to_string()))
        .map_err(|e| AnswerError::NotApi {
            status,
            why: format!("a result it cannot read ({e})"),
        })?;
    let series = match data {
        Data::String((_, s)) => return Err(AnswerError::StringResult(s)),
        Data::Scalar(point) => {
            return Ok(Answer {
                scalar: true,
                series: vec![Series {
                    labels: BTreeMap::new(),
                    points: vec![point],
                    histogram: false,
                }],
                warnings: envelope.warnings,
            });
        }
        Data::Vector(v) => v
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s.value.into_iter().collect(),
                histogram: s.histogram.is_some(),
            })
            .collect(),
        Data::Matrix(m) => m
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s.values,
                histogram: !s.histograms.is_empty(),
            })
            .collect(),
    };
    Ok(Answer {
        scalar: false,
        series,
        warnings: envelope.warnings,
    })
}

/// A series that does not satisfy an expectation.
#[derive(Debug, PartialEq)]
struct Unmet {
    series: String,
    /// The first failing value, as Prometheus wrote it, and when.
    value: String,
    at: f64,
    expected: String,
    failing: usize,
    points: usize,
}

impl Unmet {
    fn show(&self, ranged: bool) -> String {
        let value = match parse_number(&self.value) {
            // `+Inf` as Prometheus writes it.
            Some(v) if v.is_infinite() => self.value.clone(),
            Some(v) => format_number(v),
            None if self.value.eq_ignore_ascii_case("nan") => "NaN (not a number)".into(),
            None => format!("`{}`, not a number", self.value),
        };
        if ranged {
            format!(
                "{} was {value} at {} (expected {}; {} of {} points)",
                self.series,
                timestamp(self.at),
                self.expected,
                self.failing,
                self.points
            )
        } else {
            format!("{} is {value} (expected {})", self.series, self.expected)
        }
    }
}

fn timestamp(at: f64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs_f64(at.max(0.0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The verdict on an answer, before it becomes a finding.
#[derive(Debug, PartialEq)]
struct Verdict {
    status: Status,
    /// What held or what did not, without the query.
    summary: String,
    failures: Vec<String>,
}

impl PrometheusProbe {
    /// What `--dry-run` reports instead of querying.
    pub fn would(&self) -> Finding {
        let over = match &self.window {
            Some(w) => format!(
                " over the last {} (step {})",
                format_duration(w.length),
                format_duration(w.step)
            ),
            None => String::new(),
        };
        let expected = self.expected();
        let headers: Vec<String> = self
            .request
            .headers
            .iter()
            .map(|(name, value)| crate::secret::shown_header(name, value.expose()))
            .collect();
        let until = match &self.request.retry {
            Some(r) => format!(", asking again for up to {}", format_duration(r.timeout)),
            None => String::new(),
        };
        Finding::skip(format!(
            "dry run: would query Prometheus at {} for `{}`{over}, expecting {expected}{until}",
            self.shown_url,
            self.shown_query()
        ))
        .detail("dry_run", true)
        .detail("url", mask_url(&self.request.url))
        .detail("query", self.query.clone())
        .detail("headers", headers)
        .detail("expect", expected)
    }

    fn shown_query(&self) -> String {
        excerpt(&super::one_line(&self.query), 120)
    }

    fn expected(&self) -> String {
        match &self.expect {
            Expect::Empty => "no series".into(),
            Expect::NotEmpty => "at least one series".into(),
            Expect::Values(list) => list
                .iter()
                .map(|e| format!("`{}`", e.text))
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }

    /// Asks once, or with `retry` until the expectations hold or the window closes: the last
    /// answer is the finding, with how many were asked for.
    pub async fn run(&self, ctx: &Context) -> Finding {
        let Some(retry) = &self.request.retry else {
            return self.once(ctx).await;
        };
        let tries = until_passes(
            Some(retry),
            1,
            || self.once(ctx),
            |f: &Finding| f.status != Status::Fail,
        )
        .await;
        let summary = tries.summary();
        let mut finding = tries.last.detail("attempts", tries.attempts);
        finding.message.push_str(&summary);
        finding.took(tries.elapsed)
    }

    async fn once(&self, ctx: &Context) -> Finding {
        if let Some(problem) = &self.request.problem {
            return Finding::fail(problem.clone());
        }
        let started = Instant::now();
        let range = self.window.map(|w| {
            let end = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let start = end.saturating_sub(w.length);
            (start, end, w)
        });
        // The server gives up evaluating a little before this check does, so that its own words
        // (which query, how far it got) arrive instead of a client timeout.
        let server_timeout = self.request.timeout.mul_f64(0.9);
        let mut params = vec![("timeout", server_timeout.as_secs_f64().to_string())];
        if let Some((start, end, w)) = range {
            params.extend([
                ("start", format!("{:.3}", start.as_secs_f64())),
                ("end", format!("{:.3}", end.as_secs_f64())),
                ("step", w.step.as_secs_f64().to_string()),
            ]);
        }
        let attempt = self.request.once_with(ctx, &params).await;
        let answer = match attempt.status {
            None => Err(AnswerError::Request(attempt.failures)),
            Some(status) => read_answer(status, attempt.body.as_deref()),
        };
        let base = Finding::pass("")
            .detail("url", self.shown_url.clone())
            .detail("query", self.query.clone());
        let base = match &self.window {
            Some(w) => base
                .detail("for", format_duration(w.length))
                .detail("step", format_duration(w.step)),
            None => base,
        };
        let base = match attempt.status {
            Some(status) => base.detail("status", status),
            None => base,
        };
        let answer = match answer {
            Ok(a) => a,
            Err(why) => {
                return Finding {
                    status: Status::Fail,
                    message: format!(
                        "Prometheus at {}: `{}`: {why}",
                        self.shown_url,
                        self.shown_query()
                    ),
                    ..base
                }
                .took(started.elapsed());
            }
        };
        let steps = range.map(|(_, _, w)| w.points());
        let verdict = judge(&self.expect, &answer, steps);
        let mut message = format!("`{}`: {}", self.shown_query(), verdict.summary);
        if !answer.warnings.is_empty() {
            message.push_str(&format!(
                " (Prometheus warns: {})",
                answer.warnings.join("; ")
            ));
        }
        let mut finding = Finding {
            status: verdict.status,
            message,
            ..base
        }
        .detail("series", answer.series.len())
        .detail("values", values(&answer));
        if !verdict.failures.is_empty() {
            finding = finding.detail(
                "failures",
                verdict
                    .failures
                    .into_iter()
                    .take(DETAIL_CAP)
                    .collect::<Vec<_>>(),
            );
        }
        if !answer.warnings.is_empty() {
            finding = finding.detail("warnings", answer.warnings.clone());
        }
        if self.request.insecure {
            finding = finding.detail("insecure", true);
            if finding.status == Status::Pass {
                finding.message.push_str(
                    " — INSECURE: the TLS certificate was not verified (insecure = true)",
                );
                finding.status = Status::Warn;
            }
        }
        finding.took(started.elapsed())
    }
}

/// The latest value of each series (at most [`DETAIL_CAP`]), for the report's details.
fn values(answer: &Answer) -> Vec<String> {
    answer
        .series
        .iter()
        .take(DETAIL_CAP)
        .map(|s| {
            format!(
                "{} {}",
                s.name(answer.scalar),
                s.last().unwrap_or("(histogram)")
            )
        })
        .collect()
}

/// `first; second; … and N more`, at most [`MESSAGE_CAP`] named.
fn capped(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(MESSAGE_CAP)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > MESSAGE_CAP {
        text.push_str(&format!("; … and {} more", items.len() - MESSAGE_CAP));
    }
    text
}

/// `steps`: the points a range query asked for (`None` for an instant query).
fn judge(expect: &Expect, answer: &Answer, steps: Option<u64>) -> Verdict {
    let ranged = steps.is_some();
    let series = &answer.series;
    let over = if ranged {
        " at any point of the window"
    } else {
        ""
    };
    let shown = |s: &Series| match s.last() {
        Some(v) => format!("{} {v}", s.name(answer.scalar)),
        None => s.name(answer.scalar),
    };
    match expect {
        Expect::Empty if answer.scalar => Verdict {
            status: Status::Fail,
            summary: format!(
                "returned a scalar ({}), which is never empty: expect_empty needs a vector (e.g. ALERTS{{alertstate=\"firing\"}})",
                series[0].last().unwrap_or("")
            ),
            failures: Vec::new(),
        },
        Expect::Empty if series.is_empty() => Verdict {
            status: Status::Pass,
            summary: format!("no series{over}, as expected"),
            failures: Vec::new(),
        },
        Expect::Empty => {
            let found: Vec<String> = series.iter().map(shown).collect();
            Verdict {
                status: Status::Fail,
                summary: format!(
                    "returned {}, expected none: {}",
                    plural(series.len(), "series", "series"),
                    capped(&found)
                ),
                failures: found,
            }
        }
        Expect::NotEmpty if series.is_empty() => Verdict {
            status: Status::Fail,
            summary: format!("returned no series{over}, expected at least one"),
            failures: Vec::new(),
        },
        Expect::NotEmpty => Verdict {
            status: Status::Pass,
            summary: format!("returned {}", plural(series.len(), "series", "series")),
            failures: Vec::new(),
        },
        Expect::Values(list) => judge_values(list, answer, steps),
    }
}

fn judge_values(list: &[Expectation], answer: &Answer, steps: Option<u64>) -> Verdict {
    let ranged = steps.is_some();
    let series = &answer.series;
    let texts: Vec<String> = list.iter().map(|e| format!("`{}`", e.text)).collect();
    if series.is_empty() {
        return Verdict {
            status: Status::Fail,
            summary: format!(
                "returned no series{}: nothing to compare with {} (a misspelt metric or label returns nothing too; \
                 append `or vector(0)` to the query when no series means 0)",
                if ranged { " in the window" } else { "" },
                texts.join(" and ")
            ),
            failures: Vec::new(),
        };
    }
    let mut failures = Vec::new();
    // The series named in a failure, to count them (an expectation whose labels select none
    // names no series).
    let mut failing_series = BTreeSet::new();
    for e in list {
        let selected: Vec<&Series> = series.iter().filter(|s| e.selects(&s.labels)).collect();
        if selected.is_empty() {
            let found: Vec<String> = series
                .iter()
                .take(3)
                .map(|s| s.name(answer.scalar))
                .collect();
            failures.push(format!(
                "no series has {} (found: {})",
                e.selector(),
                found.join(", ")
            ));
            continue;
        }
        for s in selected {
            let name = s.name(answer.scalar);
            if s.histogram && s.points.is_empty() {
                failures.push(format!(
                    "{name} is a native histogram: compare histogram_quantile(…), histogram_count(…) or histogram_sum(…) instead"
                ));
                failing_series.insert(name);
                continue;
            }
            let failing: Vec<&(f64, String)> = s
                .points
                .iter()
                .filter(|(_, v)| !parse_number(v).is_some_and(|got| e.op.holds(got, e.want)))
                .collect();
            if let Some((at, value)) = failing.first() {
                failures.push(
                    Unmet {
                        series: name.clone(),
                        value: value.clone(),
                        at: *at,
                        expected: e.comparison(),
                        failing: failing.len(),
                        points: s.points.len(),
                    }
                    .show(ranged),
                );
                failing_series.insert(name);
            }
        }
    }
    let (count, verb) = if answer.scalar {
        ("the scalar".to_string(), "holds")
    } else {
        let verb = if series.len() == 1 { "holds" } else { "hold" };
        (plural(series.len(), "series", "series"), verb)
    };
    if !failures.is_empty() {
        let failing = if answer.scalar || failing_series.is_empty() {
            String::new()
        } else {
            format!("{} of {count}: ", failing_series.len())
        };
        return Verdict {
            status: Status::Fail,
            summary: format!("{failing}{}", capped(&failures)),
            failures,
        };
    }
    let numbers: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, v)| parse_number(v)))
        .collect();
    let (low, high) = numbers
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let range = if numbers.len() == 1 || low == high {
        format!("value {}", format_number(low))
    } else {
        format!("values {} to {}", format_number(low), format_number(high))
    };
    let Some(steps) = steps else {
        return Verdict {
            status: Status::Pass,
            summary: format!("{count} {verb} {} ({range})", texts.join(" and ")),
            failures: Vec::new(),
        };
    };
    // Points of the window at which the query had no value at all: there, nothing held or
    // failed. Prometheus was not scraping yet, or the series did not exist.
    let covered: BTreeSet<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(at, _)| (at * 1000.0).round() as i64))
        .collect();
    let points = numbers.len();
    let summary = format!(
        "{count} {verb} {} at every one of {} over the window ({range})",
        texts.join(" and "),
        plural(points, "point", "points"),
    );
    let missing = steps.saturating_sub(covered.len() as u64);
    if missing > 0 {
        return Verdict {
            status: Status::Warn,
            summary: format!(
                "{summary}, but the query had no value at {missing} of the window's {steps} points: \
                 the window is only partly judged"
            ),
            failures: Vec::new(),
        };
    }
    Verdict {
        status: Status::Pass,
        summary,
        failures: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Answer {
        read_answer(200, Some(body)).unwrap()
    }

    fn expect(texts: &[&str]) -> Expect {
        Expect::Values(
            texts
                .iter()
                .map(|t| Expectation::parse(t).unwrap())
                .collect(),
        )
    }

    const TWO: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"__name__":"http_error_ratio","job":"api","instance":"a:80"},"value":[1700000000.5,"0.003"]},
        {"metric":{"job":"worker"},"value":[1700000000.5,"0.02"]}]}}"#;

    #[test]
    fn expectations_parse_with_optional_labels() {
        let e = Expectation::parse(r#"{job="api", code="5xx"} <= 0.01"#).unwrap();
        assert_eq!(
            e.labels,
            [("job".into(), "api".into()), ("code".into(), "5xx".into())]
        );
        assert_eq!((e.op, e.want), (compare::Op::Le, 0.01));
        assert_eq!(Expectation::parse("< +Inf").unwrap().want, f64::INFINITY);
        assert!(matches!(
            Expectation::parse("up == 1"),
            Err(ParseError::Selector(_))
        ));
        assert!(matches!(
            Expectation::parse("less than 1"),
            Err(ParseError::Selector(_))
        ));
        assert!(matches!(
            Expectation::parse("= 1"),
            Err(ParseError::Usage(_))
        ));
        assert!(matches!(
            Expectation::parse("< NaN"),
            Err(ParseError::NotNumber { .. })
        ));
        assert!(matches!(
            Expectation::parse("{job=api} < 1"),
            Err(ParseError::Labels { .. })
        ));
    }

    #[test]
    fn every_series_must_hold_and_failures_name_the_series() {
        let answer = parse(TWO);
        let ok = judge(&expect(&["< 0.05"]), &answer, None);
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert_eq!(ok.summary, "2 series hold `< 0.05` (values 0.003 to 0.02)");
        let bad = judge(&expect(&["< 0.01"]), &answer, None);
        assert_eq!(bad.status, Status::Fail);
        assert_eq!(
            bad.summary,
            r#"1 of 2 series: {job="worker"} is 0.02 (expected < 0.01)"#
        );
        // Labels select series: the api's ratio alone holds.
        let api = judge(&expect(&[r#"{job="api"} < 0.01"#]), &answer, None);
        assert_eq!(api.status, Status::Pass, "{api:?}");
        let none = judge(&expect(&[r#"{job="db"} < 0.01"#]), &answer, None);
        assert_eq!(none.status, Status::Fail);
        assert!(
            none.summary.contains(r#"no series has {job="db"} (found: http_error_ratio{instance="a:80",job="api"}, {job="worker"})"#),
            "{}",
            none.summary
        );
    }

    #[test]
    fn values_are_strings_compared_as_numbers_and_nan_never_passes() {
        let answer = parse(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"q":"inf"},"value":[1,"+Inf"]},{"metric":{"q":"nan"},"value":[1,"NaN"]}]}}"#,
        );
        let v = judge(&expect(&["!= 1"]), &answer, None);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.summary,
            r#"1 of 2 series: {q="nan"} is NaN (not a number) (expected != 1)"#
        );
        let scalar = parse(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}"#,
        );
        let v = judge(&expect(&["< 1"]), &scalar, None);
        assert_eq!(v.summary, "scalar is NaN (not a number) (expected < 1)");
        let one = parse(r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#);
        let v = judge(&expect(&["== 1"]), &one, None);
        assert_eq!(
            (v.status, v.summary.as_str()),
            (Status::Pass, "the scalar holds `== 1` (value 1)")
        );
    }

    #[test]
    fn empty_results() {
        let empty = parse(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert_eq!(judge(&Expect::Empty, &empty, None).status, Status::Pass);
        assert_eq!(judge(&Expect::NotEmpty, &empty, None).status, Status::Fail);
        let v = judge(&expect(&["< 0.01"]), &empty, None);
        assert_eq!(v.status, Status::Fail);
        assert!(v.summary.contains("or vector(0)"), "{}", v.summary);
        let two = parse(TWO);
        let v = judge(&Expect::Empty, &two, None);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.summary,
            r#"returned 2 series, expected none: http_error_ratio{instance="a:80",job="api"} 0.003; {job="worker"} 0.02"#
        );
    }

    #[test]
    fn a_range_fails_on_any_point_and_warns_on_gaps() {
        let matrix = parse(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"a"},"values":[[10,"1"],[11,"0"],[12,"0"],[13,"1"]]}]}}"#,
        );
        let v = judge(&expect(&["== 1"]), &matrix, Some(4));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.summary,
            r#"1 of 1 series: up{job="a"} was 0 at 1970-01-01T00:00:11Z (expected == 1; 2 of 4 points)"#
        );
        let v = judge(&expect(&["<= 1"]), &matrix, Some(4));
        assert_eq!(v.status, Status::Pass, "{v:?}");
        let v = judge(&expect(&["<= 1"]), &matrix, Some(6));
        assert_eq!(v.status, Status::Warn, "{v:?}");
        assert!(
            v.summary.contains("no value at 2 of the window's 6 points"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn many_failures_are_capped_in_the_message() {
        let series: Vec<String> = (0..8)
            .map(|i| format!(r#"{{"metric":{{"pod":"p{i}"}},"value":[1,"5"]}}"#))
            .collect();
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            series.join(",")
        );
        let v = judge(&expect(&["< 1"]), &parse(&body), None);
        assert_eq!(v.failures.len(), 8);
        assert!(v.summary.starts_with("8 of 8 series: "), "{}", v.summary);
        assert!(v.summary.ends_with("; … and 3 more"), "{}", v.summary);
    }

    #[test]
    fn errors_from_prometheus_are_shown() {
        let err = read_answer(
            400,
            Some(
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"answered 400: bad_data: invalid parameter "query": 1:4: parse error: unexpected end of input inside braces"#
        );
        let err = read_answer(404, Some("404 page not found\n")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                r#"answered 404 with a body that is not the API's JSON: "404 page not found""#
            ),
            "{err}"
        );
        let err = read_answer(
            200,
            Some(r#"{"status":"success","data":{"resultType":"string","result":[1,"abc"]}}"#),
        )
        .unwrap_err();
        assert!(err.to_string().contains("returned a string"), "{err}");
    }

    #[test]
    fn windows() {
        let w = Window {
            length: Duration::from_secs(300),
            step: Window::default_step(Duration::from_secs(300)),
        };
        assert_eq!(w.step, Duration::from_secs(5));
        assert_eq!(w.points(), 61);
        assert_eq!(
            Window::default_step(Duration::from_secs(3)),
            Duration::from_secs(1)
        );
    }
}
