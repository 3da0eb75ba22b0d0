//! What a burst says about a rate limiter: whether it engaged, after how many requests, whether
//! anything leaked through after it did, and whether its headers tell the truth.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::headers::Syntax;
use super::send::{Run, Sample};
use crate::checks::Finding;
use crate::report::Status;
use crate::units::{Latencies, format_duration, millis, plural};

/// What the limiter is expected to do.
#[derive(Clone, Debug)]
pub struct Expect {
    /// Successes before the first limited response.
    pub limit: Option<u32>,
    pub tolerance: u32,
    /// The limiter's window; `None`: the policy's `w` if advertised, else the whole burst.
    pub window: Option<Duration>,
    /// The status of a limited response (429; nginx's `limit_req` answers 503 by default).
    pub limited_status: u16,
    /// A limited response without `Retry-After`: `Warn` or `Fail`.
    pub missing_retry_after: Status,
    /// Requests were sent one at a time: completion order is the server's order.
    pub sequential: bool,
}

/// The numbers of a burst.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub sent: u32,
    pub by_status: BTreeMap<u16, u32>,
    pub transport_errors: u32,
    /// Position among the answers (0-based) and intended send time of the first limited one.
    pub first_limited: Option<(u32, Duration)>,
    /// When that answer came back, from the start: requests sent later count after it.
    pub engaged_at: Option<Duration>,
    pub observed_limit: Option<u32>,
    /// Successes after the first limited response, while the limiter should still hold.
    pub leaks: u32,
    /// Successes after the first limited response, however late.
    pub successes_after_limit: u32,
    /// Until when (from the start) the limiter should hold once engaged, if known.
    pub holds_until: Option<Duration>,
    pub window: Option<Duration>,
    /// The limit and window the headers advertise, and in which syntax.
    pub advertised: Option<(Syntax, Option<u64>, Option<u64>)>,
    pub requests_per_second: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

fn success(status: u16) -> bool {
    (200..400).contains(&status)
}

pub fn analyze(run: &Run, expect: &Expect) -> Analysis {
    let samples = &run.samples;
    let mut by_status = BTreeMap::new();
    let mut latencies = Latencies::default();
    for s in samples {
        if let Some(status) = s.status {
            *by_status.entry(status).or_insert(0) += 1;
        }
        latencies.record(s.latency);
    }
    let transport_errors = samples.iter().filter(|s| s.status.is_none()).count() as u32;
    // The first limited answer to come back. With several requests in flight neither send nor
    // completion order is the order the limiter counted in; but a request sent after that
    // answer arrived was surely counted after it.
    let first = samples
        .iter()
        .filter(|s| s.status == Some(expect.limited_status))
        .min_by_key(|s| s.completed);
    // Its position among the answers (requests that got none are not counted).
    let first_limited = first.map(|f| {
        let before = samples
            .iter()
            .filter(|s| s.status.is_some() && s.completed < f.completed)
            .count() as u32;
        (before, f.intended)
    });
    let engaged_at = first.map(|s| s.intended + s.latency);
    let advertised = samples
        .iter()
        .filter_map(|s| s.headers.as_ref())
        .find_map(|h| h.primary())
        .map(|(syntax, q)| (*syntax, q.limit, q.window));
    let window = expect
        .window
        .or_else(|| advertised.and_then(|(_, _, w)| w).map(Duration::from_secs));
    let observed_limit = engaged_at.map(|engaged| {
        samples
            .iter()
            .filter(|s| s.intended < engaged && s.status.is_some_and(success))
            .count() as u32
    });
    // A success after the limit engaged is a leak only while the limiter should still hold:
    // until the first limited answer's Retry-After (or reset) ran out, else until the window
    // that began with the burst ended. A token bucket refills continuously: with neither
    // known, later successes are counted but not judged.
    let told = first.and_then(|f| f.headers.as_ref()).and_then(|h| {
        h.retry_after
            .map(|r| r.delay(SystemTime::now()))
            .or_else(|| {
                h.primary()
                    .and_then(|(_, q)| q.reset)
                    .map(Duration::from_secs)
            })
    });
    // Both count whole seconds, rounded up: the last second is not held against the limiter.
    let holds_until = match (engaged_at, told, window) {
        (Some(engaged), Some(told), _) => {
            Some(engaged + told.saturating_sub(Duration::from_secs(1)))
        }
        (Some(_), None, Some(window)) => Some(window),
        _ => None,
    };
    let after_limit = |s: &&Sample| {
        engaged_at.is_some_and(|engaged| s.intended >= engaged) && s.status.is_some_and(success)
    };
    let successes_after_limit = samples.iter().filter(after_limit).count() as u32;
    let leaks = match holds_until {
        Some(until) => samples
            .iter()
            .filter(after_limit)
            .filter(|s| s.intended < until)
            .count() as u32,
        None => 0,
    };
    Analysis {
        sent: samples.len() as u32,
        by_status,
        transport_errors,
        first_limited,
        engaged_at,
        observed_limit,
        leaks,
        successes_after_limit,
        holds_until,
        window,
        advertised,
        requests_per_second: samples.len() as f64 / run.elapsed.as_secs_f64().max(1e-9),
        p50: latencies.quantile(0.50),
        p90: latencies.quantile(0.90),
        p99: latencies.quantile(0.99),
        max: latencies.max(),
    }
}

