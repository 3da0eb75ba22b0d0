//! `[[…http]]` and `--http`/`--http-url`, and the request builder every kind that sends HTTP
//! shares (metrics scrapes, rollback hooks, rate-limit targets): method, headers kept as
//! secrets, body, client options, expectations, retry and sampling.

use std::time::Duration;

use super::Planner;
use crate::checks::expect::{Expectations, HeaderExpect, JsonAssertion, StatusExpect, TextExpect};
use crate::checks::http::{Body, HttpProbe, Mode, Retry, Sampling};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::checks::{HttpConfig, RateText, RetryConfig, StatusText};
use crate::config::{Located, Resolver, Text};
use crate::error::InputError;
use crate::secret::{Secret, mask_url, name_looks_secret};

impl Planner<'_> {
    pub(super) fn http(&mut self, http: &Located<HttpConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&http.span);
        let needs = self.needs(&http.needs)?;
        self.resolver.captured = Some(Vec::new());
        let url = self.resolver.text(&http.url);
        let probe =
            url.and_then(|url| http_probe(&mut self.resolver, http, url, self.check_timeout));
        let referenced = self.resolver.captured.take().unwrap_or_default();
        let probe = probe?;
        let host = url::Url::parse(&probe.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "http".into());
        let name = self.claim(
            "http",
            http.name.as_deref().unwrap_or(&host),
            http.name.is_some(),
            &http.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = http.name.clone().unwrap_or_else(|| name.clone());
        for captured in &referenced {
            match self.captures.get(captured) {
                Some(from) if needs.contains(from) => {}
                Some(from) => {
                    let producer = self.units[*from].aspects[0].id.clone();
                    return Err(self
                        .resolver
                        .error(&http.span, format!("`${{captured.{captured}}}` comes from {producer}, which this check does not need"))
                        .help(format!("add needs = [\"{producer}\"], so it runs first and must pass")));
                }
                None => {
                    return Err(self
                        .resolver
                        .error(&http.span, format!("no earlier check captures `{captured}`"))
                        .help("capture it in a check declared before this one: capture = { NAME = \"$.json.path\" }"));
                }
            }
        }
        for capture in &probe.captures {
            if self.captures.contains_key(&capture.name) {
                return Err(self
                    .resolver
                    .error(&http.span, format!("`{}` is captured twice", capture.name))
                    .help("give each captured value its own name"));
            }
            self.captures.insert(capture.name.clone(), self.units.len());
        }
        // Room for every attempt: the retry window, then one last request (twice the request
        // timeout: the headers, then the body), twice for a cache check, `samples` times for
        // samples. The overall deadline still bounds it all.
        let requests = match &probe.mode {
            Mode::Once => probe.consecutive,
            Mode::Cache(_) => 2 * probe.consecutive,
            Mode::Samples(s) => s.count,
        };
        let timeout = probe.retry.as_ref().map_or(Duration::ZERO, |r| r.timeout)
            + probe.timeout * 2 * requests;
        self.push(
            Unit {
                kind: "http",
                needs,
                aspects: vec![Aspect::new(
                    format!("http.{name}"),
                    format!("http {label}"),
                    loc,
                )],
                timeout: timeout + Duration::from_secs(1),
                probe: Probe::Http(probe),
            },
            &label,
        );
        Ok(())
    }
}

