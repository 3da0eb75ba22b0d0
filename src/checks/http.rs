//! An HTTP endpoint answers as expected: status, headers, body, JSON, latency; optionally
//! retried until it does (waiting for health) and required to pass several times in a row.

use std::time::{Duration, Instant};

use super::expect::{Expectations, Response, excerpt};
use super::{Context, Finding};
use crate::secret::{Secret, mask_url};
use crate::units::format_duration;

/// Bodies are read up to this size: a health endpoint that streams megabytes is a finding, not
/// a reason to run out of memory.
pub const MAX_BODY: usize = 1024 * 1024;

/// Keep trying until the expectations hold.
#[derive(Clone, Debug)]
pub struct Retry {
    pub timeout: Duration,
    pub interval: Duration,
    pub backoff: f64,
}

pub struct HttpProbe {
    pub url: String,
    pub method: reqwest::Method,
    pub expect: Expectations,
    /// Header values are secrets until proven otherwise: they often carry tokens.
    pub headers: Vec<(String, Secret)>,
    pub body: Option<String>,
    pub timeout: Duration,
    pub retry: Option<Retry>,
    /// Passes in a row needed (at least 1).
    pub consecutive: u32,
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
            .finish()
    }
}

/// One request's outcome.
struct Attempt {
    status: Option<u16>,
    latency: Duration,
    /// Unmet expectations (or the transport error), each a sentence.
    failures: Vec<String>,
    excerpt: Option<String>,
}

impl HttpProbe {
    pub async fn run(&self, ctx: &Context) -> Finding {
        if let Some(problem) = &self.problem {
            return Finding::fail(problem.clone());
        }
        let started = Instant::now();
        let deadline = self.retry.as_ref().map(|r| started + r.timeout);
        let mut interval = self.retry.as_ref().map_or(Duration::ZERO, |r| r.interval);
        let (mut attempts, mut in_a_row) = (0u32, 0u32);
        let needed = self.consecutive.max(1);
        loop {
            attempts += 1;
            let attempt = self.once(ctx).await;
            if attempt.failures.is_empty() {
                in_a_row += 1;
            } else {
                in_a_row = 0;
            }
            let done = in_a_row >= needed;
            // Bounded: by the retry timeout, or by the passes needed without one (at most `needed`
            // attempts when every one passes, one when it fails).
            let out_of_time = match deadline {
                Some(d) => Instant::now() + interval > d,
                None => !attempt.failures.is_empty() || attempts >= needed,
            };
            if done || out_of_time {
                return self.finding(attempt, attempts, done, started.elapsed());
            }
            tokio::time::sleep(interval).await;
            if let Some(r) = &self.retry {
                interval = interval.mul_f64(r.backoff.clamp(1.0, 10.0)).min(r.timeout);
            }
        }
    }

    fn finding(&self, last: Attempt, attempts: u32, passed: bool, total: Duration) -> Finding {
        let what = format!("{} {}", self.method, mask_url(&self.url));
        let tries = if attempts > 1 {
            format!(" ({attempts} attempts over {})", format_duration(total))
        } else {
            String::new()
        };
        let finding = if passed {
            Finding::pass(format!(
                "{what} answered {} in {}{tries}",
                last.status.unwrap_or(0),
                format_duration(last.latency)
            ))
        } else {
            match (last.status, last.failures.as_slice()) {
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
            .detail("latency_ms", crate::units::millis(last.latency))
            .detail("expected", self.expect.status_text())
            .detail("attempts", attempts)
            .took(total);
        if let Some(status) = last.status {
            finding = finding.detail("status", status);
        }
        if !passed {
            if !last.failures.is_empty() {
                finding = finding.detail("failures", last.failures.clone());
            }
            if let Some(body) = last.excerpt {
                finding = finding.detail("body_excerpt", body);
            }
        }
        finding
    }

    async fn once(&self, ctx: &Context) -> Attempt {
        let mut request = ctx
            .http
            .request(self.method.clone(), &self.url)
            .timeout(self.timeout);
        for (name, value) in &self.headers {
            request = request.header(name, value.expose());
        }
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let started = Instant::now();
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("did not answer within {}", format_duration(self.timeout))
                } else {
                    format!("failed: {}", error_chain(&e.without_url()))
                };
                return Attempt {
                    status: None,
                    latency: started.elapsed(),
                    failures: vec![why],
                    excerpt: None,
                };
            }
        };
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // Read at most MAX_BODY (+1 byte, to know it was larger), within the request timeout.
        let mut bytes = Vec::new();
        let mut too_large = false;
        let read = tokio::time::timeout(self.timeout, async {
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
        let body: Result<String, String> = match read {
            Err(_) => Err(format!(
                "the body did not arrive within {}",
                format_duration(self.timeout)
            )),
            Ok(Err(e)) => Err(format!(
                "reading the body failed: {}",
                error_chain(&e.without_url())
            )),
            Ok(Ok(())) if too_large => Err(format!(
                "the body is larger than {}",
                crate::units::format_size(MAX_BODY as u64)
            )),
            Ok(Ok(())) => String::from_utf8(bytes).map_err(|e| {
                format!(
                    "the body is not UTF-8 (invalid byte at {})",
                    e.utf8_error().valid_up_to()
                )
            }),
        };
        let failures = self.expect.failures(&Response {
            status,
            headers: &headers,
            body: body.as_deref().map_err(Clone::clone),
            latency,
        });
        Attempt {
            status: Some(status),
            latency,
            excerpt: body.ok().map(|b| excerpt(&b, 500)),
            failures,
        }
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
