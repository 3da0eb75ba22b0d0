//! `shipgate rate-limit-test`: a bounded burst against each target, then what it proves — the
//! limit, the headers, recovery after `Retry-After`, and whether a client can dodge the limiter
//! by changing `X-Forwarded-For`. Glue: sending is in `ratelimit::send`, judging in
//! `ratelimit::analyze`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Inputs, Outcome};
use crate::checks::{Aspect, Finding, Selection, id_part};
use crate::cli::{GlobalArgs, RateLimitArgs};
use crate::config::rate_limit::{Severity, TargetConfig};
use crate::config::{Located, Resolver, Text, Typed};
use crate::error::InputError;
use crate::ratelimit::analyze::{self, Expect};
use crate::ratelimit::send::{self, Load, Request, Single};
use crate::report::{CheckResult, Location, Report, Status};
use crate::secret::mask_url;
use crate::units::{format_duration, parse_rate, plural};

/// Requests one target may send unless `[rate_limit] max_requests` raises it.
const DEFAULT_MAX_REQUESTS: u32 = 10_000;
/// What `max_requests` may be raised to: a million samples are ~60 MB; four billion were 240 GB.
const HARD_MAX_REQUESTS: u32 = 1_000_000;
const DEFAULT_REQUESTS: u32 = 150;
/// Addresses from the documentation ranges (RFC 5737): they reach no one.
const SPOOFED: [&str; 4] = ["192.0.2.10", "198.51.100.10", "192.0.2.11", "198.51.100.11"];

/// One target, resolved.
struct Target {
    id: String,
    label: String,
    location: Option<Location>,
    shown_url: String,
    request: Request,
    load: Load,
    expect: Expect,
    /// `--verify-recovery`: the longest wait.
    recovery: Option<Duration>,
    probe_bypass: bool,
}