/// An HTTP request from its config: method, query, headers (secret-looking ones masked), body,
/// client options, the way it is sent and what it captures. Shared by `[[preflight.http]]`,
/// `[[verify.http]]` and rollback hooks. `${captured.…}` is accepted when the caller has set
/// `resolver.captured`.
pub fn http_probe(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    url: crate::config::interp::Interpolated,
    default_timeout: Duration,
) -> Result<HttpProbe, InputError> {
    let problem = url_problem(&url);
    // Empty because a variable is unset: the environment's failure, reported by the check.
    // Not a URL at all: the input is wrong, and nothing runs.
    if problem.is_some() && !url.value.trim().is_empty() && url.captured.is_empty() {
        return Err(resolver
            .error(&http.url.span, problem.unwrap_or_default())
            .help("write a full URL such as https://api.example.com/health"));
    }
    let method = http_method(resolver, http.method.as_deref(), &http.span)?;
    let mut headers = request_headers(resolver, &http.headers)?;
    let mut query = Vec::new();
    for (name, value) in &http.query {
        let value = resolver.string(value)?;
        if name_looks_secret(name) {
            resolver.secrets.add(&value);
        }
        query.push((name.clone(), value));
    }
    let body = request_body(resolver, http, &mut headers)?;
    let consecutive = consecutive(resolver, http.consecutive.as_ref(), &http.span)?;
    // `${captured.…}` is filled into what is sent, never into what is expected: from here on,
    // the resolver refuses it (the caller gets the names met so far back at the end).
    let captured_names = resolver.captured.take();
    let uses_captured = captured_names.as_ref().is_some_and(|c| !c.is_empty());
    let rest = http_probe_rest(resolver, http, default_timeout);
    resolver.captured = captured_names;
    let rest = rest?;
    if !http.capture.is_empty() && matches!(rest.mode, Mode::Samples(_)) {
        return Err(resolver
            .error(
                &http.span,
                "`capture` takes values from one answer, and `samples` sends many",
            )
            .help("capture in a check of its own (the login), and list it in this one's `needs`"));
    }
    Ok(HttpProbe {
        url: url.value,
        method,
        headers,
        query,
        body,
        uses_captured,
        problem,
        timeout: rest.timeout,
        client: rest.client,
        insecure: rest.insecure,
        expect: rest.expect,
        retry: rest.retry,
        consecutive,
        mode: rest.mode,
        captures: rest.captures,
    })
}

/// What an HTTP check expects and how it sends: the parts that cannot hold captured values.
struct ProbeRest {
    timeout: Duration,
    insecure: bool,
    expect: Expectations,
    retry: Option<Retry>,
    mode: Mode,
    client: Option<reqwest::Client>,
    captures: Vec<crate::checks::http::Capture>,
}

/// `consecutive`: passes in a row needed, 1 to 1000 (default 1).
pub(super) fn consecutive(
    resolver: &mut Resolver<'_>,
    setting: Option<&crate::config::Typed<u32>>,
    span: &std::ops::Range<usize>,
) -> Result<u32, InputError> {
    let consecutive = resolver.value_or(setting, 1)?;
    if !(1..=1000).contains(&consecutive) {
        return Err(resolver
            .error(span, format!("consecutive = {consecutive}: give 1 to 1000"))
            .help("the number of passes in a row needed, e.g. consecutive = 3"));
    }
    Ok(consecutive)
}

/// The shortest wait between two attempts: a `0s` interval would hammer the service (1,600
/// requests in 2 s) and prove nothing a 100 ms one does not.
const MIN_RETRY_INTERVAL: Duration = Duration::from_millis(100);

pub(super) fn retry(resolver: &mut Resolver<'_>, r: &RetryConfig) -> Result<Retry, InputError> {
    let timeout = resolver.duration(&r.timeout)?;
    let interval = resolver.duration_or(r.interval.as_ref(), Duration::from_secs(1))?;
    if interval < MIN_RETRY_INTERVAL
        && let Some(text) = &r.interval
    {
        return Err(resolver
            .error(
                &text.span,
                format!(
                    "retry interval {} is below the floor of {}",
                    crate::units::format_duration(interval),
                    crate::units::format_duration(MIN_RETRY_INTERVAL)
                ),
            )
            .help(format!(
                "wait at least {} between attempts, e.g. interval = \"500ms\"",
                crate::units::format_duration(MIN_RETRY_INTERVAL)
            )));
    }
    let backoff = resolver.value_or(r.backoff.as_ref(), 1.0)?;
    if !(1.0..=10.0).contains(&backoff)
        && let Some(b) = &r.backoff
    {
        return Err(resolver
            .error(&b.span, format!("backoff = {backoff}: give 1 to 10"))
            .help("the factor the interval grows by after each attempt, e.g. backoff = 1.5"));
    }
    Ok(Retry {
        timeout,
        interval,
        backoff,
    })
}