impl Analysis {
    fn statuses(&self) -> String {
        let mut parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{n}× {status}"))
            .collect();
        if self.transport_errors > 0 {
            parts.push(format!("{}× no response", self.transport_errors));
        }
        parts.join(", ")
    }

    /// Did the limiter engage, at the expected count, and hold?
    pub fn limit_finding(&self, expect: &Expect, run: &Run) -> Finding {
        let limited = expect.limited_status;
        let sent = plural(self.sent as usize, "request", "requests");
        let finding = match (self.first_limited, self.observed_limit) {
            _ if self.sent == 0 => Finding::fail("no request was sent"),
            _ if self.transport_errors == self.sent => Finding::fail(format!(
                "none of {sent} got a response: {}",
                run.errors.first().map_or("", String::as_str)
            )),
            (None, _) => {
                let mut message = format!("no {limited} after {sent}: limiter not engaged");
                let succeeded: u32 = self
                    .by_status
                    .iter()
                    .filter(|(s, _)| success(**s))
                    .map(|(_, n)| *n)
                    .sum();
                if succeeded == 0 {
                    message.push_str(&format!(
                        "; but no request succeeded either ({}): check the URL, method and credentials",
                        self.statuses()
                    ));
                }
                let other = [429u16, 503]
                    .into_iter()
                    .filter(|s| *s != limited)
                    .find_map(|s| self.by_status.get(&s).map(|n| (s, *n)));
                if let Some((status, n)) = other {
                    message.push_str(&format!(
                        "; but {n} answered {status}{}: pass --limited-status {status} if that is the limiter",
                        if status == 503 {
                            " (nginx's limit_req answers 503 unless limit_req_status is set)"
                        } else {
                            ""
                        }
                    ));
                }
                Finding::fail(message)
            }
            (Some((position, at)), Some(observed)) => {
                let first = format!(
                    "first {limited} at {} {} after {}",
                    if expect.sequential {
                        "request"
                    } else {
                        "answer"
                    },
                    position + 1,
                    format_duration(at)
                );
                let observed_text = plural(observed as usize, "request", "requests");
                let off = expect
                    .limit
                    .filter(|want| observed.abs_diff(*want) > expect.tolerance);
                let expected = expect.limit.map(|want| {
                    if expect.tolerance > 0 {
                        format!("expected {want} ± {}", expect.tolerance)
                    } else {
                        format!("expected {want}")
                    }
                });
                let leaked = (self.leaks > 0).then(|| {
                    format!(
                        "{} succeeded after the first {limited} while it should still hold: the limiter leaks",
                        plural(self.leaks as usize, "request", "requests")
                    )
                });
                match (off, leaked) {
                    (Some(_), leaked) => Finding::fail(format!(
                        "limited after {observed_text}, {} ({first}){}",
                        expected.unwrap_or_default(),
                        leaked.map(|l| format!("; {l}")).unwrap_or_default()
                    )),
                    (None, Some(leaked)) => Finding::fail(format!(
                        "limited after {observed} requests ({first}); {leaked}"
                    )),
                    (None, None) => Finding::pass(format!(
                        "limited after {observed_text}{} ({first})",
                        expected.map(|e| format!(", {e}")).unwrap_or_default()
                    )),
                }
            }
            (Some(_), None) => {
                unreachable!("an observed limit comes with the first limited response")
            }
        };
        // Requests that got no answer (a limiter that delays instead of rejecting, a server
        // that fell over) cast doubt on any count: said in the verdict, and a pass becomes a
        // warning.
        let finding = if self.transport_errors > 0 && self.transport_errors < self.sent {
            let note = format!(
                "; {} of {sent} got no response ({})",
                self.transport_errors,
                run.errors.first().map_or("unknown error", String::as_str)
            );
            let status = if finding.status == Status::Pass {
                Status::Warn
            } else {
                finding.status
            };
            Finding {
                message: format!("{}{note}", finding.message),
                ..finding
            }
            .with_status(status)
        } else {
            finding
        };
        let mut finding = finding
            .detail("requests", self.sent)
            .detail(
                "by_status",
                self.by_status
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                    .collect::<serde_json::Map<_, _>>(),
            )
            .detail("statuses", self.statuses())
            .detail("transport_errors", self.transport_errors)
            .detail("limited_status", limited)
            .detail("observed_limit", self.observed_limit)
            .detail("advertised_limit", self.advertised.and_then(|(_, l, _)| l))
            .detail("expected_limit", expect.limit)
            .detail("tolerance", expect.tolerance)
            .detail(
                "first_limited_index",
                self.first_limited.map(|(i, _)| i + 1),
            )
            .detail(
                "first_limited_after_ms",
                self.first_limited.map(|(_, at)| millis(at)),
            )
            .detail("leaks", self.leaks)
            .detail("successes_after_limit", self.successes_after_limit)
            .detail("holds_until_ms", self.holds_until.map(millis))
            .detail("window_s", self.window.map(|w| w.as_secs_f64()))
            .detail(
                "requests_per_second",
                (self.requests_per_second * 10.0).round() / 10.0,
            )
            .detail("p50_ms", millis(self.p50))
            .detail("p90_ms", millis(self.p90))
            .detail("p99_ms", millis(self.p99))
            .detail("max_ms", millis(self.max))
            .detail("elapsed_ms", millis(run.elapsed))
            .took(run.elapsed);
        if let Some(cut) = &run.cut_short {
            finding = finding.detail("cut_short", cut.clone());
        }
        if !run.errors.is_empty() {
            finding = finding.detail("errors", run.errors.clone());
        }
        finding
    }

