//! An HTTP endpoint answers as expected: status, headers, body, JSON, latency; optionally
//! retried until it does (waiting for health), required to pass several times in a row,
//! sampled for its latency distribution, asked twice to prove a cache, and mined for values
//! (`capture`) that later checks use.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::expect::{Expectations, Response, excerpt};
use super::{Captured, Context, Finding};
use crate::config::checks::CacheMode;
use crate::report::Status;
use crate::secret::{Secret, mask_url};
use crate::units::{Latencies, format_duration, millis, plural};

/// Bodies are read up to this size: a health endpoint that streams megabytes is a finding, not
/// a reason to run out of memory.
pub const MAX_BODY: usize = 1024 * 1024;

pub use super::retry::Retry;

/// Latency limits over `samples` requests, and the share of them allowed to fail.
#[derive(Clone, Debug, Default)]
pub struct Sampling {
    pub count: u32,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
    /// A fraction: 0.001 is 0.1 %.
    pub max_error_rate: f64,
}

/// How the probe sends its request.
#[derive(Clone, Debug)]
pub enum Mode {
    Once,
    Samples(Sampling),
    /// Twice; the second answer must show a cache.
    Cache(CacheMode),
}

/// A request body. JSON stays a tree until sent, so captured values are filled in as JSON
/// strings (quotes and newlines escaped), not pasted into the text.
#[derive(Clone, Debug)]
pub enum Body {
    Text(String),
    Json(Value),
}

/// A value to take from a passing response's JSON body.
#[derive(Clone, Debug)]
pub struct Capture {
    pub name: String,
    pub path_text: String,
    pub path: JsonPath,
}

pub struct HttpProbe {
    /// May hold `${captured.NAME}`, filled in when the request is sent.
    pub url: String,
    pub method: reqwest::Method,
    /// Header values are secrets until proven otherwise: they often carry tokens.
    pub headers: Vec<(String, Secret)>,
    pub query: Vec<(String, String)>,
    pub body: Option<Body>,
    pub timeout: Duration,
    /// A client of this check's own (redirects followed, an extra CA, or no verification);
    /// `None` uses the run's shared client.
    pub client: Option<reqwest::Client>,
    /// The certificate is not verified: a pass is reported as a warning.
    pub insecure: bool,
    pub expect: Expectations,
    pub retry: Option<Retry>,
    /// Passes in a row needed (at least 1).
    pub consecutive: u32,
    pub mode: Mode,
    pub captures: Vec<Capture>,
    /// The request refers to `${captured.…}` values.
    pub uses_captured: bool,
    /// Why the URL cannot be used (e.g. its variable is unset).
    pub problem: Option<String>,
}

/// The URL may carry credentials: Debug shows it masked, and no header values.
impl std::fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProbe")
            .field("url", &mask_url(&self.url))
            .field("method", &self.method)
            .field("expect_status", &self.expect.status_text())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("mode", &self.mode)
            .finish()
    }
}

/// One request's outcome (or, for a cache check, a pair's).
pub struct Attempt {
    pub status: Option<u16>,
    pub latency: Duration,
    /// Unmet expectations (or the transport error), each a sentence.
    pub failures: Vec<String>,
    pub body: Option<String>,
    /// The header that says the answer came from a cache, as `Name: value`.
    cache_hit: Option<String>,
    details: Map<String, Value>,
}

impl Attempt {
    fn excerpt(&self) -> Option<String> {
        self.body.as_deref().map(|b| excerpt(b, 500))
    }
}

