//! A rate-limit target resolved from `[[rate_limit.target]]` (or the command's flags): the
//! request, the load, and what to expect of the limiter.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::analyze::Expect;
use super::send::{Load, Request};
use crate::checks::id_part;
use crate::config::rate_limit::{Severity, TargetConfig};
use crate::config::{Located, Resolver};
use crate::error::InputError;
use crate::report::{Location, Status};
use crate::secret::mask_url;
use crate::units::parse_rate;

const DEFAULT_REQUESTS: u32 = 150;

/// One target, resolved.
pub struct Target {
    pub id: String,
    pub label: String,
    pub location: Option<Location>,
    pub shown_url: String,
    pub request: Request,
    pub load: Load,
    pub expect: Expect,
    /// `--verify-recovery`: the longest wait.
    pub recovery: Option<Duration>,
    pub probe_bypass: bool,
}

impl Target {
    /// Every result id this target reports.
    pub fn ids(&self) -> Vec<String> {
        let mut ids = vec![self.id.clone(), format!("{}.headers", self.id)];
        if self.probe_bypass {
            ids.push(format!("{}.bypass", self.id));
        }
        if self.recovery.is_some() {
            ids.push(format!("{}.recovery", self.id));
        }
        ids
    }
}

pub fn resolve(
    resolver: &mut Resolver<'_>,
    config: &Located<TargetConfig>,
    cap: u32,
) -> Result<Target, InputError> {
    let location = resolver.table_location(&config.span);
    let url_text = resolver.string(&config.url)?;
    let url = reqwest::Url::parse(&url_text).map_err(|e| {
        resolver.error(
            &config.url.span,
            format!("`{}` is not a URL: {e}", mask_url(&url_text)),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(resolver.error(
            &config.url.span,
            format!("`{}` is not an http(s) URL", mask_url(&url_text)),
        ));
    }
    let ca_file = resolver.optional_path(config.ca_file.as_ref())?;
    crate::ratelimit::conn::Endpoint::new(&url, ca_file.as_deref())
        .map_err(|e| resolver.error(&config.span, e))?;
    let label = config
        .name
        .clone()
        .unwrap_or_else(|| url.host_str().unwrap_or("target").to_string());
    let method = crate::plan::http::http_method(resolver, config.method.as_deref(), &config.span)?;
    let mut headers = HeaderMap::new();
    for (name, value) in crate::plan::http::request_headers(resolver, &config.headers)? {
        // Both checked by request_headers.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.expose()),
        ) {
            headers.append(name, value);
        }
    }
    let body = config
        .body
        .as_ref()
        .map(|b| resolver.string(b).map(bytes::Bytes::from))
        .transpose()?;
    let requests = resolver.value_or(config.requests.as_ref(), DEFAULT_REQUESTS)?;
    if requests == 0 {
        return Err(resolver.error(&config.span, "requests = 0: nothing would be sent"));
    }
    if requests > cap {
        return Err(resolver
            .error(
                &config.span,
                format!("{requests} requests is above the cap of {cap} per target"),
            )
            .help("raise it on purpose in the config: [rate_limit] max_requests = N"));
    }
    let rate = config
        .rate
        .as_ref()
        .map(|r| {
            let text = resolver.string(r)?;
            parse_rate(&text).map_err(|e| resolver.error(&r.span, e))
        })
        .transpose()?;
    let concurrency = match (resolver.optional(config.concurrency.as_ref())?, rate) {
        (Some(0), _) => return Err(resolver.error(&config.span, "concurrency must be at least 1")),
        (Some(c), _) => c,
        // Open loop: in flight is bounded, generously, so a stalled server cannot take every socket.
        (None, Some(_)) => 256,
        (None, None) => 1,
    };
    if concurrency > 1000 {
        return Err(resolver.error(
            &config.span,
            format!("concurrency = {concurrency}: at most 1000 requests in flight"),
        ));
    }
    let max_duration =
        resolver.duration_or(config.max_duration.as_ref(), Duration::from_secs(60))?;
    let timeout = resolver.duration_or(config.timeout.as_ref(), Duration::from_secs(10))?;
    let window = config
        .window
        .as_ref()
        .map(|w| resolver.duration(w))
        .transpose()?;
    let max_wait = resolver.duration_or(config.max_wait.as_ref(), Duration::from_secs(120))?;
    Ok(Target {
        id: format!("rate-limit.{}", id_part(&label)),
        label,
        location,
        shown_url: mask_url(&url_text),
        request: Request {
            method,
            url,
            headers,
            body,
            timeout,
            ca_file,
        },
        load: Load {
            requests,
            concurrency,
            rate,
            max_duration,
        },
        expect: Expect {
            limit: resolver.optional(config.expect_limit.as_ref())?,
            tolerance: resolver.value_or(config.tolerance.as_ref(), 0)?,
            window,
            limited_status: resolver.value_or(config.limited_status.as_ref(), 429)?,
            missing_retry_after: match config.missing_retry_after {
                Some(Severity::Fail) => Status::Fail,
                _ => Status::Warn,
            },
            sequential: concurrency == 1 && rate.is_none(),
        },
        recovery: resolver
            .value_or(config.verify_recovery.as_ref(), false)?
            .then_some(max_wait),
        probe_bypass: resolver.value_or(config.probe_bypass.as_ref(), false)?,
    })
}
