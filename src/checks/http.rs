//! An HTTP dependency answers with an expected status.

use std::time::{Duration, Instant};

use super::{Context, Finding};
use crate::secret::{Secret, mask_url};
use crate::units::format_duration;

pub struct HttpProbe {
    pub url: String,
    pub method: reqwest::Method,
    /// Accepted statuses; empty means any 2xx.
    pub expect_status: Vec<u16>,
    /// Header values are secrets until proven otherwise: they often carry tokens.
    pub headers: Vec<(String, Secret)>,
    pub body: Option<String>,
    pub timeout: Duration,
    /// Why the URL cannot be used (e.g. its variable is unset).
    pub problem: Option<String>,
}

/// The URL may carry credentials: Debug shows it masked, and no header values.
impl std::fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProbe")
            .field("url", &mask_url(&self.url))
            .field("method", &self.method)
            .field("expect_status", &self.expect_status)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HttpProbe {
    pub async fn run(&self, ctx: &Context) -> Finding {
        if let Some(problem) = &self.problem {
            return Finding::fail(problem.clone());
        }
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
        let response = request.send().await;
        let elapsed = started.elapsed();
        let shown = mask_url(&self.url);
        let what = format!("{} {shown}", self.method);
        let finding = match response {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let expected = self.expected_text();
                let ok = if self.expect_status.is_empty() {
                    resp.status().is_success()
                } else {
                    self.expect_status.contains(&status)
                };
                if ok {
                    Finding::pass(format!(
                        "{what} answered {status} in {}",
                        format_duration(elapsed)
                    ))
                } else {
                    Finding::fail(format!(
                        "{what} answered {status}, expected {expected} ({})",
                        format_duration(elapsed)
                    ))
                }
                .detail("status", status)
                .detail("expected", expected)
            }
            Err(e) if e.is_timeout() => Finding::fail(format!(
                "{what} did not answer within {}",
                format_duration(self.timeout)
            )),
            Err(e) => Finding::fail(format!("{what} failed: {}", error_chain(&e.without_url()))),
        };
        finding
            .detail("url", shown)
            .detail("latency_ms", crate::units::millis(elapsed))
            .took(elapsed)
    }

    fn expected_text(&self) -> String {
        if self.expect_status.is_empty() {
            "2xx".into()
        } else {
            self.expect_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
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