impl HttpProbe {
    /// What `--dry-run` reports instead of sending: the request as it would go out, header
    /// values masked but for the descriptive ones (see [`crate::secret::shown_header`]).
    pub fn would(&self) -> Finding {
        let url = mask_url(&self.url);
        let mut message = format!("dry run: would send {} {url}", self.method);
        if !self.query.is_empty() {
            let query: Vec<String> = self.query.iter().map(|(k, _)| k.clone()).collect();
            message.push_str(&format!(" with query {}", query.join(", ")));
        }
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| crate::secret::shown_header(name, value.expose()))
            .collect();
        if !headers.is_empty() {
            message.push_str(&format!(" (headers {})", headers.join(", ")));
        }
        let body = match &self.body {
            Some(Body::Text(text)) => Some(format!("a {}-byte body", text.len())),
            Some(Body::Json(value)) => {
                Some(format!("a JSON body of {} bytes", value.to_string().len()))
            }
            None => None,
        };
        if let Some(body) = &body {
            message.push_str(&format!(" with {body}"));
        }
        let sends = match &self.mode {
            Mode::Once if self.retry.is_some() || self.consecutive > 1 => {
                "until it passes".to_string()
            }
            Mode::Once => "once".to_string(),
            Mode::Samples(s) => format!("{} times (samples)", s.count),
            Mode::Cache(_) => "twice (cache)".to_string(),
        };
        Finding::skip(message)
            .detail("dry_run", true)
            .detail("method", self.method.as_str())
            .detail("url", url)
            .detail("headers", headers)
            .detail("sends", sends)
            .detail("expect_status", self.expect.status_text())
    }

    pub async fn run(&self, ctx: &Context) -> Finding {
        if let Some(problem) = &self.problem {
            return Finding::fail(problem.clone());
        }
        let finding = match &self.mode {
            Mode::Samples(sampling) => self.sample(ctx, sampling).await,
            Mode::Once | Mode::Cache(_) => self.until_healthy(ctx).await,
        };
        if self.insecure {
            let finding = finding.detail("insecure", true);
            if finding.status == Status::Pass {
                let message = format!(
                    "{} — INSECURE: the TLS certificate was not verified (insecure = true)",
                    finding.message
                );
                return Finding { message, ..finding }.with_status(Status::Warn);
            }
            return finding;
        }
        finding
    }

    /// The request as the user wrote it, for messages: the URL masked, captured values unfilled.
    pub fn what(&self) -> String {
        format!("{} {}", self.method, mask_url(&self.url))
    }

    async fn until_healthy(&self, ctx: &Context) -> Finding {
        let tries = super::retry::until_passes(
            self.retry.as_ref(),
            self.consecutive,
            || self.attempt(ctx),
            |a: &Attempt| a.failures.is_empty(),
        )
        .await;
        self.finding(ctx, tries.last, tries.attempts, tries.passed, tries.elapsed)
    }

    async fn attempt(&self, ctx: &Context) -> Attempt {
        match self.mode {
            Mode::Cache(mode) => self.cache_pair(ctx, mode).await,
            _ => self.once(ctx).await,
        }
    }

    /// The seed's "second request should be faster (cached)", as an expectation that can fail.
    async fn cache_pair(&self, ctx: &Context, mode: CacheMode) -> Attempt {
        let first = self.once(ctx).await;
        if !first.failures.is_empty() {
            return Attempt {
                failures: first
                    .failures
                    .iter()
                    .map(|f| format!("first request: {f}"))
                    .collect(),
                ..first
            };
        }
        let mut second = self.once(ctx).await;
        let faster = second.latency < first.latency;
        // A first answer that is already a hit (the cache was warm before the check) proves
        // the cache as well as a faster second one; two hits differ in time only by noise.
        let already = first.cache_hit.is_some();
        let shown = |d: Duration| format_duration(d);
        let cached = match mode {
            CacheMode::Faster => faster || already,
            CacheMode::Header => second.cache_hit.is_some(),
            CacheMode::Either => faster || already || second.cache_hit.is_some(),
        };
        if already {
            second.details.insert("already_cached".into(), true.into());
        }
        if !cached {
            let timing = format!(
                "the second request took {} after {} for the first",
                shown(second.latency),
                shown(first.latency)
            );
            let header = "no cache header says hit (X-Cache, CF-Cache-Status, X-Cache-Status, Age)";
            second.failures.push(match mode {
                CacheMode::Faster => format!("not cached: {timing} (expected faster)"),
                CacheMode::Header => format!("not cached: {header}"),
                CacheMode::Either => format!("not cached: {timing}, and {header}"),
            });
        }
        second
            .details
            .insert("first_latency_ms".into(), millis(first.latency).into());
        second
            .details
            .insert("second_latency_ms".into(), millis(second.latency).into());
        if let Some(hit) = &second.cache_hit {
            second
                .details
                .insert("cache_header".into(), hit.clone().into());
        }
        second
    }

    fn finding(
        &self,
        ctx: &Context,
        last: Attempt,
        attempts: u32,
        mut passed: bool,
        total: Duration,
    ) -> Finding {
        let what = self.what();
        let tries = if attempts > 1 {
            format!(" ({attempts} attempts over {})", format_duration(total))
        } else {
            String::new()
        };
        let mut failures = last.failures.clone();
        let mut captured = Vec::new();
        if passed && !self.captures.is_empty() {
            match self.capture(last.body.as_deref(), &ctx.captured) {
                Ok(names) => captured = names,
                Err(why) => {
                    failures.push(why);
                    passed = false;
                }
            }
        }
        let finding = if passed {
            let cache = match (&self.mode, &last.cache_hit) {
                (Mode::Cache(_), Some(hit)) => format!(", cached ({hit})"),
                (Mode::Cache(_), None) => format!(
                    ", cached (second request {} after {})",
                    format_duration(last.latency),
                    format_duration(Duration::from_secs_f64(
                        last.details["first_latency_ms"].as_f64().unwrap_or(0.0) / 1000.0
                    ))
                ),
                _ => String::new(),
            };
            Finding::pass(format!(
                "{what} answered {} in {}{cache}{tries}",
                last.status.unwrap_or(0),
                format_duration(last.latency)
            ))
        } else {
            match (last.status, failures.as_slice()) {
                // The last answer passed, but the retry window closed before `consecutive` did.
                (Some(status), []) => Finding::fail(format!(
                    "{what} answered {status} in {}, but the retry window closed before {} answers in a row passed{tries}",
                    format_duration(last.latency),
                    self.consecutive
                )),
                (Some(status), [only]) if only.starts_with("status ") => Finding::fail(format!(
                    "{what} answered {status}, expected {} ({}){tries}",
                    self.expect.status_text(),
                    format_duration(last.latency)
                )),
                (Some(status), failures) => Finding::fail(format!(
                    "{what} answered {status} in {}, but {}{tries}",
                    format_duration(last.latency),
                    failures.join("; ")
                )),
                (None, failures) => Finding::fail(format!("{what} {}{tries}", failures.join("; "))),
            }
        };
        let mut finding = finding
            .detail("url", mask_url(&self.url))
            .detail("latency_ms", millis(last.latency))
            .detail("expected", self.expect.status_text())
            .detail("attempts", attempts)
            .took(total);
        for (k, v) in &last.details {
            finding = finding.detail(k, v.clone());
        }
        if let Some(status) = last.status {
            finding = finding.detail("status", status);
        }
        if !captured.is_empty() {
            finding = finding.detail("captured", captured);
        }
        if !passed {
            if !failures.is_empty() {
                finding = finding.detail("failures", failures);
            }
            // A response values are captured from carries credentials (a login's token): when
            // the capture failed, those were never learned as secrets, so the body stays out.
            if !self.captures.is_empty() {
                finding = finding.detail(
                    "body_excerpt",
                    "(not shown: this check captures values, so its body may hold credentials)",
                );
            } else if let Some(body) = last.excerpt() {
                finding = finding.detail("body_excerpt", body);
            }
        }
        finding
    }

    /// Takes every `capture` from the body into the run's captured values; returns their names.
    fn capture(&self, body: Option<&str>, store: &Captured) -> Result<Vec<String>, String> {
        let doc: Value = serde_json::from_str(body.unwrap_or(""))
            .map_err(|e| format!("nothing to capture from: the body is not JSON ({e})"))?;
        let mut names = Vec::new();
        for c in &self.captures {
            let nodes = c.path.query(&doc).all();
            let value = match nodes.as_slice() {
                [Value::String(s)] => s.clone(),
                [Value::Null] | [] => {
                    return Err(format!(
                        "capture `{}`: {} matched nothing",
                        c.name, c.path_text
                    ));
                }
                [one] => one.to_string(),
                many => {
                    return Err(format!(
                        "capture `{}`: {} matched {} values, expected one",
                        c.name,
                        c.path_text,
                        many.len()
                    ));
                }
            };
            store.insert(&c.name, value);
            names.push(c.name.clone());
        }
        Ok(names)
    }

    /// `samples` requests one after another: latency percentiles from an HDR histogram, and
    /// the share that failed their expectations.
    async fn sample(&self, ctx: &Context, rule: &Sampling) -> Finding {
        let started = Instant::now();
        let mut latencies = Latencies::default();
        let (mut errors, mut first_error) = (0u32, None);
        for _ in 0..rule.count {
            let attempt = self.once(ctx).await;
            // Failed and timed-out requests count too: leaving them out would hide exactly the
            // slowest ones from p99 and max.
            latencies.record(attempt.latency);
            if !attempt.failures.is_empty() {
                errors += 1;
                first_error.get_or_insert_with(|| attempt.failures.join("; "));
            }
        }
        let (p50, p95, p99, max) = (
            latencies.quantile(0.50),
            latencies.quantile(0.95),
            latencies.quantile(0.99),
            latencies.max(),
        );
        let rate = f64::from(errors) / f64::from(rule.count.max(1));
        let mut over = Vec::new();
        for (label, limit, value) in [
            ("p50", rule.p50, p50),
            ("p95", rule.p95, p95),
            ("p99", rule.p99, p99),
            ("max", rule.max, max),
        ] {
            if let Some(limit) = limit
                && value > limit
            {
                over.push(format!(
                    "{label} {} (expected at most {})",
                    format_duration(value),
                    format_duration(limit)
                ));
            }
        }
        if rate > rule.max_error_rate {
            over.push(format!(
                "{} of {} failed ({}, expected at most {}): {}",
                errors,
                plural(rule.count as usize, "request", "requests"),
                percent(rate),
                percent(rule.max_error_rate),
                first_error.as_deref().unwrap_or("")
            ));
        }
        let summary = format!(
            "{} {}: p50 {}, p95 {}, p99 {}, max {}, {} failed",
            self.what(),
            plural(rule.count as usize, "sample", "samples"),
            format_duration(p50),
            format_duration(p95),
            format_duration(p99),
            format_duration(max),
            errors
        );
        let finding = if over.is_empty() {
            Finding::pass(summary)
        } else {
            Finding::fail(format!("{summary}; {}", over.join("; ")))
        };
        let mut finding = finding
            .detail("url", mask_url(&self.url))
            .detail("samples", rule.count)
            .detail("p50_ms", millis(p50))
            .detail("p95_ms", millis(p95))
            .detail("p99_ms", millis(p99))
            .detail("max_ms", millis(max))
            .detail("errors", errors)
            .detail("error_rate", rate)
            .took(started.elapsed());
        if let Some(e) = first_error {
            finding = finding.detail("first_error", e);
        }
        finding
    }

    /// `${captured.NAME}` replaced by the value an earlier check captured, as `encode` writes
    /// it for where it goes.
    fn fill(&self, text: &str, captured: &Captured, encode: fn(&str) -> String) -> String {
        if !self.uses_captured {
            return text.to_string();
        }
        captured.fill(text, encode)
    }

    fn body_text(&self, captured: &Captured) -> Option<String> {
        let fill_json = |value: &Value| -> Value {
            fn walk(v: &Value, f: &dyn Fn(&str) -> String) -> Value {
                match v {
                    Value::String(s) => Value::String(f(s)),
                    Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, f)).collect()),
                    Value::Object(map) => {
                        Value::Object(map.iter().map(|(k, v)| (k.clone(), walk(v, f))).collect())
                    }
                    other => other.clone(),
                }
            }
            walk(value, &|s| self.fill(s, captured, as_is))
        };
        match self.body.as_ref()? {
            Body::Text(text) => Some(self.fill(text, captured, as_is)),
            Body::Json(value) if self.uses_captured => Some(fill_json(value).to_string()),
            Body::Json(value) => Some(value.to_string()),
        }
    }

    /// One request, judged against the expectations.
    pub async fn once(&self, ctx: &Context) -> Attempt {
        self.once_with(ctx, &[]).await
    }

    /// One request with `extra` query parameters after the configured ones: values known only
    /// when it is sent (the start and end of a Prometheus range query).
    pub async fn once_with(&self, ctx: &Context, extra: &[(&str, String)]) -> Attempt {
        let client = self.client.as_ref().unwrap_or(&ctx.http);
        // In the URL a captured value is one opaque piece: `/`, `?`, `&` in it are encoded.
        let url = self.fill(&self.url, &ctx.captured, url_component);
        let mut request = client
            .request(self.method.clone(), &url)
            .timeout(self.timeout);
        if !self.query.is_empty() || !extra.is_empty() {
            let query: Vec<(&str, String)> = self
                .query
                .iter()
                .map(|(k, v)| (k.as_str(), self.fill(v, &ctx.captured, as_is)))
                .chain(extra.iter().map(|(k, v)| (*k, v.clone())))
                .collect();
            request = request.query(&query);
        }
        for (name, value) in &self.headers {
            request = request.header(name, self.fill(value.expose(), &ctx.captured, as_is));
        }
        if let Some(body) = self.body_text(&ctx.captured) {
            request = request.body(body);
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("did not answer within {}", format_duration(self.timeout))
                } else if e.is_redirect() {
                    format!(
                        "followed too many redirects: {}",
                        error_chain(&e.without_url())
                    )
                } else {
                    format!("failed: {}", error_chain(&e.without_url()))
                };
                return Attempt {
                    status: None,
                    latency: started.elapsed(),
                    failures: vec![why],
                    body: None,
                    cache_hit: None,
                    details: Map::new(),
                };
            }
        };
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(response, self.timeout).await;
        let mut failures = self.expect.failures(&Response {
            status,
            headers: &headers,
            body: body.as_deref(),
            latency,
        });
        // A pass needs the whole response, not only its status line.
        if let Err(BodyError::Incomplete(why)) = &body
            && !failures.iter().any(|f| f.contains(why.as_str()))
        {
            failures.push(format!("the response did not complete: {why}"));
        }
        let mut details = Map::new();
        if (300..400).contains(&status)
            && let Some(location) = headers.get("location").and_then(|v| v.to_str().ok())
        {
            details.insert("location".into(), mask_url(location).into());
        }
        Attempt {
            status: Some(status),
            latency,
            failures,
            body: body.ok(),
            cache_hit: cache_hit(&headers),
            details,
        }
    }
}

