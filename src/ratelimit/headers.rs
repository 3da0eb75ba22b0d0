//! Rate-limit headers in every syntax in use: legacy `X-RateLimit-*`, IETF draft-6
//! `RateLimit-Limit/-Remaining/-Reset` + `RateLimit-Policy: 100;w=60`, draft-7
//! `RateLimit: limit=100, remaining=0, reset=42`, draft-8 and later structured lists
//! (`RateLimit-Policy: "default";q=100;w=60`, `RateLimit: "default";r=0;t=42`), and
//! `Retry-After` (delay-seconds or an HTTP date). Structured fields are parsed with `sfv`
//! (RFC 9651).

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use sfv::{BareItem, Dictionary, List, ListEntry, Parser};

/// Which header syntax a value came from, most recent last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Syntax {
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
    Legacy,
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
    Draft6,
    /// `RateLimit: limit=…, remaining=…, reset=…`.
    Draft7,
    /// `RateLimit: "name";r=…;t=…`, `RateLimit-Policy: "name";q=…;w=…`.
    Draft8,
}

impl Syntax {
    pub fn name(self) -> &'static str {
        match self {
            Syntax::Legacy => "X-RateLimit-* (legacy)",
            Syntax::Draft6 => "RateLimit-* (IETF draft 6)",
            Syntax::Draft7 => "RateLimit (IETF draft 7)",
            Syntax::Draft8 => "RateLimit (IETF draft 8+)",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Syntax::Legacy => "legacy",
            Syntax::Draft6 => "draft-6",
            Syntax::Draft7 => "draft-7",
            Syntax::Draft8 => "draft-8",
        }
    }
}

/// What one syntax says about the quota.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quota {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Seconds until the window resets.
    pub reset: Option<u64>,
    /// The policy's window in seconds (`w`).
    pub window: Option<u64>,
}

/// `Retry-After` as sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryAfter {
    Seconds(u64),
    Date(SystemTime),
}

