//! What a burst proves beyond the limit itself: the headers, whether a client can dodge the
//! limiter by changing `X-Forwarded-For`, and recovery after `Retry-After`.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderName, HeaderValue};

use super::analyze;
use super::send::{self, Run, Single};
use super::target::Target;
use crate::checks::Finding;
use crate::units::{format_duration, plural};

/// Addresses from the documentation ranges (RFC 5737): they reach no one.
const SPOOFED: [&str; 4] = ["192.0.2.10", "198.51.100.10", "192.0.2.11", "198.51.100.11"];

/// The findings of a target's burst, each with its id and title: the limit and the headers,
/// then (once the limit is reached) the bypass probe, then recovery: a recovered limiter would
/// let the probe's requests through for the wrong reason.
pub async fn judge(target: &Target, run: &Run) -> Vec<(String, String, Finding)> {
    let analysis = analyze::analyze(run, &target.expect);
    let mut out = vec![
        (
            target.id.clone(),
            "limit".to_string(),
            analysis
                .limit_finding(&target.expect, run)
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
struct Variant {
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
    let mut probes: Vec<Variant> = SPOOFED
        .iter()
        .map(|ip| Variant {
            what: format!("X-Forwarded-For: {ip}"),
            set: vec![(xff.clone(), HeaderValue::from_static(ip))],
            remove: false,
        })
        .collect();
    if target.request.headers.contains_key(&xff) {
        for _ in 0..2 {
            probes.push(Variant {
                what: "without X-Forwarded-For".into(),
                set: Vec::new(),
                remove: true,
            });
        }
    }
    let is_limited = |s: &Single| s.status == Some(limited);
    let (mut dodged, mut controls_passed, mut unclear) = (Vec::new(), 0, 0);
    for Variant { what, set, remove } in &probes {
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