    /// Do the headers advertise the limit the limiter enforces, count down to 0, and tell a
    /// limited client when to come back?
    pub fn headers_finding(&self, expect: &Expect, samples: &[Sample]) -> Finding {
        let with_headers: Vec<&Sample> = samples.iter().filter(|s| s.headers.is_some()).collect();
        let limited: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.status == Some(expect.limited_status))
            .collect();
        let mut syntaxes: Vec<Syntax> = with_headers
            .iter()
            .flat_map(|s| s.headers.as_ref().unwrap().quotas.iter().map(|(x, _)| *x))
            .collect();
        syntaxes.sort();
        syntaxes.dedup();
        let mut failures: Vec<String> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();

        let problems: Vec<&String> = with_headers
            .iter()
            .flat_map(|s| s.headers.as_ref().unwrap().problems.iter())
            .collect();
        if let Some(first) = problems.first() {
            failures.push(format!(
                "{} unreadable: {first}",
                plural(problems.len(), "header value is", "header values are")
            ));
        }

        if let (Some((syntax, Some(advertised), _)), Some(observed)) =
            (self.advertised, self.observed_limit)
            && u64::from(observed).abs_diff(advertised) > u64::from(expect.tolerance)
        {
            failures.push(format!(
                "{} advertises a limit of {advertised}, but the limiter allowed {observed}",
                syntax.name()
            ));
        }