/// Why a body cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyError {
    /// The response never completed: it trickled past the timeout, or the connection broke
    /// mid-body. No check passes on it, whatever it expects.
    Incomplete(String),
    /// Complete as far as it was read, but unusable as text: too large, or not UTF-8. Only
    /// checks that look at the body fail on it.
    Unreadable(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Incomplete(why) | BodyError::Unreadable(why) => f.write_str(why),
        }
    }
}

/// The body as text: at most MAX_BODY bytes (+1, to know it was larger), within `timeout`.
/// A body too large, too slow, cut off or not UTF-8 is a sentence saying so.
pub async fn read_body(
    mut response: reqwest::Response,
    timeout: Duration,
) -> Result<String, BodyError> {
    let mut bytes = Vec::new();
    let mut too_large = false;
    let read = tokio::time::timeout(timeout, async {
        while let Some(chunk) = response.chunk().await? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_BODY {
                too_large = true;
                break;
            }
        }
        Ok::<(), reqwest::Error>(())
    })
    .await;
    match read {
        Err(_) => Err(BodyError::Incomplete(format!(
            "the body did not arrive within {} ({} bytes read)",
            format_duration(timeout),
            bytes.len()
        ))),
        Ok(Err(e)) => Err(BodyError::Incomplete(format!(
            "the response broke off after {} bytes of its body: {}",
            bytes.len(),
            error_chain(&e.without_url())
        ))),
        Ok(Ok(())) if too_large => Err(BodyError::Unreadable(format!(
            "the body is larger than {}",
            crate::units::format_size(MAX_BODY as u64)
        ))),
        Ok(Ok(())) => String::from_utf8(bytes).map_err(|e| {
            BodyError::Unreadable(format!(
                "the body is not UTF-8 (invalid byte at {})",
                e.utf8_error().valid_up_to()
            ))
        }),
    }
}