pub async fn run(
    global: &GlobalArgs,
    args: &RateLimitArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let section = inputs.config.config.rate_limit.as_ref();
    let mut resolver = Resolver::new(&inputs.env, inputs.config.source.as_ref());
    let cap = resolver.value_or(
        section.and_then(|s| s.max_requests.as_ref()),
        DEFAULT_MAX_REQUESTS,
    )?;
    if cap > HARD_MAX_REQUESTS {
        let span = section
            .and_then(|s| s.max_requests.as_ref())
            .map(|m| m.span.clone())
            .unwrap_or_default();
        return Err(resolver
            .error(
                &span,
                format!("max_requests = {cap} is above the ceiling of {HARD_MAX_REQUESTS} requests per target"),
            )
            .help("a rate limiter shows itself within thousands of requests; this ceiling keeps a typo from becoming a load test"));
    }
    let mut targets = Vec::new();
    if let Some(url) = &args.url {
        let config = Located::unplaced(from_flags(url, args)?);
        targets.push(resolve(&mut resolver, &config, cap)?);
    } else {
        for config in section.map(|s| s.target.as_slice()).unwrap_or_default() {
            targets.push(resolve(&mut resolver, config, cap)?);
        }
    }
    if targets.is_empty() {
        return Err(InputError::new(
            "nothing to test: no URL and no [[rate_limit.target]] in the config",
        )
        .help("e.g. shipgate rate-limit-test https://api.example.com/api/lp/health --expect-limit 100"));
    }
    let mut ids = std::collections::HashSet::new();
    for t in &targets {
        if !ids.insert(t.id.clone()) {
            return Err(
                InputError::new(format!("two rate-limit targets are named `{}`", t.label))
                    .at(t.location.clone())
                    .help("give each a distinct `name`"),
            );
        }
    }
    let selection = Selection {
        only: global.only.clone(),
        skip: global.skip.clone(),
    };
    // Checked before any traffic: a typo in --only must not cost a burst.
    let ids: Vec<String> = targets.iter().flat_map(Target::ids).collect();
    selection.validate_ids(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
    // A probe whose result is not wanted is not sent either.
    for t in &mut targets {
        t.probe_bypass &= selection.selects(&format!("{}.bypass", t.id));
        if !selection.selects(&format!("{}.recovery", t.id)) {
            t.recovery = None;
        }
    }
    let started = SystemTime::now();
    let show_progress =
        std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() && !global.quiet;
    let mut results = Vec::new();
    let deadline = global.timeout.map(|t| std::time::Instant::now() + t);
    for target in &targets {
        if !target.ids().iter().any(|id| selection.selects(id)) {
            continue;
        }
        if global.dry_run {
            results.push(dry_run_result(target, &inputs.reproduce_base));
            continue;
        }
        // One deadline for the whole run, whatever the number of targets.
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        let findings = match left {
            Some(left) => tokio::time::timeout(left, test(target, show_progress))
                .await
                .unwrap_or_else(|_| {
                    // Reported under the first id the selection keeps, so it cannot vanish.
                    let id = target
                        .ids()
                        .into_iter()
                        .find(|id| selection.selects(id))
                        .unwrap_or_else(|| target.id.clone());
                    vec![(
                        id,
                        "rate limit".to_string(),
                        Finding::new(
                            Status::Error,
                            format!(
                                "did not finish before the overall deadline of {} (raise --timeout, or lower max_duration / max_wait)",
                                format_duration(global.timeout.unwrap_or_default())
                            ),
                        ),
                    )]
                }),
            None => test(target, show_progress).await,
        };
        for (id, title, finding) in findings {
            if !selection.selects(&id) {
                continue;
            }
            let reproduce = format!("{} --only {id}", inputs.reproduce_base);
            let aspect = Aspect::new(
                id,
                format!("rate limit {}: {title}", target.label),
                target.location.clone(),
            );
            let duration = finding.duration.unwrap_or_default();
            let mut result = finding.into_result("rate-limit", aspect, duration);
            result.reproduce = Some(reproduce);
            results.push(result);
        }
    }
    let report = Report::new(
        "rate-limit-test",
        started,
        SystemTime::now(),
        global.strict,
        results,
    );
    Ok(Outcome {
        report,
        secrets: resolver.secrets,
    })
}

impl Target {
    /// Every result id this target reports.
    fn ids(&self) -> Vec<String> {
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

/// `--dry-run`: what would be sent, and nothing sent.
fn dry_run_result(target: &Target, reproduce_base: &str) -> CheckResult {
    let how = match target.load.rate {
        Some(rate) => format!("at {rate}/s"),
        None => format!("{} at a time", target.load.concurrency),
    };
    let mut r = super::step_result(
        "rate-limit",
        &target.id,
        &format!("rate limit {}: limit", target.label),
        Status::Skip,
        format!(
            "would send {} to {} ({how}, for at most {}); dry run: nothing sent",
            plural(target.load.requests as usize, "request", "requests"),
            target.shown_url,
            format_duration(target.load.max_duration)
        ),
    );
    r.location = target.location.clone();
    r.reproduce = Some(format!("{reproduce_base} --only {}", target.id));
    r
}

/// The burst, then (once the limit is reached) the bypass probe, then recovery: a recovered
/// limiter would let the probe's requests through for the wrong reason.
async fn test(target: &Target, show_progress: bool) -> Vec<(String, String, Finding)> {
    let progress: send::Progress = Arc::new(AtomicU32::new(0));
    let bar = show_progress.then(|| ProgressBar(progress_bar(target, Arc::clone(&progress))));
    let run = send::burst(&target.request, &target.load, progress).await;
    let run = match run {
        Ok(run) => run,
        Err(why) => {
            return vec![(
                target.id.clone(),
                "limit".to_string(),
                Finding::fail(format!("cannot send to {}: {why}", target.shown_url)),
            )];
        }
    };
    drop(bar);
    let analysis = analyze::analyze(&run, &target.expect);
    let mut out = vec![
        (
            target.id.clone(),
            "limit".to_string(),
            analysis
                .limit_finding(&target.expect, &run)
                .detail("url", target.shown_url.clone()),
        ),
        (
            format!("{}.headers", target.id),
            "headers".to_string(),
            analysis.headers_finding(&target.expect, &run.samples),
        ),
    ];
    let engaged = analysis.first_limited.is_some();
    if target.probe_bypass {
        let finding = if engaged {
            bypass(target).await
        } else {
            Finding::skip("skipped: the limiter never engaged, so there is nothing to dodge")
        };
        out.push((format!("{}.bypass", target.id), "bypass".into(), finding));
    }
    if let Some(max_wait) = target.recovery {
        let last_limited = run
            .samples
            .iter()
            .rev()
            .find(|s| s.status == Some(target.expect.limited_status));
        let finding = match last_limited {
            None => Finding::skip(
                "skipped: the limiter never engaged, so there is nothing to recover from",
            ),
            Some(sample) => {
                let retry_after = sample
                    .headers
                    .as_ref()
                    .and_then(|h| h.retry_after)
                    .map(|r| (r.delay(SystemTime::now()), "Retry-After"));
                let wait = retry_after.or(analysis.window.map(|w| (w, "the window")));
                recovery(target, wait, max_wait).await
            }
        };
        out.push((
            format!("{}.recovery", target.id),
            "recovery".into(),
            finding,
        ));
    }
    out
}

/// A request of the bypass probe: the target's request with headers set or removed.
struct Probe {
    what: String,
    set: Vec<(HeaderName, HeaderValue)>,
    remove: bool,
}

/// Requests that change only `X-Forwarded-For` (rotated, then removed when the user sent one),
/// each after an unchanged control request: a change that passes while its control is limited
/// is a bypass; a control that passes means the limiter let go meanwhile (inconclusive).
async fn bypass(target: &Target) -> Finding {
    let xff = HeaderName::from_static("x-forwarded-for");
    let limited = target.expect.limited_status;
    let is_pass = |s: &Single| s.status.is_some_and(|s| (200..400).contains(&s));
    let mut probes: Vec<Probe> = SPOOFED
        .iter()
        .map(|ip| Probe {
            what: format!("X-Forwarded-For: {ip}"),
            set: vec![(xff.clone(), HeaderValue::from_static(ip))],
            remove: false,
        })
        .collect();
    if target.request.headers.contains_key(&xff) {
        for _ in 0..2 {
            probes.push(Probe {
                what: "without X-Forwarded-For".into(),
                set: Vec::new(),
                remove: true,
            });
        }
    }
    let is_limited = |s: &Single| s.status == Some(limited);
    let (mut dodged, mut controls_passed, mut unclear) = (Vec::new(), 0, 0);
    for Probe { what, set, remove } in &probes {
        // Controls on both sides: a window that resets between them shows as a control that
        // passes, not as a bypass.
        let before = send::single(&target.request, &[], None).await;
        let probe = send::single(&target.request, set, remove.then_some(&xff)).await;
        let after = send::single(&target.request, &[], None).await;
        if is_pass(&before) || is_pass(&after) {
            controls_passed += 1;
        } else if !is_limited(&before) || !is_limited(&after) {
            unclear += 1;
        } else if is_pass(&probe) {
            dodged.push(what.clone());
        }
    }
    let rotated = SPOOFED.len();
    let removed = probes.len() - rotated;
    let sent = format!(
        "{}{}",
        plural(
            rotated,
            "request with a rotated X-Forwarded-For",
            "requests with rotated X-Forwarded-For values"
        ),
        if removed > 0 {
            format!(" and {removed} without the header")
        } else {
            String::new()
        }
    );
    let finding = if !dodged.is_empty() {
        Finding::fail(format!(
            "the limiter can be dodged: {} of {} passed after the limit while unchanged requests got {limited} ({}): it is keyed on a header the client controls (e.g. Express `trust proxy` = true behind no proxy); key it on the connection's address, or on a header only your own proxy sets",
            dodged.len(),
            probes.len(),
            dodged.join(", ")
        ))
    } else if controls_passed > 0 {
        Finding::warn(format!(
            "inconclusive: unchanged control requests passed during the probe {controls_passed} times (the limiter let go meanwhile); probe a limiter with a longer window"
        ))
    } else if unclear > 0 {
        Finding::warn(format!(
            "inconclusive: {unclear} control requests got neither a pass nor a {limited} (errors or other statuses)"
        ))
    } else {
        Finding::pass(format!("{sent} stayed limited, like the unchanged ones"))
    };
    finding
        .detail("probes", probes.len())
        .detail("dodged", dodged)
        .detail("controls_passed", controls_passed)
        .detail("controls_unclear", unclear)
}

async fn recovery(target: &Target, wait: Option<(Duration, &str)>, max_wait: Duration) -> Finding {
    let Some((wait, from)) = wait else {
        return Finding::fail(
            "cannot tell how long to wait: the limited response had no Retry-After and no window is known (set --window)",
        );
    };
    if wait > max_wait {
        return Finding::fail(format!(
            "{from} asks for {}, longer than the --max-wait of {}",
            format_duration(wait),
            format_duration(max_wait)
        ))
        .detail("wait_ms", wait.as_millis() as u64);
    }
    // A little past the moment, so a limiter whose clock is a tick behind is not caught early.
    let slack = Duration::from_millis(250);
    tokio::time::sleep(wait + slack).await;
    let answer = send::single(&target.request, &[], None).await;
    let waited = format!("after waiting {} ({from})", format_duration(wait));
    let finding = match (answer.status, &answer.error) {
        (Some(status), _) if (200..400).contains(&status) => {
            Finding::pass(format!("answered {status} {waited}"))
        }
        (Some(status), _) => Finding::fail(format!(
            "still answered {status} {waited}: the limiter does not let go when it says it will"
        )),
        (None, error) => Finding::fail(format!(
            "no answer {waited}: {}",
            error.as_deref().unwrap_or("unknown error")
        )),
    };
    finding
        .detail("wait_ms", wait.as_millis() as u64)
        .detail("status", answer.status)
}

/// The bar's task, stopped (and its line cleared) when the burst ends, however it ends.
struct ProgressBar(tokio::task::JoinHandle<()>);

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.0.abort();
        eprint!("\r\x1b[2K");
    }
}

/// A bar on stderr while the burst runs: requests sent of the total.
fn progress_bar(target: &Target, progress: send::Progress) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(u64::from(target.load.requests));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("rate-limit {}", target.label));
    tokio::spawn(async move {
        // Bounded by the burst: the caller aborts this task when the burst returns.
        loop {
            bar.set_position(u64::from(progress.load(Ordering::Relaxed)));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn from_flags(url: &str, args: &RateLimitArgs) -> Result<TargetConfig, InputError> {
    let text = |v: &str| -> Text { Located::unplaced(v.to_string()) };
    let mut headers = indexmap::IndexMap::new();
    for header in &args.header {
        let (name, value) = crate::plan::http::header_flag(header)?;
        headers.insert(name, text(&value));
    }
    Ok(TargetConfig {
        name: None,
        url: text(url),
        method: args.method.clone(),
        headers,
        body: args.body.as_deref().map(text),
        ca_file: args
            .ca_file
            .as_ref()
            .map(|p| text(&p.display().to_string())),
        requests: args.requests.map(Typed::literal),
        concurrency: args.concurrency.map(Typed::literal),
        rate: args.rate.as_deref().map(text),
        max_duration: args.max_duration.as_deref().map(text),
        timeout: args.request_timeout.as_deref().map(text),
        expect_limit: args.expect_limit.map(Typed::literal),
        tolerance: args.tolerance.map(Typed::literal),
        window: args.window.as_deref().map(text),
        limited_status: args.limited_status.map(Typed::literal),
        missing_retry_after: args.missing_retry_after.as_deref().map(|s| match s {
            "fail" => Severity::Fail,
            _ => Severity::Warn,
        }),
        verify_recovery: Some(Typed::literal(args.verify_recovery)),
        max_wait: args.max_wait.as_deref().map(text),
        probe_bypass: Some(Typed::literal(args.probe_bypass)),
    })
}

fn resolve(
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
    let ca_file = config
        .ca_file
        .as_ref()
        .map(|f| resolver.string(f).map(std::path::PathBuf::from))
        .transpose()?;
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