        // Remaining of the successes counted before the limit: those sent before the first
        // limited answer came back, in the order they were answered.
        let cutoff = self.engaged_at.unwrap_or(Duration::MAX);
        let mut counted: Vec<(&Sample, u64)> = samples
            .iter()
            .filter(|s| s.intended < cutoff && s.status.is_some_and(success))
            .filter_map(|s| {
                let remaining = s.headers.as_ref()?.primary()?.1.remaining?;
                Some((s, remaining))
            })
            .collect();
        counted.sort_by_key(|(s, _)| s.completed);
        if expect.sequential
            && let Some(pair) = counted.windows(2).find(|w| w[1].1 > w[0].1)
        {
            {
                let syntax = self
                    .advertised
                    .map_or("RateLimit-Remaining", |(s, _, _)| match s {
                        Syntax::Legacy => "X-RateLimit-Remaining",
                        _ => "RateLimit-Remaining",
                    });
                failures.push(format!(
                    "{syntax} rose from {} to {} (requests {} → {})",
                    pair[0].1,
                    pair[1].1,
                    pair[0].0.index + 1,
                    pair[1].0.index + 1
                ));
            }
        }
        // The lowest, not the last: with requests in flight, answers arrive in any order.
        if self.first_limited.is_some()
            && let Some((lowest, remaining)) = counted.iter().min_by_key(|(_, r)| *r)
            && *remaining != 0
        {
            failures.push(format!(
                "the lowest remaining before the limit was {remaining} (request {}), expected 0",
                lowest.index + 1
            ));
        }

        let without_retry_after = limited
            .iter()
            .filter(|s| s.headers.as_ref().is_none_or(|h| h.retry_after.is_none()))
            .count();
        if without_retry_after > 0 {
            let message = format!(
                "{} of {} limited responses had no Retry-After",
                without_retry_after,
                limited.len()
            );
            if expect.missing_retry_after == Status::Fail {
                failures.push(message);
            } else {
                warnings.push(message);
            }
        }

        let seen = if syntaxes.is_empty() {
            "no rate-limit headers".to_string()
        } else {
            syntaxes
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let advertised = match self.advertised {
            Some((_, Some(limit), Some(w))) => format!(", limit {limit} per {w}s"),
            Some((_, Some(limit), None)) => format!(", limit {limit}"),
            _ => String::new(),
        };
        let finding = if !failures.is_empty() {
            let mut all = failures.clone();
            all.extend(warnings.iter().cloned());
            Finding::fail(format!("{seen}{advertised}: {}", all.join("; ")))
        } else if syntaxes.is_empty() {
            warnings.insert(
                0,
                "no response carried rate-limit headers: clients cannot pace themselves".into(),
            );
            Finding::warn(warnings.join("; "))
        } else if !warnings.is_empty() {
            Finding::warn(format!("{seen}{advertised}: {}", warnings.join("; ")))
        } else {
            Finding::pass(format!(
                "{seen}{advertised}: remaining counts down to 0 at the limit{}",
                if limited.is_empty() {
                    String::new()
                } else {
                    ", every limited response says when to retry".into()
                }
            ))
        };
        finding
            .detail(
                "syntaxes",
                syntaxes.iter().map(|s| s.id()).collect::<Vec<_>>(),
            )
            .detail("advertised_limit", self.advertised.and_then(|(_, l, _)| l))
            .detail(
                "advertised_window_s",
                self.advertised.and_then(|(_, _, w)| w),
            )
            .detail("observed_limit", self.observed_limit)
            .detail("limited_without_retry_after", without_retry_after)
    }
}