fn http_probe_rest(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    default_timeout: Duration,
) -> Result<ProbeRest, InputError> {
    let timeout = resolver.duration_or(http.timeout.as_ref(), default_timeout)?;
    let mut expect = expectations(resolver, http)?;
    let retry = match &http.retry {
        Some(r) => Some(retry(resolver, r)?),
        None => None,
    };
    let mode = send_mode(resolver, http, &mut expect)?;
    let redirects = resolver.value_or(http.redirects.as_ref(), 0)?;
    let insecure = resolver.value_or(http.insecure.as_ref(), false)?;
    let ca_file = resolver.optional_path(http.ca_file.as_ref())?;
    let client = if redirects > 0 || ca_file.is_some() || insecure {
        let mut options = crate::http_client::ClientOptions {
            redirects,
            insecure,
            ..Default::default()
        };
        if let (Some(path), Some(file)) = (&ca_file, &http.ca_file) {
            let pem =
                crate::files::read_bounded(path, crate::files::PAYLOAD_LIMIT).map_err(|e| {
                    let path = path.display();
                    resolver.error(&file.span, format!("cannot read the CA file {path}: {e}"))
                })?;
            let path = path.display();
            options.extra_roots = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| {
                    resolver.error(&file.span, format!("{path} holds no PEM certificate"))
                })?;
        }
        Some(crate::http_client::client_with(&options).map_err(|e| {
            resolver.error(&http.span, format!("cannot set up the HTTP client: {e}"))
        })?)
    } else {
        None
    };
    let mut captures = Vec::new();
    for (name, path) in &http.capture {
        let path_text = resolver.string(path)?;
        let parsed = serde_json_path::JsonPath::parse(&path_text).map_err(|e| {
            resolver.error(
                &path.span,
                format!("capture `{name}`: `{path_text}` is not JSONPath: {e}"),
            )
        })?;
        captures.push(crate::checks::http::Capture {
            name: name.clone(),
            path_text,
            path: parsed,
        });
    }
    Ok(ProbeRest {
        timeout,
        insecure,
        expect,
        retry,
        mode,
        client,
        captures,
    })
}

/// `--header 'Name: value'`. The value never appears in an error: it is often a token.
pub fn header_flag(header: &str) -> Result<(String, String), InputError> {
    let shown: String = header
        .chars()
        .take_while(|c| !matches!(c, ':' | '=' | ' '))
        .collect();
    let refuse = |why: &str| {
        InputError::new(format!("--header `{shown}…` {why}"))
            .key("--header")
            .help("write --header 'Name: value' (the value is not shown here: it may be a secret)")
    };
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| refuse("is not `Name: value`"))?;
    // Name and value are checked with every other request header, by request_headers.
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// A request method as written (any case; default GET).
pub fn http_method(
    resolver: &Resolver<'_>,
    method: Option<&str>,
    span: &std::ops::Range<usize>,
) -> Result<reqwest::Method, InputError> {
    let text = method.unwrap_or("GET").to_ascii_uppercase();
    reqwest::Method::from_bytes(text.as_bytes()).map_err(|_| {
        resolver
            .error(span, format!("`{text}` is not an HTTP method"))
            .help("e.g. GET, POST, PUT, DELETE, HEAD")
    })
}

/// Why a check cannot use its URL: empty (its variable unset) or not a URL. Reported by the
/// check, so the rest of the run goes on.
fn url_problem(url: &crate::config::interp::Interpolated) -> Option<String> {
    if url.value.trim().is_empty() {
        Some(if url.unset.is_empty() {
            "the URL is empty".to_string()
        } else {
            format!("the URL is empty: {} is not set", url.unset.join(", "))
        })
    } else {
        url::Url::parse(&url.value)
            .err()
            .map(|e| format!("`{}` is not a URL: {e}", mask_url(&url.value)))
    }
}

