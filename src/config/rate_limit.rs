//! `[rate_limit]`: rate limiters to prove, one `[[rate_limit.target]]` each.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::located::{Located, Text};
use super::setting::Typed;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The most requests one target may send (default 10000). A larger `requests` is refused
    /// unless this is raised here, on purpose.
    pub max_requests: Option<Typed<u32>>,
    #[serde(default)]
    pub target: Vec<Located<TargetConfig>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Fail,
}

/// `[[rate_limit.target]]`: one endpoint and what its limiter must do.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Used in result ids: `rate-limit.<name>`. Default: the URL's host.
    pub name: Option<String>,
    pub url: Text,
    /// Default `GET`.
    pub method: Option<String>,
    /// Request headers; values may use `${VAR}`. Secret-looking ones are never printed.
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    pub body: Option<Text>,
    /// Extra trusted CA certificate (PEM) for https, besides the system's.
    pub ca_file: Option<Text>,
    /// Requests to send (default 150).
    pub requests: Option<Typed<u32>>,
    /// Requests in flight at once (default 1: one after another, as a curl loop).
    pub concurrency: Option<Typed<u32>>,
    /// Open loop at this rate instead, e.g. `"50/s"`, `"600/m"`.
    pub rate: Option<Text>,
    /// Stop sending after this long (default `60s`).
    pub max_duration: Option<Text>,
    /// Deadline of each request (default `10s`).
    pub timeout: Option<Text>,
    /// Successes expected before the first limited response.
    pub expect_limit: Option<Typed<u32>>,
    /// Accepted distance from `expect_limit` (default 0).
    pub tolerance: Option<Typed<u32>>,
    /// The limiter's window, e.g. `"60s"` (default: the advertised policy's `w`).
    pub window: Option<Text>,
    /// The status of a limited response (default 429).
    pub limited_status: Option<Typed<u16>>,
    /// A limited response without `Retry-After`: `"warn"` (default) or `"fail"`.
    pub missing_retry_after: Option<Severity>,
    /// After the limit: wait for `Retry-After` (or the window), then one request must pass.
    pub verify_recovery: Option<Typed<bool>>,
    /// The longest wait for recovery (default `2m`).
    pub max_wait: Option<Text>,
    /// After the limit: requests with rotated `X-Forwarded-For`, and without it, must stay
    /// limited; if they pass, the limiter is keyed on a header the client controls.
    pub probe_bypass: Option<Typed<bool>>,
}