/// The header that says a response came from a cache: a `HIT` in the headers CDNs and proxies
/// set, or an `Age` above zero (RFC 9111: the response was stored).
fn cache_hit(headers: &HeaderMap) -> Option<String> {
    for name in [
        "x-cache",
        "cf-cache-status",
        "x-cache-status",
        "x-proxy-cache",
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
            && value.to_ascii_uppercase().contains("HIT")
        {
            return Some(format!("{name}: {value}"));
        }
    }
    headers
        .get("age")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.trim().parse::<u64>().is_ok_and(|age| age > 0))
        .map(|v| format!("age: {v}"))
}

fn as_is(value: &str) -> String {
    value.to_string()
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
fn url_component(value: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, RESERVED).to_string()
}

fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p == p.trunc() {
        format!("{p:.0}%")
    } else {
        format!("{}%", (p * 1000.0).round() / 1000.0)
    }
}

/// reqwest's top-level error says only "error sending request"; the cause is further down.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cache_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(cache_hit(&h), None);
        h.insert("x-cache", HeaderValue::from_static("MISS"));
        assert_eq!(cache_hit(&h), None);
        h.insert("age", HeaderValue::from_static("0"));
        assert_eq!(cache_hit(&h), None);
        h.insert("cf-cache-status", HeaderValue::from_static("HIT"));
        assert_eq!(cache_hit(&h).as_deref(), Some("cf-cache-status: HIT"));
        let mut h = HeaderMap::new();
        h.insert("age", HeaderValue::from_static("12"));
        assert_eq!(cache_hit(&h).as_deref(), Some("age: 12"));
    }

    #[test]
    fn percents() {
        assert_eq!(percent(0.001), "0.1%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.25), "25%");
    }
}