/// Request headers, their values kept as secrets; a secret-looking header's value (and the
/// credential after `Bearer `) is masked in all output.
pub fn request_headers(
    resolver: &mut Resolver<'_>,
    given: &indexmap::IndexMap<String, Text>,
) -> Result<Vec<(String, Secret)>, InputError> {
    let mut headers = Vec::new();
    for (header, text) in given {
        let value = resolver.string(text)?;
        // Checked here, once, for every kind that sends headers: at send time it would be an
        // unplaced "builder error", retried for a whole retry window.
        let problem = if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            Some(format!(
                "`{header}` is not a valid HTTP header name (letters, digits and `-`, e.g. X-LP-ID)"
            ))
        } else if reqwest::header::HeaderValue::from_str(&value).is_err() {
            Some(format!(
                "the value of header {header} is not valid in HTTP (a control character or line break?)"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            let err = resolver.error(&text.span, problem);
            // From a flag there is no file position: name the flag.
            return Err(if text.is_unplaced() {
                err.key("--header")
            } else {
                err
            });
        }
        // A `${captured.…}` placeholder is not the secret; the value filled in is, and joins
        // the secrets when it is captured.
        if name_looks_secret(header) && !value.contains("${captured.") {
            resolver.secrets.add(&value);
            if let Some((_, credential)) = value.split_once(' ') {
                resolver.secrets.add(credential);
            }
        }
        headers.push((header.clone(), Secret::new(value)));
    }
    Ok(headers)
}

/// The body of a request: text, JSON written as TOML, or a file; JSON sets its content type
/// unless a header does.
fn request_body(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    headers: &mut Vec<(String, Secret)>,
) -> Result<Option<Body>, InputError> {
    let given = [
        http.body.is_some(),
        http.json.is_some(),
        http.body_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(resolver
            .error(
                &http.span,
                "a request has one body: `body`, `json` or `body_file`",
            )
            .help("keep one of them"));
    }
    if let Some(body) = &http.body {
        return Ok(Some(Body::Text(resolver.string(body)?)));
    }
    if let Some(file) = &http.body_file {
        let path = resolver.string(file)?;
        return crate::files::read_text_bounded(
            std::path::Path::new(&path),
            crate::files::PAYLOAD_LIMIT,
        )
        .map(|b| Some(Body::Text(b)))
        .map_err(|e| resolver.error(&file.span, format!("cannot read the body file {path}: {e}")));
    }
    let Some(json) = &http.json else {
        return Ok(None);
    };
    let value = interpolate_json(resolver, &json.value, &json.span)?;
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), Secret::new("application/json")));
    }
    Ok(Some(Body::Json(value)))
}

/// `${VAR}` in every string of a JSON body (keys stay as written).
fn interpolate_json(
    resolver: &mut Resolver<'_>,
    value: &serde_json::Value,
    span: &std::ops::Range<usize>,
) -> Result<serde_json::Value, InputError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(resolver.string(&Located {
            value: s.clone(),
            span: span.clone(),
        })?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| interpolate_json(resolver, v, span))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), interpolate_json(resolver, v, span)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Once, `samples` times, or twice for a cache. Samples judge latency over the distribution,
/// so `max_latency` becomes their `max`; they do not mix with waiting for health.
fn send_mode(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    expect: &mut Expectations,
) -> Result<Mode, InputError> {
    let sampling_keys = http.latency.is_some() || http.max_error_rate.is_some();
    let Some(count) = resolver.optional(http.samples.as_ref())? else {
        if sampling_keys {
            return Err(resolver
                .error(
                    &http.span,
                    "`latency` and `max_error_rate` judge samples, and `samples` is not set",
                )
                .help("add e.g. `samples = 20`"));
        }
        return Ok(match http.expect_cached {
            Some(mode) => Mode::Cache(mode),
            None => Mode::Once,
        });
    };
    if count == 0 || count > 10_000 {
        return Err(resolver.error(&http.span, format!("samples = {count}: give 1 to 10000")));
    }
    if http.retry.is_some() || http.consecutive.is_some() || http.expect_cached.is_some() {
        return Err(resolver
            .error(
                &http.span,
                "`samples` does not mix with `retry`, `consecutive` or `expect_cached`",
            )
            .help("wait for health in a check of its own, and list it in this one's `needs`"));
    }
    let mut sampling = Sampling {
        count,
        max: expect.max_latency.take(),
        ..Default::default()
    };
    if let Some(latency) = &http.latency {
        let limit =
            |r: &mut Resolver<'_>, t: &Option<Text>| t.as_ref().map(|t| r.duration(t)).transpose();
        sampling.p50 = limit(resolver, &latency.p50)?;
        sampling.p95 = limit(resolver, &latency.p95)?;
        sampling.p99 = limit(resolver, &latency.p99)?;
        if let Some(max) = limit(resolver, &latency.max)? {
            sampling.max = Some(max);
        }
    }
    if let Some(rate) = &http.max_error_rate {
        sampling.max_error_rate = parse_error_rate(rate)
            .map_err(|e| resolver.error(&http.span, format!("max_error_rate: {e}")))?;
    }
    Ok(Mode::Samples(sampling))
}

