//! `shipgate rate-limit-test`: a bounded burst against each target, then what it proves — the
//! limit, the headers, recovery after `Retry-After`, and whether a client can dodge the limiter
//! by changing `X-Forwarded-For`. Glue: targets are resolved by `ratelimit::target`, sent by
//! `ratelimit::send`, judged by `ratelimit::analyze` and `ratelimit::probe`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use super::{Inputs, Outcome, Reproduce};
use crate::checks::{Aspect, Finding, Selection};
use crate::cli::{GlobalArgs, RateLimitArgs};
use crate::config::rate_limit::{Severity, TargetConfig};
use crate::config::{Located, Resolver, Text, Typed};
use crate::error::InputError;
use crate::ratelimit::probe;
use crate::ratelimit::send;
use crate::ratelimit::target::{Target, resolve};
use crate::report::{CheckResult, Status};
use crate::units::{format_duration, plural};

/// Requests one target may send unless `[rate_limit] max_requests` raises it.
const DEFAULT_MAX_REQUESTS: u32 = 10_000;
/// What `max_requests` may be raised to: a million samples are ~60 MB; four billion were 240 GB.
const HARD_MAX_REQUESTS: u32 = 1_000_000;

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
            results.push(dry_run_result(target));
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
            let aspect = Aspect::new(
                id,
                format!("rate limit {}: {title}", target.label),
                target.location.clone(),
            );
            let duration = finding.duration.unwrap_or_default();
            results.push(finding.into_result("rate-limit", aspect, duration));
        }
    }
    Ok(super::finish(
        "rate-limit-test",
        global,
        inputs,
        started,
        results,
        Reproduce::EachById,
        resolver.secrets,
    ))
}

/// `--dry-run`: what would be sent, and nothing sent.
fn dry_run_result(target: &Target) -> CheckResult {
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
    probe::judge(target, &run).await
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
