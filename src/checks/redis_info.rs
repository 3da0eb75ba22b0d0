//! `info = ['keyspace_hit_ratio >= 0.8', 'connected_clients < 500', 'used_memory < 2GiB']` on a
//! redis check: assertions on the numbers of the server's `INFO` (the runbook's
//! `redis-cli INFO stats` read by eye), plus two ratios derived from them.

use std::collections::HashMap;
use std::fmt;

use super::compare::{self, format_number, parse_number};
use crate::units::{format_size, parse_size};

/// `keyspace_hits / (keyspace_hits + keyspace_misses)`.
pub const HIT_RATIO: &str = "keyspace_hit_ratio";
/// `used_memory / maxmemory`.
pub const MEMORY_RATIO: &str = "used_memory_ratio";

/// `<field> <op> <value>`: a numeric INFO field (or a derived ratio) compared with a number or
/// a size (`2GiB`, in bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct InfoAssertion {
    /// As written.
    pub text: String,
    pub field: String,
    op: compare::Op,
    want: f64,
    /// The value as written (`2GiB`), to show in messages.
    want_text: String,
    /// Written as a size: values are shown as sizes too.
    size: bool,
}

/// Why an assertion written in the config was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    Usage(String),
    NotValue { text: String, value: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Usage(text) => write!(
                f,
                "`{text}` is not an INFO assertion: write `<field> <op> <value>`, e.g. \
                 `keyspace_hit_ratio >= 0.8`, `connected_clients < 500`, `used_memory < 2GiB` \
                 (ops: {})",
                compare::Op::LIST
            ),
            ParseError::NotValue { text, value } => write!(
                f,
                "`{text}`: `{value}` is neither a number nor a size (write e.g. `0.8`, `500`, `2GiB`)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

impl InfoAssertion {
    pub fn parse(text: &str) -> Result<InfoAssertion, ParseError> {
        let text = text.trim();
        let usage = || ParseError::Usage(text.to_string());
        let field_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let field = &text[..field_end];
        if field.is_empty() {
            return Err(usage());
        }
        let (op, value) = compare::Op::split(text[field_end..].trim_start()).ok_or_else(usage)?;
        let value = value.trim();
        let (want, size) = match parse_number(value) {
            Some(n) => (n, false),
            // A size needs its unit: a bare number was taken above.
            None => match parse_size(value) {
                Ok(bytes) if !value.is_empty() => (bytes as f64, true),
                _ => {
                    return Err(ParseError::NotValue {
                        text: text.to_string(),
                        value: value.to_string(),
                    });
                }
            },
        };
        Ok(InfoAssertion {
            text: text.to_string(),
            field: field.to_string(),
            op,
            want,
            want_text: value.to_string(),
            size,
        })
    }

    /// What the server's INFO says of this assertion.
    pub fn check(&self, info: &Info) -> Outcome {
        let got = match self.field.as_str() {
            HIT_RATIO => match hit_ratio(info) {
                Ok(got) => got,
                Err(other) => return other,
            },
            MEMORY_RATIO => match memory_ratio(info) {
                Ok(got) => got,
                Err(other) => return other,
            },
            field => match info.get(field) {
                None => return Outcome::Unmet(self.unknown(info)),
                Some(raw) => match number(raw) {
                    Some(n) => Reading {
                        value: n,
                        shown: self.show(n),
                    },
                    None => {
                        return Outcome::Unmet(format!(
                            "{field} is `{raw}`, not a number to compare"
                        ));
                    }
                },
            },
        };
        if self.op.holds(got.value, self.want) {
            Outcome::Holds(format!("{} {}", self.field, got.shown))
        } else {
            Outcome::Unmet(format!(
                "{} is {} (expected {} {})",
                self.field, got.shown, self.op, self.want_text
            ))
        }
    }

    fn show(&self, value: f64) -> String {
        if self.size && value >= 0.0 && value.fract() == 0.0 {
            format!("{} ({})", format_number(value), format_size(value as u64))
        } else {
            format_number(value)
        }
    }

    /// No such field: named, with the close ones the server has.
    fn unknown(&self, info: &Info) -> String {
        let names = info
            .fields
            .keys()
            .map(String::as_str)
            .chain([HIT_RATIO, MEMORY_RATIO]);
        let close = crate::error::close_names(&self.field, names, 3);
        let hint = if close.is_empty() {
            " (fields are the `name:value` lines of `redis-cli INFO`, plus keyspace_hit_ratio and used_memory_ratio)".to_string()
        } else {
            format!(" (did you mean {}?)", close.join(", "))
        };
        format!("`{}`: INFO has no field `{}`{hint}", self.text, self.field)
    }
}

/// A value read or derived, and how a message shows it.
struct Reading {
    value: f64,
    shown: String,
}

/// A number as INFO writes it: `12`, `1.23`, `90.65%` (a percentage, compared as 90.65).
fn number(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    let raw = raw.strip_suffix('%').unwrap_or(raw);
    parse_number(raw).filter(|n| n.is_finite())
}

/// Reads a field that must be a number for a ratio.
fn counter(info: &Info, field: &str, ratio: &str) -> Result<f64, Outcome> {
    let raw = info.get(field).ok_or_else(|| {
        Outcome::Unmet(format!("{ratio}: INFO has no `{field}` to compute it from"))
    })?;
    number(raw).ok_or_else(|| Outcome::Unmet(format!("{ratio}: {field} is `{raw}`, not a number")))
}

/// `keyspace_hits / (keyspace_hits + keyspace_misses)`; a server nobody has read from yet has no
/// ratio, and that is a warning: nothing to judge by, not a bad cache.
fn hit_ratio(info: &Info) -> Result<Reading, Outcome> {
    let hits = counter(info, "keyspace_hits", HIT_RATIO)?;
    let misses = counter(info, "keyspace_misses", HIT_RATIO)?;
    if hits + misses == 0.0 {
        return Err(Outcome::Undecided(format!(
            "{HIT_RATIO}: no hits or misses yet (keyspace_hits and keyspace_misses are 0), nothing to judge by"
        )));
    }
    let ratio = hits / (hits + misses);
    Ok(Reading {
        value: ratio,
        shown: format!(
            "{} (keyspace_hits {}, keyspace_misses {})",
            round(ratio),
            format_number(hits),
            format_number(misses)
        ),
    })
}

/// `used_memory / maxmemory`; `maxmemory` 0 means no limit (Redis grows until the host runs
/// out), so there is no ratio: a warning that says what to assert instead.
fn memory_ratio(info: &Info) -> Result<Reading, Outcome> {
    let used = counter(info, "used_memory", MEMORY_RATIO)?;
    let max = counter(info, "maxmemory", MEMORY_RATIO)?;
    if max == 0.0 {
        return Err(Outcome::Undecided(format!(
            "{MEMORY_RATIO}: maxmemory is 0 (no limit), so there is no ratio; set maxmemory, \
             or assert `used_memory < SIZE` instead"
        )));
    }
    let ratio = used / max;
    Ok(Reading {
        value: ratio,
        shown: format!(
            "{} (used_memory {}, maxmemory {})",
            round(ratio),
            format_size(used as u64),
            format_size(max as u64)
        ),
    })
}

/// Four decimals: a ratio is read, not audited.
fn round(v: f64) -> String {
    format_number((v * 10_000.0).round() / 10_000.0)
}

/// What one assertion found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Holds; the value as shown (`connected_clients 12`).
    Holds(String),
    /// Does not hold, or cannot (no such field, not a number): a failure.
    Unmet(String),
    /// Nothing to judge by yet (no traffic, no memory limit): a warning.
    Undecided(String),
}

/// The `name:value` lines of an INFO reply (section headers and blank lines skipped).
#[derive(Clone, Debug, Default)]
pub struct Info {
    fields: HashMap<String, String>,
}

impl Info {
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Info { fields }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n\
        # Clients\r\nconnected_clients:12\r\n\r\n# Memory\r\nused_memory:1112240\r\n\
        used_memory_human:1.06M\r\nused_memory_peak_perc:90.65%\r\nmaxmemory:0\r\n\
        mem_fragmentation_ratio:6.40\r\n\r\n# Stats\r\nkeyspace_hits:30\r\nkeyspace_misses:10\r\n\
        evicted_keys:0\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n";

    fn check(text: &str) -> Outcome {
        InfoAssertion::parse(text)
            .unwrap()
            .check(&Info::parse(INFO))
    }

    fn check_with(text: &str, info: &str) -> Outcome {
        InfoAssertion::parse(text)
            .unwrap()
            .check(&Info::parse(info))
    }

    #[test]
    fn parsing_numbers_sizes_and_mistakes() {
        let a = InfoAssertion::parse("used_memory < 2GiB").unwrap();
        assert_eq!(a.field, "used_memory");
        assert_eq!(a.op, compare::Op::Lt);
        assert_eq!(a.want, 2.0 * 1024.0 * 1024.0 * 1024.0);
        assert!(a.size);
        let a = InfoAssertion::parse("keyspace_hit_ratio>=0.8").unwrap();
        assert_eq!((a.op, a.want, a.size), (compare::Op::Ge, 0.8, false));
        assert!(matches!(
            InfoAssertion::parse("connected_clients is 5"),
            Err(ParseError::Usage(_))
        ));
        assert!(matches!(
            InfoAssertion::parse("< 5"),
            Err(ParseError::Usage(_))
        ));
        let e = InfoAssertion::parse("used_memory < lots").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`used_memory < lots`: `lots` is neither a number nor a size (write e.g. `0.8`, `500`, `2GiB`)"
        );
        assert!(matches!(
            InfoAssertion::parse("used_memory <"),
            Err(ParseError::NotValue { .. })
        ));
    }

    #[test]
    fn fields_compare_as_numbers() {
        assert_eq!(
            check("connected_clients < 500"),
            Outcome::Holds("connected_clients 12".into())
        );
        assert_eq!(
            check("connected_clients < 10"),
            Outcome::Unmet("connected_clients is 12 (expected < 10)".into())
        );
        assert_eq!(
            check("used_memory < 1MiB"),
            Outcome::Unmet("used_memory is 1112240 (1.1 MiB) (expected < 1MiB)".into())
        );
        assert!(matches!(check("used_memory < 2GiB"), Outcome::Holds(_)));
        assert!(matches!(
            check("mem_fragmentation_ratio <= 6.4"),
            Outcome::Holds(_)
        ));
        assert!(matches!(
            check("used_memory_peak_perc < 95"),
            Outcome::Holds(_)
        ));
        assert_eq!(
            check("redis_mode == 1"),
            Outcome::Unmet("redis_mode is `standalone`, not a number to compare".into())
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_the_close_ones() {
        let Outcome::Unmet(message) = check("connected_client < 500") else {
            panic!("an unknown field fails");
        };
        assert!(
            message.starts_with("`connected_client < 500`: INFO has no field `connected_client` (did you mean connected_clients"),
            "{message}"
        );
        let Outcome::Unmet(message) = check("keyspace_hit_rate > 0.5") else {
            panic!("an unknown field fails");
        };
        assert!(
            message.contains("did you mean keyspace_hit_ratio"),
            "{message}"
        );
        let Outcome::Unmet(message) = check("zzz > 1") else {
            panic!("an unknown field fails");
        };
        assert!(
            message.contains("`name:value` lines of `redis-cli INFO`"),
            "{message}"
        );
    }

    #[test]
    fn the_hit_ratio_and_no_traffic_yet() {
        assert_eq!(
            check("keyspace_hit_ratio >= 0.8"),
            Outcome::Unmet(
                "keyspace_hit_ratio is 0.75 (keyspace_hits 30, keyspace_misses 10) (expected >= 0.8)"
                    .into()
            )
        );
        assert!(matches!(
            check("keyspace_hit_ratio >= 0.75"),
            Outcome::Holds(_)
        ));
        let fresh = "keyspace_hits:0\r\nkeyspace_misses:0\r\n";
        let Outcome::Undecided(message) = check_with("keyspace_hit_ratio >= 0.8", fresh) else {
            panic!("no traffic is a warning");
        };
        assert!(message.contains("no hits or misses yet"), "{message}");
        let Outcome::Unmet(message) =
            check_with("keyspace_hit_ratio >= 0.8", "keyspace_hits:1\r\n")
        else {
            panic!("a missing counter fails");
        };
        assert!(message.contains("no `keyspace_misses`"), "{message}");
    }

    #[test]
    fn the_memory_ratio_and_no_limit() {
        let Outcome::Undecided(message) = check("used_memory_ratio < 0.9") else {
            panic!("maxmemory 0 is a warning");
        };
        assert!(message.contains("maxmemory is 0 (no limit)"), "{message}");
        let limited = "used_memory:943718400\r\nmaxmemory:1073741824\r\n";
        assert_eq!(
            check_with("used_memory_ratio < 0.8", limited),
            Outcome::Unmet(
                "used_memory_ratio is 0.8789 (used_memory 900.0 MiB, maxmemory 1.0 GiB) (expected < 0.8)"
                    .into()
            )
        );
        assert!(matches!(
            check_with("used_memory_ratio < 0.9", limited),
            Outcome::Holds(_)
        ));
    }
}