impl RetryAfter {
    /// The header's value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        match value.parse::<u64>() {
            Ok(seconds) => Some(RetryAfter::Seconds(seconds)),
            Err(_) => httpdate::parse_http_date(value).ok().map(RetryAfter::Date),
        }
    }

    /// How long to wait from `now`.
    pub fn delay(&self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Seconds(s) => Duration::from_secs(*s),
            RetryAfter::Date(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

/// The rate-limit headers of one response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimitHeaders {
    /// By syntax, in the order of [`Syntax`].
    pub quotas: Vec<(Syntax, Quota)>,
    pub retry_after: Option<RetryAfter>,
    /// Values that were present but could not be read, as sentences.
    pub problems: Vec<String>,
}

impl RateLimitHeaders {
    /// The quota of the most recent syntax the response used.
    pub fn primary(&self) -> Option<&(Syntax, Quota)> {
        self.quotas.last()
    }

    pub fn is_empty(&self) -> bool {
        self.quotas.is_empty() && self.retry_after.is_none() && self.problems.is_empty()
    }
}

/// Every line of a header, joined as one field value (RFC 9110 §5.3).
fn field(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The first integer of a value such as `100` or `100, 100;w=60` (early drafts).
fn leading_integer(value: &str) -> Option<u64> {
    let digits: String = value
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn integer(item: &BareItem) -> Option<u64> {
    item.as_integer()
        .and_then(|i| u64::try_from(i64::from(i)).ok())
}

pub fn parse(headers: &HeaderMap, now: SystemTime) -> RateLimitHeaders {
    let mut out = RateLimitHeaders::default();
    // Most responses of a burst carry none of these: one pass over the names decides.
    let relevant = headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("ratelimit") || name.starts_with("x-ratelimit") || name == "retry-after"
    });
    if !relevant {
        return out;
    }
    let number = |name: &str, problems: &mut Vec<String>| -> Option<u64> {
        let value = field(headers, name)?;
        let parsed = leading_integer(&value);
        if parsed.is_none() {
            problems.push(format!("{name}: `{value}` is not a number"));
        }
        parsed
    };

    let legacy = Quota {
        limit: number("x-ratelimit-limit", &mut out.problems),
        remaining: number("x-ratelimit-remaining", &mut out.problems),
        reset: number("x-ratelimit-reset", &mut out.problems)
            .map(|reset| epoch_or_delta(reset, now)),
        window: None,
    };
    if legacy != Quota::default() {
        out.quotas.push((Syntax::Legacy, legacy));
    }

    let (integer_policies, named_policies) = field(headers, "ratelimit-policy")
        .map(|p| parse_policy(&p, &mut out.problems))
        .unwrap_or_default();
    // Of several policies, the one whose limit the other headers state (else the first).
    let window_for = |limit: Option<u64>| {
        integer_policies
            .iter()
            .find(|q| q.limit == limit)
            .or(integer_policies.first())
            .and_then(|q| q.window)
    };

    let draft6 = Quota {
        limit: number("ratelimit-limit", &mut out.problems),
        remaining: number("ratelimit-remaining", &mut out.problems),
        reset: number("ratelimit-reset", &mut out.problems),
        window: None,
    };
    if draft6 != Quota::default() {
        let window = window_for(draft6.limit);
        out.quotas
            .push((Syntax::Draft6, Quota { window, ..draft6 }));
    }
    match field(headers, "ratelimit") {
        Some(value) => match parse_combined(&value) {
            Some(Combined::Draft7(mut quota)) => {
                quota.window = window_for(quota.limit);
                out.quotas.push((Syntax::Draft7, quota));
            }
            Some(Combined::Draft8(items)) => {
                // The quota closest to running out is the one that limits; its policy is the
                // one of the same name.
                if let Some((name, mut quota)) = items
                    .into_iter()
                    .min_by_key(|(_, q)| q.remaining.unwrap_or(u64::MAX))
                {
                    let policy = named_policies
                        .iter()
                        .find(|(n, _)| *n == name)
                        .or(named_policies.first());
                    if let Some((_, policy)) = policy {
                        quota.limit = policy.limit;
                        quota.window = policy.window;
                    }
                    out.quotas.push((Syntax::Draft8, quota));
                }
            }
            None => out.problems.push(format!(
                "RateLimit: `{value}` is neither draft-7 nor draft-8 syntax"
            )),
        },
        // A policy without a RateLimit field still advertises the limit.
        None => {
            if let Some((_, policy)) = named_policies.into_iter().next() {
                out.quotas.push((Syntax::Draft8, policy));
            }
        }
    }

    if let Some(value) = field(headers, "retry-after") {
        let value = value.trim().to_string();
        out.retry_after = RetryAfter::parse(&value);
        if out.retry_after.is_none() {
            out.problems.push(format!(
                "Retry-After: `{value}` is neither delay-seconds nor an HTTP date"
            ));
        }
    }
    out
}

/// `X-RateLimit-Reset` is seconds from now (GitHub-style epoch seconds too): a value past
/// 2001-09-09 (1e9) is read as a Unix time.
fn epoch_or_delta(reset: u64, now: SystemTime) -> u64 {
    if reset >= 1_000_000_000 {
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        reset.saturating_sub(now)
    } else {
        reset
    }
}

/// `RateLimit-Policy`: draft 6/7 `100;w=60` (Integer items) and draft 8+ `"default";q=100;w=60`
/// (String items, by name); a field may list several.
fn parse_policy(value: &str, problems: &mut Vec<String>) -> (Vec<Quota>, Vec<(String, Quota)>) {
    let Ok(list) = Parser::new(value).parse::<List>() else {
        problems.push(format!(
            "RateLimit-Policy: `{value}` is not a structured list"
        ));
        return (Vec::new(), Vec::new());
    };
    let (mut integer_form, mut named_form) = (Vec::new(), Vec::new());
    for entry in &list {
        let ListEntry::Item(item) = entry else {
            continue;
        };
        let window = item.params.get("w").and_then(integer);
        if let Some(limit) = integer(&item.bare_item) {
            integer_form.push(Quota {
                limit: Some(limit),
                window,
                ..Quota::default()
            });
        } else if let Some(name) = item.bare_item.as_string() {
            named_form.push((
                name.as_str().to_string(),
                Quota {
                    limit: item.params.get("q").and_then(integer),
                    window,
                    ..Quota::default()
                },
            ));
        }
    }
    (integer_form, named_form)
}

/// The two forms of the `RateLimit` field.
enum Combined {
    Draft7(Quota),
    /// Named quotas: remaining (`r`) and reset (`t`).
    Draft8(Vec<(String, Quota)>),
}

/// `RateLimit`: a draft-7 dictionary (`limit=100, remaining=0, reset=42`) or a draft-8 list of
/// named items (`"default";r=0;t=42`).
fn parse_combined(value: &str) -> Option<Combined> {
    if let Ok(dict) = Parser::new(value).parse::<Dictionary>() {
        let get = |key: &str| match dict.get(key) {
            Some(ListEntry::Item(item)) => integer(&item.bare_item),
            _ => None,
        };
        if dict.contains_key("limit") || dict.contains_key("remaining") {
            return Some(Combined::Draft7(Quota {
                limit: get("limit"),
                remaining: get("remaining"),
                reset: get("reset"),
                window: None,
            }));
        }
    }
    let list = Parser::new(value).parse::<List>().ok()?;
    let items: Vec<(String, Quota)> = list
        .iter()
        .filter_map(|entry| match entry {
            ListEntry::Item(item) => {
                let name = item.bare_item.as_string()?.as_str().to_string();
                Some((
                    name,
                    Quota {
                        limit: None,
                        remaining: item.params.get("r").and_then(integer),
                        reset: item.params.get("t").and_then(integer),
                        window: None,
                    },
                ))
            }
            _ => None,
        })
        .collect();
    (!items.is_empty()).then_some(Combined::Draft8(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn quota(limit: u64, remaining: u64, reset: u64, window: Option<u64>) -> Quota {
        Quota {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
            window,
        }
    }

    #[test]
    fn legacy_headers_with_an_epoch_reset() {
        let h = headers(&[
            ("X-RateLimit-Limit", "100"),
            ("X-RateLimit-Remaining", "99"),
            ("X-RateLimit-Reset", "1700000042"),
        ]);
        let parsed = parse(&h, now());
        assert_eq!(parsed.quotas, [(Syntax::Legacy, quota(100, 99, 42, None))]);
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn draft6_split_headers_and_policy() {
        let h = headers(&[
            ("RateLimit-Policy", "100;w=60"),
            ("RateLimit-Limit", "100"),
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "42"),
            ("Retry-After", "42"),
        ]);
        let parsed = parse(&h, now());
        assert_eq!(
            parsed.primary(),
            Some(&(Syntax::Draft6, quota(100, 0, 42, Some(60))))
        );
        assert_eq!(parsed.retry_after, Some(RetryAfter::Seconds(42)));
    }

    #[test]
    fn draft7_dictionary() {
        let h = headers(&[
            ("RateLimit-Policy", "100;w=60"),
            ("RateLimit", "limit=100, remaining=3, reset=42"),
        ]);
        assert_eq!(
            parse(&h, now()).primary(),
            Some(&(Syntax::Draft7, quota(100, 3, 42, Some(60))))
        );
    }

    #[test]
    fn draft8_named_lists_as_express_rate_limit_sends_them() {
        let h = headers(&[
            (
                "RateLimit-Policy",
                r#""100-in-1min"; q=100; w=60; pk=:ZGVhZGJlZWY=:"#,
            ),
            ("RateLimit", r#""100-in-1min"; r=0; t=42"#),
        ]);
        let parsed = parse(&h, now());
        assert_eq!(
            parsed.primary(),
            Some(&(Syntax::Draft8, quota(100, 0, 42, Some(60)))),
            "{parsed:?}"
        );
        assert!(parsed.problems.is_empty(), "{parsed:?}");
    }

    #[test]
    fn several_named_policies_are_matched_by_name() {
        let h = headers(&[
            (
                "RateLimit-Policy",
                r#""daily";q=1000;w=86400, "burst";q=5;w=60"#,
            ),
            ("RateLimit", r#""daily";r=990;t=3600, "burst";r=0;t=12"#),
        ]);
        assert_eq!(
            parse(&h, now()).primary(),
            Some(&(Syntax::Draft8, quota(5, 0, 12, Some(60))))
        );
        let h = headers(&[
            ("RateLimit-Policy", "1000;w=86400, 100;w=60"),
            ("RateLimit-Limit", "100"),
            ("RateLimit-Remaining", "7"),
            ("RateLimit-Reset", "30"),
        ]);
        assert_eq!(
            parse(&h, now()).primary(),
            Some(&(Syntax::Draft6, quota(100, 7, 30, Some(60))))
        );
    }

    #[test]
    fn retry_after_as_an_http_date() {
        let h = headers(&[("Retry-After", "Tue, 14 Nov 2023 22:14:20 GMT")]);
        let parsed = parse(&h, now());
        let delay = parsed.retry_after.unwrap().delay(now());
        assert_eq!(delay, Duration::from_secs(1_700_000_060 - 1_700_000_000));
    }

    #[test]
    fn unreadable_values_are_problems_not_panics() {
        let h = headers(&[
            ("X-RateLimit-Remaining", "lots"),
            ("RateLimit", "what?"),
            ("Retry-After", "soon"),
        ]);
        let parsed = parse(&h, now());
        assert_eq!(parsed.problems.len(), 3, "{parsed:?}");
        assert!(parsed.retry_after.is_none());
        assert!(parse(&HeaderMap::new(), now()).is_empty());
    }
}
