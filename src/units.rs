//! The value types a runbook writes as text: durations (`30s`), sizes (`1GiB`) and versions
//! (`PostgreSQL 15.4`, `v18.19.0`). One parser each, shared by config, flags and checks.

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

/// No wait in a deployment is longer; capping here keeps deadline arithmetic from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a duration, rate, size or version was refused. Each carries the text as written:
/// the message quotes it, and config errors, clap and checks all show that same message.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    DurationWithoutUnit(String),
    NotDuration {
        text: String,
        cause: humantime::DurationError,
    },
    DurationTooLong(String),
    RateUnit {
        unit: String,
        text: String,
    },
    NotRate(String),
    RateNotPositive(String),
    NotSize {
        text: String,
        /// bytesize's own reason, which it gives as text.
        cause: String,
    },
    NotVersion(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::DurationWithoutUnit(text) => {
                write!(f, "`{text}` has no unit; write `{text}s` or `{text}ms`")
            }
            ParseError::NotDuration { text, cause } => write!(
                f,
                "`{text}` is not a duration ({cause}); write e.g. `30s`, `200ms`, `2m`"
            ),
            ParseError::DurationTooLong(text) => write!(
                f,
                "`{text}` is longer than the 7 days a deployment check may wait"
            ),
            ParseError::RateUnit { unit, text } => {
                write!(f, "`{unit}` in `{text}` is not a unit: write /s, /m or /h")
            }
            ParseError::NotRate(text) => {
                write!(f, "`{text}` is not a rate: write e.g. 50/s or 600/m")
            }
            ParseError::RateNotPositive(text) => write!(f, "`{text}`: the rate must be above 0"),
            ParseError::NotSize { text, cause } => write!(
                f,
                "`{text}` is not a size ({cause}); write e.g. `1GiB`, `500MB`"
            ),
            ParseError::NotVersion(text) => write!(
                f,
                "`{text}` is not a version; write e.g. `13`, `6.2` or `18.0.0`"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// For callers that turn the message into an `InputError` with `map_err(InputError::new)`.
impl From<ParseError> for String {
    fn from(e: ParseError) -> String {
        e.to_string()
    }
}

/// Parses `30s`, `200ms`, `1m 30s`, `2h`. A bare number is refused: `30` could mean seconds or
/// milliseconds, and guessing wrong turns a timeout into a hang.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Err(ParseError::DurationWithoutUnit(text.to_string()));
    }
    let d = humantime::parse_duration(text).map_err(|cause| ParseError::NotDuration {
        text: text.to_string(),
        cause,
    })?;
    if d > MAX_DURATION {
        return Err(ParseError::DurationTooLong(text.to_string()));
    }
    Ok(d)
}

/// A duration as a person reads it: `1.2s`, `350ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10 {
        // Loopback round trips are fractions of a millisecond; "0ms" would read as "not measured".
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// `1 statement`, `3 statements`.
/// A request rate: `50/s`, `600/m`, `3000/h`, or a bare number per second.
pub fn parse_rate(text: &str) -> Result<f64, ParseError> {
    let text = text.trim();
    let (number, per) = match text.split_once('/') {
        Some((n, unit)) => {
            let seconds = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                "h" | "hour" => 3600.0,
                other => {
                    return Err(ParseError::RateUnit {
                        unit: other.to_string(),
                        text: text.to_string(),
                    });
                }
            };
            (n.trim(), seconds)
        }
        None => (text, 1.0),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| ParseError::NotRate(text.to_string()))?;
    if !(n > 0.0 && n.is_finite()) {
        return Err(ParseError::RateNotPositive(text.to_string()));
    }
    Ok(n / per)
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration in milliseconds, to a tenth: what reports carry as `latency_ms`.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Parses `512MiB`, `1 GB`, `2048` (bytes).
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|cause| ParseError::NotSize {
            text: text.to_string(),
            cause,
        })
}

pub fn format_size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

/// A dotted numeric version, compared component by component (`13` < `13.2` < `15.19`).
/// Tools print versions in many shapes; [`Version::find`] takes the first dotted number.
#[derive(Clone, Debug)]
pub struct Version(Vec<u64>);

/// Equal when the numbers are: `18` and `18.0.0` are the same version.
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Version {
    /// Parses a version written by a person: `13`, `6.2`, `v18.0.0`.
    pub fn parse(text: &str) -> Result<Version, ParseError> {
        let trimmed = text.trim().trim_start_matches(['v', 'V']);
        let parts: Result<Vec<u64>, _> = trimmed.split('.').map(str::parse::<u64>).collect();
        match parts {
            Ok(parts) if !parts.is_empty() => Ok(Version(parts)),
            _ => Err(ParseError::NotVersion(text.to_string())),
        }
    }

    /// The first dotted number in a tool's output: `psql (PostgreSQL) 15.19 (Debian…)` → 15.19.
    pub fn find(text: &str) -> Option<Version> {
        let re = version_regex();
        let m = re.find(text)?;
        Version::parse(m.as_str()).ok()
    }
}

fn version_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\d+(?:\.\d+)+|\d+").expect("static regex"))
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.0.len().max(other.0.len());
        for i in 0..len {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Latencies in an HDR histogram (1 µs to 1 h, 3 significant digits): percentiles of many
/// requests without keeping each one. Used by HTTP samples and rate-limit bursts alike.
pub struct Latencies(hdrhistogram::Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(
            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds"),
        )
    }
}

impl Latencies {
    /// Past an hour counts as an hour.
    pub fn record(&mut self, latency: Duration) {
        self.0
            .saturating_record(latency.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
    }

    /// The latency at quantile `q` (0.95 for p95); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.0.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("30").unwrap_err().to_string(),
            "`30` has no unit; write `30s` or `30ms`"
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("500000000000y").is_err());
        assert!(
            parse_duration("8days")
                .unwrap_err()
                .to_string()
                .contains("7 days")
        );
        assert_eq!(format_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(format_duration(Duration::from_micros(400)), "0.4ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.2s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("500 MB").unwrap(), 500_000_000);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn versions() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("13") < v("13.2"));
        assert!(v("15.19") > v("15.4"));
        assert_eq!(v("18"), v("18.0.0"));
        assert_eq!(v("v18.19.0").to_string(), "18.19.0");
        assert_eq!(
            Version::find("psql (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)").unwrap(),
            v("15.19")
        );
        assert_eq!(
            Version::find("Redis server v=7.0.15 sha=0").unwrap(),
            v("7.0.15")
        );
        assert!(Version::find("no digits").is_none());
        assert!(Version::parse("latest").is_err());
    }
}