/// Why a `max_error_rate` was refused.
#[derive(Debug, PartialEq)]
enum ErrorRateError {
    NotPercentage(String),
    NotRate(String),
    OutOfRange(f64),
}

impl std::fmt::Display for ErrorRateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorRateError::NotPercentage(t) => write!(f, "`{t}` is not a percentage"),
            ErrorRateError::NotRate(t) => {
                write!(f, "`{t}` is not a rate; write e.g. \"0.1%\" or 0.001")
            }
            ErrorRateError::OutOfRange(value) => {
                write!(f, "{value} is not between 0 and 1 (0% and 100%)")
            }
        }
    }
}

/// `0.001`, `"0.1%"`: a fraction from 0 to 1.
fn parse_error_rate(rate: &RateText) -> Result<f64, ErrorRateError> {
    let value = match rate {
        RateText::Fraction(f) => *f,
        RateText::Text(t) => match t.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| ErrorRateError::NotPercentage(t.clone()))?,
            None => t
                .trim()
                .parse::<f64>()
                .map_err(|_| ErrorRateError::NotRate(t.clone()))?,
        },
    };
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ErrorRateError::OutOfRange(value))
    }
}

/// What a text must hold (a response body, a command's output): each expectation parsed once,
/// an error placed on its key. Shared by HTTP and command checks.
pub(super) fn text_expect(
    resolver: &mut Resolver<'_>,
    contains: &[Text],
    matches: &[Text],
    json: &[Text],
) -> Result<TextExpect, InputError> {
    let mut expect = TextExpect::default();
    for text in contains {
        expect.contains.push(resolver.string(text)?);
    }
    for pattern in matches {
        expect.matches.push(resolver.regex(pattern)?);
    }
    for assertion in json {
        let text = resolver.string(assertion)?;
        expect
            .json
            .push(JsonAssertion::parse(&text).map_err(|e| resolver.error(&assertion.span, e))?);
    }
    Ok(expect)
}

/// The expectations of an HTTP check, each parsed once with an error placed on its key.
fn expectations(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
) -> Result<Expectations, InputError> {
    let err = |r: &Resolver<'_>, e: String| r.error(&http.span, e);
    let mut expect = Expectations::default();
    for s in &http.expect_status {
        let parsed = match s {
            StatusText::Code(c) => StatusExpect::parse(&c.to_string()),
            StatusText::Text(t) => StatusExpect::parse(t),
        };
        expect
            .status
            .push(parsed.map_err(|e| resolver.error(&http.span, e))?);
    }
    for (name, want) in &http.expect_headers {
        let want = resolver.string(want)?;
        expect.headers.push(if want == "present" {
            HeaderExpect::Present(name.clone())
        } else if let Some(pattern) = want.strip_prefix('~') {
            HeaderExpect::Matches(
                name.clone(),
                regex::Regex::new(pattern).map_err(|e| {
                    err(
                        resolver,
                        format!("expect_headers.{name}: invalid regex: {e}"),
                    )
                })?,
            )
        } else {
            HeaderExpect::Equals(name.clone(), want.clone())
        });
    }
    expect.body = text_expect(
        resolver,
        &http.body_contains,
        &http.body_matches,
        &http.expect_json,
    )?;
    expect.max_latency = http
        .max_latency
        .as_ref()
        .map(|t| resolver.duration(t))
        .transpose()?;
    Ok(expect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_error_rate(&RateText::Text("0.1%".into())), Ok(0.001));
        assert_eq!(parse_error_rate(&RateText::Fraction(0.05)), Ok(0.05));
        assert_eq!(parse_error_rate(&RateText::Text("0.02".into())), Ok(0.02));
        assert_eq!(
            parse_error_rate(&RateText::Text("150%".into()))
                .unwrap_err()
                .to_string(),
            "1.5 is not between 0 and 1 (0% and 100%)"
        );
        assert!(parse_error_rate(&RateText::Text("lots".into())).is_err());
    }
}
